// What an operator reads when a workflow or activity task fails, from the production worker process
// (workers/main.ts) with LOG_FORMAT=json against the real dev server: one JSON line per event that carries the
// error's message and type (the ApplicationFailure type where there is one) and, for an activity, its type and
// attempt; and nothing but JSON lines (the SDK core's own coloured lines are forwarded into the logger).
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { connectClient } from '../infra/temporal';
import { replicateShareWorkflow } from '../workflows';
import { createTestDatabase, testEnvironment, uniqueName, type TestDatabase } from './helpers/environment';
import { jsonLines } from './helpers/start-process';
import { startWorkerProcess, waitUntil, type WorkerProcess } from './replication/lab';

jest.setTimeout(120_000);

describe('worker logs of failed tasks (LOG_FORMAT=json)', () => {
  let database: TestDatabase;
  let worker: WorkerProcess;
  const taskQueue = uniqueName('logs');
  beforeAll(async () => {
    database = await createTestDatabase();
    worker = await startWorkerProcess(database.url, taskQueue);
  });
  afterAll(async () => {
    await worker?.kill9();
    await database?.drop();
  });

  it('logs a failed activity and workflow with message, type, activity type and attempt; only JSON lines', async () => {
    const client = await connectClient(testEnvironment().temporalAddress, 'default');
    try {
      // An activity that fails with a domain error (NOT_FOUND, non-retryable): the run's policy does not exist.
      const policyId = randomUUID();
      const run = client.workflow.execute(replicateShareWorkflow, {
        taskQueue,
        workflowId: uniqueName('logs-activity'),
        args: [{ policyId, share: 'eng', trigger: 'on_demand' }],
      });
      await expect(run).rejects.toBeInstanceOf(WorkflowFailedError);

      // A workflow task that fails: a workflow type this worker does not serve.
      const orphan = await client.workflow.start('noSuchWorkflow', {
        taskQueue,
        workflowId: uniqueName('logs-task'),
      });
      try {
        await waitUntil('the failed workflow task to be logged', async () =>
          jsonLines(worker.output()).find((l) => JSON.stringify(l).includes('noSuchWorkflow')),
        );
      } finally {
        await orphan.terminate('test over');
      }

      const lines = jsonLines(worker.output());
      const activity = lines.find((l) => l.msg === 'Activity failed');
      expect(activity).toMatchObject({
        level: 40,
        activityType: 'prepareReplication',
        attempt: 1,
        error: {
          name: 'ApplicationFailure',
          type: 'NOT_FOUND',
          message: `policy ${policyId} no longer exists`,
          nonRetryable: true,
        },
      });
      // The workflow's own failure: its error reaches the worker's logger as a clone out of the workflow sandbox,
      // which keeps the message (the failure's type is in the activity's line above, and in the history).
      const workflow = lines.find((l) => l.msg === 'Workflow failed');
      expect(workflow).toMatchObject({
        workflowType: 'replicateShareWorkflow',
        error: { message: `policy ${policyId} no longer exists` },
      });
      // The failed workflow task, with its reason, from the worker and from the SDK's core (no longer in colour).
      const reason = "Failed to initialize workflow of type 'noSuchWorkflow'";
      const task = lines.find((l) => l.msg === 'Failed to process Workflow Activation');
      expect(task).toMatchObject({ level: 50, error: { message: expect.stringContaining(reason) } });
      await waitUntil('the core line', async () =>
        jsonLines(worker.output()).find((l) => l.msg === 'Failing workflow task' && l.sdkComponent === 'core'),
      );
      // Nothing else: no coloured, non-JSON line from the SDK's core.
      const other = worker
        .output()
        .split('\n')
        .filter((l) => l.trim() && !l.startsWith('{'));
      expect(other).toEqual([]);
      expect(worker.output()).not.toContain('"error":{}');
    } finally {
      await client.connection.close();
    }
  });
});
