// The SDK's log entries as our logger writes them, driven with the error objects the SDK really passes: an
// activity's ApplicationFailure (domain error code as its type), an ActivityFailure with its cause, a workflow
// sandbox's error (another realm), a Node.js system error, and a message that quotes a database URL.
import vm from 'node:vm';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { NotFoundError } from '../domain/errors';
import { toFailure } from '../activities/failures';
import { createLogger } from './logger';
import { describeError, logSdkEntry } from './temporal-logging';

function capture() {
  const lines: Record<string, any>[] = [];
  const logger = createLogger({ log: { level: 'debug', format: 'json' } }, 'worker', {
    write: (s: string) => void lines.push(JSON.parse(s) as Record<string, any>),
  });
  return { logger, lines };
}

describe('SDK log lines', () => {
  it('carries a failed activity’s message, failure type, activity type and attempt, not its task token', () => {
    const { logger, lines } = capture();
    const failure = toFailure(new NotFoundError("policy 'gold' no longer exists"));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    logSdkEntry(logger, {
      level: 'WARN',
      message: 'Activity failed',
      timestampNanos: 0n,
      meta: {
        sdkComponent: 'worker',
        activityType: 'prepareReplication',
        activityId: '1',
        attempt: 3,
        isLocal: false,
        taskToken: 'Q2FwYWJpbGl0eQ==',
        workflowId: 'replicate/gold/eng-1',
        error: failure,
        durationMs: 12,
      },
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 40,
      msg: 'Activity failed',
      component: 'temporal-sdk',
      activityType: 'prepareReplication',
      attempt: 3,
      error: {
        name: 'ApplicationFailure',
        type: 'NOT_FOUND',
        nonRetryable: true,
        message: "policy 'gold' no longer exists",
      },
    });
    expect(lines[0]).not.toHaveProperty('taskToken');
  });

  it('follows an ActivityFailure to its cause', () => {
    const cause = ApplicationFailure.create({
      message: 'disk full on the receiving FSVM',
      type: 'GATEWAY_UNAVAILABLE',
    });
    const err = new ActivityFailure(
      'Activity task failed',
      'transferPortion',
      '7',
      RetryState.MAXIMUM_ATTEMPTS_REACHED,
      'worker@host',
      cause,
    );
    expect(describeError(err)).toEqual({
      name: 'ActivityFailure',
      message: 'Activity task failed',
      activityType: 'transferPortion',
      cause: {
        name: 'ApplicationFailure',
        type: 'GATEWAY_UNAVAILABLE',
        nonRetryable: false,
        message: 'disk full on the receiving FSVM',
      },
    });
  });

  it('describes errors from another realm (the workflow sandbox) and system errors, hiding URL passwords', () => {
    const sandboxed: unknown = vm.runInNewContext(
      `(() => { const e = new TypeError('x is not a function'); return e; })()`,
    );
    expect(sandboxed instanceof Error).toBe(false);
    expect(describeError(sandboxed)).toEqual({ name: 'TypeError', message: 'x is not a function' });

    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(describeError(refused)).toMatchObject({
      type: 'ECONNREFUSED',
      message: 'connect ECONNREFUSED 127.0.0.1:5432',
    });

    const { logger, lines } = capture();
    logSdkEntry(logger, {
      level: 'ERROR',
      message: 'Failed to process Workflow Activation',
      timestampNanos: 0n,
      meta: { error: new Error('cannot reach postgresql://fsdr:s3cret-pw@db:5432/fsdr'), workflowExists: true },
    });
    expect(lines[0]).toMatchObject({
      level: 50,
      error: { name: 'Error', message: 'cannot reach postgresql://fsdr:[redacted]@db:5432/fsdr' },
    });
    expect(JSON.stringify(lines)).not.toContain('s3cret-pw');
  });

  it('writes the core’s forwarded lines (their failure is text) and maps levels', () => {
    const { logger, lines } = capture();
    logSdkEntry(logger, {
      level: 'WARN',
      message: 'Failing workflow task',
      timestampNanos: 0n,
      meta: {
        sdkComponent: 'core',
        target: 'temporalio_sdk_core::worker::workflow',
        failure: 'Failure { message: "cannot reach postgresql://fsdr:s3cret-pw@db/fsdr" }',
      },
    });
    logSdkEntry(logger, { level: 'INFO', message: 'Worker state changed', timestampNanos: 0n, meta: {} });
    expect(lines.map((l) => [l.level as number, l.msg as string])).toEqual([
      [40, 'Failing workflow task'],
      [20, 'Worker state changed'],
    ]);
    expect(lines[0]).toMatchObject({
      sdkComponent: 'core',
      failure: 'Failure { message: "cannot reach postgresql://fsdr:[redacted]@db/fsdr" }',
    });
  });
});
