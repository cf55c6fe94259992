// Cycles: the history, run one now with live progress, and what changed
// (the churn matrix of a cycle against the one before it).
import { useState } from 'preact/hooks';
import { call, stream } from '../api.js';
import { useApp } from '../context.js';
import { ErrorBox, Loading, date, pct, useLoad } from '../ui.jsx';

export function Cycles() {
  const { country, ta, isOps } = useApp();
  const [list, error, loading, reload] = useLoad(() => call('CountryService/ListCycles', { country, therapy_area: ta }), [country, ta]);
  const [picked, setPicked] = useState(null);
  const [asOf, setAsOf] = useState('');
  const [progress, setProgress] = useState(null);
  const [runError, setRunError] = useState(null);
  const [done, setDone] = useState(null);
  const run = async () => {
    setRunError(null);
    setDone(null);
    setProgress({ stage: 'starting', done: 0, total: 0 });
    try {
      await stream('CountryService/RunCycle', { country, therapy_area: ta, as_of: asOf }, (m) => {
        if (m.progress) setProgress(m.progress);
        if (m.summary) setDone(m.summary);
      });
      reload();
    } catch (e) {
      setRunError(e);
    } finally {
      setProgress(null);
    }
  };
  const cycles = list ? [...list.cycles].reverse() : [];
  const shown = picked ?? cycles[0]?.cycle_id;
  const cycle = cycles.find((c) => c.cycle_id === shown);
  return (
    <section>
      <h1>Cycles <small>{country} {ta}</small></h1>
      {isOps && (
        <div class="run">
          <label>Cycle date <input id="as-of" type="date" value={asOf} onInput={(e) => setAsOf(e.currentTarget.value)} /></label>{' '}
          <button type="button" id="run" disabled={!!progress} onClick={run}>Run now</button>
          <span class="sub"> Empty date: today in the country's time zone. A re-run in the same period replaces that period's cycle.</span>
          {progress && (
            <div role="status" aria-live="polite" id="progress">
              <span>{progress.stage}</span>{' '}
              <progress max={Number(progress.total) || 1} value={Number(progress.done)} />{' '}
              {progress.total > 0 && `${progress.done} of ${progress.total}`}
            </div>
          )}
          {done && <p role="status" id="run-done">Cycle {done.cycle_id} committed: {done.summary}</p>}
          <ErrorBox error={runError} />
        </div>
      )}
      <ErrorBox error={error} />
      {loading && !list && <Loading what="cycles" />}
      {list && (cycles.length === 0 ? <p class="empty">No cycle has run yet.</p> : (
        <table class="grid" id="cycles">
          <thead><tr><th>Cycle</th><th>Date</th><th>Period</th><th>Rule set</th><th>Customers</th><th>Run by</th><th>Committed</th><th>Status</th></tr></thead>
          <tbody>
            {cycles.map((c) => (
              <tr class={c.cycle_id === shown ? 'picked' : ''}>
                <td><button type="button" class="link" onClick={() => setPicked(c.cycle_id)}>{c.cycle_id}</button></td>
                <td>{c.as_of}</td><td>{c.period}</td><td>v{c.rule_set_version}</td><td class="num">{c.customers}</td>
                <td>{c.run_by}</td><td>{date(c.committed_at_unix)}</td><td>{c.status}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
      {cycle && <Changes cycle={cycle} />}
    </section>
  );
}

function Changes({ cycle }) {
  const { config, ta } = useApp();
  const labels = config.therapy_areas.find((t) => t.therapy_area === ta)?.labels || {};
  const name = (id) => (id ? labels[id] || id : 'none');
  const q = JSON.parse(cycle.quality_json || '{}');
  const churn = q.churn || {};
  const cells = churn.cells || [];
  if (!churn.previous_cycle_id) return <p>Cycle {cycle.cycle_id} is the first: nothing to compare with.</p>;
  const from = [...new Set(cells.map((c) => c.from_segment))];
  const to = [...new Set(cells.map((c) => c.to_segment))];
  const n = (f, t) => cells.find((c) => c.from_segment === f && c.to_segment === t)?.customers || 0;
  return (
    <div id="changes">
      <h2>What changed in cycle {cycle.cycle_id} (against cycle {churn.previous_cycle_id})</h2>
      <p>{churn.stayed || 0} stayed, <strong>{churn.moved || 0} moved</strong> ({pct(churn.moved_share || 0)}), {churn.entered || 0} entered, {churn.left || 0} left.</p>
      <table class="grid matrix">
        <thead><tr><th>from ↓ to →</th>{to.map((t) => <th>{name(t)}</th>)}</tr></thead>
        <tbody>
          {from.map((f) => (
            <tr><th>{name(f)}</th>{to.map((t) => <td class={f === t ? 'num diag' : 'num'}>{n(f, t) || ''}</td>)}</tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
