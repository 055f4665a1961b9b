// Protected file servers (seed fig. 16): each source -> destination pair with its policies, the state of both sides
// (derived by the API: active, standby, fenced), each protected share's state (which side clients write to, whether
// its replication is paused) and exactly the DR actions the API lists as available now (only for operators and
// admins), each behind a confirmation.
import { useState } from 'preact/hooks';
import { allows, api } from '../api';
import { ErrorMessage, Loading } from '../components/common';
import { ago, roles, words } from '../format';
import { OperationDialog } from '../components/operation-dialog';
import { Status } from '../components/status';
import { useResource } from '../hooks';
import { OPERATION_LABELS, type OperationKind } from '../operation-types';
import { href, navigate } from '../router';
import type { FileServerOverview, ProtectedShare, ProtectionPair, Role } from '../types';

/** A side's state in words; a fenced one says since when and why. */
function SideState({ server }: { server?: FileServerOverview }) {
  if (!server) return null;
  const f = server.fence;
  return (
    <>
      <Status value={server.status} />
      {f ? (
        <div class="small muted" data-fence>
          fenced {ago(f.since)}
          {f.mode ? ` (shares ${words(f.mode)})` : ''}
          {f.reason ? `: ${f.reason}` : ''}
          {f.enforcedAt ? '' : '; not yet enforced on every FSVM'}
        </div>
      ) : null}
    </>
  );
}

function ShareState({ share, pair }: { share: ProtectedShare; pair: ProtectionPair }) {
  const writer = share.primary === 'source' ? pair.source.name : pair.destination.name;
  const reader = share.primary === 'source' ? pair.destination.name : pair.source.name;
  return (
    <li data-share={share.share} data-primary={share.primary} data-paused={String(share.paused)}>
      <strong>{share.share}</strong>: clients write to {writer};{' '}
      {share.paused ? <Status value="paused" label="replication paused" /> : <span>replicated to {reader}</span>}
    </li>
  );
}

export function FileServersView({ role }: { role: Role }) {
  const servers = useResource(() => api.get<{ items: FileServerOverview[] }>('/file-servers'), [], {
    topics: ['fileServers', 'policies'],
    reloadOn: (e) => e.type === 'operation',
  });
  const [action, setAction] = useState<{ kind: OperationKind; pair: ProtectionPair } | null>(null);
  const items = servers.data?.items ?? [];
  // Each pair once, from its source's entry.
  const pairs = items.flatMap((s) => s.protection.filter((p) => p.role === 'source'));
  const byName = new Map(items.map((s) => [s.name, s]));
  const unprotected = items.filter((s) => !s.protection.length);
  return (
    <section>
      <h1>Protected file servers</h1>
      <ErrorMessage error={servers.error} />
      {!servers.data && !servers.error ? <Loading what="file servers" /> : null}
      {servers.data && !pairs.length ? (
        <p>
          No file server is protected yet. Create a policy under <a href="#/policies">Policies</a>.
        </p>
      ) : null}
      {pairs.length ? (
        <table class="pairs">
          <thead>
            <tr>
              <th scope="col">Source</th>
              <th scope="col">Destination</th>
              <th scope="col">Policies</th>
              <th scope="col">Shares</th>
              <th scope="col">Operation under way</th>
              {allows(role, 'operator') ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {pairs.map((p) => (
              <tr key={`${p.source.name}->${p.destination.name}`} data-pair={`${p.source.name}->${p.destination.name}`}>
                <td data-side="source">
                  <a href={href('file-servers', p.source.name)}>{p.source.name}</a>{' '}
                  <SideState server={byName.get(p.source.name)} />
                </td>
                <td data-side="destination">
                  <a href={href('file-servers', p.destination.name)}>{p.destination.name}</a>{' '}
                  <SideState server={byName.get(p.destination.name)} />
                </td>
                <td>
                  <ul class="inline">
                    {p.policies.map((pol) => (
                      <li key={pol.name}>
                        <a href={href('policies', pol.name)}>{pol.name}</a> <Status value={pol.status} />
                      </li>
                    ))}
                  </ul>
                </td>
                <td>
                  <ul class="plain">
                    {p.shares.map((sh) => (
                      <ShareState key={`${sh.policy}/${sh.share}`} share={sh} pair={p} />
                    ))}
                  </ul>
                </td>
                <td>
                  {p.runningOperation ? (
                    <>
                      <a href={href('operations', p.runningOperation.id)}>
                        {OPERATION_LABELS[p.runningOperation.kind] ?? p.runningOperation.kind}
                      </a>{' '}
                      <Status value={p.runningOperation.state} />
                    </>
                  ) : (
                    'none'
                  )}
                </td>
                {allows(role, 'operator') ? (
                  <td class="actions">
                    {p.availableActions.length ? (
                      p.availableActions.map((a) => (
                        <button
                          type="button"
                          key={a}
                          class={a === 'unplanned_failover' ? 'danger small' : 'small'}
                          onClick={() => setAction({ kind: a, pair: p })}
                        >
                          {OPERATION_LABELS[a]}
                        </button>
                      ))
                    ) : (
                      <span class="muted">none now</span>
                    )}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {unprotected.length ? (
        <>
          <h2>Not protected</h2>
          <ul>
            {unprotected.map((s) => (
              <li key={s.name}>
                <a href={href('file-servers', s.name)}>{s.name}</a> ({s.site}) <Status value={s.status} />
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <h2>All file servers</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Site</th>
            <th scope="col">DNS name</th>
            <th scope="col">State</th>
            <th scope="col">Protected shares</th>
            <th scope="col">FSVMs healthy</th>
            <th scope="col">Shares</th>
          </tr>
        </thead>
        <tbody>
          {items.map((s) => (
            <tr key={s.name}>
              <td>
                <a href={href('file-servers', s.name)}>{s.name}</a>
              </td>
              <td>{s.site}</td>
              <td>{s.dnsName}</td>
              <td data-status-of={s.name}>
                <SideState server={s} />
              </td>
              <td>{roles(s.roles)}</td>
              <td>
                {s.fsvms.healthy} of {s.fsvms.total}
              </td>
              <td>{s.shares}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {action ? (
        <OperationDialog
          kind={action.kind}
          source={action.pair.source.name}
          destination={action.pair.destination.name}
          onClose={() => setAction(null)}
          onStarted={(id) => {
            setAction(null);
            navigate(`/operations/${id}`);
          }}
        />
      ) : null}
    </section>
  );
}
