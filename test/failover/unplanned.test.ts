// Unplanned failover while transfers are in flight, then resume replication once with each side as primary, end to
// end with real gateways. The destination serves each share's newest COMPLETE snapshot set (never a half-received
// one), the operation reports the data-loss window, the source is fenced (read-only) as soon as it answers, and a
// resume keeps the divergent writes of the side that is not chosen in a safety snapshot that pruning never deletes.
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { randomBytesDeterministic, writeFiles, type Agent } from '../gateway/helpers';
import { contentDigest, startLab, waitUntil, type Lab } from '../replication/lab';
import { protect, runOperation } from './helpers';
import { watchSplitBrain } from './split-brain-watch';

jest.setTimeout(300_000);

describe('unplanned failover with transfers in flight, then resume replication', () => {
  let lab: Lab;
  let baseOfX: Record<string, string>;
  beforeAll(async () => {
    // 2 MiB/s out of site A: the transfers below run for seconds, long enough to be caught in flight.
    lab = await startLab({ sourceBandwidth: '2M' });
    const { a1, a2 } = lab.agents;
    await a1.client.createShare('x');
    await a2.client.createShare('y');
    await a1.client.createShare('z');
    writeFiles(lab.livePath(a1, 'x'), { 'a.txt': 'x, first version\n' });
    writeFiles(lab.livePath(a2, 'y'), { 'b.txt': 'y, first version\n' });
    writeFiles(lab.livePath(a1, 'z'), { 'big.bin': randomBytesDeterministic(24 << 20, 3) });
    await protect(lab, 'unplanned-xy', ['x', 'y']);
    baseOfX = contentDigest(lab.livePath(a1, 'x'));
  });
  afterAll(async () => lab?.close());

  const sideA = () => [lab.agents.a1, lab.agents.a2];
  const sideB = () => [lab.agents.b1, lab.agents.b2];
  function live(agents: Agent[], share: string): string {
    for (const a of agents) if (fs.existsSync(lab.livePath(a, share))) return lab.livePath(a, share);
    throw new Error(`no FSVM holds ${share}`);
  }
  async function mode(agents: Agent[], share: string) {
    for (const a of agents) {
      const s = await a.client.findShare(share);
      if (s) return s.accessMode;
    }
    return undefined;
  }

  it('fails over to the newest complete sets while a base and an incremental transfer are in flight', async () => {
    const db = lab.database.db;
    // An incremental of x in flight (16 MiB at 2 MiB/s) and the base copy of z (a policy just created).
    writeFiles(lab.livePath(lab.agents.a1, 'x'), { 'late.bin': randomBytesDeterministic(16 << 20, 4) });
    await request(lab.app).post('/api/v1/policies/unplanned-xy/shares/x/replicate').set(lab.admin).expect(202);
    const silver = await request(lab.app)
      .post('/api/v1/policies')
      .set(lab.admin)
      .send({ name: 'unplanned-z', source: 'fs-a', destination: 'fs-b', rpoMinutes: 30, shares: [{ source: 'z' }] });
    await lab.temporal.workflow.getHandle(silver.body.workflowId).result();
    await waitUntil(
      'both transfers to be under way',
      async () => {
        const running = await db.job.findMany({ where: { state: 'running' }, select: { share: true } });
        return running.length === 2;
      },
      60_000,
    );

    const watch = watchSplitBrain({ source: sideA(), destination: sideB() }, [
      { sourceShare: 'x', targetShare: 'x' },
      { sourceShare: 'y', targetShare: 'y' },
    ]);
    // Whole file server: z, without a complete set at the destination yet, stays behind (and says so).
    const op = await runOperation(lab, 'unplanned-failover', {
      source: 'fs-a',
      destination: 'fs-b',
      confirmDataLoss: true,
    });
    expect((await watch.stop()).violations).toEqual([]);
    expect(op.error).toBeNull();
    expect(op.state).toBe('succeeded');
    expect(op.result.skipped).toEqual([
      { policy: 'unplanned-z', share: 'z', reason: 'no complete snapshot set at the destination yet' },
    ]);
    // x is served at the destination from its base set, not from the half-received incremental.
    expect(contentDigest(live(sideB(), 'x'))).toEqual(baseOfX);
    expect(fs.existsSync(path.join(live(sideB(), 'x'), 'late.bin'))).toBe(false);
    const used = op.result.unplanned.shares as {
      share: string;
      snapshotSetId: string;
      dataLossWindowSeconds: number;
    }[];
    expect(used.map((u) => u.share).sort()).toEqual(['x', 'y']);
    expect(used.every((u) => u.dataLossWindowSeconds >= 0)).toBe(true);
    expect(op.result.dataLossWindowSeconds).toBe(Math.max(...used.map((u) => u.dataLossWindowSeconds)));
    const inFlight = await db.job.findFirstOrThrow({ where: { share: 'x', kind: 'on_demand' } });
    expect(inFlight.state).toMatch(/cancelled|failed/);
    // Destination read-write; the source, which answers, fenced read-only at once.
    expect(await mode(sideB(), 'x')).toBe('read_write');
    expect(await mode(sideB(), 'y')).toBe('read_write');
    expect(await mode(sideA(), 'x')).toBe('read_only');
    expect(await mode(sideA(), 'y')).toBe('read_only');
    const fsA = await db.fileServer.findUniqueOrThrow({ where: { name: 'fs-a' } });
    expect(fsA.fencedAt).not.toBeNull();
    await waitUntil(
      'the fence to be confirmed',
      async () => (await db.fileServer.findUniqueOrThrow({ where: { name: 'fs-a' } })).fenceEnforcedAt,
    );
    const list = await request(lab.app).get('/api/v1/file-servers').set(lab.admin).expect(200);
    expect(
      Object.fromEntries((list.body.items as { name: string; status: string }[]).map((s) => [s.name, s.status])),
    ).toEqual({
      'fs-a': 'fenced',
      'fs-b': 'active',
    });
  });

  it('resumes x with the destination as primary: the source writes after the common set go to a safety snapshot', async () => {
    // What the source had that never reached the destination: late.bin (written before the failure).
    writeFiles(live(sideB(), 'x'), { 'at-b.txt': 'written at B during the failover\n' });
    const op = await runOperation(lab, 'resume-replication', {
      source: 'fs-a',
      destination: 'fs-b',
      shares: ['x'],
      primary: 'destination',
    });
    expect(op.error).toBeNull();
    expect(op.state).toBe('succeeded');
    const safety = await lab.database.db.snapshotSet.findFirstOrThrow({
      where: { share: 'x', purpose: 'safety', retained: true, fileServer: { name: 'fs-a' } },
    });
    // The safety snapshot holds the divergent file, byte for byte.
    const snap = await lab.agents.a1.client.digest('x', { snapshotId: safety.setId, content: true });
    expect(snap.files).toBe(2);
    expect(op.result.resume.shares).toEqual([expect.objectContaining({ share: 'x', safetySet: safety.setId })]);
    // The source copy is read-only and follows the destination again: reverse replication brings B's write.
    expect(await mode(sideA(), 'x')).toBe('read_only');
    // The reverse run's job ends after its set is committed at A: wait for that, not for the file to appear (the
    // commit makes it visible a moment before the job is recorded).
    const reverse = await waitUntil(
      "the reverse run to bring B's write",
      () => lab.database.db.job.findFirst({ where: { share: 'x', kind: 'reverse', state: 'succeeded' } }),
      60_000,
    );
    expect(fs.existsSync(path.join(live(sideA(), 'x'), 'at-b.txt'))).toBe(true);
    expect(fs.existsSync(path.join(live(sideA(), 'x'), 'late.bin'))).toBe(false);
    expect(contentDigest(live(sideA(), 'x'))).toEqual(contentDigest(live(sideB(), 'x')));
    expect(reverse).toMatchObject({ sourceFileServer: 'fs-b', destFileServer: 'fs-a', incremental: true });
    // y is still failed over: the fence stays until it is resumed too.
    expect((await lab.database.db.fileServer.findUniqueOrThrow({ where: { name: 'fs-a' } })).fencedAt).not.toBeNull();
  });

  it('resumes y with the source as primary: the destination writes go to a safety snapshot, clients go back', async () => {
    writeFiles(live(sideB(), 'y'), { 'at-b.txt': 'written at B during the failover\n' });
    const watch = watchSplitBrain({ source: sideA(), destination: sideB() }, [{ sourceShare: 'y', targetShare: 'y' }]);
    const op = await runOperation(lab, 'resume-replication', {
      source: 'fs-a',
      destination: 'fs-b',
      shares: ['y'],
      primary: 'source',
    });
    expect((await watch.stop()).violations).toEqual([]);
    expect(op.error).toBeNull();
    expect(op.state).toBe('succeeded');
    const safety = await lab.database.db.snapshotSet.findFirstOrThrow({
      where: { share: 'y', purpose: 'safety', retained: true, fileServer: { name: 'fs-b' } },
    });
    expect(safety.setId).toMatch(/^fsdr-safety-/);
    expect(await mode(sideA(), 'y')).toBe('read_write');
    expect(await mode(sideB(), 'y')).toBe('read_only');
    expect(fs.existsSync(path.join(live(sideB(), 'y'), 'at-b.txt'))).toBe(false);
    const ps = await lab.database.db.policyShare.findFirstOrThrow({ where: { sourceShare: 'y' } });
    expect(ps).toMatchObject({ primary: 'source', paused: false });
    // Nothing of fs-a is failed over any more: the fence is lifted.
    expect((await lab.database.db.fileServer.findUniqueOrThrow({ where: { name: 'fs-a' } })).fencedAt).toBeNull();
    // Forward replication again: a write at A reaches B.
    writeFiles(live(sideA(), 'y'), { 'back.txt': 'at A again\n' });
    await request(lab.app).post('/api/v1/policies/unplanned-xy/shares/y/replicate').set(lab.admin).expect(202);
    await waitUntil(
      'the write to reach B',
      async () => fs.existsSync(path.join(live(sideB(), 'y'), 'back.txt')),
      60_000,
    );
  });
});
