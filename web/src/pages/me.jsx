import { useApp } from '../context.js';

const ROLE = {
  global_ops: 'global operations: rule sets, every market',
  country_ops: 'country operations',
  field: 'field team',
  viewer: 'viewer',
  service: 'service',
};

export function Me({ onSignOut }) {
  const { me } = useApp();
  return (
    <section>
      <h1>Who am I</h1>
      <p>Signed in as <strong id="principal">{me.principal}</strong>.</p>
      <h2>My roles</h2>
      <ul id="roles">
        {me.roles.map((r) => {
          const [role, cc] = r.split(':');
          return <li>{ROLE[role] || role}{cc ? ` in ${cc}` : ''} <code>{r}</code></li>;
        })}
      </ul>
      <p>The console can do exactly what these roles allow, nothing more.</p>
      <button type="button" onClick={onSignOut}>Sign out</button>
    </section>
  );
}
