// Maps domain errors to Temporal failures once: what a retry cannot fix (bad input, missing objects, conflicts) is
// non-retryable with a stable type; what may pass (a gateway down, a timeout) is left to the retry policy.
import { ApplicationFailure } from '@temporalio/common';
import { DirectoryError, DomainError } from '../domain/errors';

// Directory errors carry their reason in the type (DIRECTORY_UNREACHABLE, DIRECTORY_DUPLICATE_SPN, ...: the closed set
// in domain/errors.ts), so a workflow can tell "retry later" from "an operator must fix the directory".
export function toFailure(err: unknown): unknown {
  if (!(err instanceof DomainError)) return err;
  const type = err instanceof DirectoryError ? err.failureType : err.code;
  return ApplicationFailure.create({ message: err.message, type, nonRetryable: !err.retryable });
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
