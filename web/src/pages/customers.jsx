// My customers (a rep's territories) or every customer (country ops), with
// segment in the country's label, tier, plan and directives; search and
// filters run on the server, one page at a time.
import { useEffect, useState } from 'preact/hooks';
import { call } from '../api.js';
import { useApp } from '../context.js';
import { ErrorBox, Loading, useLoad } from '../ui.jsx';

const PAGE = 50;

export function Customers() {
  const { country, ta, isField, config } = useApp();
  const [search, setSearch] = useState('');
  const [typed, setTyped] = useState('');
  const [segment, setSegment] = useState('');
  const [tier, setTier] = useState('');
  const [territory, setTerritory] = useState('');
  const [mine, setMine] = useState(isField);
  const [tokens, setTokens] = useState(['']); // page tokens: the first page's is ''
  useEffect(() => {
    const t = setTimeout(() => setSearch(typed.trim()), 250); // wait for the typing to pause
    return () => clearTimeout(t);
  }, [typed]);
  useEffect(() => setTokens(['']), [country, ta, search, segment, tier, territory, mine]);

  const [policy] = useLoad(() => call('CountryService/GetRefinementPolicy', { country, therapy_area: ta }), [country, ta]);
  const token = tokens[tokens.length - 1];
  const [page, error, loading] = useLoad(
    () =>
      call('CountryService/QueryAssignments', {
        country, therapy_area: ta, page_size: PAGE, page_token: token,
        search, segment, tier, territory, mine, include_customer: true,
      }),
    [country, ta, search, segment, tier, territory, mine, token],
  );
  const segments = policy?.segments || [];
  const label = Object.fromEntries(segments.map((s) => [s.id, s.label]));
  return (
    <section>
      <h1>{mine ? 'My customers' : `Customers in ${config.country}`} <small>{ta}</small></h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>Search <input type="search" id="search" placeholder="name or id" value={typed} onInput={(e) => setTyped(e.currentTarget.value)} /></label>
        <label>Segment{' '}
          <select id="segment" value={segment} onChange={(e) => setSegment(e.currentTarget.value)}>
            <option value="">any</option>
            {segments.map((s) => <option value={s.id}>{s.label}</option>)}
          </select>
        </label>
        <label>Tier <input id="tier" size="3" value={tier} onChange={(e) => setTier(e.currentTarget.value.trim())} /></label>
        <label>Territory <input id="territory" size="10" value={territory} onChange={(e) => setTerritory(e.currentTarget.value.trim())} /></label>
        <label><input type="checkbox" id="mine" checked={mine} onChange={(e) => setMine(e.currentTarget.checked)} /> only my territories</label>
      </form>
      <ErrorBox error={error} />
      {loading && !page && <Loading what="customers" />}
      {page && (
        <>
          <table class="grid" id="customers">
            <thead>
              <tr>
                <th>Customer</th><th>Segment</th><th>Tier</th>
                <th title="calls / remote / e-mails / events this cycle">Plan</th>
                <th>Key message</th><th>Channels</th><th>Drivers and barriers</th>
              </tr>
            </thead>
            <tbody>
              {page.assignments.map((a) => (
                <tr>
                  <td>
                    <a href={`#/customers/${encodeURIComponent(a.customer_id)}`}>{a.customer_name || a.customer_id}</a>
                    <div class="sub">{a.customer_id}{a.specialty ? ` · ${a.specialty}` : ''}{a.territories.length ? ` · ${a.territories.join(', ')}` : ''}</div>
                  </td>
                  <td>{a.segment_label || label[a.segment] || a.segment || <em>none (conflict)</em>}
                    {a.decided_by === 'refinement' && <span class="badge">refined</span>}</td>
                  <td>{a.tier}</td>
                  <td class="num">{a.plan_calls} / {a.plan_remote} / {a.plan_email} / {a.plan_events}</td>
                  <td>{a.message}</td>
                  <td>{a.channels.join(', ')}</td>
                  <td>{a.tags.join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {page.assignments.length === 0 && <p class="empty">No customer matches{mine ? ' in your territories' : ''}.</p>}
          <div class="pager">
            <button type="button" disabled={tokens.length === 1} onClick={() => setTokens(tokens.slice(0, -1))}>Previous</button>
            <span>Page {tokens.length} · cycle {page.cycle_id}</span>
            <button type="button" disabled={!page.next_page_token} onClick={() => setTokens([...tokens, page.next_page_token])}>Next</button>
          </div>
        </>
      )}
    </section>
  );
}
