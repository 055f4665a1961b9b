// A policy (seed figs. 21-22): its properties, protection status by share, and per share the last recovery point
// and the recent runs, colour-coded by result.
import { useState } from 'preact/hooks';
import { allows, api, enc, query } from '../api';
import { ErrorMessage, Facts, Loading, Progress } from '../components/common';
import { History } from '../components/history';
import { Status } from '../components/status';
import { ago, rpo, time } from '../format';
import { useLiveEvents, useResource } from '../hooks';
import { OPERATION_LABELS } from '../operation-types';
import { href } from '../router';
import type { JobSummary, Page, PolicyDetails, Role } from '../types';
import { DeletePolicyDialog } from './policies';

export function PolicyView({ name, role }: { name: string; role: Role }) {
  const policy = useResource<PolicyDetails>(() => api.get<PolicyDetails>(`/policies/${enc(name)}`), [name], {
    topics: ['policies'],
    reloadOn: (e): boolean =>
      (e.type === 'job' && e.data.policy === name && e.data.state !== 'running') ||
      (e.type === 'operation' && e.data.policyId !== null && e.data.policyId === policy.data?.id),
  });
  const jobs = useResource<Page<JobSummary>>(
    () => api.get<Page<JobSummary>>(`/jobs${query({ policy: name, limit: 200 })}`),
    [name],
    {
      reloadOn: (e): boolean =>
        e.type === 'job' && e.data.policy === name && !jobs.data?.items.some((j) => j.id === e.data.id),
    },
  );
  useLiveEvents((e) => {
    if (e.type !== 'job' || e.data.policy !== name) return;
    jobs.setData((page) => ({ ...page, items: page.items.map((j) => (j.id === e.data.id ? { ...j, ...e.data } : j)) }));
  });
  const [deleting, setDeleting] = useState(false);
  const p = policy.data;
  return (
    <section>
      <p class="crumbs">
        <a href="#/policies">Policies</a> › {name}
      </p>
      <h1>
        Policy {name} {p ? <Status value={p.status} /> : null}
      </h1>
      <ErrorMessage error={policy.error} />
      {!p && !policy.error ? <Loading what="the policy" /> : null}
      {p ? (
        <>
          {allows(role, 'admin') ? (
            <p class="buttons">
              <a class="button secondary" href={href('policies', name, 'edit')}>
                Edit
              </a>
              <button type="button" class="danger" onClick={() => setDeleting(true)}>
                Delete
              </button>
            </p>
          ) : null}
          <div class="tiles">
            <div class="tile">
              <h2>Properties</h2>
              <Facts
                rows={[
                  ['Primary (source)', <a href={href('file-servers', p.source)}>{p.source}</a>],
                  ['Recovery (destination)', <a href={href('file-servers', p.destination)}>{p.destination}</a>],
                  ['RPO', rpo(p.rpoMinutes)],
                  ['Snapshot sets kept', p.retentionCount],
                  ['Shares', p.shares.length],
                  ['Version', p.version],
                  ['Status', p.statusReason ? `${p.status}: ${p.statusReason}` : p.status],
                  [
                    'Operation under way',
                    p.currentOperation ? (
                      <a href={href('operations', p.currentOperation.id)}>
                        {OPERATION_LABELS[p.currentOperation.kind] ?? p.currentOperation.kind} (
                        {p.currentOperation.state})
                      </a>
                    ) : (
                      'none'
                    ),
                  ],
                  [
                    'Workflow',
                    p.workflowUrl ? (
                      <a href={p.workflowUrl}>{p.workflowId} in the Temporal Web UI</a>
                    ) : (
                      (p.workflowId ?? '—')
                    ),
                  ],
                ]}
              />
            </div>
            <div class="tile">
              <h2>Protection by share</h2>
              <ul class="counts">
                <li>
                  <Status value="compliant" label={`${p.compliance.compliant} within RPO`} />
                </li>
                <li>
                  <Status value="violated" label={`${p.compliance.violated} out of RPO`} />
                </li>
                <li>
                  <Status value="unknown" label={`${p.compliance.unknown} not replicated yet`} />
                </li>
              </ul>
            </div>
          </div>
          <h2>Shares</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Share</th>
                <th scope="col">Target share</th>
                <th scope="col">Last recovery point</th>
                <th scope="col">RPO compliance</th>
                <th scope="col">Latest run</th>
                <th scope="col">Replication history</th>
              </tr>
            </thead>
            <tbody>
              {p.shares.map((s) => {
                const runs = (jobs.data?.items ?? []).filter((j) => j.share === s.source).slice(0, 12);
                const latest = runs[0];
                return (
                  <tr key={s.source} data-share={s.source}>
                    <td>
                      <a href={href('file-servers', p.source, 'shares', s.source)}>{s.source}</a>
                    </td>
                    <td>{s.target}</td>
                    <td>{s.lastCompleteAt ? `${time(s.lastCompleteAt)} (${ago(s.lastCompleteAt)})` : 'none yet'}</td>
                    <td>
                      <Status value={s.compliance} />
                    </td>
                    <td>
                      {latest ? (
                        latest.state === 'running' ? (
                          <Progress
                            percent={latest.percent}
                            synced={latest.bytesSynced}
                            total={latest.bytesTotal}
                            label={`Replication of ${s.source}`}
                          />
                        ) : (
                          <a href={href('jobs', latest.id)}>
                            <Status value={latest.state} />
                          </a>
                        )
                      ) : (
                        '—'
                      )}
                    </td>
                    <td>
                      <History jobs={runs} label={`Recent runs of ${s.source}`} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <p>
            <a href={`#/jobs?policy=${enc(name)}`}>All jobs of this policy</a>
          </p>
        </>
      ) : null}
      {deleting ? <DeletePolicyDialog name={name} onClose={() => setDeleting(false)} /> : null}
    </section>
  );
}
