// A job (seed fig. 19): state, percent, primary and recovery file servers, share, start, end, bytes synced and the
// average throughput, live while it runs; its per-FSVM-pair streams below.
import { api, enc } from '../api';
import { ErrorMessage, Facts, Loading, Progress } from '../components/common';
import { Compliance, Status } from '../components/status';
import { bytes, duration, elapsed, rate, time, words } from '../format';
import { useLiveEvents, useResource } from '../hooks';
import { href } from '../router';
import type { JobDetails } from '../types';

export function JobView({ id }: { id: string }) {
  const job = useResource(() => api.get<JobDetails>(`/jobs/${enc(id)}`), [id], {
    // The end brings sub-jobs, duration and the recorded throughput: read the details again.
    reloadOn: (e) => e.type === 'job' && e.data.id === id && e.data.state !== 'running' && e.data.state !== 'pending',
  });
  useLiveEvents((e) => {
    if (e.type === 'job' && e.data.id === id) job.setData((j) => ({ ...j, ...e.data }));
  });
  const j = job.data;
  return (
    <section>
      <p class="crumbs">
        <a href="#/jobs">Jobs</a> › {id}
      </p>
      <h1>Replication job {j ? <Status value={j.state} /> : null}</h1>
      <ErrorMessage error={job.error} />
      {!j && !job.error ? <Loading what="the job" /> : null}
      {j ? (
        <>
          <p class="big-progress">
            <Progress percent={j.percent} synced={j.bytesSynced} total={j.bytesTotal} label="Job progress" />
          </p>
          <Facts
            rows={[
              ['State', <Status value={j.state} />],
              ['Percent complete', `${j.percent} %`],
              ['Primary (source)', <a href={href('file-servers', j.source)}>{j.source}</a>],
              ['Recovery (destination)', <a href={href('file-servers', j.destination)}>{j.destination}</a>],
              ['Share', <a href={href('file-servers', j.source, 'shares', j.share)}>{j.share}</a>],
              ['Target share', j.targetShare],
              ['Policy', j.policy ? <a href={href('policies', j.policy)}>{j.policy}</a> : '—'],
              [
                'Kind',
                j.operationId ? (
                  <>
                    {j.incremental ? 'incremental' : 'base copy'}, {words(j.kind)} of{' '}
                    <a href={href('operations', j.operationId)}>an operation</a>
                  </>
                ) : (
                  `${j.incremental ? 'incremental' : 'base copy'}, ${words(j.kind)}`
                ),
              ],
              ['Started', time(j.startedAt)],
              ['Ended', j.endedAt ? time(j.endedAt) : 'still running'],
              ['Duration', duration(j.durationSeconds ?? elapsed(j.startedAt, j.endedAt))],
              ['Data synced', `${bytes(j.bytesSynced)} of ${bytes(j.bytesTotal)}`],
              ['Average throughput', rate(j.averageThroughputBps)],
              ['RPO compliance', <Compliance value={j.rpoCompliant} />],
              ['Snapshot set', j.snapshotSetId ?? '—'],
              ['Base snapshot', j.baseSnapshotId ?? '— (full copy)'],
              ['Workflow', j.workflowId ?? '—'],
            ]}
          />
          {j.error ? (
            <p class="error" role="alert">
              Failed: {j.error}
            </p>
          ) : null}
          <h2>Streams (one per FSVM pair)</h2>
          {j.subJobs.length ? (
            <table>
              <thead>
                <tr>
                  <th scope="col">Folder</th>
                  <th scope="col">FSVMs</th>
                  <th scope="col">State</th>
                  <th scope="col">Synced</th>
                  <th scope="col">Throughput</th>
                  <th scope="col">Error</th>
                </tr>
              </thead>
              <tbody>
                {j.subJobs.map((s) => (
                  <tr key={s.id}>
                    <td>{s.portion || '(share root)'}</td>
                    <td>
                      {s.sourceNodeId} → {s.destNodeId}
                    </td>
                    <td>
                      <Status value={s.state} />
                    </td>
                    <td>
                      {bytes(s.bytesSynced)} of {bytes(s.bytesTotal)}
                    </td>
                    <td>{rate(s.throughputBps)}</td>
                    <td>{s.error ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="muted">No stream recorded yet.</p>
          )}
        </>
      ) : null}
    </section>
  );
}
