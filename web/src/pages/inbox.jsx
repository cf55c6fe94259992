// Country ops' refinement inbox: filter by status, territory, rep and
// reason; current against proposed segment; approve or reject in bulk.
import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { useApp } from '../context.js';
import { ErrorBox, Loading, Status, date, useLoad } from '../ui.jsx';

export function Inbox() {
  const { country, ta } = useApp();
  const [status, setStatus] = useState('SUBMITTED');
  const [territory, setTerritory] = useState('');
  const [rep, setRep] = useState('');
  const [reason, setReason] = useState('');
  const [selected, setSelected] = useState(new Set());
  const [decision, setDecision] = useState('');
  const [outcome, setOutcome] = useState(null);
  const [busy, setBusy] = useState(false);
  const [data, error, loading, reload] = useLoad(async () => {
    const [list, policy] = await Promise.all([
      call('CountryService/ListRefinements', {
        country, therapy_area: ta, statuses: status ? [status] : [], territory, submitted_by: rep, reason,
      }),
      call('CountryService/GetRefinementPolicy', { country, therapy_area: ta }),
    ]);
    const ids = [...new Set(list.refinements.map((r) => r.customer_id))].slice(0, 10000);
    const current = ids.length
      ? await call('CountryService/QueryAssignments', { country, therapy_area: ta, customer_ids: ids, page_size: 10000 }).catch(() => ({ assignments: [] }))
      : { assignments: [] };
    return { list, policy, current: Object.fromEntries(current.assignments.map((a) => [a.customer_id, a])) };
  }, [country, ta, status, territory, rep, reason]);

  const label = Object.fromEntries((data?.policy.segments || []).map((s) => [s.id, s.label]));
  const pending = (data?.list.refinements || []).filter((r) => r.status === 'SUBMITTED');
  const toggle = (id) => {
    const s = new Set(selected);
    s.has(id) ? s.delete(id) : s.add(id);
    setSelected(s);
  };
  const decide = async (approve) => {
    setBusy(true);
    const results = [];
    for (const id of selected) {
      try {
        await call(approve ? 'CountryService/ApproveRefinement' : 'CountryService/RejectRefinement', {
          country, therapy_area: ta, request_id: id, reason: decision,
        });
        results.push({ id, ok: true });
      } catch (e) {
        results.push({ id, ok: false, error: e });
      }
    }
    setOutcome({ approve, results });
    setSelected(new Set());
    setBusy(false);
    reload();
  };
  return (
    <section>
      <h1>Refinement inbox <small>{ta}</small></h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>Status{' '}
          <select id="status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="SUBMITTED">awaiting approval</option>
            <option value="ACCEPTED">accepted</option>
            <option value="APPROVED">approved</option>
            <option value="REJECTED">rejected</option>
            <option value="APPLIED">applied</option>
            <option value="">any</option>
          </select>
        </label>
        <label>Territory <input id="f-territory" size="10" value={territory} onChange={(e) => setTerritory(e.currentTarget.value.trim())} /></label>
        <label>Rep <input id="f-rep" size="12" value={rep} onChange={(e) => setRep(e.currentTarget.value.trim())} /></label>
        <label>Reason{' '}
          <select id="f-reason" value={reason} onChange={(e) => setReason(e.currentTarget.value)}>
            <option value="">any</option>
            {(data?.policy.reasons || []).map((r) => <option value={r}>{r.replaceAll('_', ' ')}</option>)}
          </select>
        </label>
      </form>
      <ErrorBox error={error} />
      {loading && !data && <Loading what="refinements" />}
      {data && (data.list.refinements.length === 0 ? <p class="empty">Nothing here.</p> : (
        <>
          <table class="grid" id="inbox">
            <thead>
              <tr>
                <th><input type="checkbox" aria-label="select every refinement awaiting approval"
                  checked={pending.length > 0 && pending.every((r) => selected.has(r.request_id))}
                  onChange={(e) => setSelected(e.currentTarget.checked ? new Set(pending.map((r) => r.request_id)) : new Set())} /></th>
                <th>Submitted</th><th>Rep</th><th>Customer</th><th>Territory</th><th>Current</th><th>Proposed</th><th>Reason and comment</th><th>Status</th>
              </tr>
            </thead>
            <tbody>
              {data.list.refinements.map((r) => {
                const now = data.current[r.customer_id];
                return (
                  <tr>
                    <td>{r.status === 'SUBMITTED' && <input type="checkbox" aria-label={`select ${r.request_id}`} checked={selected.has(r.request_id)} onChange={() => toggle(r.request_id)} />}</td>
                    <td>{date(r.submitted_at_unix)}</td>
                    <td>{r.submitted_by}</td>
                    <td><a href={`#/customers/${encodeURIComponent(r.customer_id)}`}>{r.customer_id}</a></td>
                    <td>{r.territories.join(', ')}</td>
                    <td>{now ? `${now.segment_label || now.segment} · ${now.tier} · ${now.calls} calls` : '–'}</td>
                    <td>{r.segment ? label[r.segment] || r.segment : 'same segment'}{r.calls_delta ? `, calls ${r.calls_delta > 0 ? '+' : ''}${r.calls_delta}` : ''}</td>
                    <td>{r.reason.replaceAll('_', ' ')}{r.comment && <div class="sub">“{r.comment}”</div>}</td>
                    <td><Status status={r.status} />{r.status_reason && <div class="sub">{r.status_reason}</div>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <div class="bulk">
            <label for="decision">Reason for the decision</label>
            <input id="decision" size="40" value={decision} onInput={(e) => setDecision(e.currentTarget.value)} placeholder="required to reject" />
            <button type="button" id="approve" disabled={busy || selected.size === 0} onClick={() => decide(true)}>Approve {selected.size || ''}</button>
            <button type="button" id="reject" disabled={busy || selected.size === 0 || !decision.trim()} onClick={() => decide(false)}>Reject {selected.size || ''}</button>
          </div>
        </>
      ))}
      {outcome && (
        <div role="status" id="decided">
          {outcome.results.filter((r) => r.ok).length} {outcome.approve ? 'approved' : 'rejected'}.
          {outcome.results.filter((r) => !r.ok).map((r) => <ErrorBox error={r.error} />)}
        </div>
      )}
    </section>
  );
}
