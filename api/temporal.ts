// The narrow Temporal port the API needs: start a workflow by type name, and read a workflow's status. Workflows are
// started by type name (the workflows of later issues register them) on the configured task queue.
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';

export interface StartRequest {
  workflowType: string;
  workflowId: string;
  input: unknown;
  searchAttributes: SearchAttributePair[];
  memo?: Record<string, unknown>;
  /** Temporal ends the workflow (timed out) if it runs longer, e.g. when no worker polls the queue. */
  executionTimeoutMs?: number;
}

export type RunOutcome =
  | { status: 'completed'; workflowId: string; result: unknown }
  | { status: 'failed'; workflowId: string; message: string }
  | { status: 'timed_out'; workflowId: string };

export interface WorkflowStatus {
  status: string;
  runId?: string;
  startTime?: string;
  closeTime?: string;
}

export interface WorkflowPort {
  start(req: StartRequest): Promise<{ workflowId: string; runId: string }>;
  /** null when Temporal does not know the workflow; throws when Temporal cannot be reached. */
  describe(workflowId: string): Promise<WorkflowStatus | null>;
  /** Starts a workflow and waits for its result, at most `waitMs` (a short request-response workflow). */
  run(req: StartRequest, waitMs: number): Promise<RunOutcome>;
  /** Web UI link of a workflow, or null when no UI URL is configured. */
  link(workflowId: string): string | null;
}

export class TemporalUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemporalUnavailable';
  }
}

/** A request-response workflow did not answer within the time the route waits for it: HTTP 504. */
export class WorkflowTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkflowTimeout';
  }
}

/** Every Temporal call the API makes is bounded, so an unreachable cluster is a prompt 503, not a hung request. */
export function createWorkflowPort(
  client: Client,
  taskQueue: string,
  uiUrl?: string,
  timeoutMs = 10_000,
): WorkflowPort {
  const namespace = client.options.namespace;
  const bounded = <T>(fn: () => Promise<T>) => client.withDeadline(Date.now() + timeoutMs, fn);
  async function start(req: StartRequest) {
    try {
      const handle = await bounded(() =>
        client.workflow.start(req.workflowType, {
          taskQueue,
          workflowId: req.workflowId,
          args: [req.input],
          typedSearchAttributes: req.searchAttributes,
          memo: req.memo,
          ...(req.executionTimeoutMs ? { workflowExecutionTimeout: req.executionTimeoutMs } : {}),
        }),
      );
      return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
    } catch (err) {
      throw new TemporalUnavailable(
        `could not start workflow ${req.workflowId}: ${err instanceof Error ? err.message.split('\n')[0] : 'unknown error'}`,
      );
    }
  }
  return {
    start,
    async run(req, waitMs) {
      const { workflowId } = await start(req);
      const deadline = Date.now() + waitMs;
      try {
        const result: unknown = await client.withDeadline(deadline, () =>
          client.workflow.getHandle(workflowId).result(),
        );
        return { status: 'completed', workflowId, result };
      } catch (err) {
        if (err instanceof WorkflowFailedError) {
          const cause = err.cause;
          return { status: 'failed', workflowId, message: (cause?.message ?? err.message).split('\n')[0]! };
        }
        if (Date.now() >= deadline - 50) return { status: 'timed_out', workflowId };
        throw new TemporalUnavailable(`could not read the result of workflow ${workflowId} from Temporal`);
      }
    },
    async describe(workflowId) {
      try {
        const d = await bounded(() => client.workflow.getHandle(workflowId).describe());
        return {
          status: d.status.name,
          runId: d.runId,
          startTime: d.startTime.toISOString(),
          closeTime: d.closeTime?.toISOString(),
        };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        throw new TemporalUnavailable(`could not read workflow ${workflowId} from Temporal`);
      }
    },
    link(workflowId) {
      if (!uiUrl) return null;
      return `${uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
    },
  };
}
