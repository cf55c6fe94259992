// My refinements and their status; and a refinements.csv upload with a
// result for every row (docs/files.md "refinements.csv").
import Papa from 'papaparse';
import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { useApp } from '../context.js';
import { ErrorBox, Loading, Status, date, newRequestId, useLoad } from '../ui.jsx';

const FINAL = new Set(['REJECTED', 'APPLIED', 'EXPIRED', 'WITHDRAWN']);

export function MyRefinements() {
  const { country, ta, me } = useApp();
  const [list, error, loading, reload] = useLoad(
    () => call('CountryService/ListRefinements', { country, therapy_area: ta, submitted_by: me.principal }),
    [country, ta, me.principal],
  );
  const [actionError, setActionError] = useState(null);
  const withdraw = async (r) => {
    setActionError(null);
    try {
      await call('CountryService/WithdrawRefinement', { country, therapy_area: ta, request_id: r.request_id, reason: 'withdrawn by the submitter' });
      reload();
    } catch (e) {
      setActionError(e);
    }
  };
  return (
    <section>
      <h1>My refinements <small>{ta}</small></h1>
      <ErrorBox error={error || actionError} />
      {loading && !list && <Loading what="your refinements" />}
      {list && (list.refinements.length === 0 ? <p class="empty">You have not submitted any refinement in {country} {ta}.</p> : (
        <table class="grid" id="my-refinements">
          <thead><tr><th>Submitted</th><th>Customer</th><th>Change</th><th>Reason</th><th>Status</th><th></th></tr></thead>
          <tbody>
            {[...list.refinements].reverse().map((r) => (
              <tr>
                <td>{date(r.submitted_at_unix)}</td>
                <td><a href={`#/customers/${encodeURIComponent(r.customer_id)}`}>{r.customer_id}</a></td>
                <td>{r.segment || 'keep segment'}{r.calls_delta ? `, calls ${r.calls_delta > 0 ? '+' : ''}${r.calls_delta}` : ''}</td>
                <td>{r.reason}{r.comment && <div class="sub">{r.comment}</div>}</td>
                <td><Status status={r.status} />{r.status_reason && <div class="sub">{r.status_reason}</div>}{r.decided_by && <div class="sub">by {r.decided_by}</div>}</td>
                <td>{!FINAL.has(r.status) && <button type="button" onClick={() => withdraw(r)}>Withdraw</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </section>
  );
}

const COLUMNS = ['request_id', 'customer_id', 'therapy_area', 'segment', 'calls_delta', 'reason', 'comment', 'submitted_by'];

export function Upload() {
  const { country } = useApp();
  const [rows, setRows] = useState(null);
  const [error, setError] = useState(null);
  const [problem, setProblem] = useState('');
  const [busy, setBusy] = useState(false);
  const onFile = (e) => {
    setRows(null);
    setError(null);
    setProblem('');
    const file = e.currentTarget.files[0];
    if (!file) return;
    Papa.parse(file, {
      header: true,
      skipEmptyLines: true,
      complete: async (parsed) => {
        const missing = COLUMNS.slice(0, 6).filter((c) => !parsed.meta.fields.includes(c));
        if (missing.length) {
          setProblem(`The file's header lacks ${missing.join(', ')}; expected ${COLUMNS.join(',')}.`);
          return;
        }
        const items = parsed.data.map((r) => ({
          request_id: r.request_id || newRequestId('csv'),
          customer_id: r.customer_id || '',
          therapy_area: r.therapy_area || '',
          segment: r.segment || '',
          calls_delta: Number.parseInt(r.calls_delta || '0', 10) || 0,
          reason: r.reason || '',
          comment: r.comment || '',
        }));
        setBusy(true);
        try {
          const results = [];
          for (let i = 0; i < items.length; i += 5000) {
            const r = await call('CountryService/SubmitRefinements', { country, items: items.slice(i, i + 5000) });
            results.push(...r.results);
          }
          // Line numbers as the file has them: the header is line 1.
          setRows(results.map((r, i) => ({ line: i + 2, ...r })));
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      },
      error: (err) => setProblem(`The file could not be read: ${err.message}.`),
    });
  };
  const counts = rows && rows.reduce((c, r) => ({ ...c, [r.refinement.status]: (c[r.refinement.status] || 0) + 1 }), {});
  return (
    <section>
      <h1>Upload refinements</h1>
      <p>A CSV file with the header <code>{COLUMNS.join(',')}</code> (UTF-8). Each row gets its own result; good rows go through even when others are refused.</p>
      <label for="csv">Refinements file</label> <input id="csv" type="file" accept=".csv,text/csv" onChange={onFile} disabled={busy} />
      {problem && <p class="error" role="alert">{problem}</p>}
      <ErrorBox error={error} />
      {busy && <Loading what="the results" />}
      {rows && (
        <>
          <p id="upload-summary" role="status">{rows.length} rows: {Object.entries(counts).map(([s, n]) => `${n} ${s.toLowerCase()}`).join(', ')}.</p>
          <table class="grid" id="upload-results">
            <thead><tr><th>Line</th><th>Request</th><th>Customer</th><th>Result</th></tr></thead>
            <tbody>
              {rows.map((r) => (
                <tr>
                  <td>{r.line}</td><td>{r.refinement.request_id}</td><td>{r.refinement.customer_id}</td>
                  <td><Status status={r.refinement.status} /> {r.duplicate && '(sent before) '}{r.refinement.status_reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
