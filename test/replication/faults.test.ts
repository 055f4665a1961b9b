// A replication run survives the crash of its worker and the restart of a destination FSVM's gateway: the job
// completes, the destination equals the source, the stream resumed rather than started over, and no partial snapshot
// set was ever committed. The worker runs as its own process (workers/main.ts) so it can be killed for real.
import fs from 'node:fs';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import request from 'supertest';
import { scheduleId } from '../../domain/replication';
import { randomBytesDeterministic, writeFiles, type Agent } from '../gateway/helpers';
import { contentDigest, startLab, waitUntil, type Lab } from './lab';

jest.setTimeout(300_000);

describe('replication under faults', () => {
  let lab: Lab;
  beforeAll(async () => {
    // 2 MiB/s from the source FSVMs: a 12 MiB share takes about six seconds, long enough to interrupt.
    lab = await startLab({ workerProcess: true, sourceBandwidth: '2M' });
    await lab.startWorkerProcess();
    for (const [node, share] of [
      [lab.agents.a1, 'media'],
      [lab.agents.a2, 'scans'],
    ] as const) {
      await node.client.createShare(share);
      writeFiles(lab.livePath(node, share), {
        'large.bin': randomBytesDeterministic(12 * 1024 * 1024, share.length),
        'small.txt': `${share}\n`,
      });
    }
  });
  afterAll(async () => lab?.close());

  const destAgent = (share: string): Agent =>
    [lab.agents.b1, lab.agents.b2].find((b) => fs.existsSync(lab.livePath(b, share)))!;

  async function runningSubJob(share: string) {
    return waitUntil(`a running transfer of '${share}'`, async () =>
      lab.database.db.subJob.findFirst({
        where: { job: { share }, state: 'running', bytesSynced: { gt: 0 } },
        include: { job: true },
      }),
    );
  }

  async function destSnapshots(share: string) {
    return (await destAgent(share).client.listSnapshots(share)).map((s) => s.id);
  }

  /** The job once it is no longer running. */
  function finished(jobId: string) {
    return waitUntil(
      'the job to finish',
      async () => {
        const j = await lab.database.db.job.findUniqueOrThrow({ where: { id: jobId } });
        return j.state === 'running' ? undefined : j;
      },
      120_000,
    );
  }

  it('kill -9 of the worker mid-replication: a new worker finishes the job, the stream is not restarted', async () => {
    const res = await request(lab.app)
      .post('/api/v1/policies')
      .set(lab.admin)
      .send({ name: 'media', source: 'fs-a', destination: 'fs-b', rpoMinutes: 5, shares: [{ source: 'media' }] })
      .expect(202);
    await lab.temporal.workflow.getHandle(res.body.workflowId).result();
    const sub = await runningSubJob('media');

    await lab.workerProc!.kill9();
    expect(await destSnapshots('media')).toEqual([]);
    await lab.startWorkerProcess();

    const job = await finished(sub.jobId);
    expect(job.state).toBe('succeeded');
    expect(contentDigest(lab.livePath(destAgent('media'), 'media'))).toEqual(
      contentDigest(lab.livePath(lab.agents.a1, 'media')),
    );
    // The gateway kept streaming while no worker watched: one transfer, no restart from zero.
    const ours = (await lab.agents.a1.client.listTransfers()).filter((t) => t.snapshotId === job.snapshotSetId);
    expect(ours).toHaveLength(1);
    expect(ours[0]!.state).toBe('succeeded');
    expect(await destSnapshots('media')).toEqual([job.snapshotSetId]);
  });

  it('a destination gateway stopped mid-transfer: the stream resumes where it stopped; no partial set is committed', async () => {
    const res = await request(lab.app)
      .post('/api/v1/policies')
      .set(lab.admin)
      .send({ name: 'scans', source: 'fs-a', destination: 'fs-b', rpoMinutes: 5, shares: [{ source: 'scans' }] })
      .expect(202);
    await lab.temporal.workflow.getHandle(res.body.workflowId).result();
    const sub = await runningSubJob('scans');
    const dest = sub.destNodeId === 'b1' ? lab.agents.b1 : lab.agents.b2;

    // A stop (SIGTERM), as in maintenance: the receiver records how far it got. (A kill -9 loses up to the last
    // 10 s of the stream; the gateway's own tests cover that resume.)
    await dest.stop();
    await new Promise((r) => setTimeout(r, 2000));
    await dest.restart();
    // While the stream is incomplete the destination lists no snapshot of this set.
    expect(await destSnapshots('scans')).toEqual([]);

    const job = await finished(sub.jobId);
    expect(job.state).toBe('succeeded');
    expect(contentDigest(lab.livePath(dest, 'scans'))).toEqual(contentDigest(lab.livePath(lab.agents.a2, 'scans')));
    const ours = (await lab.agents.a2.client.listTransfers()).filter(
      (t) => t.snapshotId === job.snapshotSetId && t.state === 'succeeded',
    );
    expect(ours).toHaveLength(1);
    expect(ours[0]!.resumes).toBeGreaterThanOrEqual(1);
    expect(ours[0]!.resumedFrom).toBeGreaterThan(0);
    expect(await destSnapshots('scans')).toEqual([job.snapshotSetId]);
  });

  it('a run that cannot finish within its RPO ends failed with the reason; the next run catches up incrementally', async () => {
    await lab.agents.a1.client.createShare('late');
    const live = lab.livePath(lab.agents.a1, 'late');
    writeFiles(live, { 'a.txt': 'first\n' });
    // RPO 1 minute: runs every 45 s, and an incremental run must end within 60 s.
    const res = await request(lab.app)
      .post('/api/v1/policies')
      .set(lab.admin)
      .send({ name: 'late', source: 'fs-a', destination: 'fs-b', rpoMinutes: 1, shares: [{ source: 'late' }] })
      .expect(202);
    await lab.temporal.workflow.getHandle(res.body.workflowId).result();
    const jobs = lab.database.db.job;
    await waitUntil('the base copy', () => jobs.findFirst({ where: { share: 'late', state: 'succeeded' } }));
    const dest = destAgent('late');

    // The destination FSVM is away for longer than the RPO: the next run's sub-job waits for it until the deadline.
    await dest.stop();
    const lastGood = await jobs.findFirstOrThrow({
      where: { share: 'late', state: 'succeeded' },
      orderBy: { startedAt: 'desc' },
    });
    writeFiles(live, { 'b.txt': 'written while the destination was away\n' });
    // Run now rather than at the next tick of the schedule (queued behind a running one, as the schedule would).
    await lab.temporal.schedule.getHandle(scheduleId('late', 'late')).trigger(ScheduleOverlapPolicy.BUFFER_ONE);
    const late = await waitUntil(
      'a run that missed its deadline',
      () => jobs.findFirst({ where: { share: 'late', state: 'failed' } }),
      150_000,
    );
    expect(late.error).toMatch(/did not finish within its deadline \(RPO 60s\).*next run catches up/);
    await dest.restart();

    const next = await waitUntil(
      'the run after it',
      () => jobs.findFirst({ where: { share: 'late', state: 'succeeded', startedAt: { gt: late.startedAt } } }),
      150_000,
    );
    expect(next.incremental).toBe(true);
    expect(next.baseSnapshotId).toBe(lastGood.snapshotSetId);
    expect(contentDigest(lab.livePath(dest, 'late'))).toEqual(contentDigest(live));
    // The missed set was never committed at the destination.
    expect(await destSnapshots('late')).not.toContain(late.snapshotSetId);
  });
});
