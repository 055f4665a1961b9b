// The worker's composition root: the one place activities are built over real clients.
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';

export interface WorkerDeps extends ActivityDeps {
  connection: NativeConnection;
  namespace: string;
  /** A pre-built workflow bundle (tests and production images); bundled from workflows/ when absent. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export async function createWorker(deps: WorkerDeps): Promise<Worker> {
  const { connection, namespace, workflowBundle, ...activityDeps } = deps;
  const taskQueue = deps.taskQueue;
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    ...(workflowBundle ? { workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    activities: createActivities(activityDeps),
    // Let in-flight activities finish their current step on shutdown (Ctrl-C) before the process exits.
    shutdownGraceTime: '10 seconds',
  });
}
