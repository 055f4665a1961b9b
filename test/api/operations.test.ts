// DR operations through the API, against the project's real worker on the file's task queue: admission from the
// state the system keeps (which side of each share is primary, fences), the scope, the lag guard, one operation at a
// time per pair, Idempotency-Key, approval and start time, the dry run's plan, and the views. The seeded file
// servers have no gateways, so every operation that gets past admission stops at its readiness check, in words;
// test/failover/ runs them against real gateways.
import request from 'supertest';
import { OperationWorkflowInput } from '../../domain/operations';
import { recordSnapshotSet } from '../../store/recovery-points';
import { rows, seedFileServer, startedWorkflow, startHarness, UI_URL, type Harness } from './helpers/api-harness';

describe('operations', () => {
  let h: Harness;
  let fs2: string;
  beforeAll(async () => {
    h = await startHarness({}, { worker: true });
    const db = h.database.db;
    const fs1 = await seedFileServer(db, 'fs1', ['eng', 'home']);
    fs2 = await seedFileServer(db, 'fs2', []);
    const fs3 = await seedFileServer(db, 'fs3', ['x']);
    const fs4 = await seedFileServer(db, 'fs4', []);
    for (const [name, shares] of [
      ['gold', ['eng']],
      ['silver', ['home']],
    ] as const) {
      await db.replicationPolicy.create({
        data: {
          name,
          sourceFileServerId: fs1,
          destFileServerId: fs2,
          rpoSeconds: 900,
          status: 'active',
          shares: { create: shares.map((s) => ({ sourceShare: s, targetShare: s })) },
        },
      });
    }
    await db.replicationPolicy.create({
      data: { name: 'new', sourceFileServerId: fs3, destFileServerId: fs4, rpoSeconds: 900, status: 'creating' },
    });
    for (const share of ['eng', 'home']) await landed(share, 60_000);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** A complete set of the share reached fs2 `agoMs` ago: its recovery point there. */
  const landed = (share: string, agoMs: number) =>
    recordSnapshotSet(h.database.db, {
      fileServerId: fs2,
      share,
      setId: `fsdr-${share}-${agoMs}`,
      origin: 'received',
      createdAt: new Date(Date.now() - agoMs),
      complete: true,
      portions: [''],
    });

  const post = (path: string, body: object, role: 'operator' | 'viewer' | 'admin' = 'operator') =>
    request(h.app).post(`/api/v1/operations/${path}`).set(h.auth(role)).send(body);
  const get = (id: string) => request(h.app).get(`/api/v1/operations/${id}`).set(h.auth('viewer')).expect(200);
  const until = async (id: string, done: (body: Record<string, any>) => boolean) => {
    for (let i = 0; i < 200; i++) {
      const r = await get(id);
      const body = r.body as Record<string, any>;
      if (done(body)) return body;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`operation ${id} did not get there: ${JSON.stringify((await get(id)).body)}`);
  };

  it('derives file server statuses from the shares: the source active, the destination standby', async () => {
    const list = await request(h.app).get('/api/v1/file-servers').set(h.auth('viewer')).expect(200);
    const byName = Object.fromEntries(rows(list.body.items).map((s) => [s.name, s]));
    expect(byName.fs1).toMatchObject({ status: 'active', roles: { primaryShares: 2, replicaShares: 0 }, fence: null });
    expect(byName.fs2).toMatchObject({ status: 'standby', roles: { primaryShares: 0, replicaShares: 2 } });
    expect(rows(byName.fs1.protection)[0]).toMatchObject({
      source: { name: 'fs1', status: 'active' },
      destination: { name: 'fs2', status: 'standby' },
      availableActions: ['planned_failover', 'unplanned_failover', 'dr_readiness'],
    });
    // The status is the system's: a registration or update that sets it is refused, naming the field.
    const patch = await request(h.app)
      .patch('/api/v1/file-servers/fs2')
      .set(h.auth('admin'))
      .send({ status: 'active' })
      .expect(400);
    expect(patch.body.errors).toEqual([
      { path: 'body.status', message: 'is kept by the system (from the policies and the failovers); do not send it' },
    ]);
  });

  it('answers a dry run with the plan and changes nothing', async () => {
    const before = await h.counts();
    const res = await post('planned-failover?dryRun=true', { source: 'fs1', destination: 'fs2' }).expect(200);
    expect(res.body).toMatchObject({
      kind: 'planned_failover',
      source: 'fs1',
      destination: 'fs2',
      dataLossWindowSeconds: 0,
      estimatedSeconds: null,
      estimateBasis:
        "no past planned failover between 'fs1' and 'fs2' and no incremental replication run of these shares yet",
    });
    expect(rows(res.body.steps).map((s) => s.name)).toEqual([
      'check readiness',
      'pause schedules',
      'stop replication runs',
      'make source shares read-only',
      'final delta sync',
      'verify destination',
      'take pre-failover snapshots',
      'make destination shares read-write',
      'redirect clients',
      'mark destination active',
    ]);
    expect(rows(res.body.shares)).toEqual([
      {
        policy: 'gold',
        share: 'eng',
        targetShare: 'eng',
        destination: 'fs2',
        recoveryPoint: {
          snapshotSetId: 'fsdr-eng-60000',
          createdAt: expect.any(String),
          ageSeconds: expect.any(Number),
        },
      },
      expect.objectContaining({ policy: 'silver', share: 'home' }),
    ]);
    const age = (rows(res.body.shares)[0]!.recoveryPoint as { ageSeconds: number }).ageSeconds;
    expect(age).toBeGreaterThanOrEqual(60);
    expect(age).toBeLessThan(120);
    // No gateways are registered: readiness says so, in words, and the plan warns that the operation would stop.
    const gw = rows(res.body.readiness.checks).find((c) => c.name === 'gateways reachable')!;
    expect(gw).toMatchObject({ ok: false, message: 'no FSVM is registered' });
    expect(res.body.warnings).toContain('gateways reachable: no FSVM is registered (the operation would stop here)');
    expect(res.body.redirect.summary).toMatch(/no directory configured|not redirected/);
    expect(await h.counts()).toEqual(before);
  });

  it('starts a planned failover that waits for approval; a second operation on the pair is 409; a second admin approves', async () => {
    const res = await post('planned-failover', {
      source: 'fs1',
      destination: 'fs2',
      policies: ['gold'],
      requireApproval: true,
    }).expect(202);
    const { operationId, workflowId, workflowUrl } = res.body as Record<string, string>;
    expect(workflowId).toBe(`operation/planned_failover/${operationId}`);
    expect(workflowUrl).toBe(`${UI_URL}/namespaces/default/workflows/${encodeURIComponent(workflowId!)}`);
    const wf = await startedWorkflow(h.temporal, workflowId!);
    expect(wf).toMatchObject({
      type: 'plannedFailoverWorkflow',
      taskQueue: h.taskQueue,
      searchAttributes: { DrFileServers: ['fs1', 'fs2'], DrOperationKind: 'planned_failover', DrPolicy: 'gold' },
    });
    expect(OperationWorkflowInput.parse(wf.input)).toMatchObject({
      operationId,
      kind: 'planned_failover',
      source: 'fs1',
      destination: 'fs2',
      requestedBy: 'operator-1',
      shares: [{ policy: 'gold', sourceShare: 'eng', targetShare: 'eng', source: 'fs1', destination: 'fs2' }],
      // Only one of fs1's two protected shares moves: its name cannot follow.
      redirect: null,
      redirectNote: expect.stringMatching(/clients are not redirected: after this operation some shares of 'fs1'/),
      options: { requireApproval: true, waitForRunningJobs: true, accessAfter: 'read_only' },
    });
    await until(operationId!, (b) => b.state === 'awaiting_approval');

    const before = await h.counts();
    const again = await post('unplanned-failover', { source: 'fs1', destination: 'fs2', confirmDataLoss: true }).expect(
      409,
    );
    expect(again.body.detail).toMatch(
      /^a planned_failover operation \(.+\) is already awaiting_approval on file servers 'fs1', 'fs2'$/,
    );
    expect(await h.counts()).toEqual(before);
    const fsList = await request(h.app).get('/api/v1/file-servers').set(h.auth('viewer')).expect(200);
    expect(rows(rows(fsList.body.items).find((s) => s.name === 'fs1')!.protection)[0]).toMatchObject({
      runningOperation: { kind: 'planned_failover', state: 'awaiting_approval' },
      availableActions: [],
    });

    // The requester cannot approve (even with another role); an operator cannot approve at all.
    await request(h.app).post(`/api/v1/operations/${operationId}/approve`).set(h.auth('operator')).expect(403);
    const approved = await request(h.app)
      .post(`/api/v1/operations/${operationId}/approve`)
      .set(h.auth('admin'))
      .expect(202);
    expect(approved.body.id).toBe(operationId);
    // Approved, it runs: readiness finds no gateway, and the operation ends failed in words, having changed nothing.
    const ended = await until(operationId!, (b) => b.state === 'failed');
    expect(ended).toMatchObject({
      approvedBy: 'admin-1',
      error: expect.stringMatching(/^not ready: gateways reachable: no FSVM is registered/),
    });
    expect(rows(ended.steps)[0]).toMatchObject({ name: 'check readiness', state: 'failed' });
    expect(
      rows(ended.steps)
        .slice(1)
        .every((s) => s.state === 'pending'),
    ).toBe(true);
    const shares = await h.database.db.policyShare.findMany({ select: { primary: true, paused: true } });
    expect(shares.every((s) => s.primary === 'source' && !s.paused)).toBe(true);
  });

  it('makes a repeated request with the same Idempotency-Key answer the first operation; another body is 422', async () => {
    const body = { source: 'fs1', destination: 'fs2', startAt: new Date(Date.now() + 3_600_000).toISOString() };
    const key = { 'idempotency-key': 'change-4711' };
    const first = await post('planned-failover', body).set(key).expect(202);
    const second = await post('planned-failover', body).set(key).expect(202);
    expect(second.body).toEqual(first.body);
    const other = await post('planned-failover', { ...body, accessAfter: 'off' })
      .set(key)
      .expect(422);
    expect(other.body.detail).toMatch(/^Idempotency-Key 'change-4711' was used for a different request/);
    const bad = await post('planned-failover', body).set({ 'idempotency-key': 'with space' }).expect(400);
    expect(bad.body.errors[0].path).toBe('headers.idempotency-key');
    // Scheduled for an hour from now, cancellable until then.
    await until(first.body.operationId, (b) => b.state === 'scheduled');
    await request(h.app)
      .post(`/api/v1/operations/${first.body.operationId}/cancel`)
      .set(h.auth('operator'))
      .expect(202);
    const cancelled = await until(first.body.operationId, (b) => b.state === 'cancelled');
    expect(cancelled.endedAt).not.toBeNull();
  });

  it('refuses what the shares state, the scope or the recovery points do not allow, with the reason', async () => {
    const before = await h.counts();
    expect((await post('failback', { source: 'fs1', destination: 'fs2' }).expect(409)).body.detail).toBe(
      "share 'eng' of policy 'gold' is not failed over: clients write to 'fs1'; share 'home' of policy 'silver' is not failed over: clients write to 'fs1'",
    );
    expect((await post('planned-failover', { source: 'fs3', destination: 'fs4' }).expect(409)).body.detail).toBe(
      "a planned_failover needs active policies: policy 'new' is creating",
    );
    expect((await post('planned-failover', { source: 'fs2', destination: 'fs1' }).expect(409)).body.detail).toBe(
      "no policy replicates 'fs2' to 'fs1'",
    );
    const unknownPolicy = await post('planned-failover', {
      source: 'fs1',
      destination: 'fs2',
      policies: ['gold', 'nope'],
    }).expect(400);
    expect(unknownPolicy.body.errors).toEqual([
      { path: 'body.policies.1', message: "policy 'nope' does not replicate 'fs1' to 'fs2'" },
    ]);
    const unknownShare = await post('planned-failover', { source: 'fs1', shares: ['eng', 'nope'] }).expect(400);
    expect(unknownShare.body.errors).toEqual([
      { path: 'body.shares.1', message: "share 'nope' is not protected by the chosen policies of 'fs1'" },
    ]);
    const noConfirm = await post('unplanned-failover', { source: 'fs1', destination: 'fs2' }).expect(400);
    expect(noConfirm.body.errors[0].path).toBe('body.confirmDataLoss');
    await post('planned-failover', { source: 'fsX', destination: 'fs2' }).expect(400);
    // The lag guard: a recovery point older than twice the RPO (or maxLagSeconds) refuses a planned failover.
    const lag = await post('planned-failover', { source: 'fs1', destination: 'fs2', maxLagSeconds: 30 }).expect(409);
    expect(lag.body.detail).toMatch(
      /^replication lags: share 'eng' of policy 'gold' was last replicated \d+s ago \(allowed 30s\)/,
    );
    expect(await h.counts()).toEqual(before);
  });

  it('shows a failed-over pair as such: resume and failback offered, planned failover refused', async () => {
    const db = h.database.db;
    await db.policyShare.updateMany({ data: { primary: 'destination', paused: true } });
    await db.fileServer.update({
      where: { name: 'fs1' },
      data: { fencedAt: new Date(), fenceReason: 'test', fenceMode: 'read_only' },
    });
    const list = await request(h.app).get('/api/v1/file-servers').set(h.auth('viewer')).expect(200);
    const byName = Object.fromEntries(rows(list.body.items).map((s) => [s.name, s]));
    expect(byName.fs1).toMatchObject({
      status: 'fenced',
      fence: { reason: 'test', mode: 'read_only', enforcedAt: null },
    });
    expect(byName.fs2).toMatchObject({ status: 'active', roles: { primaryShares: 2, replicaShares: 0 } });
    expect(rows(byName.fs2.protection)[0]!.availableActions).toEqual(['resume_replication', 'dr_readiness']);
    const refused = await post('planned-failover', { source: 'fs1', destination: 'fs2' }).expect(409);
    expect(refused.body.detail).toMatch(/share 'eng' of policy 'gold' is already failed over to 'fs2'/);
    const failback = await post('failback', { source: 'fs1', destination: 'fs2' }).expect(409);
    expect(failback.body.detail).toMatch(
      /file server 'fs1' is fenced since an unplanned failover: resume replication first/,
    );
    await db.policyShare.updateMany({ data: { primary: 'source', paused: false } });
    await db.fileServer.update({
      where: { name: 'fs1' },
      data: { fencedAt: null, fenceReason: null, fenceMode: null },
    });
  });

  it('status of an unknown operation is 404; a missing workflow reads NOT_FOUND', async () => {
    await request(h.app)
      .get('/api/v1/operations/00000000-0000-4000-8000-000000000000')
      .set(h.auth('viewer'))
      .expect(404);
    const op = await h.database.db.operation.create({
      data: { kind: 'dr_readiness', workflowId: 'operation/none/x', state: 'succeeded' },
    });
    const res = await request(h.app).get(`/api/v1/operations/${op.id}`).set(h.auth('viewer')).expect(200);
    expect(res.body.workflow).toEqual({ status: 'NOT_FOUND' });
  });
});
