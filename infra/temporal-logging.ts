// Routes the Temporal SDK's own log lines (worker state, failed activities and workflow tasks, and the native core's
// warnings, which it would otherwise print to the console in colour) into our pino logger, so every line a process
// writes has the same structured format. The SDK passes errors as Error objects in a line's metadata, which JSON
// renders as `{}`: they are described here (message, name, failure type, cause chain). Must run before any worker or
// native connection.
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { redactUrl, type Logger } from './logger';

/** Metadata keys under which the SDK passes errors. */
const ERROR_KEYS = ['error', 'err', 'failure'];
/** Metadata the lines do not carry: a task token completes an activity from outside, so it is not for logs. */
const DROPPED_KEYS = ['taskToken'];
const MAX_CAUSES = 5;

export interface ErrorDescription {
  name: string;
  message: string;
  /** ApplicationFailure: its type (our domain errors' codes, e.g. NOT_FOUND); a Node.js system error: its code. */
  type?: string;
  nonRetryable?: boolean;
  /** ActivityFailure: the activity that failed. */
  activityType?: string;
  cause?: ErrorDescription;
}

/**
 * What a log line says of an error. Works on errors from the workflow sandbox too, which come from another realm
 * (no `instanceof`), so it reads their fields. Passwords in URLs within messages are hidden; stacks are left out.
 */
export function describeError(err: unknown, depth = 0): ErrorDescription {
  if (typeof err !== 'object' || err === null) return { name: typeof err, message: redactUrl(String(err)) };
  const e = err as Record<string, unknown>;
  const out: ErrorDescription = {
    name: typeof e.name === 'string' ? e.name : (err.constructor?.name ?? 'Error'),
    message: typeof e.message === 'string' ? redactUrl(e.message) : '(no message)',
  };
  if (typeof e.type === 'string') out.type = e.type;
  else if (typeof e.code === 'string') out.type = e.code;
  if (typeof e.nonRetryable === 'boolean') out.nonRetryable = e.nonRetryable;
  if (typeof e.activityType === 'string') out.activityType = e.activityType;
  if (e.cause !== undefined && e.cause !== null && depth < MAX_CAUSES) out.cause = describeError(e.cause, depth + 1);
  return out;
}

/** The fields of an SDK log line's metadata as our logger writes them. */
export function sdkLogFields(meta: LogEntry['meta']): Record<string, unknown> {
  const out: Record<string, unknown> = { component: 'temporal-sdk' };
  for (const [key, value] of Object.entries(meta ?? {})) {
    if (DROPPED_KEYS.includes(key)) continue;
    if (!ERROR_KEYS.includes(key)) out[key] = value;
    // the core passes its failures as text (Rust's debug format of the failure)
    else out[key] = typeof value === 'string' ? redactUrl(value) : describeError(value);
  }
  return out;
}

/** Writes one SDK log entry to `logger` (the SDK's INFO lines, one per worker state change, go to debug). */
export function logSdkEntry(logger: Logger, entry: LogEntry): void {
  const level = entry.level === 'ERROR' ? 'error' : entry.level === 'WARN' ? 'warn' : 'debug';
  logger[level](sdkLogFields(entry.meta), entry.message);
}

export function installSdkLogging(logger: Logger, opts: { verbose: boolean; handleSignals: boolean }): void {
  const level = opts.verbose ? 'DEBUG' : 'WARN';
  Runtime.install({
    // npm start owns the shutdown order (API, worker, then servers), so the SDK must not react to signals itself.
    ...(opts.handleSignals ? {} : { shutdownSignals: [] }),
    logger: new DefaultLogger(level, (entry) => logSdkEntry(logger, entry)),
    // The native core's lines (e.g. "Failing workflow task") go through the same logger instead of the console.
    telemetryOptions: { logging: { filter: { core: level, other: 'ERROR' }, forward: {} } },
  });
}
