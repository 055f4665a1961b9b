// kill -9 the worker at each activity of a replication run in turn, and at each activity of a policy's creation,
// restarting it each time: the run replicates what was written (the copies equal, one job, succeeded), the policy
// ends active with its schedule and its base copy, and on each side only complete snapshot sets are visible. And a run
// during which the Temporal server restarts (same data file), or PostgreSQL does, completes the same way.
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { writeFiles } from '../gateway/helpers';
import { summarize, type ChaosScenario, type CycleReport } from '../helpers/chaos';
import { exists, PORTIONS, SHARE, startChaosLab, sweep, type ChaosLab } from '../failover/chaos-lab';
import { contentDigest, waitUntil } from './lab';

jest.setTimeout(20 * 60_000);

/** One on-demand replication run of the lab's share (POST .../replicate), of a file written just before it. */
function replicationRun(
  c: ChaosLab,
): ChaosScenario<{ outcome: string; incremental?: boolean; snapshotSetId?: string }> {
  let written = '';
  let workflowId = '';
  return {
    name: 'replication run',
    async before() {
      written = c.write('a', 'replicated', 4096);
    },
    async start() {
      // Runs started from now on (the run before, e.g. the lab's base copy, may show in the list a moment late), and
      // known by run id: a schedule names its runs by the second, so a run the test triggers in the same second as
      // the one before it has the same workflow id.
      const since = new Date().toISOString();
      const before = new Set<string>();
      const runs = async () => {
        const found: { workflowId: string; runId: string }[] = [];
        for await (const wf of c.lab.temporal.workflow.list({
          query: `WorkflowType = 'replicateShareWorkflow' AND StartTime > '${since}'`,
        }))
          found.push({ workflowId: wf.workflowId, runId: wf.runId });
        return found;
      };
      for (const run of await runs()) before.add(run.runId);
      await request(c.lab.app)
        .post(`/api/v1/policies/${c.policy}/shares/${SHARE}/replicate`)
        .set(c.lab.admin)
        .expect(202);
      // The schedule starts the run (its id: the schedule's and the time).
      workflowId = await waitUntil(
        'the schedule to start the run',
        async () => (await runs()).find((run) => !before.has(run.runId))?.workflowId,
        30_000,
      ).catch(async (err: unknown) => {
        const db = c.lab.database.db;
        const { scheduleId } = await db.policyShare.findFirstOrThrow({ where: { sourceShare: SHARE } });
        const d = await c.lab.temporal.schedule.getHandle(scheduleId!).describe();
        const all: string[] = [];
        for await (const wf of c.lab.temporal.workflow.list({}))
          all.push(`${wf.workflowId} ${wf.status.name} ${wf.startTime.toISOString()}`);
        throw new Error(
          `${String(err)}: since ${since}; schedule ${JSON.stringify(d.info)} ${JSON.stringify(d.state)}; workflows: ${all.join('; ')}`,
        );
      });
      return workflowId;
    },
    async check(result) {
      expect(result).toMatchObject({ outcome: 'replicated', incremental: true });
      // By its set: the run before it may have had the same workflow id (see start).
      const jobs = await c.lab.database.db.job.findMany({
        where: { workflowId, snapshotSetId: result.snapshotSetId! },
      });
      expect(jobs.map((j) => `${j.state} ${j.percent}%`)).toEqual(['succeeded 100%']);
      c.expectEqualCopies();
      for (const p of PORTIONS)
        expect({ [p.portion]: exists(c.live('b', p.portion), written) }).toEqual({ [p.portion]: true });
      await c.expectCompleteSets();
      c.expectNoSplitBrain();
    },
  };
}

/** The creation of a policy (POST /policies) that protects a new share of its own, and the base copy it starts. */
function policyCreation(c: ChaosLab): ChaosScenario<{ schedules: string[] }> {
  let n = 0;
  let name = '';
  let share = '';
  let workflowId = '';
  return {
    name: 'policy creation',
    async before() {
      n += 1;
      share = `p${n}-${randomBytes(2).toString('hex')}`;
      name = `policy-${share}`;
      await c.lab.agents.a1.client.createShare(share);
      writeFiles(c.lab.livePath(c.lab.agents.a1, share), { 'base.txt': `base of ${share}\n` });
      // The API knows a file server's shares from a cached listing of its gateways.
      await request(c.lab.app)
        .get(`/api/v1/file-servers/${c.fileServers.a}/shares?refresh=true`)
        .set(c.lab.admin)
        .expect(200);
    },
    async start() {
      const res = await request(c.lab.app)
        .post('/api/v1/policies')
        .set(c.lab.admin)
        .send({
          name,
          source: c.fileServers.a,
          destination: c.fileServers.b,
          rpoMinutes: 30,
          shares: [{ source: share }],
        });
      if (res.status !== 202) throw new Error(`policy ${name}: ${res.status} ${JSON.stringify(res.body)}`);
      workflowId = res.body.workflowId as string;
      return workflowId;
    },
    async check(result) {
      const db = c.lab.database.db;
      expect(result.schedules).toHaveLength(1);
      const policy = await request(c.lab.app).get(`/api/v1/policies/${name}`).set(c.lab.admin).expect(200);
      expect(policy.body.status).toBe('active');
      const op = await db.operation.findFirstOrThrow({ where: { workflowId } });
      expect({ state: op.state, steps: (op.steps as { state: string }[]).map((s) => s.state) }).toEqual({
        state: 'succeeded',
        steps: (op.steps as unknown[]).map(() => 'succeeded'),
      });
      const [ps, ...more] = await db.policyShare.findMany({ where: { policy: { name } } });
      expect(more).toEqual([]);
      expect(ps!.scheduleId).toBe(result.schedules[0]);
      expect((await c.lab.temporal.schedule.getHandle(ps!.scheduleId!).describe()).scheduleId).toBe(ps!.scheduleId);
      // The base copy the creation started: one job, succeeded; the copy equals the source, read-only.
      await waitUntil(
        `the base copy of ${share}`,
        async () => (await db.job.count({ where: { share, state: 'succeeded' } })) === 1,
        60_000,
      );
      expect(
        (await db.job.findMany({ where: { share } })).map(
          (j) => `${j.incremental ? 'incremental' : 'base'} ${j.state}`,
        ),
      ).toEqual(['base succeeded']);
      const holders = [c.lab.agents.b1, c.lab.agents.b2];
      const copies = await Promise.all(holders.map(async (a) => ({ a, info: await a.client.findShare(share) })));
      const copy = copies.filter((x) => x.info);
      expect(copy.map((x) => x.info!.accessMode)).toEqual(['read_only']);
      expect(contentDigest(c.lab.livePath(copy[0]!.a, share))).toEqual(
        contentDigest(c.lab.livePath(c.lab.agents.a1, share)),
      );
      // No leftover of a retried step: one dataset map for the share.
      expect(await db.datasetMapEntry.count({ where: { sourceShare: share, reverse: false } })).toBe(1);
    },
  };
}

describe('chaos: kill -9 the worker at every activity of a replication run and of a policy creation', () => {
  let c: ChaosLab;
  const reports: CycleReport[] = [];
  beforeAll(async () => {
    c = await startChaosLab({ ownPostgres: true });
  });
  afterAll(async () => {
    if (reports.length) console.log(summarize(reports));
    await c?.close();
  });

  it('a replication run completes after a kill at each of its activities', async () => {
    const { reports: r, activities } = await sweep(c, replicationRun(c), 7);
    reports.push(...r);
    console.log(`replication run's activities:\n${activities}`);
  });

  /** A replication run held at its k-th activity while a server restarts (a new process: its pid changes). */
  async function restartedMidRun(what: string, k: number, server: { restart(): Promise<void>; pid(): number }) {
    const before = server.pid();
    reports.push(
      await c.harness.cycle(replicationRun(c), {
        k,
        at: 'hold',
        what: `${what} restarted`,
        during: () => server.restart(),
      }),
    );
    expect(server.pid()).not.toBe(before);
  }

  it('a replication run completes when the Temporal server restarts in its middle (same data file)', async () => {
    // Held at its first transfer's start (k=4: the set is taken, the job runs), the server stops and starts again.
    await restartedMidRun('Temporal', 4, c.temporal);
  });

  it('a replication run completes when PostgreSQL restarts in its middle', async () => {
    // Held at startJob (k=2, a local activity: the run's first write), the server stops (fast shutdown: every
    // connection of the worker's and the API's pools is cut) and starts again on the same data.
    await restartedMidRun('PostgreSQL', 2, c.postgres!);
  });

  it('a policy creation completes after a kill at each of its activities', async () => {
    const { reports: r, activities } = await sweep(c, policyCreation(c), 8);
    reports.push(...r);
    console.log(`policy creation's activities:\n${activities}`);
    expect((await c.watch.stop()).violations).toEqual([]);
  });
});
