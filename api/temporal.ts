// The narrow Temporal port the API needs: start a workflow by type name, and read a workflow's status. Workflows are
// started by type name (the workflows of later issues register them) on the configured task queue.
import { ScheduleOverlapPolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { NotFoundError } from '../domain/errors';
import type { SearchAttributePair } from '@temporalio/common';
import { pollingWorkers } from '../infra/temporal';

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
  /**
   * Starts a workflow, after checking that a worker polls the task queue: without one the workflow would wait,
   * and its operation stay pending, until somebody starts a worker (WorkerUnavailable instead).
   */
  start(req: StartRequest): Promise<{ workflowId: string; runId: string }>;
  /**
   * Starts a run of a schedule's action now, under the schedule's overlap policy (BUFFER_ONE: queued behind a running
   * run, replacing a queued one) rather than beside it. Checks that a worker polls, as start does.
   */
  triggerSchedule(scheduleId: string): Promise<void>;
  /**
   * Runs a short workflow to its end and returns its result (the dry run's plan, the directory check): bounded by
   * `timeoutMs`, after which the workflow is terminated and the call fails.
   */
  execute<T>(req: StartRequest, timeoutMs: number): Promise<T>;
  /** Sends a signal to a running workflow (approval). */
  signal(workflowId: string, name: string, arg: unknown): Promise<void>;
  /** Requests cancellation (the workflow undoes what it may and records its end); false when it is not running. */
  cancel(workflowId: string): Promise<boolean>;
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

/** A workflow the API ran to its end (execute) failed or timed out: HTTP 502 with its reason. */
export class WorkflowRunFailed extends Error {
  constructor(
    readonly workflowId: string,
    readonly reason: string,
  ) {
    super(`workflow ${workflowId} failed: ${reason}`);
    this.name = 'WorkflowRunFailed';
  }
}

/** The innermost cause's message: Temporal wraps an activity's reason in WorkflowFailedError > ActivityFailure. */
function rootMessage(err: Error): string {
  let e: Error = err;
  while (e.cause instanceof Error) e = e.cause;
  return e.message;
}

/** Temporal answers, but no worker polls the task queue: nothing would run the workflow (HTTP 503). */
export class WorkerUnavailable extends Error {
  constructor(readonly taskQueue: string) {
    super(
      `no worker is polling task queue '${taskQueue}': start the worker (npm start runs one; in production workers/main.ts)`,
    );
    this.name = 'WorkerUnavailable';
  }
}

/** Every Temporal call the API makes is bounded, so an unreachable cluster is a prompt 503, not a hung request. */
export function createWorkflowPort(
  client: Client,
  taskQueue: string,
  uiUrl?: string,
  timeoutMs = 10_000,
  /** How live workers are counted (infra/temporal.ts); injectable for tests that keep their queue unpolled. */
  workersPolling: (client: Client, taskQueue: string) => Promise<number> = pollingWorkers,
): WorkflowPort {
  const namespace = client.options.namespace;
  const bounded = <T>(fn: () => Promise<T>) => client.withDeadline(Date.now() + timeoutMs, fn);
  async function requireWorker(): Promise<void> {
    let workers: number;
    try {
      workers = await bounded(() => workersPolling(client, taskQueue));
    } catch (err) {
      throw new TemporalUnavailable(
        `could not ask Temporal about task queue '${taskQueue}': ${err instanceof Error ? err.message.split('\n')[0] : 'unknown error'}`,
      );
    }
    if (!workers) throw new WorkerUnavailable(taskQueue);
  }
  return {
    async triggerSchedule(scheduleId) {
      await requireWorker();
      try {
        await bounded(() => client.schedule.getHandle(scheduleId).trigger(ScheduleOverlapPolicy.BUFFER_ONE));
      } catch (err) {
        if (err instanceof Error && err.name === 'ScheduleNotFoundError') {
          throw new NotFoundError(`schedule '${scheduleId}' does not exist`);
        }
        throw new TemporalUnavailable(`could not trigger schedule ${scheduleId}`);
      }
    },
    async start(req) {
      await requireWorker();
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
    async execute<T>(req: StartRequest, runMs: number): Promise<T> {
      await requireWorker();
      let handle;
      try {
        handle = await bounded(() =>
          client.workflow.start(req.workflowType, {
            taskQueue,
            workflowId: req.workflowId,
            args: [req.input],
            typedSearchAttributes: req.searchAttributes,
            memo: req.memo,
            workflowExecutionTimeout: runMs,
          }),
        );
      } catch (err) {
        throw new TemporalUnavailable(
          `could not start workflow ${req.workflowId}: ${err instanceof Error ? err.message.split('\n')[0] : 'unknown error'}`,
        );
      }
      try {
        return (await client.withDeadline(Date.now() + runMs + timeoutMs, () => handle.result())) as T;
      } catch (err) {
        throw new WorkflowRunFailed(req.workflowId, err instanceof Error ? rootMessage(err) : String(err));
      }
    },
    async signal(workflowId, name, arg) {
      try {
        await bounded(() => client.workflow.getHandle(workflowId).signal(name, arg));
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw new NotFoundError(`workflow ${workflowId} is not running`);
        throw new TemporalUnavailable(`could not signal workflow ${workflowId}`);
      }
    },
    async cancel(workflowId) {
      try {
        await bounded(() => client.workflow.getHandle(workflowId).cancel());
        return true;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw new TemporalUnavailable(`could not cancel workflow ${workflowId}`);
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
