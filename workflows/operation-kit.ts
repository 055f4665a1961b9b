// What every DR operation workflow shares: the activity proxies (with the timeouts each kind of step needs), the
// step runner that keeps the Operation row's steps current, the approval and start-time gates, forward retries
// after the point of no return (reported in words while they wait), and how an operation ends.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  defineSignal,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { DirectoryActivities } from '../activities/directory';
import type { FailoverActivities } from '../activities/failover';
import type { OperationActivities } from '../activities/operations';
import type { ReadinessActivities } from '../activities/readiness';
import type { OperationWorkflowInput } from '../domain/operations';
import { FILE_SERVERS, OPERATION_KIND, POLICY } from '../domain/search-attributes';

type All = OperationActivities & FailoverActivities & ReadinessActivities & DirectoryActivities;

const retry = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '20 seconds' } as const;

/** Short steps: database rows, access modes, snapshots. A worker that dies is noticed within the heartbeat timeout. */
export const acts = proxyActivities<All>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { ...retry, maximumAttempts: 6 },
});

/** Steps that wait (for running replication runs, for a rollback of a large share). */
export const waits = proxyActivities<All>({
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '30 seconds',
  retry: { ...retry, maximumAttempts: 6 },
});

/** The redirect the operation's admission decided, as the directory activities take it. */
export function redirectRequest(r: NonNullable<OperationWorkflowInput['redirect']>) {
  return { fileServer: r.name, to: r.to, ...(r.from ? { from: r.from } : {}) };
}

/** Calls to a site that may be down (an unplanned failover's source): short, few attempts, never an endless wait. */
export const unreliable = proxyActivities<All>({
  startToCloseTimeout: '30 seconds',
  retry: { ...retry, maximumAttempts: 2 },
});

/**
 * The readiness checks. Each answers in words within its own short timeouts (a gateway or a directory controller that
 * does not answer is a result, not an error), so an attempt that times out means the worker running it died; such an
 * attempt is retried as often as a short step's: the checks run side by side, so one worker that dies can take the
 * retry of a check that died with the worker before it.
 */
export const probes = proxyActivities<All>({
  startToCloseTimeout: '30 seconds',
  retry: { ...retry, maximumAttempts: 6 },
});

/** After the point of no return each attempt is short; retryForward repeats them, reporting why it waits. */
export const forward = proxyActivities<All>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { ...retry, maximumAttempts: 2 },
});

export const approveSignal = defineSignal<[{ by: string }]>('approve');

export function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // Activity and child workflow failures wrap the real reason in `cause`.
  let e: Error = err;
  while (e.cause instanceof Error) e = e.cause;
  return e.message;
}

function nonRetryableFailure(err: unknown): boolean {
  let e: unknown = err;
  while (e instanceof Error) {
    if (e instanceof ApplicationFailure && e.nonRetryable) return true;
    e = e.cause;
  }
  return false;
}

export function tag(input: OperationWorkflowInput): void {
  const policies = [...new Set(input.shares.map((s) => s.policy))];
  upsertSearchAttributes([
    { key: FILE_SERVERS, value: [input.source, ...new Set(input.shares.map((s) => s.destination))] },
    { key: OPERATION_KIND, value: input.kind },
    ...(policies.length === 1 ? [{ key: POLICY, value: policies[0]! }] : []),
  ]);
}

/** Keeps the operation's step list current: each step running, then succeeded with what it did, or failed with why. */
export class OperationRun {
  /** The step that failed first: an undo reports the other steps compensated, never this one (it keeps its reason). */
  private failedStep?: string;
  constructor(readonly operationId: string) {}

  async step<T>(name: string, run: () => Promise<T>, describe?: (result: T) => string): Promise<T> {
    await acts.setOperationStep({ operationId: this.operationId, step: name, state: 'running' });
    try {
      const result = await run();
      await acts.setOperationStep({
        operationId: this.operationId,
        step: name,
        state: 'succeeded',
        ...(describe ? { detail: describe(result).slice(0, 2000) } : {}),
      });
      return result;
    } catch (err) {
      this.failedStep ??= name;
      await CancellationScope.nonCancellable(() =>
        acts.setOperationStep({
          operationId: this.operationId,
          step: name,
          state: isCancellation(err) ? 'compensated' : 'failed',
          detail: (isCancellation(err) ? 'cancelled' : reasonOf(err)).slice(0, 2000),
        }),
      );
      throw err;
    }
  }

  async skip(name: string, detail: string): Promise<void> {
    await acts.setOperationStep({ operationId: this.operationId, step: name, state: 'skipped', detail });
  }

  async note(name: string, detail: string): Promise<void> {
    await acts.setOperationStep({ operationId: this.operationId, step: name, state: 'running', detail });
  }

  async compensated(name: string, detail: string): Promise<void> {
    if (name === this.failedStep) return;
    await acts.setOperationStep({ operationId: this.operationId, step: name, state: 'compensated', detail });
  }

  /**
   * Past the point of no return a step is never undone: it is repeated until it succeeds (a directory controller
   * that is down, a gateway restarting), each failure reported on the step in words. A failure that no retry can
   * fix (bad credentials, a duplicate SPN) ends the loop.
   */
  async retryForward<T>(name: string, run: () => Promise<T>): Promise<T> {
    for (let attempt = 1, wait = 2000; ; attempt++, wait = Math.min(wait * 2, 30_000)) {
      try {
        return await run();
      } catch (err) {
        if (isCancellation(err) || nonRetryableFailure(err)) throw err;
        await this.note(name, `attempt ${attempt} failed: ${reasonOf(err)}; retrying in ${wait / 1000}s`);
        await sleep(wait);
      }
    }
  }
}

/**
 * The redirect step of every operation that moves clients: the directory activity, retried forward (it comes after
 * the point of no return), or the reason clients are not redirected.
 */
export function redirectStep(run: OperationRun, input: OperationWorkflowInput): Promise<{ summary: string }> {
  const name = 'redirect clients';
  return run.step(
    name,
    () =>
      input.redirect
        ? run.retryForward(name, () => forward.redirectClients(redirectRequest(input.redirect!)))
        : Promise.resolve({ configured: false, summary: input.redirectNote ?? 'clients are not redirected' }),
    (r) => r.summary,
  );
}

/**
 * Waits for a second admin's approval (state awaiting_approval) and then for the start time (state scheduled), when
 * the request asked for them. Both waits end early if the operation is cancelled (CancelledFailure).
 */
export async function passGates(input: OperationWorkflowInput): Promise<{ approvedBy?: string }> {
  let approvedBy: string | undefined;
  setHandler(approveSignal, ({ by }) => {
    // The API checks the approver is another admin than the requester; the workflow checks it again.
    if (by !== input.requestedBy) approvedBy ??= by;
  });
  if (input.options.requireApproval) {
    await acts.setOperationGate({ operationId: input.operationId, state: 'awaiting_approval' });
    await condition(() => approvedBy !== undefined);
    await acts.setOperationGate({ operationId: input.operationId, state: 'pending', approvedBy });
  }
  if (input.options.startAt) {
    const wait = Date.parse(input.options.startAt) - Date.now();
    if (wait > 0) {
      await acts.setOperationGate({ operationId: input.operationId, state: 'scheduled' });
      await sleep(wait);
    }
  }
  return { approvedBy };
}

/** Records the operation's end; a cancelled workflow ends cancelled, anything else failed with the reason. */
export async function endFailed(operationId: string, err: unknown, extra = ''): Promise<never> {
  const cancelled = isCancellation(err);
  const reason = `${cancelled ? 'cancelled' : reasonOf(err)}${extra}`;
  await CancellationScope.nonCancellable(() =>
    acts.finishOperation({ operationId, state: cancelled ? 'cancelled' : 'failed', error: reason.slice(0, 2000) }),
  );
  if (cancelled) throw err;
  throw ApplicationFailure.nonRetryable(reason, 'OPERATION_FAILED');
}
