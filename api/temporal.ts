// The narrow Temporal port the API needs: start a workflow by type name, and read a workflow's status. Workflows are
// started by type name (the workflows of later issues register them) on the configured task queue.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';

export interface StartRequest {
  workflowType: string;
  workflowId: string;
  input: unknown;
  searchAttributes: SearchAttributePair[];
  memo?: Record<string, unknown>;
}

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
  /** Web UI link of a workflow, or null when no UI URL is configured. */
  link(workflowId: string): string | null;
}

export class TemporalUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemporalUnavailable';
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
  return {
    async start(req) {
      try {
        const handle = await bounded(() =>
          client.workflow.start(req.workflowType, {
            taskQueue,
            workflowId: req.workflowId,
            args: [req.input],
            typedSearchAttributes: req.searchAttributes,
            memo: req.memo,
          }),
        );
        return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
      } catch (err) {
        throw new TemporalUnavailable(
          `could not start workflow ${req.workflowId}: ${err instanceof Error ? err.message.split('\n')[0] : 'unknown error'}`,
        );
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
