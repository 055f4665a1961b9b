import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities, type Activities } from '../../activities';
import { createSecretBox } from '../../infra/secrets';
import type { Db } from '../../infra/database';
import { connectClient } from '../../infra/temporal';
import { createWorker } from '../../workers/worker';
import { testEnvironment, uniqueName } from './environment';

export interface TestWorker {
  client: Client;
  worker: Worker;
  taskQueue: string;
  stop(): Promise<void>;
}

/** The project's real worker bootstrap on a task queue of its own, against the shared dev server. */
export const TEST_SECRETS_KEY = Buffer.alloc(32, 9);
export const TEST_SECRETS = createSecretBox(TEST_SECRETS_KEY);

/**
 * The project's real worker bootstrap on a task queue of its own, against the shared dev server. `wrap` lets a test
 * replace single activities (fault injection) while everything else stays real.
 */
export async function startTestWorker(deps: {
  db: Db;
  taskQueue?: string;
  pollIntervalMs?: number;
  wrap?: (activities: Activities) => Partial<Activities>;
}): Promise<TestWorker> {
  const env = testEnvironment();
  const taskQueue = deps.taskQueue ?? uniqueName('tq');
  const connection = await NativeConnection.connect({ address: env.temporalAddress });
  const client = await connectClient(env.temporalAddress, 'default');
  const activityDeps = {
    db: deps.db,
    secrets: TEST_SECRETS,
    temporal: client,
    taskQueue,
    pollIntervalMs: deps.pollIntervalMs ?? 200,
  };
  const worker = deps.wrap
    ? await Worker.create({
        connection,
        namespace: 'default',
        taskQueue,
        workflowBundle: { codePath: env.workflowBundlePath },
        activities: (() => {
          const real = createActivities(activityDeps);
          return { ...real, ...deps.wrap(real) };
        })(),
      })
    : await createWorker({
        connection,
        namespace: 'default',
        workflowBundle: { codePath: env.workflowBundlePath },
        ...activityDeps,
      });
  const running = worker.run();
  return {
    client,
    worker,
    taskQueue,
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
      await client.connection.close();
    },
  };
}
