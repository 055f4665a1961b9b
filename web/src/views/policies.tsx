// Replication policies (seed fig. 20): what each protects, where to, at which RPO, whether its shares are within it;
// admins create, edit and delete them.
import { useState } from 'preact/hooks';
import { allows, api, enc } from '../api';
import { Dialog, ErrorMessage, Loading } from '../components/common';
import { Status } from '../components/status';
import { ago, rpo } from '../format';
import { useResource } from '../hooks';
import { href, navigate } from '../router';
import type { Accepted, PolicySummary, Role } from '../types';

export function PoliciesView({ role }: { role: Role }) {
  const policies = useResource(() => api.get<{ items: PolicySummary[] }>('/policies'), [], {
    topics: ['policies', 'alerts'],
    reloadOn: (e) => e.type === 'job' && e.data.state !== 'running' && e.data.state !== 'pending',
  });
  const [deleting, setDeleting] = useState<string | null>(null);
  return (
    <section>
      <h1>Replication policies</h1>
      {allows(role, 'admin') ? (
        <p>
          <a class="button" href="#/policies/new">
            New policy
          </a>
        </p>
      ) : null}
      <ErrorMessage error={policies.error} />
      {!policies.data && !policies.error ? <Loading what="policies" /> : null}
      {policies.data && !policies.data.items.length ? <p>No policy yet.</p> : null}
      {policies.data?.items.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Policy</th>
              <th scope="col">Primary</th>
              <th scope="col">Recovery</th>
              <th scope="col">Shares</th>
              <th scope="col">RPO</th>
              <th scope="col">Kept sets</th>
              <th scope="col">Status</th>
              <th scope="col">RPO compliance</th>
              <th scope="col">Last replication</th>
              {allows(role, 'admin') ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {policies.data.items.map((p) => {
              const c = p.compliance;
              const overall = c.violated ? 'violated' : c.unknown === p.shares ? 'unknown' : 'compliant';
              return (
                <tr key={p.name} data-policy={p.name}>
                  <td>
                    <a href={href('policies', p.name)}>{p.name}</a>
                  </td>
                  <td>{p.source}</td>
                  <td>{p.destination}</td>
                  <td>{p.shares}</td>
                  <td>{rpo(p.rpoMinutes)}</td>
                  <td>{p.retentionCount}</td>
                  <td>
                    <Status value={p.status} />
                    {p.statusReason ? <div class="small muted">{p.statusReason}</div> : null}
                  </td>
                  <td>
                    <Status value={overall} label={`${c.compliant} of ${p.shares} within RPO`} />
                  </td>
                  <td>{ago(p.lastReplicationAt)}</td>
                  {allows(role, 'admin') ? (
                    <td class="actions">
                      <a class="button small secondary" href={href('policies', p.name, 'edit')}>
                        Edit
                      </a>
                      <button type="button" class="danger small" onClick={() => setDeleting(p.name)}>
                        Delete
                      </button>
                    </td>
                  ) : null}
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
      {deleting ? <DeletePolicyDialog name={deleting} onClose={() => setDeleting(null)} /> : null}
    </section>
  );
}

export function DeletePolicyDialog({ name, onClose }: { name: string; onClose: () => void }) {
  const [typed, setTyped] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await api.del<Accepted>(`/policies/${enc(name)}`);
      navigate(`/operations/${r.operationId}`);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Dialog title={`Delete policy ${name}`} onClose={onClose}>
      <p>
        Its schedules stop and running jobs are cancelled. The replicated data at the destination stays where it is.
      </p>
      <form onSubmit={(e) => void submit(e)}>
        <label for="confirm-policy">
          Type <strong>{name}</strong> to confirm
        </label>
        <input id="confirm-policy" autocomplete="off" value={typed} onInput={(e) => setTyped(e.currentTarget.value)} />
        <ErrorMessage error={error} />
        <div class="buttons">
          <button type="button" class="secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="danger" disabled={typed !== name}>
            Delete policy
          </button>
        </div>
      </form>
    </Dialog>
  );
}
