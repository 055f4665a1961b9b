// A running replication job shows its progress while it runs, as an operator watching the job list and the job
// details sees it: bytes, percent and throughput move during a multi-second base copy (the source agents are
// bandwidth-limited), and the job ends at 100 % with its duration to the millisecond.
import request from 'supertest';
import { randomBytesDeterministic, writeFiles } from '../gateway/helpers';
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
});
