// One customer: the assignment layer by layer (what we know, the scores and
// their weighted contributions, the rule and its conditions, options,
// pull-through, the refinement and who approved it, drivers, the plan), and
// the refine form with the window and the quota left shown first.
import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { useApp } from '../context.js';
import { Bars, ErrorBox, Loading, Status, newRequestId, num, pct, useLoad } from '../ui.jsx';

export function Customer({ id }) {
  const { country, ta, isField, isOps } = useApp();
  const [x, error, , reload] = useLoad(
    () =>
      Promise.all([
        call('CountryService/ExplainAssignment', { country, therapy_area: ta, customer_id: id }),
        call('CountryService/GetQuestionnaire', { country, therapy_area: ta }),
        call('CountryService/GetReport', { country, therapy_area: ta }).catch(() => null),
        call('CountryService/QueryAssignments', {
          country, therapy_area: ta, customer_ids: [id], include_customer: true,
        }).catch(() => null),
      ]),
    [country, ta, id],
  );
  if (error) return <section><p><a href="#/customers">← Customers</a></p><ErrorBox error={error} /></section>;
  if (!x) return <Loading what={`customer ${id}`} />;
  const [e, questionnaire, report, who] = x;
  const a = e.assignment;
  const person = who?.assignments?.[0] || {};
  const text = Object.fromEntries(questionnaire.questions.map((q) => [q.id, q.text]));
  const market = report?.markets?.[0];
  const tagShare = Object.fromEntries((market?.quality?.tags || []).map((t) => [t.tag, t.share]));
  return (
    <section>
      <p><a href="#/customers">← Customers</a></p>
      <h1>{person.customer_name || id}{' '}
        <small>{person.customer_name ? id : ''}{person.specialty ? ` · ${person.specialty}` : ''}
          {person.territories?.length ? ` · ${person.territories.join(', ')}` : ''}</small></h1>
      <div class="cards">
        <div class="card">
          <h2>Segment</h2>
          <p class="big" id="segment-label">{a.segment_label || a.segment || 'none'}</p>
          <p>Tier <strong>{a.tier}</strong> · decided by <strong>{a.decided_by.replace('_', ' ')}</strong></p>
          <p class="sub">Cycle {e.cycle_id} of {e.as_of} · rule set v{a.rule_set_version}</p>
        </div>
        <div class="card">
          <h2>What to do</h2>
          <p>{a.message}</p>
          <p>Channels: {a.channels.join(', ') || '–'}</p>
          <p>Plan this cycle: <strong>{a.plan_calls}</strong> calls, <strong>{a.plan_remote}</strong> remote,{' '}
            <strong>{a.plan_email}</strong> e-mails, <strong>{a.plan_events}</strong> events
            <span class="sub"> (targets {a.calls}/{a.remote}/{a.email}/{a.events})</span></p>
          <p class="sub">{e.plan_rule === 'targets' ? 'The plan is the segment × tier targets.' : `Plan made from ${e.plan_rule}.`}</p>
        </div>
      </div>

      <h2>Why</h2>
      <ol class="layers">
        <li>
          <h3>What we know</h3>
          <table class="grid">
            <thead><tr><th>Question or metric</th><th>Answer</th><th>Source</th><th>As of</th><th>Not used</th></tr></thead>
            <tbody>
              {e.inputs.map((i) => (
                <tr>
                  <td>{i.is_metric ? <code>{i.id}</code> : text[i.id] || i.id}</td>
                  <td>{i.value === '' ? <em>missing</em> : i.value}</td>
                  <td>{i.source}</td><td>{i.as_of}</td>
                  <td class="sub">{i.passed_over.join('; ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {!e.profiled && <p>Not profiled: {e.missing_required.length ? `unanswered required questions: ${e.missing_required.map((q) => text[q] || q).join('; ')}` : 'a weighed input is missing'}.</p>}
        </li>
        <li>
          <h3>Scores</h3>
          {e.scores.map((s) => (
            <div class="score">
              <p><strong>{s.id}</strong> = {s.missing ? <em>missing</em> : num(s.value)} (intercept {num(s.intercept)} + the weighted answers)</p>
              <Bars title={`${s.id}: weight × answer`} rows={s.terms.map((t) => ({
                label: text[t.input] ? `${t.input}: ${text[t.input].slice(0, 18)}…` : t.input,
                value: t.contribution,
                text: t.value === '' ? 'missing' : `${num(t.weight)} × ${t.value} = ${num(t.contribution)}`,
              }))} />
            </div>
          ))}
        </li>
        <li>
          <h3>The rule</h3>
          <p>Table <strong>{e.table}</strong>, rule <strong id="rule-fired">{e.rule_fired}</strong>{e.rule_when && <>: when <code>{e.rule_when}</code></>}</p>
          <p>Country options: <code>{e.options}</code></p>
          <p>Tier from <code>{e.tier_metric}</code> with the <strong>{e.tier_band}</strong> bands.</p>
          {e.pulled_through && <p>Carried forward unchanged from cycle {e.pulled_from_cycle_id} (pull-through): nothing about this customer changed.</p>}
        </li>
        {e.refinement && (
          <li>
            <h3>Field refinement</h3>
            <p id="refinement">
              {e.refinement.segment ? `Segment set to ${e.refinement.segment}` : 'Segment kept'}
              {e.refinement.calls_delta ? `, calls ${e.refinement.calls_delta > 0 ? '+' : ''}${e.refinement.calls_delta}` : ''} by{' '}
              <strong>{e.refinement.submitted_by}</strong> ({e.refinement.reason}{e.refinement.comment ? `: “${e.refinement.comment}”` : ''}),{' '}
              <Status status={e.refinement.status} />
              {e.refinement.decided_by && (
                <>{['APPLIED', 'APPROVED'].includes(e.refinement.status) ? ', approved by ' : ' by '}<strong>{e.refinement.decided_by}</strong></>
              )}.
            </p>
          </li>
        )}
        <li>
          <h3>Drivers and barriers</h3>
          {e.drivers.length === 0 ? <p>None.</p> : (
            <ul>
              {e.drivers.map((d) => (
                <li><strong>{d.tag}</strong> (rule {d.rule_id}: <code>{d.when}</code>)
                  {tagShare[d.tag] !== undefined && <span class="sub"> · {pct(tagShare[d.tag])} of the market's customers have it</span>}</li>
              ))}
            </ul>
          )}
        </li>
      </ol>
      {(isField || isOps) && <RefineForm id={id} current={a} onDone={reload} />}
    </section>
  );
}

function RefineForm({ id, current, onDone }) {
  const { country, ta } = useApp();
  const [policy, error] = useLoad(() => call('CountryService/GetRefinementPolicy', { country, therapy_area: ta }), [country, ta]);
  const [segment, setSegment] = useState('');
  const [delta, setDelta] = useState(0);
  const [reason, setReason] = useState('');
  const [comment, setComment] = useState('');
  const [result, setResult] = useState(null);
  const [submitError, setSubmitError] = useState(null);
  const [busy, setBusy] = useState(false);
  if (error) return <ErrorBox error={error} />;
  if (!policy) return <Loading what="the refinement policy" />;
  const left = policy.quotas.map((q) => `${q.left} of ${q.quota}${q.territory ? ` in ${q.territory}` : ''}`).join(', ');
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    setSubmitError(null);
    try {
      const r = await call('CountryService/SubmitRefinements', {
        country,
        items: [{ request_id: newRequestId(), customer_id: id, therapy_area: ta, segment, calls_delta: Number(delta), reason, comment }],
      });
      setResult(r.results[0].refinement);
      onDone && r.results[0].refinement.status !== 'REJECTED' && onDone();
    } catch (err) {
      setSubmitError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="refine" id="refine" onSubmit={submit} aria-labelledby="refine-title">
      <h2 id="refine-title">Refine this customer</h2>
      <p id="policy" class={policy.accepting ? '' : 'warn'}>
        {policy.accepting
          ? <>Refinements are open{policy.window_last_day ? ` until ${policy.window_last_day}` : ''}. Quota left this cycle: <strong id="quota-left">{left}</strong>.{' '}
              {policy.requires_approval ? 'Country operations approve each refinement.' : 'It applies at the next cycle.'}</>
          : <>Refinements are not taken now: {policy.why_not}.</>}
      </p>
      <label for="refine-segment">New segment</label>
      <select id="refine-segment" value={segment} onChange={(e) => setSegment(e.currentTarget.value)}>
        <option value="">keep {current.segment_label || current.segment}</option>
        {policy.segments.filter((s) => s.id !== current.segment).map((s) => <option value={s.id}>{s.label}</option>)}
      </select>
      <label for="refine-delta">Calls (more or fewer)</label>
      <input id="refine-delta" type="number" min={-policy.max_calls_delta} max={policy.max_calls_delta} step="1" value={delta}
        onInput={(e) => setDelta(e.currentTarget.value)} />
      <label for="refine-reason">Reason</label>
      <select id="refine-reason" value={reason} required onChange={(e) => setReason(e.currentTarget.value)}>
        <option value="" disabled>choose a reason</option>
        {policy.reasons.map((r) => <option value={r}>{r.replaceAll('_', ' ')}</option>)}
      </select>
      <label for="refine-comment">Comment</label>
      <textarea id="refine-comment" rows="2" maxLength={1000} value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
      <button type="submit" disabled={busy || !policy.accepting || !reason || (!segment && Number(delta) === 0)}>Submit refinement</button>
      <ErrorBox error={submitError} />
      {result && (
        <p id="refine-result" role="status">
          <Status status={result.status} /> {result.status === 'REJECTED' ? result.status_reason : `Request ${result.request_id}.`}
        </p>
      )}
    </form>
  );
}
