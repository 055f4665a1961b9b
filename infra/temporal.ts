import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';

export async function connectClient(address: string, namespace: string): Promise<Client> {
  const connection = await Connection.connect({ address, connectTimeout: 5000 });
  return new Client({ connection, namespace });
}

export async function connectWorker(address: string): Promise<NativeConnection> {
  return NativeConnection.connect({ address });
}

export interface TemporalHealth {
  status: 'up' | 'down';
  address: string;
  namespace: string;
  /** Workers polling the orchestrator's task queue in the last minute. */
  workers?: number;
  error?: string;
}

export async function temporalHealth(client: Client, address: string, taskQueue: string): Promise<TemporalHealth> {
  const namespace = client.options.namespace;
  try {
    const res = await client.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
    });
    return { status: 'up', address, namespace, workers: res.pollers?.length ?? 0 };
  } catch (err) {
    return {
      status: 'down',
      address,
      namespace,
      error: err instanceof Error ? err.message.split('\n')[0] : String(err),
    };
  }
}
