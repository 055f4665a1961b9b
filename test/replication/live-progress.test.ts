// Jobs as an operator watches them run: bytes, percent and throughput move during a multi-second base copy (the source
// agents are bandwidth-limited) and the job ends at 100 % with its duration to the millisecond; "replicate now" queues
// an on-demand run behind the running one (the schedule's overlap rule) instead of running beside it.
import request from 'supertest';
import { randomBytesDeterministic, writeFiles } from '../gateway/helpers';
import { createToken } from '../../api/routes/tokens';
import { startLab, waitUntil, type Lab } from './lab';

jest.setTimeout(180_000);

describe('live job progress', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ sourceBandwidth: '1M' });
    await lab.agents.a1.client.createShare('media');
    writeFiles(lab.livePath(lab.agents.a1, 'media'), {
      'video.bin': randomBytesDeterministic(10 * 1024 * 1024, 11),
      'notes.txt': 'cut 3\n',
    });
    await lab.agents.a1.client.createShare('media2');
    writeFiles(lab.livePath(lab.agents.a1, 'media2'), { 'big.bin': randomBytesDeterministic(6 * 1024 * 1024, 12) });
  });
  afterAll(async () => lab?.close());

  it('moves percent, bytes and throughput of a running job, then ends at 100 %', async () => {
    const created = await request(lab.app)
      .post('/api/v1/policies')
      .set(lab.admin)
      .send({ name: 'live', source: 'fs-a', destination: 'fs-b', rpoMinutes: 30, shares: [{ source: 'media' }] });
    expect(created.status).toBe(202);

    const job = await waitUntil('the first job to start', async () => {
      const res = await request(lab.app).get('/api/v1/jobs?policy=live').set(lab.admin).expect(200);
      return (res.body.items as { id: string }[])[0];
    });
    const seen: { percent: number; bytesSynced: number; throughput: number | null }[] = [];
    let final: Record<string, any> | undefined;
    await waitUntil(
      'the job to end',
      async () => {
        const res = await request(lab.app).get(`/api/v1/jobs/${job.id}`).set(lab.admin).expect(200);
        if (res.body.state === 'running') {
          seen.push({
            percent: res.body.percent,
            bytesSynced: res.body.bytesSynced,
            throughput: res.body.averageThroughputBps,
          });
          return false;
        }
        final = res.body;
        return true;
      },
      120_000,
    );
    const intermediate = new Set(seen.map((s) => s.percent).filter((p) => p > 0 && p < 100));
    expect(intermediate.size).toBeGreaterThanOrEqual(2);
    // Monotonic: a later reading never shows fewer bytes.
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.bytesSynced).toBeGreaterThanOrEqual(seen[i - 1]!.bytesSynced);
    expect(seen.some((s) => (s.throughput ?? 0) > 0)).toBe(true);
    expect(final).toMatchObject({ state: 'succeeded', percent: 100, incremental: false });
    expect(final!.bytesSynced).toBeGreaterThanOrEqual(10 * 1024 * 1024);
    // Roughly 10 MiB at 1 MiB/s: several seconds, reported with milliseconds.
    expect(final!.durationSeconds).toBeGreaterThan(5);
    const elapsed = (Date.parse(final!.endedAt) - Date.parse(final!.startedAt)) / 1000;
    expect(Math.abs(final!.durationSeconds - elapsed)).toBeLessThan(0.002);
  });

  it('replicates a share now: queued behind the running job, then an on-demand run, never two at once', async () => {
    const db = lab.database.db;
    const created = await request(lab.app)
      .post('/api/v1/policies')
      .set(lab.admin)
      .send({ name: 'now', source: 'fs-a', destination: 'fs-b', rpoMinutes: 60, shares: [{ source: 'media2' }] });
    expect(created.status).toBe(202);
    await lab.temporal.workflow.getHandle(created.body.workflowId).result();
    const base = await waitUntil('the base copy to run', () =>
      db.job.findFirst({ where: { share: 'media2', state: 'running' } }),
    );
    const viewer = await request(lab.app)
      .post('/api/v1/policies/now/shares/media2/replicate')
      .set({ authorization: `Bearer ${(await createToken(db, 'v', 'viewer')).token}` });
    expect(viewer.status).toBe(403);
    const res = await request(lab.app).post('/api/v1/policies/now/shares/media2/replicate').set(lab.admin).expect(202);
    expect(res.body).toMatchObject({
      policy: 'now',
      share: 'media2',
      scheduleId: 'schedule/replicate/now/media2',
      queuedBehind: base.id,
    });
    const onDemand = await waitUntil(
      'the on-demand run to end',
      () => db.job.findFirst({ where: { share: 'media2', kind: 'on_demand', state: { in: ['succeeded', 'failed'] } } }),
      120_000,
    );
    expect(onDemand.state).toBe('succeeded');
    const first = await db.job.findUniqueOrThrow({ where: { id: base.id } });
    expect(first.state).toBe('succeeded');
    // It waited: it started only once the base copy had ended, and it sent only what changed (nothing).
    expect(onDemand.startedAt.getTime()).toBeGreaterThanOrEqual(first.endedAt!.getTime());
    expect(onDemand.incremental).toBe(true);
    // The request was used up: the next scheduled run is a scheduled one again.
    expect(
      (await db.policyShare.findFirstOrThrow({ where: { sourceShare: 'media2' } })).replicateRequestedAt,
    ).toBeNull();
    const missing = await request(lab.app)
      .post('/api/v1/policies/now/shares/nope/replicate')
      .set(lab.admin)
      .expect(404);
    expect(missing.body.detail).toBe("share 'nope' is not protected by policy 'now'");
  });
});
