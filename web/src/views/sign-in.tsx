// Sign-in with an API token. The token stays in this tab's session storage only and is sent as a bearer header.
import { useState } from 'preact/hooks';
import { api, describeError } from '../api';
import type { Whoami } from '../types';

export function SignIn({
  message,
  onSignedIn,
}: {
  message: string | null;
  onSignedIn: (token: string, who: Whoami) => void;
}) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(token.trim(), await api.whoami(token.trim()));
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in" id="main">
      <h1>fs-dr</h1>
      <p>Disaster recovery for distributed file servers. Sign in with an API token.</p>
      {message ? (
        <p class="notice" role="status">
          {message}
        </p>
      ) : null}
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">API token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          aria-describedby="token-hint"
          required
        />
        <span class="hint" id="token-hint">
          The first start of <code>npm start</code> writes an admin token to <code>.data/admin-token</code>. The token
          is kept for this browser tab only.
        </span>
        <button type="submit" disabled={busy || !token.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
      </form>
    </main>
  );
}
