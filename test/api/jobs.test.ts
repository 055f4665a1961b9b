// Jobs: filters, keyset cursor pagination (stable under equal start times), details with throughput, pruning.
import request from 'supertest';
import { rows, seedFileServer, startHarness, type Harness } from './helpers/api-harness';

describe('jobs', () => {
  let h: Harness;
  let policyId: string;
  const base = Date.UTC(2026, 0, 1);

  beforeAll(async () => {
    h = await startHarness();
    const db = h.database.db;
    const src = await seedFileServer(db, 'fs1', ['a', 'b']);
    const dst = await seedFileServer(db, 'fs2', []);
    policyId = (
      await db.replicationPolicy.create({
        data: { name: 'gold', sourceFileServerId: src, destFileServerId: dst, rpoSeconds: 900, status: 'active' },
      })
    ).id;
    // 60 jobs: shares a/b alternate, states cycle, two jobs per start time (ties broken by id)
    const states = ['succeeded', 'failed', 'running'] as const;
    await db.job.createMany({
      data: Array.from({ length: 60 }, (_, i) => ({
        policyId: i % 4 === 0 ? null : policyId,
        share: i % 2 ? 'b' : 'a',
        targetShare: i % 2 ? 'b' : 'a',
        sourceFileServer: i < 50 ? 'fs1' : 'fs3',
        destFileServer: 'fs2',
        state: states[i % 3]!,
        bytesTotal: BigInt(10_000),
        bytesSynced: BigInt(100 * i),
        percent: i % 101,
        startedAt: new Date(base + Math.floor(i / 2) * 60_000),
        endedAt: states[i % 3] === 'running' ? null : new Date(base + Math.floor(i / 2) * 60_000 + 10_000),
      })),
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  async function all(query: string): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 100; i++) {
      const res = await request(h.app)
        .get(`/api/v1/jobs?${query}${cursor ? `&cursor=${cursor}` : ''}`)
        .set(h.auth('viewer'))
        .expect(200);
      out.push(...rows(res.body.items));
      cursor = res.body.nextCursor as string | null;
      if (!cursor) break;
    }
    return out;
  }

  it('pages through every job exactly once, newest first, with equal start times', async () => {
    const got = await all('limit=7');
    expect(got).toHaveLength(60);
    expect(new Set(got.map((j) => j.id)).size).toBe(60);
    const keys = got.map((j) => `${String(j.startedAt)}|${String(j.id)}`);
    expect(keys).toEqual([...keys].sort().reverse());
  });

  it('filters by status, policy, share, source, destination and time range (combinable)', async () => {
    const db = h.database.db;
    const count = (where: object) => db.job.count({ where });
    expect(await all('status=failed&limit=200')).toHaveLength(await count({ state: 'failed' }));
    expect(await all('status=failed,running')).toHaveLength(await count({ state: { in: ['failed', 'running'] } }));
    expect(await all('policy=gold')).toHaveLength(await count({ policyId }));
    expect(await all('policy=unknown')).toHaveLength(0);
    expect(await all('share=b&source=fs1')).toHaveLength(await count({ share: 'b', sourceFileServer: 'fs1' }));
    expect(await all('destination=fs2&source=fs3')).toHaveLength(10);
    const from = new Date(base + 10 * 60_000).toISOString();
    const to = new Date(base + 20 * 60_000).toISOString();
    const ranged = await all(`from=${from}&to=${to}&limit=3`);
    expect(ranged).toHaveLength(20);
    expect(ranged.every((j) => String(j.startedAt) >= from && String(j.startedAt) < to)).toBe(true);
  });

  it('rejects bad filters with field errors', async () => {
    const bad = await request(h.app)
      .get('/api/v1/jobs?status=done&limit=0&cursor=zzz&from=yesterday')
      .set(h.auth('viewer'))
      .expect(400);
    expect(
      rows(bad.body.errors)
        .map((e) => e.path)
        .sort(),
    ).toEqual(['query.cursor', 'query.from', 'query.limit', 'query.status.0']);
    await request(h.app).get('/api/v1/jobs?limit=10&limit=20').set(h.auth('viewer')).expect(400);
    await request(h.app).get('/api/v1/jobs?sort=asc').set(h.auth('viewer')).expect(400);
  });

  it('job details: state, percent, source, destination, share, times, bytes, average throughput, sub-jobs', async () => {
    const db = h.database.db;
    const job = await db.job.findFirstOrThrow({ where: { state: 'succeeded', bytesSynced: { gt: 0 } } });
    await db.subJob.create({
      data: { jobId: job.id, portion: '', sourceNodeId: 'n1', destNodeId: 'n2', bytesSynced: BigInt(5) },
    });
    const res = await request(h.app).get(`/api/v1/jobs/${job.id}`).set(h.auth('viewer')).expect(200);
    expect(res.body).toMatchObject({
      id: job.id,
      state: 'succeeded',
      share: job.share,
      source: job.sourceFileServer,
      destination: 'fs2',
      bytesSynced: Number(job.bytesSynced),
      bytesTotal: 10_000,
      durationSeconds: 10,
      averageThroughputBps: Math.round(Number(job.bytesSynced) / 10),
      subJobs: [{ portion: '', sourceNodeId: 'n1', destNodeId: 'n2', bytesSynced: 5 }],
    });
    await request(h.app).get('/api/v1/jobs/00000000-0000-4000-8000-000000000000').set(h.auth('viewer')).expect(404);
    await request(h.app).get('/api/v1/jobs/not-a-uuid').set(h.auth('viewer')).expect(400);
  });

  it('prunes finished jobs older than the retention (admin only), never running ones', async () => {
    const db = h.database.db;
    await request(h.app).post('/api/v1/jobs/prune').set(h.auth('operator')).send({ olderThanDays: 1 }).expect(403);
    const finished = await db.job.count({ where: { state: { not: 'running' } } });
    const res = await request(h.app)
      .post('/api/v1/jobs/prune')
      .set(h.auth('admin'))
      .send({ olderThanDays: 1 })
      .expect(200);
    expect(res.body.deleted).toBe(finished);
    expect(await db.job.count()).toBe(20);
    expect(await db.subJob.count()).toBe(0);
  });
});
