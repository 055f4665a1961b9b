// The admin UI's shell: sign-in with a token (kept for this browser session only), the navigation, the live-update
// indicator, and the views by route. A token the API stops accepting (expired, revoked) returns to sign-in.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, describeError, session, setUnauthorizedHandler } from './api';
import { useLiveMode } from './hooks';
import { live } from './live';
import { match, useRoute } from './router';
import type { Whoami } from './types';
import { AlertsView } from './views/alerts';
import { FileServersView } from './views/file-servers';
import { FileServerView } from './views/file-server';
import { JobView } from './views/job';
import { JobsView } from './views/jobs';
import { OperationsView, OperationView } from './views/operations';
import { PoliciesView } from './views/policies';
import { PolicyForm } from './views/policy-form';
import { PolicyView } from './views/policy';
import { ShareView } from './views/share';
import { SignIn } from './views/sign-in';

export function App() {
  const [me, setMe] = useState<Whoami | null>(null);
  const [checking, setChecking] = useState(!!session.token());
  const [signedOutBecause, setSignedOutBecause] = useState<string | null>(null);

  const signOut = useCallback((why: string | null) => {
    live.stop();
    session.clear();
    setMe(null);
    setSignedOutBecause(why);
  }, []);

  const signedIn = useCallback(
    (token: string, who: Whoami) => {
      session.save(token);
      setMe(who);
      setSignedOutBecause(null);
      live.start(token, (m) => signOut(`Signed out: ${m}. Sign in with a valid token.`));
    },
    [signOut],
  );

  useEffect(() => {
    setUnauthorizedHandler((m) => signOut(`Signed out: ${m}. Sign in with a valid token.`));
    const token = session.token();
    if (!token) return;
    api.whoami(token).then(
      (who) => {
        signedIn(token, who);
        setChecking(false);
      },
      (err: unknown) => {
        signOut(`Signed out: ${describeError(err)}`);
        setChecking(false);
      },
    );
  }, []);

  if (checking) return <p class="muted">Checking your session…</p>;
  if (!me) return <SignIn message={signedOutBecause} onSignedIn={signedIn} />;
  return <Shell me={me} onSignOut={() => signOut(null)} />;
}

const NAV: [string, string][] = [
  ['/file-servers', 'File servers'],
  ['/policies', 'Policies'],
  ['/jobs', 'Jobs'],
  ['/operations', 'Operations'],
  ['/alerts', 'Alerts'],
];

function Shell({ me, onSignOut }: { me: Whoami; onSignOut: () => void }) {
  const path = useRoute();
  const mode = useLiveMode();
  const section = NAV.find(([p]) => path === p || path.startsWith(`${p}/`) || path.startsWith(`${p}?`))?.[0];
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">fs-dr</span>
        <nav aria-label="Sections">
          <ul>
            {NAV.map(([p, label]) => (
              <li key={p}>
                <a href={`#${p}`} aria-current={section === p ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class={`live live-${mode}`} role="status" aria-live="polite" data-live={mode}>
          {mode === 'live' ? '● Live' : mode === 'polling' ? '◌ Polling every 3 s' : '◌ Connecting…'}
        </span>
        <span class="who">
          {me.name} <span class="role">({me.role})</span>
        </span>
        <button type="button" class="link" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Route path={path} me={me} />
      </main>
    </div>
  );
}

function Route({ path, me }: { path: string; me: Whoami }) {
  const role = me.role;
  let m: Record<string, string> | null;
  if ((m = match('/file-servers/:name/shares/:share', path)))
    return <ShareView fileServer={m.name!} share={m.share!} />;
  if ((m = match('/file-servers/:name', path))) return <FileServerView name={m.name!} role={role} />;
  if (match('/file-servers', path)) return <FileServersView role={role} />;
  if (match('/policies/new', path)) return <PolicyForm role={role} />;
  if ((m = match('/policies/:name/edit', path))) return <PolicyForm role={role} name={m.name} />;
  if ((m = match('/policies/:name', path))) return <PolicyView name={m.name!} role={role} />;
  if (match('/policies', path)) return <PoliciesView role={role} />;
  if ((m = match('/jobs/:id', path))) return <JobView id={m.id!} />;
  if (match('/jobs', path)) return <JobsView path={path} />;
  if ((m = match('/operations/:id', path))) return <OperationView id={m.id!} me={me} />;
  if (match('/operations', path)) return <OperationsView />;
  if (match('/alerts', path)) return <AlertsView />;
  return (
    <section>
      <h1>Not found</h1>
      <p>
        Nothing lives at <code>{path}</code>. <a href="#/file-servers">Go to the file servers</a>.
      </p>
    </section>
  );
}
