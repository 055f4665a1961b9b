// Every operation ends (succeeded, failed with a reason, or cancelled), never pending forever: an operation is not
// admitted as pending when no worker polls the task queue; an operator can cancel one; and the monitor ends one whose
// workflow is gone or can never run (a workflow type no worker registers), terminating the stuck workflow, but not one
// whose workflow task only timed out (a worker died holding it).
import request from 'supertest';
import { OPERATION_STEPS } from '../../domain/operations';
import { pollingWorkers } from '../../infra/temporal';
import { rpoMonitorWorkflow } from '../../workflows';
import { uniqueName } from '../helpers/environment';
import { seedFileServer, seedPolicy, startHarness, type Harness } from './helpers/api-harness';

async function seedPair(h: Harness) {
  const db = h.database.db;
  const fs1 = await seedFileServer(db, 'fs1', ['eng']);
  const fs2 = await seedFileServer(db, 'fs2', []);
  await seedPolicy(db, { name: 'endings-gold', sourceId: fs1, destinationId: fs2, shares: ['eng'] });
}

describe('an operation when no worker polls the task queue', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ workersPolling: pollingWorkers }); // the real check, on a queue nobody polls
    await seedPair(h);
  });
  afterAll(async () => h?.close());

  it('answers 503 naming the task queue and records the operation failed with the reason', async () => {
    const res = await request(h.app)
      .post('/api/v1/operations/dr-readiness')
      .set(h.auth('operator'))
      .send({ source: 'fs1', destination: 'fs2' })
      .expect(503);
    expect(res.body).toMatchObject({ type: 'urn:fs-dr:problem:no-worker' });
    expect(res.body.detail).toContain(`no worker is polling task queue '${h.taskQueue}'`);
    const op = await h.database.db.operation.findFirstOrThrow({ where: { kind: 'dr_readiness' } });
    expect(op).toMatchObject({ state: 'failed', error: expect.stringContaining('no worker is polling') });
    // ... so it blocks nothing: the pair takes the next operation once a worker is back.
    const list = await request(h.app).get('/api/v1/file-servers').set(h.auth('viewer')).expect(200);
    expect(list.body.items[0].protection[0].runningOperation).toBeNull();
  });
});

describe('cancelling and reconciling operations', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({}, { worker: true });
    await seedPair(h);
  });
  afterAll(async () => h?.close());

  const monitorPass = () =>
    h.worker!.client.workflow.execute(rpoMonitorWorkflow, {
      taskQueue: h.taskQueue,
      workflowId: uniqueName('monitor'),
      args: [{ passes: 1 }],
    });

  /** An operation row whose workflow is the given one, created long enough ago for the monitor to look at it. */
  async function operationFor(workflowId: string) {
    return h.database.db.operation.create({
      data: {
        kind: 'planned_failover',
        sourceFileServer: 'fs1',
        destFileServer: 'fs2',
        steps: OPERATION_STEPS.planned_failover!.map((name) => ({ name, state: 'pending' })),
        workflowId,
        createdAt: new Date(Date.now() - 120_000),
      },
    });
  }

  it('cancels an operation whose workflow is not running; an ended one is 409, an unknown one 404, a viewer 403', async () => {
    const op = await operationFor(`operation/planned_failover/${uniqueName('gone')}`);
    const res = await request(h.app).post(`/api/v1/operations/${op.id}/cancel`).set(h.auth('operator')).expect(202);
    expect(res.body).toMatchObject({ id: op.id, state: 'cancelled' });
    expect(res.body.error).toMatch(/cancelled by 'operator-1' while its workflow was not running/);
    const again = await request(h.app).post(`/api/v1/operations/${op.id}/cancel`).set(h.auth('operator')).expect(409);
    expect(again.body.detail).toBe(`operation ${op.id} has already ended (cancelled); there is nothing to cancel`);
    await request(h.app)
      .post('/api/v1/operations/00000000-0000-4000-8000-000000000000/cancel')
      .set(h.auth('operator'))
      .expect(404);
    const other = await operationFor(`operation/planned_failover/${uniqueName('gone')}`);
    await request(h.app).post(`/api/v1/operations/${other.id}/cancel`).set(h.auth('viewer')).expect(403);
    expect((await h.database.db.operation.findUniqueOrThrow({ where: { id: other.id } })).state).toBe('pending');
    const audit = await h.database.db.auditEntry.findFirstOrThrow({
      where: { action: 'POST /operations/:id/cancel', result: 'succeeded' },
    });
    expect(audit).toMatchObject({ actor: 'operator-1', target: `operation/planned_failover/${op.id}` });
  });

  it('ends an operation whose workflow type no worker runs, and terminates that workflow', async () => {
    const workflowId = `operation/planned_failover/${uniqueName('retired')}`;
    const handle = await h.worker!.client.workflow.start('retiredFailoverWorkflow', {
      taskQueue: h.taskQueue,
      workflowId,
      args: [],
    });
    const op = await operationFor(workflowId);
    // The worker fails the workflow's task (unknown type) again and again; the monitor gives up on it after 3.
    for (;;) {
      const d = await handle.describe();
      if ((d.raw.pendingWorkflowTask?.attempt ?? 0) >= 3) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const report = await monitorPass();
    expect(report.shares).toBe(1);
    const ended = await h.database.db.operation.findUniqueOrThrow({ where: { id: op.id } });
    expect(ended.state).toBe('failed');
    expect(ended.error).toMatch(
      /^no worker could run its workflow \(type 'retiredFailoverWorkflow' on task queue '.+'\): its workflow task failed \d+ times in a row/,
    );
    expect((await handle.describe()).status.name).toBe('TERMINATED');
  }, 90_000);

  it('leaves running an operation whose workflow task only timed out (its worker died holding it)', async () => {
    // A "worker" that takes the workflow's task and dies before answering, three times: the task times out each
    // time. Another worker would run it: the operation goes on, and is not ended half done.
    const client = h.worker!.client;
    const taskQueue = uniqueName('dying');
    const workflowId = `operation/planned_failover/${uniqueName('dying')}`;
    const handle = await client.workflow.start('plannedFailoverWorkflow', {
      taskQueue,
      workflowId,
      args: [],
      workflowTaskTimeout: '1 second',
    });
    const op = await operationFor(workflowId);
    for (;;) {
      const d = await handle.describe();
      if ((d.raw.pendingWorkflowTask?.attempt ?? 0) >= 3) break;
      await client.connection.withDeadline(Date.now() + 30_000, () =>
        client.workflowService.pollWorkflowTaskQueue({
          namespace: 'default',
          taskQueue: { name: taskQueue },
          identity: 'a worker about to die',
        }),
      );
    }
    await monitorPass();
    expect((await h.database.db.operation.findUniqueOrThrow({ where: { id: op.id } })).state).toBe('pending');
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await handle.terminate('end of test');
  }, 90_000);

  it('ends an operation whose workflow was terminated from the Web UI, and one whose workflow never existed', async () => {
    const workflowId = `operation/planned_failover/${uniqueName('terminated')}`;
    const handle = await h.worker!.client.workflow.start('retiredFailoverWorkflow', {
      taskQueue: h.taskQueue,
      workflowId,
      args: [],
    });
    await handle.terminate('operator pressed terminate');
    const terminated = await operationFor(workflowId);
    const never = await operationFor(`operation/planned_failover/${uniqueName('never')}`);
    const fresh = await h.database.db.operation.create({
      data: { kind: 'dr_readiness', sourceFileServer: 'fs1', destFileServer: 'fs2', workflowId: 'operation/x/young' },
    });
    await monitorPass();
    const get = (id: string) => h.database.db.operation.findUniqueOrThrow({ where: { id } });
    expect(await get(terminated.id)).toMatchObject({
      state: 'failed',
      error: "its workflow ended TERMINATED without recording the operation's end",
    });
    expect(await get(never.id)).toMatchObject({
      state: 'failed',
      error: 'its workflow does not exist (it could not be started)',
    });
    // Younger than 30 s: its workflow may be about to start; left alone.
    expect((await get(fresh.id)).state).toBe('pending');
  });
});
