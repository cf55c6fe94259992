// The country's quality report (docs/report.md) and, for those allowed, the
// cross-market report of a therapy area.
import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { useApp } from '../context.js';
import { Bars, ErrorBox, Line, Loading, num, pValue, pct, useLoad } from '../ui.jsx';

function MarketFigures({ m, segments }) {
  const q = m.quality;
  const name = (id) => m.labels[id] || segments[id] || id || 'none';
  return (
    <div class="market">
      <p>Cycle {m.cycle_id} of {m.as_of} · rule set v{m.rule_set_version} · {q.customers} customers in scope · run by {m.run_by}</p>
      <div class="cards">
        <div class="card"><h3>Do the segments differ?</h3>
          <p class="big">η² {num(q.separation.eta_squared, 3)}</p>
          <p>on {q.objective_metric} (needed: {num(q.min_differentiation, 2)}); Kruskal–Wallis p {pValue(q.separation.p_value)}</p></div>
        <div class="card"><h3>Decided by</h3>
          <p>{Object.entries(q.decided_by).map(([k, v]) => `${k.replace('_', ' ')} ${v}`).join(' · ')}</p></div>
        <div class="card"><h3>Refinements</h3>
          <p>{q.refinements.applied} applied · {q.refinements.rejected} rejected · {q.refinements.expired} expired · {q.refinements.awaiting_approval} awaiting approval · quota {q.refinements.quota}</p></div>
      </div>
      {q.warnings.map((w) => <p class="warn">{w}</p>)}
      <Bars title="Share of customers per segment" rows={q.segments.map((s) => ({ label: name(s.segment), value: s.share, text: `${pct(s.share)} (${s.customers})` }))} />
      <Bars title={`Mean ${q.objective_metric} per segment`} rows={q.segments.map((s) => ({ label: name(s.segment), value: s.objective?.mean || 0 }))} />
      {q.tags.length > 0 && <Bars title="Drivers and barriers: share of customers" rows={q.tags.map((t) => ({ label: t.tag, value: t.share, text: pct(t.share) }))} />}
      {q.follow_up?.market?.attainment !== undefined && (
        <p>Plan attainment since cycle {q.follow_up.plan_cycle_id}: <strong>{pct(q.follow_up.market.attainment)}</strong> ({q.follow_up.market.carried_out} of {q.follow_up.market.planned} plans carried out)</p>
      )}
      {m.history.length > 1 && <Line title="η² over the last cycles" points={m.history.map((h) => ({ x: h.as_of, y: h.eta_squared }))} />}
      {m.history.length > 1 && <Line title="Share of customers who moved segment" points={m.history.map((h) => ({ x: h.as_of, y: h.moved_share }))} format={pct} />}
    </div>
  );
}

// Where the rule set's typing tool comes from (docs/typing-tool.md); nothing
// when it assigns with a decision table.
function TypingTool({ p }) {
  if (!p || !p.study) return null;
  return (
    <p class="sub" id="typing-tool">Typing tool from {p.study}: {p.respondents} respondents, fielded {p.date};
      {' '}accuracy <strong>{pct(p.accuracy)}</strong>{Number(p.folds) > 0 ? ` (${p.folds}-fold cross-validated)` : ''}</p>
  );
}

export function CountryReport() {
  const { country, ta } = useApp();
  const [r, error, loading] = useLoad(() => call('CountryService/GetReport', { country, therapy_area: ta }), [country, ta]);
  return (
    <section>
      <h1>Quality report <small>{country} {ta}</small></h1>
      <ErrorBox error={error} />
      {loading && !r && <Loading what="the report" />}
      {r && <TypingTool p={r.typing_tool} />}
      {r && r.markets.map((m) => <MarketFigures m={m} segments={Object.fromEntries(r.segments.map((s) => [s.id, s.name]))} />)}
    </section>
  );
}

export function Markets() {
  const { config } = useApp();
  const [ta, setTa] = useState(config?.therapy_areas?.[0]?.therapy_area || 'oncology');
  const [r, error, loading] = useLoad(() => call('RulesService/GetReport', { therapy_area: ta }), [ta]);
  const segments = Object.fromEntries((r?.segments || []).map((s) => [s.id, s.name]));
  return (
    <section>
      <h1>All markets</h1>
      <label>Therapy area <input id="markets-ta" value={ta} onChange={(e) => setTa(e.currentTarget.value.trim())} /></label>
      <ErrorBox error={error} />
      {loading && !r && <Loading what="the cross-market report" />}
      {r && (
        <>
          <TypingTool p={r.typing_tool} />
          <table class="grid" id="markets">
            <thead><tr><th>Market</th><th>Cycle</th><th>Customers</th><th>η²</th>{r.segments.map((s) => <th>{s.name}</th>)}</tr></thead>
            <tbody>
              {r.markets.map((m) => {
                const share = Object.fromEntries(m.quality.segments.map((s) => [s.segment, s.share]));
                return (
                  <tr><td>{m.country}</td><td>{m.as_of}</td><td class="num">{m.quality.customers}</td>
                    <td class="num">{num(m.quality.separation.eta_squared, 3)}</td>
                    {r.segments.map((s) => <td class="num">{pct(share[s.id] || 0)}</td>)}</tr>
                );
              })}
            </tbody>
          </table>
          {r.deviations.length > 0 && <p class="warn">Markets that deviate: {r.deviations.map((d) => `${d.country} ${segments[d.segment] || d.segment} ${pct(d.share)} (z ${num(d.z, 1)})`).join('; ')}</p>}
          {r.warnings.map((w) => <p class="warn">{w}</p>)}
        </>
      )}
    </section>
  );
}
