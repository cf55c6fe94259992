import { useState } from 'preact/hooks';
import { signIn } from '../api.js';
import { ErrorBox } from '../ui.jsx';

export function SignIn({ onSignedIn }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signIn(token.trim()));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Harmonia</h1>
      <p>Customer segmentation for your market. Sign in with the token you were given.</p>
      <form onSubmit={submit}>
        <label for="token">Your token</label>
        <input id="token" type="password" autocomplete="current-password" value={token}
          onInput={(e) => setToken(e.currentTarget.value)} required autofocus />
        <button type="submit" disabled={busy || !token.trim()}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
      <ErrorBox error={error} />
    </main>
  );
}
