// RPO alerts: the shares whose newest complete recovery point at the destination is older than their RPO, and what to
// do about it.
import { useState } from 'preact/hooks';
import { api, query } from '../api';
import { ErrorMessage, Loading } from '../components/common';
import { Status } from '../components/status';
import { ago, duration, time } from '../format';
import { useResource } from '../hooks';
import { href } from '../router';
import type { PolicySummary, RpoAlert } from '../types';

export function AlertsView() {
  const [all, setAll] = useState(false);
  const alerts = useResource(
    () => api.get<{ alerts: RpoAlert[] }>(`/alerts${query({ state: all ? 'all' : 'open', limit: 200 })}`),
    [all],
    { topics: ['alerts'] },
  );
  const policies = useResource(() => api.get<{ items: PolicySummary[] }>('/policies'), [], { topics: ['policies'] });
  const source = (policy: string) => policies.data?.items.find((p) => p.name === policy);
  return (
    <section>
      <h1>Alerts</h1>
      <label class="check">
        <input type="checkbox" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} /> include cleared alerts
      </label>
      <ErrorMessage error={alerts.error} />
      {!alerts.data && !alerts.error ? <Loading what="alerts" /> : null}
      {alerts.data && !alerts.data.alerts.length ? (
        <p>
          <Status value="succeeded" label="No share is out of its RPO." />
        </p>
      ) : null}
      {alerts.data?.alerts.map((a) => {
        const p = source(a.policy);
        return (
          <article class={`alert${a.clearedAt ? ' cleared' : ''}`} key={a.id} data-alert={a.id}>
            <h2>
              <Status value={a.clearedAt ? 'succeeded' : 'violated'} label={a.clearedAt ? 'Cleared' : 'RPO missed'} />{' '}
              share {a.share} of policy <a href={href('policies', a.policy)}>{a.policy}</a>
            </h2>
            <p>{a.message}</p>
            <p class="small">
              RPO {duration(a.rpoSeconds)}; last complete recovery point{' '}
              {a.lastCompleteAt ? `${time(a.lastCompleteAt)} (${ago(a.lastCompleteAt)})` : 'none yet'}; raised{' '}
              {time(a.raisedAt)}
              {a.clearedAt ? `; cleared ${time(a.clearedAt)}` : ''}.
            </p>
            {!a.clearedAt ? (
              <details>
                <summary>What to do</summary>
                <ol>
                  <li>
                    Look at the share's recent runs:{' '}
                    <a href={`#/jobs?policy=${encodeURIComponent(a.policy)}&share=${encodeURIComponent(a.share)}`}>
                      jobs of {a.share}
                    </a>
                    . A failed run names its reason.
                  </li>
                  <li>
                    Check the FSVMs of both file servers
                    {p ? (
                      <>
                        : <a href={href('file-servers', p.source)}>{p.source}</a> and{' '}
                        <a href={href('file-servers', p.destination)}>{p.destination}</a>
                      </>
                    ) : null}{' '}
                    ("Check FSVM health now"): a down gateway stops its portions.
                  </li>
                  <li>
                    If runs succeed but take longer than the RPO, the link is too slow for the change rate: raise the
                    RPO or move shares to another policy.
                  </li>
                  <li>The alert clears by itself when a newer complete recovery point lands.</li>
                </ol>
              </details>
            ) : null}
          </article>
        );
      })}
    </section>
  );
}
