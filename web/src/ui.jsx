// Small building blocks every page shares: errors people can act on,
// loading states, paging, charts (SVG, drawn here: a few bars and a line are
// less code than a charting library's setup, and need no inline styles).
import { useEffect, useState } from 'preact/hooks';
import { explain } from './api.js';

export function ErrorBox({ error }) {
  if (!error) return null;
  const { what, todo } = explain(error);
  return (
    <div class="error" role="alert">
      <strong>{what}</strong> <span>{todo}</span>
      {error.issues.length > 0 && (
        <ul>
          {error.issues.map((i) => (
            <li>
              {i.line ? `line ${i.line}, column ${i.column}: ` : ''}
              {i.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

// Runs `load` when `deps` change; returns [value, error, loading, reload].
export function useLoad(load, deps) {
  const [state, setState] = useState({ value: undefined, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (value) => live && setState({ value, error: null, loading: false }),
      (error) => live && setState({ value: undefined, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return [state.value, state.error, state.loading, () => setTick((t) => t + 1)];
}

export function Loading({ what }) {
  return <p class="loading" aria-live="polite">Loading {what}…</p>;
}

export const pct = (x) => (x === undefined || x === null ? '–' : `${(100 * x).toFixed(1)}%`);
export const num = (x, digits = 2) =>
  x === undefined || x === null || Number.isNaN(x) ? '–' : Number(x).toFixed(digits);
// A p-value as people read them: small ones in scientific notation.
export const pValue = (p) =>
  p === undefined || p === null ? '–' : p === 0 ? '< 1e-300' : p < 1e-4 ? Number(p).toExponential(1) : Number(p).toFixed(4);
export const date = (unix) => (unix ? new Date(Number(unix) * 1000).toISOString().slice(0, 16).replace('T', ' ') : '');

const STATUS = {
  SUBMITTED: 'awaiting approval',
  ACCEPTED: 'accepted',
  APPROVED: 'approved',
  REJECTED: 'rejected',
  APPLIED: 'applied',
  EXPIRED: 'expired',
  WITHDRAWN: 'withdrawn',
};
export function Status({ status }) {
  return <span class={`badge badge-${String(status).toLowerCase()}`}>{STATUS[status] || status}</span>;
}

// Horizontal bars: rows of {label, value, text}; values may be negative.
export function Bars({ rows, title, format = (v) => num(v) }) {
  const width = 320;
  const max = Math.max(1e-12, ...rows.map((r) => Math.abs(r.value)));
  const neg = rows.some((r) => r.value < 0);
  const zero = neg ? width / 2 : 0;
  const scale = (neg ? width / 2 : width) / max;
  const h = 22;
  return (
    <figure class="chart">
      {title && <figcaption>{title}</figcaption>}
      <svg role="img" aria-label={title} viewBox={`0 0 ${width + 260} ${rows.length * h + 4}`} width={width + 260} height={rows.length * h + 4}>
        {rows.map((r, i) => {
          const w = Math.abs(r.value) * scale;
          const x = 160 + (r.value < 0 ? zero - w : zero);
          return (
            <g>
              <text x="155" y={i * h + 15} text-anchor="end" class="chart-label">{r.label}</text>
              <rect x={x} y={i * h + 4} width={Math.max(w, 1)} height={h - 8} class={r.value < 0 ? 'bar bar-neg' : 'bar'} />
              <text x={160 + width + 6} y={i * h + 15} class="chart-value">{r.text ?? format(r.value)}</text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

// A line over points {x (label), y}; y in [0, max].
export function Line({ points, title, format = (v) => num(v, 3) }) {
  if (points.length === 0) return null;
  const width = 480, height = 130, pad = 44;
  const max = Math.max(1e-12, ...points.map((p) => p.y ?? 0));
  const step = points.length > 1 ? (width - 2 * pad) / (points.length - 1) : 0;
  const xy = points.map((p, i) => [pad + i * step, height - pad - ((p.y ?? 0) / max) * (height - 2 * pad)]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <svg role="img" aria-label={title} viewBox={`0 0 ${width} ${height}`} width={width} height={height}>
        <polyline points={xy.map(([x, y]) => `${x},${y}`).join(' ')} class="line" />
        {xy.map(([x, y], i) => (
          <g>
            <circle cx={x} cy={y} r="3" class="dot" />
            <text x={x} y={y - 6} text-anchor="middle" class="chart-value">{format(points[i].y)}</text>
            <text x={x} y={height - 8} text-anchor="middle" class="chart-label">{points[i].x}</text>
          </g>
        ))}
      </svg>
    </figure>
  );
}

// Request ids for refinements: random, made in the browser (crypto.randomUUID
// needs a secure context; getRandomValues does not).
export function newRequestId(prefix = 'web') {
  const b = crypto.getRandomValues(new Uint8Array(9));
  return `${prefix}-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
}
