// One job row per replication run, against the real database: a run's local steps executed again (a worker died in
// them) find the row they started, even when, in a run recorded before set ids came from the run's start time, the set
// id moved with the clock; and a second run that a schedule started in the same second as the one before it (so with
// the same workflow id) gets a row of its own, even if the row of the one before was left running.
import { createReplicationActivities, type ReplicationPlan } from '../../activities/replication';
import type { GatewayDirectory } from '../../activities/gateway-directory';
import { snapshotSetId } from '../../domain/replication';
import { seedFileServer, seedPolicy } from '../api/helpers/api-harness';
import { createTestDatabase, type TestDatabase } from '../helpers/environment';

describe('startJob: one job per run', () => {
  let database: TestDatabase;
  let policyId: string;
  let acts: ReturnType<typeof createReplicationActivities>;
  const plan: ReplicationPlan = {
    policyName: 'jobs-gold',
    policyStatus: 'active',
    source: 'fs-src',
    destination: 'fs-dst',
    sourceShare: 'eng',
    targetShare: 'eng',
    rpoSeconds: 120,
    retentionCount: 4,
    hasCompleteSet: true,
    reversed: false,
    portions: [{ portion: '', sourceNode: 'node-1', destNode: 'node-2' }],
  };
  // Two runs of one schedule that started in the same second: one workflow id, two run ids (UUIDv7).
  const workflowId = 'replicate/jobs-gold/eng-2026-12-06T09:46:53Z';
  const runs = ['01a24abf-cb66-7703-9007-b2812761808f', '01a24abf-ce30-7050-8bd8-3bca01be0865'];
  const at = new Date('2026-12-06T09:46:53.158Z');

  beforeAll(async () => {
    database = await createTestDatabase();
    const db = database.db;
    const src = await seedFileServer(db, 'fs-src', ['eng']);
    const dst = await seedFileServer(db, 'fs-dst', []);
    policyId = await seedPolicy(db, { name: 'jobs-gold', sourceId: src, destinationId: dst, shares: ['eng'] });
    // startJob touches only the database
    acts = createReplicationActivities({ db, gateways: {} as GatewayDirectory });
  });
  afterAll(async () => {
    await database?.drop();
  });

  const start = (setId: string) =>
    acts.startJob({ policyId, plan, snapshotSetId: setId, kind: 'scheduled', workflowId });

  it('finds the row a run started when its steps run again, under the same set id or one its clock moved', async () => {
    const first = await start(snapshotSetId(at, runs[0]!));
    expect(await start(snapshotSetId(at, runs[0]!))).toEqual(first);
    // A run recorded before the stable set id: the task executed again a few seconds later derived another id.
    const moved = snapshotSetId(new Date(at.getTime() + 4000), runs[0]!);
    expect(await start(moved)).toEqual(first);
    const rows = await database.db.job.findMany({ where: { workflowId } });
    expect(rows.map((j) => [j.id, j.snapshotSetId, j.state])).toEqual([[first.jobId, moved, 'running']]);
  });

  it('gives a second run of the same workflow id a row of its own, though the first one was left running', async () => {
    const before = await database.db.job.findMany({ where: { workflowId } });
    expect(before.map((j) => j.state)).toEqual(['running']);
    const second = await start(snapshotSetId(at, runs[1]!));
    expect(second.jobId).not.toBe(before[0]!.id);
    const rows = await database.db.job.findMany({ where: { workflowId }, orderBy: { startedAt: 'asc' } });
    expect(rows.map((j) => j.snapshotSetId)).toEqual([before[0]!.snapshotSetId, snapshotSetId(at, runs[1]!)]);
  });
});
