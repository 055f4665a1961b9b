// The saga shared by the workflows that change things step by step (policies, shares): each step reports its state on
// the operation row, each change registers the compensation that undoes exactly it, and on failure the compensations
// run newest first, even when the workflow itself was cancelled.
import { CancellationScope, log, proxyActivities } from '@temporalio/workflow';
import type { OperationActivities } from '../activities/operations';

const acts = proxyActivities<OperationActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '20 seconds', maximumAttempts: 8 },
});

type Compensation = { step: string; undo: () => Promise<unknown> };

export class Saga {
  private readonly undo: Compensation[] = [];
  private failedStep?: string;
  constructor(private readonly operationId: string) {}

  add(step: string, undo: () => Promise<unknown>): void {
    this.undo.push({ step, undo });
  }

  async step<T>(name: string, run: () => Promise<T>): Promise<T> {
    await acts.setOperationStep({ operationId: this.operationId, step: name, state: 'running' });
    try {
      const result = await run();
      await acts.setOperationStep({ operationId: this.operationId, step: name, state: 'succeeded' });
      return result;
    } catch (err) {
      this.failedStep ??= name;
      await CancellationScope.nonCancellable(() =>
        acts.setOperationStep({ operationId: this.operationId, step: name, state: 'failed', detail: reasonOf(err) }),
      );
      throw err;
    }
  }

  /** Runs the compensations newest first; one that fails is logged and the others still run. */
  async compensate(): Promise<string[]> {
    const failed: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      for (const c of this.undo.reverse()) {
        try {
          await c.undo();
          // The failed step keeps its state (and reason); steps that had succeeded are reported undone.
          if (c.step !== this.failedStep) {
            await acts.setOperationStep({ operationId: this.operationId, step: c.step, state: 'compensated' });
          }
        } catch (err) {
          log.error('compensation failed', { step: c.step, error: reasonOf(err) });
          failed.push(`${c.step}: ${reasonOf(err)}`);
        }
      }
    });
    return failed;
  }
}

/**
 * Runs `fn` over the items, at most `width` at a time (a policy may cover hundreds of shares). Every call of a batch
 * settles before a failure propagates, so no step is still running when the compensations start.
 */
export async function inBatches<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) {
    const settled = await Promise.allSettled(items.slice(i, i + width).map(fn));
    const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    out.push(...settled.map((r) => (r as PromiseFulfilledResult<R>).value));
  }
  return out;
}

export function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // Activity failures wrap the real reason in `cause`.
  let e: Error = err;
  while (e.cause instanceof Error) e = e.cause;
  return e.message;
}
