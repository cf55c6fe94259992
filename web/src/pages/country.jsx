// The country file in force, and a proposed edit checked in place, with
// each issue at its line and column. Applying it stays an operations step
// (the file on the worker's host and a reload: docs/operations.md).
import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { useApp } from '../context.js';
import { ErrorBox } from '../ui.jsx';

export function CountryFile() {
  const { config, isOps, country } = useApp();
  const [text, setText] = useState(config.file_text);
  const [check, setCheck] = useState(null);
  const [error, setError] = useState(null);
  const validate = async () => {
    setError(null);
    try {
      setCheck(await call('CountryService/ValidateCountryConfig', { country, file_text: text }));
    } catch (e) {
      setError(e);
    }
  };
  const bad = new Set((check?.issues || []).map((i) => i.line));
  return (
    <section>
      <h1>Country file <small>{country}</small></h1>
      <table class="grid">
        <tbody>
          <tr><th>Time zone</th><td>{config.timezone}</td></tr>
          <tr><th>Schedule</th><td>{config.schedule || 'cycles on demand only'}</td></tr>
          <tr><th>Data sources</th><td>{config.data_sources.join(' › ')} (first wins)</td></tr>
          <tr><th>Refinements</th><td>first {config.window_days} days of a period · valid {config.valid_cycles} period(s) · {config.requires_approval ? 'approval required' : 'no approval'} · quota per {config.quota_scope}</td></tr>
          {config.therapy_areas.map((t) => (
            <tr><th>{t.therapy_area}</th><td>rule set {t.pinned_version ? `v${t.pinned_version} (pinned)` : `latest (v${t.running_version || '–'})`} · {Object.entries(t.options).map(([k, v]) => `${k}: ${v}`).join(', ')}</td></tr>
          ))}
        </tbody>
      </table>
      <h2>{isOps ? 'Propose an edit' : 'The file'}</h2>
      <div class="editor">
        <ol class="gutter" aria-hidden="true">{text.split('\n').map((_, i) => <li class={bad.has(i + 1) ? 'bad' : ''}>{i + 1}</li>)}</ol>
        <textarea id="country-text" spellcheck={false} rows={Math.max(12, text.split('\n').length + 1)} readOnly={!isOps}
          value={text} onInput={(e) => { setText(e.currentTarget.value); setCheck(null); }} aria-label="country file" />
      </div>
      {isOps && <button type="button" id="validate" onClick={validate}>Check</button>}
      <ErrorBox error={error} />
      {check && (
        <div role="status" id="validation">
          {check.valid ? <p class="ok">This file is valid: a reload would take it.</p> : <p class="warn">This file would be refused:</p>}
          <ul>{check.issues.map((i) => <li>line {i.line}, column {i.column}: {i.message}</li>)}</ul>
        </div>
      )}
    </section>
  );
}
