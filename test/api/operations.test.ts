// DR operations: validation against file server states and policies, 409 on a conflicting operation on the same
// pair, the Operation row with pending steps, the workflow started by type name on a task queue the project's real
// worker polls, and the status endpoint.
import request from 'supertest';
import { OperationWorkflowInput } from '../../domain/operations';
import { rows, seedFileServer, startedWorkflow, startHarness, UI_URL, type Harness } from './helpers/api-harness';

describe('operations', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({}, { worker: true });
    const db = h.database.db;
    const fs1 = await seedFileServer(db, 'fs1', 'active', ['eng', 'home']);
    const fs2 = await seedFileServer(db, 'fs2', 'standby', []);
    const fs3 = await seedFileServer(db, 'fs3', 'active', ['x']);
    const fs4 = await seedFileServer(db, 'fs4', 'standby', []);
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
  });
  afterAll(async () => {
    await h?.close();
  });

  const post = (path: string, body: object, role: 'operator' | 'viewer' | 'admin' = 'operator') =>
    request(h.app).post(`/api/v1/operations/${path}`).set(h.auth(role)).send(body);

  it('starts a DR readiness check and a planned failover; the status shows steps and the workflow', async () => {
    const ready = await post('dr-readiness', { source: 'fs1', destination: 'fs2' }).expect(202);
    expect(ready.body.workflowId).toBe(`operation/dr_readiness/${ready.body.operationId}`);
    const res = await post('planned-failover', { source: 'fs1', destination: 'fs2', policies: ['gold'] }).expect(202);
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
      policies: [{ name: 'gold', shares: [{ sourceShare: 'eng', targetShare: 'eng' }] }],
    });
    const status = await request(h.app).get(`/api/v1/operations/${operationId}`).set(h.auth('viewer')).expect(200);
    expect(status.body).toMatchObject({
      id: operationId,
      kind: 'planned_failover',
      state: 'pending',
      source: 'fs1',
      destination: 'fs2',
      workflowId,
      workflow: { status: 'RUNNING', runId: expect.any(String) },
    });
    expect(rows(status.body.steps)[0]).toEqual({
      name: 'check readiness',
      state: 'pending',
      startedAt: null,
      endedAt: null,
      detail: null,
    });
    const list = await request(h.app)
      .get('/api/v1/operations?fileServer=fs2&limit=1')
      .set(h.auth('viewer'))
      .expect(200);
    expect(rows(list.body.items)[0]!.id).toBe(operationId);
    const next = await request(h.app)
      .get(`/api/v1/operations?fileServer=fs2&limit=1&cursor=${list.body.nextCursor}`)
      .set(h.auth('viewer'))
      .expect(200);
    expect(rows(next.body.items)[0]!.id).toBe(ready.body.operationId);
  });

  it('409 while another operation runs on the same pair (either direction); the file server list shows it', async () => {
    const before = await h.counts();
    const again = await post('unplanned-failover', { source: 'fs1', destination: 'fs2', confirmDataLoss: true }).expect(
      409,
    );
    expect(again.body.detail).toMatch(
      /^a planned_failover operation \(.+\) is already pending between 'fs1' and 'fs2'$/,
    );
    expect(await h.counts()).toEqual(before);
    const fsList = await request(h.app).get('/api/v1/file-servers').set(h.auth('viewer')).expect(200);
    const fs1 = rows(fsList.body.items).find((s) => s.name === 'fs1')!;
    expect(rows(fs1.protection)[0]).toMatchObject({
      runningOperation: { kind: 'planned_failover' },
      availableActions: [],
    });
  });

  it('refuses an operation the file server states or policies do not allow, with the reason', async () => {
    const db = h.database.db;
    await db.operation.updateMany({ data: { state: 'succeeded' } });
    const before = await h.counts();
    expect((await post('failback', { source: 'fs1', destination: 'fs2' }).expect(409)).body.detail).toBe(
      "file server 'fs2' is standby, a failback needs it active",
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
    const noConfirm = await post('unplanned-failover', { source: 'fs1', destination: 'fs2' }).expect(400);
    expect(noConfirm.body.errors[0].path).toBe('body.confirmDataLoss');
    await post('planned-failover', { source: 'fsX', destination: 'fs2' }).expect(400);
    expect(await h.counts()).toEqual(before);
  });

  it('starts unplanned failover, resume, failback with the right workflow types as the states allow', async () => {
    const db = h.database.db;
    const start = async (path: string, body: object, type: string) => {
      const r = await post(path, body).expect(202);
      expect((await startedWorkflow(h.temporal, r.body.workflowId as string)).type).toBe(type);
      await db.operation.update({ where: { id: r.body.operationId as string }, data: { state: 'succeeded' } });
    };
    await db.fileServer.update({ where: { name: 'fs1' }, data: { status: 'failed' } });
    await start(
      'unplanned-failover',
      { source: 'fs1', destination: 'fs2', confirmDataLoss: true },
      'unplannedFailoverWorkflow',
    );
    await db.fileServer.update({ where: { name: 'fs2' }, data: { status: 'active' } });
    await db.fileServer.update({ where: { name: 'fs1' }, data: { status: 'standby' } });
    await start('resume-replication', { source: 'fs1', destination: 'fs2' }, 'resumeReplicationWorkflow');
    await start('failback', { source: 'fs1', destination: 'fs2' }, 'failbackWorkflow');
  });

  it('status of an unknown operation is 404; a missing workflow reads NOT_FOUND', async () => {
    await request(h.app)
      .get('/api/v1/operations/00000000-0000-4000-8000-000000000000')
      .set(h.auth('viewer'))
      .expect(404);
    const op = await h.database.db.operation.create({ data: { kind: 'dr_readiness', workflowId: 'operation/none/x' } });
    const res = await request(h.app).get(`/api/v1/operations/${op.id}`).set(h.auth('viewer')).expect(200);
    expect(res.body.workflow).toEqual({ status: 'NOT_FOUND' });
  });
});
