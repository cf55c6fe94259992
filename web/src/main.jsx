// The console's web app (docs/console.md): one page per job, hash routes,
// every call through the console's JSON API with the person's own rights.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { call, session, signOut, whenSignedOut } from './api.js';
import { App as AppContext } from './context.js';
import { ErrorBox, Loading } from './ui.jsx';
import { SignIn } from './pages/signin.jsx';
import { Customers } from './pages/customers.jsx';
import { Customer } from './pages/customer.jsx';
import { MyRefinements, Upload } from './pages/refinements.jsx';
import { Inbox } from './pages/inbox.jsx';
import { Cycles } from './pages/cycles.jsx';
import { CountryReport, Markets } from './pages/report.jsx';
import { CountryFile } from './pages/country.jsx';
import { Me } from './pages/me.jsx';

function useHash() {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/');
    addEventListener('hashchange', on);
    on(); // a change between the first render and now would be missed otherwise
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

// What a principal's roles give: the countries and the jobs.
function rights(me) {
  const roles = me.roles;
  const countries = [...new Set(roles.filter((r) => r.includes(':')).map((r) => r.split(':')[1]))].sort();
  const has = (role, cc) => roles.includes(`${role}:${cc}`);
  return {
    countries,
    global: roles.includes('global_ops'),
    field: (cc) => has('field', cc),
    ops: (cc) => has('country_ops', cc),
  };
}

function Shell({ me, onSignOut }) {
  const hash = useHash();
  const r = rights(me);
  const [country, setCountry] = useState(localStorage.getItem('country') || r.countries[0] || '');
  const [config, setConfig] = useState(null);
  const [configError, setConfigError] = useState(null);
  const [ta, setTa] = useState(localStorage.getItem('ta') || '');

  useEffect(() => {
    if (!country) return;
    localStorage.setItem('country', country);
    setConfig(null);
    setConfigError(null);
    call('CountryService/GetCountryConfig', { country }).then(
      (c) => {
        setConfig(c);
        const tas = c.therapy_areas.map((t) => t.therapy_area);
        setTa((current) => (tas.includes(current) ? current : tas[0] || ''));
      },
      setConfigError,
    );
  }, [country]);
  useEffect(() => ta && localStorage.setItem('ta', ta), [ta]);

  const isOps = r.ops(country);
  const isField = r.field(country);
  const ctx = { me, country, ta, config, isOps, isField, global: r.global };
  const [path, ...rest] = hash.slice(2).split('/');
  const home = isOps ? 'inbox' : isField ? 'customers' : r.global ? 'markets' : 'customers';
  const page = path || home;
  const link = (to, text, show = true) =>
    show && (
      <a href={`#/${to}`} class={page === to ? 'active' : ''} aria-current={page === to ? 'page' : undefined}>
        {text}
      </a>
    );

  let body;
  if (!country && page !== 'markets' && page !== 'me') {
    body = r.global ? <Markets /> : <p>You have no country role. Ask your administrator for one.</p>;
  } else if (configError) {
    body = <ErrorBox error={configError} />;
  } else if (!config && page !== 'markets' && page !== 'me') {
    body = <Loading what="the country's settings" />;
  } else {
    switch (page) {
      case 'customers':
        body = rest[0] ? <Customer id={decodeURIComponent(rest[0])} /> : <Customers />;
        break;
      case 'refinements': body = <MyRefinements />; break;
      case 'upload': body = <Upload />; break;
      case 'inbox': body = <Inbox />; break;
      case 'cycles': body = <Cycles />; break;
      case 'report': body = <CountryReport />; break;
      case 'country': body = <CountryFile />; break;
      case 'markets': body = <Markets />; break;
      case 'me': body = <Me onSignOut={onSignOut} />; break;
      default: body = <p>No such page. <a href="#/">Go to the start page.</a></p>;
    }
  }
  return (
    <AppContext.Provider value={ctx}>
      <header>
        <a href="#/" class="brand">Harmonia</a>
        <nav aria-label="Pages">
          {link('customers', isField ? 'My customers' : 'Customers', !!country)}
          {link('refinements', 'My refinements', isField || isOps)}
          {link('upload', 'Upload refinements', isField || isOps)}
          {link('inbox', 'Refinement inbox', isOps)}
          {link('cycles', 'Cycles', !!country)}
          {link('report', 'Quality report', !!country)}
          {link('country', 'Country file', !!country)}
          {link('markets', 'All markets', r.global)}
        </nav>
        <div class="picker">
          <label>
            Country{' '}
            {r.global ? (
              <input value={country} size="3" maxLength={2} onChange={(e) => setCountry(e.currentTarget.value.toUpperCase())} />
            ) : (
              <select value={country} onChange={(e) => setCountry(e.currentTarget.value)}>
                {r.countries.map((c) => <option value={c}>{c}</option>)}
              </select>
            )}
          </label>
          <label>
            Therapy area{' '}
            <select value={ta} onChange={(e) => setTa(e.currentTarget.value)}>
              {(config?.therapy_areas || []).map((t) => <option value={t.therapy_area}>{t.therapy_area}</option>)}
            </select>
          </label>
          <a href="#/me" class="me">{me.principal}</a>
        </div>
      </header>
      <main>{body}</main>
    </AppContext.Provider>
  );
}

function Root() {
  const [me, setMe] = useState(undefined); // undefined = checking, null = signed out
  useEffect(() => {
    whenSignedOut(() => setMe(null));
    session().then((s) => setMe(s.signed_in ? s : null), () => setMe(null));
  }, []);
  if (me === undefined) return <Loading what="Harmonia" />;
  if (me === null) return <SignIn onSignedIn={setMe} />;
  return (
    <Shell
      me={me}
      onSignOut={async () => {
        await signOut().catch(() => {});
        setMe(null);
        location.hash = '#/';
      }}
    />
  );
}

render(<Root />, document.getElementById('app'));
