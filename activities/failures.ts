// Maps domain errors to Temporal failures once: what a retry cannot fix (bad input, missing objects, conflicts) is
// non-retryable with a stable type; what may pass (a gateway down, a timeout) is left to the retry policy.
import { ApplicationFailure } from '@temporalio/common';
import { DomainError } from '../domain/errors';

export function toFailure(err: unknown): unknown {
  if (err instanceof DomainError && !err.retryable) {
    return ApplicationFailure.create({ message: err.message, type: err.code, nonRetryable: true });
  }
  if (err instanceof DomainError) return ApplicationFailure.create({ message: err.message, type: err.code });
  return err;
}

/** Wraps every function of an activity object so domain errors leave it as Temporal failures. */
export function withFailureMapping<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    out[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toFailure(err);
      }
    };
  }
  return out as T;
}
