// RPO compliance as an operator watches it: the monitor workflow raises an alert (API and log) when a share's newest
// complete set is older than its RPO, keeps one alert while it stays out, and clears it when a newer set lands;
// /metrics exposes the same per share and per policy for Prometheus.
import request from 'supertest';
import { rpoMonitorWorkflow } from '../../workflows';
import { uniqueName } from '../helpers/environment';
import { recordHistories } from '../helpers/record-histories';
import { startTestWorker, type TestWorker } from '../helpers/worker';
import { seedFileServer, startHarness, type Harness } from './helpers/api-harness';

describe('RPO alerts and metrics', () => {
  let h: Harness;
  let tw: TestWorker;
  let policyId: string;
  beforeAll(async () => {
    h = await startHarness();
    tw = await startTestWorker({ db: h.database.db });
    const db = h.database.db;
    const src = await seedFileServer(db, 'fs1', 'active', ['fresh', 'stale', 'never']);
    const dst = await seedFileServer(db, 'fs2', 'active', []);
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
        { policyId, sourceShare: 'fresh', targetShare: 'fresh', lastCompleteAt: new Date(Date.now() - 60_000) },
        { policyId, sourceShare: 'stale', targetShare: 'stale', lastCompleteAt: new Date(Date.now() - 600_000) },
        { policyId, sourceShare: 'never', targetShare: 'never', lastCompleteAt: null },
      ],
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
    tw.client.workflow.execute(rpoMonitorWorkflow, { taskQueue: tw.taskQueue, workflowId: uniqueName('rpo-monitor') });

  it('raises one alert per share out of its RPO, visible in the API, and clears it when a set lands', async () => {
    const first = await monitor();
    expect(first).toMatchObject({ shares: 3, compliant: 1 });
    expect(first.raised.map((r) => r.share).sort()).toEqual(['never', 'stale']);
    // Still out of compliance: no second alert for the same share.
    expect((await monitor()).raised).toEqual([]);

    const open = await request(h.app).get('/api/v1/alerts').set(h.auth('viewer')).expect(200);
    expect(shares(open.body).sort()).toEqual(['never', 'stale']);
    const stale = alerts(open.body).find((a) => a.share === 'stale')!;
    expect(stale.message).toMatch(/share 'stale' of policy 'gold': newest complete set is \d+s old, RPO 300s/);
    expect(stale.clearedAt).toBeNull();

    await h.database.db.policyShare.updateMany({
      where: { policyId, sourceShare: 'stale' },
      data: { lastCompleteAt: new Date() },
    });
    const third = await monitor();
    expect(third.cleared).toEqual([{ policy: 'gold', share: 'stale' }]);
    const after = await request(h.app).get('/api/v1/alerts').set(h.auth('viewer')).expect(200);
    expect(shares(after.body)).toEqual(['never']);
    const all = await request(h.app).get('/api/v1/alerts?state=all').set(h.auth('viewer')).expect(200);
    expect(alerts(all.body).find((a) => a.share === 'stale')!.clearedAt).not.toBeNull();
  });

  it('exposes compliance per share and per policy as Prometheus metrics', async () => {
    const res = await request(h.app).get('/api/v1/metrics').set(h.auth('viewer')).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const labels = (share: string) => `policy="gold",share="${share}",source="fs1",destination="fs2"`;
    expect(res.text).toContain(`fsdr_share_rpo_compliant{${labels('fresh')}} 1`);
    expect(res.text).toContain(`fsdr_share_rpo_compliant{${labels('stale')}} 1`); // a set landed in the test above
    expect(res.text).toContain(`fsdr_share_rpo_compliant{${labels('never')}} 0`);
    expect(res.text).toMatch(/fsdr_policy_compliant_ratio\{policy="gold"\} 0\.66/);
    expect(res.text).toContain('fsdr_rpo_alerts_open 1');
    await request(h.app).get('/api/v1/metrics').expect(401);
  });
});
