// RPO compliance as an operator watches it: the monitor workflow raises an alert (API and log) when a share's recovery
// point (its newest complete set on the replica) is older than its RPO, keeps one alert while it stays out, and clears
// it when a newer set lands; /metrics and the policy views show the same state, by one definition
// (domain/compliance.ts): a share without a complete set yet is 'unknown', not violated.
import request from 'supertest';
import { rpoMonitorWorkflow } from '../../workflows';
import { uniqueName } from '../helpers/environment';
import { recordHistories } from '../helpers/record-histories';
import { startTestWorker, type TestWorker } from '../helpers/worker';
import { recordSnapshotSet } from '../../store/recovery-points';
import { seedFileServer, startHarness, type Harness } from './helpers/api-harness';

describe('RPO alerts and metrics', () => {
  let h: Harness;
  let tw: TestWorker;
  let policyId: string;
  let dst: string;
  /** A complete set of the share landed on fs2 this long ago (the recovery point the views measure). */
  const landed = (share: string, agoMs: number) =>
    recordSnapshotSet(h.database.db, {
      fileServerId: dst,
      share,
      setId: `fsdr-${share}-${Date.now()}`,
      origin: 'received',
      createdAt: new Date(Date.now() - agoMs),
      complete: true,
      portions: [''],
    });
  beforeAll(async () => {
    h = await startHarness();
    tw = await startTestWorker({ db: h.database.db });
    const db = h.database.db;
    const src = await seedFileServer(db, 'fs1', ['fresh', 'stale', 'never']);
    dst = await seedFileServer(db, 'fs2', []);
    const policy = await db.replicationPolicy.create({
      data: {
        name: 'gold',
        sourceFileServerId: src,
        destFileServerId: dst,
        rpoSeconds: 300,
        status: 'active',
        createdAt: new Date(Date.now() - 3_600_000),
      },
    });
    policyId = policy.id;
    await db.policyShare.createMany({
      data: [
        { policyId, sourceShare: 'fresh', targetShare: 'fresh' },
        { policyId, sourceShare: 'stale', targetShare: 'stale' },
        { policyId, sourceShare: 'never', targetShare: 'never' },
      ],
    });
    await landed('fresh', 60_000);
    await landed('stale', 600_000);
    // An incomplete set (a half-received one) is never a recovery point.
    await recordSnapshotSet(db, {
      fileServerId: dst,
      share: 'never',
      setId: 'fsdr-half',
      origin: 'received',
      createdAt: new Date(),
      complete: false,
      portions: [''],
    });
  });
  afterAll(async () => {
    if (process.env.RECORD_HISTORIES) await recordHistories(tw.client, tw.taskQueue);
    await tw?.stop();
    await h?.close();
  });

  type AlertBody = { share: string; message: string; clearedAt: string | null };
  const alerts = (body: unknown) => (body as { alerts: AlertBody[] }).alerts;
  const shares = (body: unknown) => alerts(body).map((a) => a.share);

  const monitor = () =>
    tw.client.workflow.execute(rpoMonitorWorkflow, {
      taskQueue: tw.taskQueue,
      workflowId: uniqueName('rpo-monitor'),
      args: [{ passes: 1 }],
    });

  it('raises one alert per share out of its RPO, visible in the API, and clears it when a set lands', async () => {
    const first = await monitor();
    expect(first).toMatchObject({ shares: 3, compliant: 1, violated: 1, unknown: 1 });
    expect(first.raised.map((r) => r.share)).toEqual(['stale']);
    // Still out of compliance: no second alert for the same share.
    expect((await monitor()).raised).toEqual([]);

    const open = await request(h.app).get('/api/v1/alerts').set(h.auth('viewer')).expect(200);
    expect(shares(open.body)).toEqual(['stale']);
    const stale = alerts(open.body).find((a) => a.share === 'stale')!;
    expect(stale.message).toMatch(/share 'stale' of policy 'gold': its recovery point is \d+s old, RPO 300s/);
    expect(stale.clearedAt).toBeNull();

    // The policy view says the same of each share as the monitor.
    const details = await request(h.app).get('/api/v1/policies/gold').set(h.auth('viewer')).expect(200);
    const byShare = Object.fromEntries(
      (details.body.shares as { source: string; compliance: string }[]).map((x) => [x.source, x.compliance]),
    );
    expect(byShare).toEqual({ fresh: 'compliant', stale: 'violated', never: 'unknown' });

    await landed('stale', 0);
    const third = await monitor();
    expect(third.cleared).toEqual([{ policy: 'gold', share: 'stale' }]);
    const after = await request(h.app).get('/api/v1/alerts').set(h.auth('viewer')).expect(200);
    expect(shares(after.body)).toEqual([]);
    const all = await request(h.app).get('/api/v1/alerts?state=all').set(h.auth('viewer')).expect(200);
    expect(alerts(all.body).find((a) => a.share === 'stale')!.clearedAt).not.toBeNull();
  });

  it('exposes compliance per share and per policy as Prometheus metrics', async () => {
    const res = await request(h.app).get('/api/v1/metrics').set(h.auth('viewer')).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const labels = (share: string) => `policy="gold",share="${share}",source="fs1",destination="fs2"`;
    expect(res.text).toContain(`fsdr_share_rpo_compliant{${labels('fresh')}} 1`);
    expect(res.text).toContain(`fsdr_share_rpo_compliant{${labels('stale')}} 1`); // a set landed in the test above
    expect(res.text).not.toContain(`fsdr_share_rpo_compliant{${labels('never')}}`);
    expect(res.text).toContain(`fsdr_share_recovery_point_missing{${labels('never')}} 1`);
    expect(res.text).toContain(`fsdr_share_recovery_point_missing{${labels('fresh')}} 0`);
    expect(res.text).toMatch(/fsdr_policy_compliant_ratio\{policy="gold"\} 0\.66/);
    expect(res.text).toContain('fsdr_rpo_alerts_open 0');
    await request(h.app).get('/api/v1/metrics').expect(401);
  });
});
