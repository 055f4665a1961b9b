// Replication jobs (seed fig. 18): newest first, filtered by state, policy, share, source and destination; running
// jobs' progress bars move as the API pushes their figures (or as the UI polls when the stream is unavailable).
import { useState } from 'preact/hooks';
import { api, query } from '../api';
import { ErrorMessage, Loading, Progress } from '../components/common';
import { Compliance, Status } from '../components/status';
import { duration, elapsed, time, words } from '../format';
import { useLiveEvents, useResource } from '../hooks';
import { href, routeQuery } from '../router';
import type { JobState, JobSummary, Page, PolicySummary } from '../types';

const STATES: JobState[] = ['running', 'pending', 'succeeded', 'failed', 'cancelled'];

interface Filters {
  status: string;
  policy: string;
  share: string;
  source: string;
  destination: string;
}

function matches(j: JobSummary, f: Filters): boolean {
  return (
    (!f.status || j.state === f.status) &&
    (!f.policy || j.policy === f.policy) &&
    (!f.share || j.share === f.share) &&
    (!f.source || j.source === f.source) &&
    (!f.destination || j.destination === f.destination)
  );
}

export function JobsView({ path }: { path: string }) {
  const initial = routeQuery(path);
  const [filters, setFilters] = useState<Filters>({
    status: initial.get('status') ?? '',
    policy: initial.get('policy') ?? '',
    share: initial.get('share') ?? '',
    source: initial.get('source') ?? '',
    destination: initial.get('destination') ?? '',
  });
  const [more, setMore] = useState<JobSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const policies = useResource(() => api.get<{ items: PolicySummary[] }>('/policies'), [], { topics: ['policies'] });
  const jobs = useResource(
    () =>
      api
        .get<Page<JobSummary>>(`/jobs${query({ ...filters, limit: 50 })}`)
        .then((p) => (setCursor(p.nextCursor), setMore([]), p)),
    [filters.status, filters.policy, filters.share, filters.source, filters.destination],
  );
  useLiveEvents((e) => {
    if (e.type !== 'job') return;
    jobs.setData((page) => {
      if (page.items.some((j) => j.id === e.data.id)) {
        return { ...page, items: page.items.map((j) => (j.id === e.data.id ? { ...j, ...e.data } : j)) };
      }
      // A new job that belongs on this page: newest first.
      return matches(e.data, filters) ? { ...page, items: [e.data, ...page.items] } : page;
    });
  });
  const loadMore = async () => {
    if (!cursor) return;
    const p = await api.get<Page<JobSummary>>(`/jobs${query({ ...filters, limit: 50, cursor })}`);
    setMore((m) => [...m, ...p.items]);
    setCursor(p.nextCursor);
  };
  const set = (k: keyof Filters) => (e: { currentTarget: { value: string } }) =>
    setFilters((f) => ({ ...f, [k]: e.currentTarget.value.trim() }));
  const servers = [...new Set((policies.data?.items ?? []).flatMap((p) => [p.source, p.destination]))].sort();
  return (
    <section>
      <h1>Replication jobs</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter jobs">
        <label>
          Status{' '}
          <select value={filters.status} onChange={set('status')}>
            <option value="">any</option>
            {STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Policy{' '}
          <select value={filters.policy} onChange={set('policy')}>
            <option value="">any</option>
            {(policies.data?.items ?? []).map((p) => (
              <option key={p.name}>{p.name}</option>
            ))}
          </select>
        </label>
        <label>
          Share <input value={filters.share} onChange={set('share')} size={12} />
        </label>
        <label>
          Primary{' '}
          <select value={filters.source} onChange={set('source')}>
            <option value="">any</option>
            {servers.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Recovery{' '}
          <select value={filters.destination} onChange={set('destination')}>
            <option value="">any</option>
            {servers.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      </form>
      <ErrorMessage error={jobs.error} />
      {!jobs.data && !jobs.error ? <Loading what="jobs" /> : null}
      {jobs.data ? <JobTable jobs={[...jobs.data.items, ...more]} /> : null}
      {cursor ? (
        <button type="button" class="secondary" onClick={() => void loadMore()}>
          Load older jobs
        </button>
      ) : null}
    </section>
  );
}

export function JobTable({ jobs }: { jobs: JobSummary[] }) {
  if (!jobs.length) return <p>No job matches.</p>;
  return (
    <table class="jobs">
      <thead>
        <tr>
          <th scope="col">Started</th>
          <th scope="col">Duration</th>
          <th scope="col">Share</th>
          <th scope="col">Primary → recovery</th>
          <th scope="col">Policy</th>
          <th scope="col">Status</th>
          <th scope="col">Progress</th>
          <th scope="col">RPO</th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((j) => (
          <tr key={j.id} data-job={j.id} data-share={j.share} data-state={j.state}>
            <td>
              <a href={href('jobs', j.id)}>{time(j.startedAt)}</a>
            </td>
            <td>{duration(elapsed(j.startedAt, j.endedAt))}</td>
            <td>
              {j.share}
              {j.targetShare !== j.share ? ` → ${j.targetShare}` : ''}
            </td>
            <td>
              {j.source} → {j.destination}
            </td>
            <td>{j.policy ?? '—'}</td>
            <td>
              <Status value={j.state} />
              <span class="small muted">
                {' '}
                {j.incremental ? 'incremental' : 'base copy'}
                {j.kind !== 'scheduled' ? `, ${words(j.kind)}` : ''}
              </span>
            </td>
            <td>
              <Progress
                percent={j.percent}
                synced={j.bytesSynced}
                total={j.bytesTotal}
                label={`Progress of ${j.share} started ${time(j.startedAt)}`}
              />
            </td>
            <td>
              <Compliance value={j.rpoCompliant} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
