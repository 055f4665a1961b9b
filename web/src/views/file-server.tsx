// File server details (seed fig. 17): its FSVMs with their health, its shares (where each folder lives, which policy
// protects it), its policies, directory settings (never a secret) and recent operations. Admins create and delete
// shares here; the API carries it out with a workflow.
import { useState } from 'preact/hooks';
import { allows, api, enc, type ApiError } from '../api';
import { Dialog, ErrorMessage, Facts, Field, Loading } from '../components/common';
import { Status } from '../components/status';
import { ago, bytes, roles, time, words } from '../format';
import { useResource } from '../hooks';
import { OPERATION_LABELS } from '../operation-types';
import { href, navigate } from '../router';
import type { Accepted, FileServerDetails, Role, ShareList } from '../types';

export function FileServerView({ name, role }: { name: string; role: Role }) {
  const fs = useResource(() => api.get<FileServerDetails>(`/file-servers/${enc(name)}`), [name], {
    topics: ['fileServers', 'policies'],
    reloadOn: (e) => e.type === 'operation' && e.data.fileServers.includes(name),
  });
  const shares = useResource(() => api.get<ShareList>(`/file-servers/${enc(name)}/shares`), [name], {
    topics: ['fileServers', 'policies'],
    reloadOn: (e) => e.type === 'operation' && e.data.source === name && e.data.kind.startsWith('share_'),
  });
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<string | null>(null);
  const [refreshError, setRefreshError] = useState<unknown>(null);
  const d = fs.data;
  const refresh = async () => {
    setRefreshError(null);
    try {
      await api.get(`/file-servers/${enc(name)}?refresh=true`);
      fs.reload();
      shares.reload();
    } catch (err) {
      setRefreshError(err);
    }
  };
  return (
    <section>
      <p class="crumbs">
        <a href="#/file-servers">File servers</a> › {name}
      </p>
      <h1>
        File server {name} {d ? <Status value={d.status} /> : null}
      </h1>
      <ErrorMessage error={fs.error} />
      {!d && !fs.error ? <Loading what="the file server" /> : null}
      {d ? (
        <>
          <Facts
            rows={[
              ['Site', d.site],
              ['DNS name', d.dnsName],
              ['Client addresses', d.addresses.join(', ') || 'none recorded'],
              ['Protected shares', roles(d.roles)],
              ...(d.fence
                ? ([
                    [
                      'Fenced',
                      `since ${time(d.fence.since)}${d.fence.mode ? `, shares ${words(d.fence.mode)}` : ''}${
                        d.fence.reason ? `: ${d.fence.reason}` : ''
                      }; ${d.fence.enforcedAt ? `enforced ${time(d.fence.enforcedAt)}` : 'not yet enforced on every FSVM'}`,
                    ],
                  ] as [string, string][])
                : []),
              [
                'Client redirection (Active Directory)',
                d.directory
                  ? `domain ${d.directory.domain}, zone ${d.directory.dnsZone}, computer account ${d.directory.computerAccount} (the bind password is stored encrypted and never shown)`
                  : 'not configured: a failover does not move this name',
              ],
              ['Shares listed', d.sharesRefreshedAt ? ago(d.sharesRefreshedAt) : 'not yet'],
            ]}
          />
          <h2>FSVMs</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">Gateway</th>
                <th scope="col">Health</th>
                <th scope="col">Last seen</th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              {d.fsvms.map((f) => (
                <tr key={f.nodeId}>
                  <td>{f.nodeId}</td>
                  <td>
                    <code>{f.gatewayUrl}</code>
                  </td>
                  <td>
                    <Status value={f.health} />
                  </td>
                  <td>{ago(f.lastSeenAt)}</td>
                  <td>{f.lastError ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <button type="button" class="secondary small" onClick={() => void refresh()}>
            Check FSVM health now
          </button>
          <ErrorMessage error={refreshError} />
        </>
      ) : null}

      <h2>Shares</h2>
      <ErrorMessage error={shares.error} />
      {shares.data?.stale ? (
        <p class="notice">
          Some FSVMs did not answer; this is the last complete list.{' '}
          {shares.data.errors.map((e) => `${e.nodeId}: ${e.message}`).join('; ')}
        </p>
      ) : null}
      {allows(role, 'admin') ? (
        <button type="button" onClick={() => setCreating(true)}>
          New share
        </button>
      ) : null}
      {shares.data ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Share</th>
              <th scope="col">Kind</th>
              <th scope="col">Client access</th>
              <th scope="col">Folders on FSVMs</th>
              <th scope="col">Size</th>
              <th scope="col">Replication</th>
              {allows(role, 'admin') ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {shares.data.shares.map((s) => (
              <tr key={s.name} data-share={s.name}>
                <td>
                  <a href={href('file-servers', name, 'shares', s.name)}>{s.name}</a>
                </td>
                <td>{s.kind}</td>
                <td>{words(s.accessMode)}</td>
                <td>
                  {Object.entries(s.portions)
                    .map(([portion, node]) => (portion ? `${portion} → ${node}` : node))
                    .join(', ')}
                </td>
                <td>{bytes(s.sizeBytes)}</td>
                <td>
                  {s.protectedBy.length
                    ? s.protectedBy.map((u) => (
                        <span key={u.policy + u.role}>
                          {u.role === 'source' ? 'protected by ' : 'replica of '}
                          <a href={href('policies', u.policy)}>{u.policy}</a>
                          {u.role === 'source' ? ` → ${u.peer}/${u.peerShare}` : ` from ${u.peer}/${u.peerShare}`}
                        </span>
                      ))
                    : 'not protected'}
                </td>
                {allows(role, 'admin') ? (
                  <td>
                    <button
                      type="button"
                      class="danger small"
                      disabled={s.protectedBy.length > 0}
                      title={s.protectedBy.length ? 'A policy uses this share' : undefined}
                      onClick={() => setDeleting(s.name)}
                    >
                      Delete
                    </button>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}

      {d ? (
        <>
          <h2>Policies</h2>
          {d.policies.length ? (
            <ul>
              {d.policies.map((p) => (
                <li key={p.name}>
                  <a href={href('policies', p.name)}>{p.name}</a>:{' '}
                  {p.role === 'source' ? `to ${p.peer}` : `from ${p.peer}`} <Status value={p.status} />
                </li>
              ))}
            </ul>
          ) : (
            <p>No policy uses this file server.</p>
          )}
          <h2>Recent operations</h2>
          {d.recentOperations.length ? (
            <ul>
              {d.recentOperations.map((o) => (
                <li key={o.id}>
                  <a href={href('operations', o.id)}>{OPERATION_LABELS[o.kind] ?? o.kind}</a> {time(o.createdAt)}{' '}
                  <Status value={o.state} />
                </li>
              ))}
            </ul>
          ) : (
            <p>None yet.</p>
          )}
        </>
      ) : null}
      {creating && d ? (
        <NewShareDialog fileServer={name} nodes={d.fsvms.map((f) => f.nodeId)} onClose={() => setCreating(false)} />
      ) : null}
      {deleting ? <DeleteShareDialog fileServer={name} share={deleting} onClose={() => setDeleting(null)} /> : null}
    </section>
  );
}

function NewShareDialog({ fileServer, nodes, onClose }: { fileServer: string; nodes: string[]; onClose: () => void }) {
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'standard' | 'distributed'>('standard');
  const [node, setNode] = useState(nodes[0] ?? '');
  const [folders, setFolders] = useState<{ name: string; nodeId: string }[]>(
    nodes.map((n, i) => ({ name: `folder${i + 1}`, nodeId: n })),
  );
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const field = (path: string) => (error as ApiError | null)?.field?.(path);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = kind === 'standard' ? { name, kind, nodeId: node } : { name, kind, portions: folders };
      const r = await api.post<Accepted>(`/file-servers/${enc(fileServer)}/shares`, body);
      navigate(`/operations/${r.operationId}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title={`New share on ${fileServer}`} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <Field id="share-name" label="Share name" error={field('body.name')}>
          <input id="share-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <fieldset class="choice">
          <legend>Kind</legend>
          <label>
            <input type="radio" name="kind" checked={kind === 'standard'} onChange={() => setKind('standard')} />{' '}
            standard (on one FSVM)
          </label>
          <label>
            <input type="radio" name="kind" checked={kind === 'distributed'} onChange={() => setKind('distributed')} />{' '}
            distributed (top-level folders placed on FSVMs)
          </label>
        </fieldset>
        {kind === 'standard' ? (
          <Field id="share-node" label="FSVM" error={field('body.nodeId')}>
            <select id="share-node" value={node} onChange={(e) => setNode(e.currentTarget.value)}>
              {nodes.map((n) => (
                <option key={n}>{n}</option>
              ))}
            </select>
          </Field>
        ) : (
          <fieldset>
            <legend>Top-level folders</legend>
            {folders.map((f, i) => (
              <div class="row" key={i}>
                <Field id={`folder-${i}`} label={`Folder ${i + 1}`} error={field(`body.portions.${i}.name`)}>
                  <input
                    id={`folder-${i}`}
                    value={f.name}
                    onInput={(e) => {
                      const v = e.currentTarget.value;
                      setFolders((l) => l.map((x, j) => (j === i ? { ...x, name: v } : x)));
                    }}
                  />
                </Field>
                <Field id={`folder-node-${i}`} label="on FSVM" error={field(`body.portions.${i}.nodeId`)}>
                  <select
                    id={`folder-node-${i}`}
                    value={f.nodeId}
                    onChange={(e) => {
                      const v = e.currentTarget.value;
                      setFolders((l) => l.map((x, j) => (j === i ? { ...x, nodeId: v } : x)));
                    }}
                  >
                    {nodes.map((n) => (
                      <option key={n}>{n}</option>
                    ))}
                  </select>
                </Field>
                <button
                  type="button"
                  class="secondary small"
                  aria-label={`Remove folder ${i + 1}`}
                  onClick={() => setFolders((l) => l.filter((_, j) => j !== i))}
                >
                  Remove
                </button>
              </div>
            ))}
            <button
              type="button"
              class="secondary small"
              onClick={() => setFolders((l) => [...l, { name: '', nodeId: nodes[0] ?? '' }])}
            >
              Add a folder
            </button>
          </fieldset>
        )}
        <ErrorMessage error={error} />
        <div class="buttons">
          <button type="button" class="secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" disabled={busy}>
            {busy ? 'Creating…' : 'Create share'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function DeleteShareDialog({ fileServer, share, onClose }: { fileServer: string; share: string; onClose: () => void }) {
  const [typed, setTyped] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await api.del<Accepted>(`/file-servers/${enc(fileServer)}/shares/${enc(share)}?confirm=${enc(typed)}`);
      navigate(`/operations/${r.operationId}`);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Dialog title={`Delete share ${share} on ${fileServer}`} onClose={onClose}>
      <p class="warning">The share's data and snapshots are deleted on every FSVM. This cannot be undone.</p>
      <form onSubmit={(e) => void submit(e)}>
        <label for="confirm-share">
          Type <strong>{share}</strong> to confirm
        </label>
        <input id="confirm-share" autocomplete="off" value={typed} onInput={(e) => setTyped(e.currentTarget.value)} />
        <ErrorMessage error={error} />
        <div class="buttons">
          <button type="button" class="secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="danger" disabled={typed !== share}>
            Delete share
          </button>
        </div>
      </form>
    </Dialog>
  );
}
