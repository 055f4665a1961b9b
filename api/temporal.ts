// The narrow Temporal port the API needs: start a workflow by type name, and read a workflow's status. Workflows are
// started by type name (the workflows of later issues register them) on the configured task queue.
import { ScheduleOverlapPolicy, WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ConflictError, NotFoundError } from '../domain/errors';
import type { SearchAttributePair } from '@temporalio/common';
import { pollingWorkers } from '../infra/temporal';

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
  /** Starts a short request-response workflow and waits for its outcome, at most `waitMs`. */
  run(req: StartRequest, waitMs: number): Promise<RunOutcome>;
  /**
   * Runs a short workflow to its end and returns its result (the dry run's plan): a failure is WorkflowRunFailed
   * (HTTP 502 with the reason), no answer within `waitMs` WorkflowTimeout (504).
   */
  execute<T>(req: StartRequest, waitMs: number): Promise<T>;
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

/** A request-response workflow did not answer within the time the route waits for it: HTTP 504. */
export class WorkflowTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkflowTimeout';
  }
}

/** A workflow the API ran to its end (execute) failed: HTTP 502 with its reason. */
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
      // Temporal answered: a workflow with this id runs already (another process started the same change). That is a
      // conflict to report as such, not an unreachable cluster.
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new ConflictError(`workflow '${req.workflowId}' is already running`);
      }
      throw new TemporalUnavailable(
        `could not start workflow ${req.workflowId}: ${err instanceof Error ? err.message.split('\n')[0] : 'unknown error'}`,
      );
    }
  }
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
  const port: WorkflowPort = {
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
      return start(req);
    },
    async run(req, waitMs) {
      await requireWorker();
      const { workflowId } = await start(req);
      const deadline = Date.now() + waitMs;
      try {
        const result: unknown = await client.withDeadline(deadline, () =>
          client.workflow.getHandle(workflowId).result(),
        );
        return { status: 'completed', workflowId, result };
      } catch (err) {
        if (err instanceof WorkflowFailedError) {
          return { status: 'failed', workflowId, message: rootMessage(err).split('\n')[0]! };
        }
        if (Date.now() >= deadline - 50) return { status: 'timed_out', workflowId };
        throw new TemporalUnavailable(`could not read the result of workflow ${workflowId} from Temporal`);
      }
    },
    async execute<T>(req: StartRequest, waitMs: number): Promise<T> {
      const outcome = await port.run({ ...req, executionTimeoutMs: req.executionTimeoutMs ?? waitMs }, waitMs);
      if (outcome.status === 'completed') return outcome.result as T;
      if (outcome.status === 'failed') throw new WorkflowRunFailed(outcome.workflowId, outcome.message);
      throw new WorkflowTimeout(`workflow ${outcome.workflowId} did not answer within ${Math.round(waitMs / 1000)} s`);
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
  return port;
}
