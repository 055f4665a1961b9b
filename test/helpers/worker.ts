import { Client } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
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
export async function startTestWorker(deps: { db: Db }): Promise<TestWorker> {
  const env = testEnvironment();
  const taskQueue = uniqueName('tq');
  const connection = await NativeConnection.connect({ address: env.temporalAddress });
  const worker = await createWorker({
    connection,
    namespace: 'default',
    taskQueue,
    db: deps.db,
    workflowBundle: { codePath: env.workflowBundlePath },
  });
  const running = worker.run();
  const client = await connectClient(env.temporalAddress, 'default');
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
