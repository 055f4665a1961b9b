// The link between the two sites is cut (their FSVMs run in network namespaces of the test's own, and the bridge
// that joins them stops forwarding between the sites: packets vanish, nothing is refused or reset) in the middle of a
// replication run's transfer and in the middle of a planned failover's final delta, and comes back after a while. The
// run and the failover wait, fail nothing and lose nothing: the stalled stream's connection is dropped and tried
// again; once the link is back, the transfer resumes from the offset its receiver had reached, the run succeeds and
// the failover completes with every byte at the destination; at no moment are both copies read-write, and on each
// side only complete snapshot sets are visible.
import request from 'supertest';
import { PORTIONS, SHARE, exists, failback, plannedFailover, startChaosLab, type ChaosLab } from './chaos-lab';
import { waitUntil } from '../replication/lab';

jest.setTimeout(10 * 60_000);

/** How long the link stays cut: longer than a heartbeat timeout of the transfer's activity (20 s) would be, too. */
const CUT_MS = 25_000;
const BIG = 8 << 20;

describe('a partition between the sites', () => {
  let c: ChaosLab;
  beforeAll(async () => {
    // 2 MiB/s out of site A: 8 MiB per portion takes 4 s, long enough to cut the link in its middle.
    // A transfer that goes nowhere for 5 s drops its connection and tries again (GATEWAY_STALL_TIMEOUT; 60 s by
    // default): the cut outlasts several such attempts.
    c = await startChaosLab({ sourceBandwidth: '2M', sitesNetwork: true, agentEnv: { GATEWAY_STALL_TIMEOUT: '5' } });
  });
  afterAll(async () => {
    c?.network?.heal();
    await c?.close();
  });

  /** Waits until a job matching `where` has moved some bytes but not all, and returns its progress then. */
  async function midTransfer(where: Record<string, unknown>): Promise<{ id: string; bytes: bigint }> {
    const db = c.lab.database.db;
    return waitUntil(
      'a transfer under way',
      async () => {
        const job = await db.job.findFirst({ where: { ...where, state: 'running' } });
        return job && job.bytesSynced > 0n && job.bytesSynced < job.bytesTotal
          ? { id: job.id, bytes: job.bytesSynced }
          : undefined;
      },
      60_000,
    );
  }

  /**
   * The source agents' transfers of a set: each resumed at least once, from the offset its receiver had reached (not
   * from the start), after the stall watchdog dropped its connection.
   */
  async function expectResumedMidStream(setId: string): Promise<void> {
    const transfers = (await Promise.all(c.agents('a').map(async (a) => a.client.listTransfers())))
      .flat()
      .filter((t) => t.snapshotId === setId);
    expect(transfers.map((t) => t.portion).sort()).toEqual(PORTIONS.map((p) => p.portion).sort());
    for (const t of transfers) {
      expect({ portion: t.portion, state: t.state }).toEqual({ portion: t.portion, state: 'succeeded' });
      expect(t.resumes).toBeGreaterThanOrEqual(1);
      expect(t.resumedFrom).toBeGreaterThan(0);
    }
  }

  /** Cuts the link for CUT_MS; checks that what `stalled` says holds all that time; then joins the sites again. */
  async function cut(stalled: () => Promise<void>): Promise<void> {
    c.network!.partition();
    try {
      const until = Date.now() + CUT_MS;
      while (Date.now() < until) {
        await stalled();
        await new Promise((r) => setTimeout(r, 1000));
      }
    } finally {
      c.network!.heal();
    }
  }

  it('a replication run waits through it, fails nothing, and resumes its transfer where it stood once the link is back', async () => {
    const db = c.lab.database.db;
    const written = c.write('a', 'across-the-cut', BIG);
    const since = new Date();
    await request(c.lab.app)
      .post(`/api/v1/policies/${c.policy}/shares/${SHARE}/replicate`)
      .set(c.lab.admin)
      .expect(202);
    const job = await midTransfer({ startedAt: { gte: since } });
    let during = 0n;
    await cut(async () => {
      // The run goes on (nothing failed) and the destination receives nothing more once the buffers are drained.
      const now = await db.job.findUniqueOrThrow({ where: { id: job.id } });
      expect({ state: now.state, error: now.error }).toEqual({ state: 'running', error: null });
      during = now.bytesSynced;
    });
    expect(during).toBeLessThan(BigInt(2 * BIG));
    const healedAt = Date.now();
    await c.replicatedSince(since);
    const done = await db.job.findUniqueOrThrow({ where: { id: job.id } });
    console.log(
      `[partition] replication: ${job.bytes} bytes before the cut, ${during} at its end, succeeded ` +
        `${((done.endedAt!.getTime() - healedAt) / 1000).toFixed(1)} s after the link came back`,
    );
    expect(`${done.state} ${done.percent}%`).toBe('succeeded 100%');
    await expectResumedMidStream(done.snapshotSetId!);
    c.expectEqualCopies();
    for (const p of PORTIONS)
      expect({ [p.portion]: exists(c.live('b', p.portion), written) }).toEqual({ [p.portion]: true });
    await c.expectCompleteSets();
    c.expectNoSplitBrain();
  });

  it('a planned failover waits through it in its final delta and completes with no byte lost', async () => {
    const db = c.lab.database.db;
    const spec = plannedFailover(c, BIG);
    await spec.prepare!();
    const { workflowId, operationId } = await c.start(spec.kind);
    await midTransfer({ operationId, kind: 'final_delta' });
    await cut(async () => {
      // Clients wait (both copies read-only: the source stopped taking writes for the final delta), the operation
      // goes on at its final delta, nothing failed.
      const op = await c.operation(operationId);
      expect({ state: op.state, error: op.error }).toEqual({ state: 'running', error: null });
      expect(op.steps.find((s) => s.state === 'running')?.name).toBe('final delta sync');
      expect([await c.modes('a'), await c.modes('b')]).toEqual([['read_only'], ['read_only']]);
    });
    const healedAt = Date.now();
    await c.lab.temporal.workflow
      .getHandle(workflowId)
      .result()
      .catch(() => undefined);
    console.log(
      `[partition] planned failover: completed ${((Date.now() - healedAt) / 1000).toFixed(1)} s after the link came back`,
    );
    await spec.verify(await c.operation(operationId));
    expect(await db.job.count({ where: { operationId, state: { not: 'succeeded' } } })).toBe(0);
    const delta = await db.job.findFirstOrThrow({ where: { operationId, kind: 'final_delta' } });
    await expectResumedMidStream(delta.snapshotSetId!);
    await c.expectCompleteSets();
    c.expectNoSplitBrain();
    // And back, with the link whole: the lab ends where it began.
    const back = failback(c);
    await back.prepare!();
    const since = new Date();
    await back.verify(await c.runOperation(back.kind));
    await back.settle!(since);
    expect((await c.watch.stop()).violations).toEqual([]);
  });
});
