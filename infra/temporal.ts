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

/**
 * Workers that polled the task queue for workflow tasks within `withinMs`. Temporal keeps a poller listed for a while
 * after it stopped, so the last access time is what tells a live worker from a gone one.
 */
export async function pollingWorkers(client: Client, taskQueue: string, withinMs = 60_000): Promise<number> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
  });
  const since = Date.now() - withinMs;
  return (res.pollers ?? []).filter((p) => {
    const t = p.lastAccessTime;
    if (!t?.seconds) return true;
    return Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) >= since;
  }).length;
}

export async function temporalHealth(client: Client, address: string, taskQueue: string): Promise<TemporalHealth> {
  const namespace = client.options.namespace;
  try {
    return { status: 'up', address, namespace, workers: await pollingWorkers(client, taskQueue) };
  } catch (err) {
    return {
      status: 'down',
      address,
      namespace,
      error: err instanceof Error ? err.message.split('\n')[0] : String(err),
    };
  }
}
