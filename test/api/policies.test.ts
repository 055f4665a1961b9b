// Policies: synchronous validation (400/409 with reasons), state recorded in the database, the policy workflows
// started by type name on an unpolled task queue with the shared input schema, search attributes and a UI link.
import request from 'supertest';
import { Client, Connection } from '@temporalio/client';
import { CreatePolicyWorkflowInput, DeletePolicyWorkflowInput, UpdatePolicyWorkflowInput } from '../../domain/policy';
import { recordSnapshotSet } from '../../store/recovery-points';
import { rows, seedFileServer, startedWorkflow, startHarness, UI_URL, type Harness } from './helpers/api-harness';

describe('replication policies', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ shareCacheTtlMs: 3_600_000 });
    await seedFileServer(h.database.db, 'fs1', ['eng', 'home', 'proj', 'x-dr']);
    await seedFileServer(h.database.db, 'fs2', ['old', 'eng']);
    await seedFileServer(h.database.db, 'fs3', []);
  });
  afterAll(async () => {
    await h?.close();
  });

  const gold = {
    name: 'gold',
    source: 'fs1',
    destination: 'fs2',
    rpoMinutes: 15,
    shares: [{ source: 'eng' }, { source: 'home', target: 'home-dr' }],
  };

  it('creates a policy: 202, status creating, operation with pending steps, createPolicyWorkflow started', async () => {
    const res = await request(h.app).post('/api/v1/policies').set(h.auth('admin')).send(gold).expect(202);
    expect(res.body).toEqual({
      policy: 'gold',
      operationId: expect.any(String),
      workflowId: expect.stringMatching(/^policy\/gold\/create\/1\/[0-9a-f]{8}$/),
      workflowUrl: `${UI_URL}/namespaces/default/workflows/${encodeURIComponent(res.body.workflowId as string)}`,
    });
    // The policy's id is in its workflow ids: another database on the same Temporal may have a policy 'gold' too.
    const row = await h.database.db.replicationPolicy.findUniqueOrThrow({ where: { name: 'gold' } });
    expect(res.body.workflowId).toBe(`policy/gold/create/1/${row.id.slice(0, 8)}`);
    const wf = await startedWorkflow(h.temporal, res.body.workflowId as string);
    expect(wf).toMatchObject({
      type: 'createPolicyWorkflow',
      taskQueue: h.taskQueue,
      status: 'RUNNING',
      searchAttributes: { DrFileServers: ['fs1', 'fs2'], DrPolicy: 'gold', DrOperationKind: 'policy_create' },
    });
    const input = CreatePolicyWorkflowInput.parse(wf.input);
    expect(input).toMatchObject({
      operationId: res.body.operationId,
      name: 'gold',
      version: 1,
      source: 'fs1',
      destination: 'fs2',
      rpoSeconds: 900,
      retentionCount: 3,
      requestedBy: 'admin-1',
      shares: [
        { sourceShare: 'eng', targetShare: 'eng' },
        { sourceShare: 'home', targetShare: 'home-dr' },
      ],
    });
    const details = await request(h.app).get('/api/v1/policies/gold').set(h.auth('viewer')).expect(200);
    expect(details.body).toMatchObject({
      name: 'gold',
      status: 'creating',
      rpoMinutes: 15,
      version: 1,
      workflowId: res.body.workflowId,
      currentOperation: { id: res.body.operationId, kind: 'policy_create', state: 'pending' },
      compliance: { compliant: 0, violated: 0, unknown: 2 },
    });
    const op = await request(h.app).get(`/api/v1/operations/${res.body.operationId}`).set(h.auth('viewer')).expect(200);
    expect(op.body).toMatchObject({ kind: 'policy_create', state: 'pending', workflow: { status: 'RUNNING' } });
    expect(rows(op.body.steps).every((s) => s.state === 'pending')).toBe(true);
  });

  it('refuses with reasons: same name, share already protected or a target, unknown share/file server, same pair', async () => {
    const before = await h.counts();
    const post = (body: object) => request(h.app).post('/api/v1/policies').set(h.auth('admin')).send(body);
    expect((await post(gold).expect(409)).body.detail).toBe("policy 'gold' already exists (creating)");
    expect(
      (await post({ ...gold, name: 'silver', shares: [{ source: 'eng', target: 'eng2' }] }).expect(409)).body.detail,
    ).toBe("share 'eng' on 'fs1' is already protected by policy 'gold'");
    expect(
      (await post({ ...gold, name: 'silver', shares: [{ source: 'proj', target: 'home-dr' }] }).expect(409)).body
        .detail,
    ).toBe("share 'home-dr' on 'fs2' is already the target of policy 'gold'");
    // A cascade fs1 -> fs2 -> fs3 is allowed: a share that one policy writes may be the source of the next one.
    const chain = await post({
      name: 'chain',
      source: 'fs2',
      destination: 'fs3',
      rpoMinutes: 15,
      shares: [{ source: 'old', target: 'eng' }],
    });
    expect(chain.status).toBe(202);
    const chain2 = await post({
      name: 'chain2',
      source: 'fs1',
      destination: 'fs2',
      rpoMinutes: 15,
      shares: [{ source: 'proj', target: 'old' }],
    });
    expect(chain2.status).toBe(202);
    // ... but replicating a target back towards its own source would loop.
    const loop = await post({
      name: 'loop',
      source: 'fs2',
      destination: 'fs1',
      rpoMinutes: 15,
      shares: [{ source: 'eng', target: 'eng-back' }],
    }).expect(409);
    expect(loop.body.detail).toBe(
      "share 'eng' on 'fs2' is the target of policy 'gold' from 'fs1': replicating it back would loop",
    );
    const unknown = await post({ ...gold, name: 'bronze', shares: [{ source: 'nope' }] }).expect(400);
    expect(unknown.body.errors).toEqual([
      { path: 'body.shares.0.source', message: "share 'nope' does not exist on file server 'fs1'" },
    ]);
    const noFs = await post({ ...gold, name: 'bronze', destination: 'fsX' }).expect(400);
    expect(noFs.body.errors).toEqual([{ path: 'body.destination', message: "file server 'fsX' is not registered" }]);
    const same = await post({ ...gold, name: 'bronze', destination: 'fs1' }).expect(400);
    expect(same.body.errors).toEqual([{ path: 'body.destination', message: 'must differ from source' }]);
    const dupShare = await post({
      ...gold,
      name: 'bronze',
      shares: [{ source: 'proj' }, { source: 'proj', target: 'p2' }],
    }).expect(400);
    expect(dupShare.body.errors[0]).toEqual({ path: 'body.shares.1.source', message: "share 'proj' is listed twice" });
    const after = await h.counts();
    expect(after).toEqual({
      ...before,
      policies: before.policies + 2,
      policyShares: before.policyShares + 2,
      operations: before.operations + 2,
    });
  });

  it('refuses to update or delete a policy while it is being created', async () => {
    const up = await request(h.app)
      .patch('/api/v1/policies/gold')
      .set(h.auth('admin'))
      .send({ rpoMinutes: 30 })
      .expect(409);
    expect(up.body.detail).toBe("policy 'gold' is creating; wait until its workflow has finished");
    const del = await request(h.app).delete('/api/v1/policies/gold').set(h.auth('admin')).expect(409);
    expect(del.body.detail).toMatch(/is being created/);
  });

  it('updates an active policy: new version, previous settings kept, updatePolicyWorkflow with added/removed shares', async () => {
    const db = h.database.db;
    const p = await db.replicationPolicy.update({ where: { name: 'gold' }, data: { status: 'active' } });
    await db.operation.updateMany({ where: { policyId: p.id }, data: { state: 'succeeded' } });
    await db.policyShare.updateMany({ where: { policyId: p.id, sourceShare: 'home' }, data: { targetCreated: true } });
    const res = await request(h.app)
      .patch('/api/v1/policies/gold')
      .set(h.auth('admin'))
      .send({ rpoMinutes: 30, shares: [{ source: 'eng' }, { source: 'x-dr' }] })
      .expect(202);
    expect(res.body.workflowId).toBe(`policy/gold/update/2/${p.id.slice(0, 8)}`);
    const wf = await startedWorkflow(h.temporal, res.body.workflowId as string);
    expect(wf.type).toBe('updatePolicyWorkflow');
    const input = UpdatePolicyWorkflowInput.parse(wf.input);
    expect(input).toMatchObject({
      version: 2,
      settings: {
        rpoSeconds: 1800,
        shares: [
          { sourceShare: 'eng', targetShare: 'eng' },
          { sourceShare: 'x-dr', targetShare: 'x-dr' },
        ],
      },
      previous: { rpoSeconds: 900 },
      addedShares: [{ sourceShare: 'x-dr', targetShare: 'x-dr' }],
      removedShares: [{ sourceShare: 'home', targetShare: 'home-dr', targetCreated: true }],
    });
    const d = await request(h.app).get('/api/v1/policies/gold').set(h.auth('viewer')).expect(200);
    expect(d.body).toMatchObject({ version: 2, rpoMinutes: 30, previousVersion: { version: 1, rpoSeconds: 900 } });
    expect(rows(d.body.shares).map((s) => s.source)).toEqual(['eng', 'x-dr']);
    // a second update while the first runs is refused
    await request(h.app).patch('/api/v1/policies/gold').set(h.auth('admin')).send({ retentionCount: 5 }).expect(409);
  });

  it('deletes a policy: status deleting, deletePolicyWorkflow with the shares and what the policy created', async () => {
    const db = h.database.db;
    await db.operation.updateMany({ where: { kind: 'policy_update' }, data: { state: 'succeeded' } });
    const res = await request(h.app).delete('/api/v1/policies/gold').set(h.auth('admin')).expect(202);
    expect(res.body.workflowId).toMatch(/^policy\/gold\/delete\/2\/[0-9a-f]{8}$/);
    const wf = await startedWorkflow(h.temporal, res.body.workflowId as string);
    expect(wf.type).toBe('deletePolicyWorkflow');
    expect(DeletePolicyWorkflowInput.parse(wf.input).shares.map((s) => s.sourceShare)).toEqual(['eng', 'x-dr']);
    const list = await request(h.app).get('/api/v1/policies').set(h.auth('viewer')).expect(200);
    expect(rows(list.body.items).find((p) => p.name === 'gold')).toMatchObject({ status: 'deleting', shares: 2 });
    expect((await request(h.app).delete('/api/v1/policies/gold').set(h.auth('admin')).expect(409)).body.detail).toBe(
      "policy 'gold' is already being deleted",
    );
    await request(h.app).delete('/api/v1/policies/nope').set(h.auth('admin')).expect(404);
  });

  it('shows compliance by share from its recovery point on the replica', async () => {
    const db = h.database.db;
    const chain = await db.replicationPolicy.update({ where: { name: 'chain' }, data: { status: 'active' } });
    const landed = (agoMs: number) =>
      recordSnapshotSet(db, {
        fileServerId: chain.destFileServerId,
        share: 'eng',
        setId: `fsdr-eng-${agoMs}`,
        origin: 'received',
        createdAt: new Date(Date.now() - agoMs),
        complete: true,
        portions: [''],
      });
    await landed(60_000);
    const d = await request(h.app).get('/api/v1/policies/chain').set(h.auth('viewer')).expect(200);
    expect(d.body.shares).toEqual([
      expect.objectContaining({ source: 'old', target: 'eng', compliance: 'compliant', lastJob: null }),
    ]);
    // Only the newest complete set counts: remove it, and the older one is the recovery point.
    await landed(3_600_000);
    await db.snapshotSet.deleteMany({ where: { setId: 'fsdr-eng-60000' } });
    const l = await request(h.app).get('/api/v1/policies').set(h.auth('viewer')).expect(200);
    expect(rows(l.body.items).find((p) => p.name === 'chain')).toMatchObject({
      compliance: { compliant: 0, violated: 1, unknown: 0 },
    });
  });
});

describe('policies when Temporal is unreachable', () => {
  let h: Harness;
  beforeAll(async () => {
    const unreachable = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 }) });
    h = await startHarness({ temporal: unreachable, temporalTimeoutMs: 1000, shareCacheTtlMs: 3_600_000 });
    await seedFileServer(h.database.db, 'fs1', ['eng']);
    await seedFileServer(h.database.db, 'fs2', []);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('answers 503 and records the policy and its operation as failed, with the reason', async () => {
    const res = await request(h.app)
      .post('/api/v1/policies')
      .set(h.auth('admin'))
      .send({ name: 'gold', source: 'fs1', destination: 'fs2', rpoMinutes: 15, shares: [{ source: 'eng' }] })
      .expect(503);
    expect(res.body.type).toBe('urn:fs-dr:problem:temporal-unavailable');
    const d = await request(h.app).get('/api/v1/policies/gold').set(h.auth('viewer')).expect(200);
    expect(d.body).toMatchObject({ status: 'failed', statusReason: 'the create workflow could not be started' });
    const op = await h.database.db.operation.findFirstOrThrow({ where: { kind: 'policy_create' } });
    expect(op.state).toBe('failed');
    const status = await request(h.app).get(`/api/v1/operations/${op.id}`).set(h.auth('viewer')).expect(200);
    expect(status.body.workflow).toEqual({ status: 'UNAVAILABLE' });
    const audit = await h.database.db.auditEntry.findFirstOrThrow({ orderBy: { id: 'desc' } });
    expect(audit).toMatchObject({ actor: 'admin-1', action: 'POST /policies', result: 'failed' });
  });
});
