// The DR operations (failover planned|unplanned, resume, failback, readiness) and `operations list|show|cancel|
// approve`. An operation command computes the dry-run plan first and shows it in words, asks for the file server's
// name (--yes for scripts; no terminal and no --yes refuses), starts the operation with an Idempotency-Key (generated,
// or --idempotency-key) so that a retried request never starts a second one, and follows it to its end.
import { randomUUID } from 'node:crypto';
import { Option, type Command } from 'commander';
import type { OperationAccepted, OperationPlan, OperationStatus, Operation, Page } from '../api-types';
import { ApiError, seg, Unreachable } from '../client';
import { action, collect, intArg, isoArg, uuidArg, type Context } from '../context';
import { CliError, EXIT } from '../exit-codes';
import { duration, elapsed, mark, time, words } from '../format';
import { OPERATION_LABELS, OPERATION_PURPOSE, operationPath, type OperationKind } from '../operations-meta';
import { planLines } from '../plan';
import { confirmByName } from '../prompt';
import { watchOperation } from '../watch';

interface CommonFlags {
  destination?: string;
  policy?: string[];
  share?: string[];
  requireApproval?: boolean;
  yes?: boolean;
  wait: boolean;
  idempotencyKey?: string;
}

interface SwitchoverFlags extends CommonFlags {
  cancelRunningJobs?: boolean;
  accessAfter?: 'read_only' | 'off';
  startAt?: string;
  maxLag?: number;
  startReverseReplication?: boolean;
}

interface UnplannedFlags extends CommonFlags {
  fenceMode?: 'read_only' | 'off';
  confirmDataLoss?: boolean;
}

interface ResumeFlags extends CommonFlags {
  primary?: 'source' | 'destination';
}

type Flags = SwitchoverFlags & UnplannedFlags & ResumeFlags;

/** The request body: only what was given (the API applies its defaults, and the idempotency check sees the same). */
function requestBody(kind: OperationKind, source: string, f: Flags): Record<string, unknown> {
  const b: Record<string, unknown> = { source };
  if (f.destination) b.destination = f.destination;
  if (f.policy?.length) b.policies = f.policy;
  if (f.share?.length) b.shares = f.share;
  if (f.requireApproval) b.requireApproval = true;
  if (kind === 'planned_failover' || kind === 'failback') {
    if (f.cancelRunningJobs) b.waitForRunningJobs = false;
    if (f.accessAfter) b.accessAfter = f.accessAfter;
    if (f.startAt) b.startAt = f.startAt;
    if (f.maxLag !== undefined) b.maxLagSeconds = f.maxLag;
  }
  if (kind === 'planned_failover' && f.startReverseReplication) b.startReverseReplication = true;
  if (kind === 'unplanned_failover') {
    // The API refuses an unplanned failover without it: the operator accepts it by confirming after reading the
    // data-loss window (or, in a script, with --confirm-data-loss beside --yes).
    b.confirmDataLoss = true;
    if (f.fenceMode) b.fenceMode = f.fenceMode;
  }
  if (kind === 'resume_replication' && f.primary) b.primary = f.primary;
  return b;
}

/** Network failures of the start request are retried with the same key: the API answers the first operation. */
async function startWithRetries(
  ctx: Context,
  kind: OperationKind,
  body: Record<string, unknown>,
  key: string,
): Promise<OperationAccepted> {
  const delays = [1000, 3000];
  for (let attempt = 0; ; attempt++) {
    try {
      return await ctx
        .client()
        .post<OperationAccepted>(operationPath(kind), body, { headers: { 'idempotency-key': key } });
    } catch (err) {
      if (!(err instanceof Unreachable) || attempt >= delays.length) {
        if (err instanceof Unreachable) {
          throw new CliError(
            `${err.message}\nThe operation may or may not have started: repeat the command with --idempotency-key ${key} (it starts nothing twice), or look with fsdr operations list`,
            err.exitCode,
          );
        }
        throw err;
      }
      ctx.out.warn(`fsdr: ${err.message}; retrying with the same Idempotency-Key`);
      await new Promise((r) => setTimeout(r, delays[attempt]));
    }
  }
}

async function runOperation(ctx: Context, kind: OperationKind, source: string, f: Flags): Promise<void> {
  const { out } = ctx;
  ctx.client(); // a missing URL or token is said before anything else
  if (kind === 'unplanned_failover' && f.yes && !f.confirmDataLoss) {
    throw new CliError(
      'an unplanned failover loses the changes made after the last complete snapshot sets: with --yes, also pass --confirm-data-loss',
      EXIT.usage,
    );
  }
  const body = requestBody(kind, source, f);
  const key = f.idempotencyKey ?? randomUUID();
  out.trace(`Idempotency-Key: ${key} (repeat the command with --idempotency-key ${key} to make a retry safe)`);

  if (kind !== 'dr_readiness') {
    out.info(OPERATION_PURPOSE[kind]);
    out.info('');
    const plan = await dryRun(ctx, kind, body);
    if (plan) for (const l of planLines(plan, kind)) out.info(l);
    out.info('');
    await confirmByName({
      expected: source,
      what: `the ${OPERATION_LABELS[kind].toLowerCase()} of '${source}'${kind === 'unplanned_failover' ? ', accepting the data loss above' : ''}`,
      yes: f.yes === true,
      out,
    });
  }
  const accepted = await startWithRetries(ctx, kind, body, key);
  if (!f.wait) {
    out.result(accepted, [accepted.operationId], () => {
      out.line(`Started ${OPERATION_LABELS[kind].toLowerCase()} ${accepted.operationId}`);
      if (accepted.workflowUrl) out.line(`Temporal: ${accepted.workflowUrl}`);
      out.line(`Follow it: fsdr operations show ${accepted.operationId} --watch`);
    });
    return;
  }
  out.info(`Started ${OPERATION_LABELS[kind].toLowerCase()} ${accepted.operationId}`);
  if (accepted.workflowUrl) out.info(`Temporal: ${accepted.workflowUrl}`);
  const final = await watchOperation(ctx.client(), accepted.operationId, out);
  finishOperation(ctx, final);
}

/** The plan, or null (said in words) when the API could not compute it but the operation may still be started. */
async function dryRun(ctx: Context, kind: OperationKind, body: Record<string, unknown>): Promise<OperationPlan | null> {
  try {
    return await ctx.client().post<OperationPlan>(operationPath(kind), body, { query: { dryRun: 'true' } });
  } catch (err) {
    // A refusal (bad input, unknown names, a state that forbids it) would refuse the operation too: stop here. A
    // plan that could not be computed (the worker, a site or the directory did not answer in time: what an
    // unplanned failover may face) is said, and the operator decides, as in the web UI.
    if (err instanceof ApiError && err.status >= 500) {
      ctx.out.info(`The plan could not be computed: ${err.message}`);
      ctx.out.info('You can still start the operation; its first step checks readiness again.');
      return null;
    }
    throw err;
  }
}

/**
 * A watched operation's end in the mode asked for (its steps were shown as they happened: a person gets one line);
 * failed or cancelled ends with exit code 1, its error and the failed step's detail.
 */
export function finishOperation(ctx: Context, op: OperationStatus): void {
  const { out } = ctx;
  const pair = op.destination ? `${op.source} -> ${op.destination}` : op.fileServers.join(', ');
  out.result(op, [op.id], () => {
    out.line(
      `${OPERATION_LABELS[op.kind]} ${op.id} (${pair}) ${op.state}${op.startedAt ? ` in ${duration(elapsed(op.startedAt, op.endedAt))}` : ''}`,
    );
    if (op.workflowUrl) out.line(`Temporal: ${op.workflowUrl}`);
  });
  if (op.state === 'succeeded') return;
  const failed = op.steps.find((s) => s.state === 'failed');
  const lines = [`${OPERATION_LABELS[op.kind]} ${op.id} ${op.state}${op.error ? `: ${op.error}` : ''}`];
  if (failed) lines.push(`  step '${failed.name}' failed${failed.detail ? `: ${failed.detail}` : ''}`);
  throw new CliError(lines.join('\n'), EXIT.failed);
}

export function showOperation(ctx: Context, op: Operation & { workflow?: { status: string } }): void {
  const { out } = ctx;
  const pair = op.destination ? `${op.source} -> ${op.destination}` : op.fileServers.join(', ');
  out.line(`${OPERATION_LABELS[op.kind]} ${op.id}`);
  const why = op.error && op.error !== op.state ? `: ${op.error}` : '';
  out.line(`  state:        ${words(op.state)}${why}`);
  out.line(`  file servers: ${pair}`);
  out.line(`  requested by: ${op.requestedBy ?? '-'} at ${time(op.createdAt)}`);
  if (op.requireApproval)
    out.line(
      `  approval:     ${op.approvedBy ? `by ${op.approvedBy} at ${time(op.approvedAt)}` : op.state === 'awaiting_approval' ? 'waiting for a second admin' : 'not given'}`,
    );
  if (op.startAt) out.line(`  starts at:    ${time(op.startAt)}`);
  out.line(
    op.startedAt
      ? `  ran:          ${time(op.startedAt)} -> ${op.endedAt ? time(op.endedAt) : '(running)'} (${duration(elapsed(op.startedAt, op.endedAt))})`
      : `  ran:          not started${op.endedAt ? ` (ended ${time(op.endedAt)})` : ''}`,
  );
  out.line(`  workflow:     ${op.workflowId}${op.workflow ? ` (${op.workflow.status})` : ''}`);
  if (op.workflowUrl) out.line(`  Temporal:     ${op.workflowUrl}`);
  out.line('Steps:');
  for (const s of op.steps) {
    const took = s.startedAt ? ` (${duration(elapsed(s.startedAt, s.endedAt))})` : '';
    out.line(`  ${mark(s.state).padEnd(9)} ${s.name}${took}${s.detail ? `: ${s.detail}` : ''}`);
  }
  if (op.jobs.length) {
    out.line('Final delta:');
    for (const j of op.jobs) out.line(`  ${j.share}: ${words(j.state)} ${j.percent}% (job ${j.id})`);
  }
}

function addCommon(c: Command): Command {
  return c
    .option('-d, --destination <file-server>', "the policies' configured destination (default: every destination)")
    .option('-p, --policy <name>', 'only this policy (repeatable)', collect)
    .option('-s, --share <name>', 'only this share, by its source name (repeatable)', collect)
    .option('--require-approval', 'wait until a second admin approves (fsdr operations approve <id>)')
    .option('-y, --yes', 'confirm without the prompt (scripts)')
    .option('--no-wait', 'print the operation id and return at once instead of following it')
    .option(
      '--idempotency-key <key>',
      'the key that makes a repeated command start nothing twice (default: generated)',
    );
}

function addSwitchover(c: Command): Command {
  return c
    .option('--cancel-running-jobs', 'cancel running replication runs instead of waiting for them')
    .addOption(new Option('--access-after <mode>', 'what the side clients leave becomes').choices(['read_only', 'off']))
    .option('--start-at <time>', 'start at this time (ISO 8601, e.g. 2026-12-24T22:00:00Z)', isoArg)
    .option(
      '--max-lag <seconds>',
      "refuse when a share's recovery point is older (default: twice its RPO)",
      intArg('--max-lag', 1, 30 * 86400),
    );
}

export function registerOperations(program: Command): void {
  const failover = program.command('failover').description('Move clients to the destination (planned or unplanned)');

  addSwitchover(
    addCommon(
      failover
        .command('planned')
        .description('Planned failover: final sync, then clients move to the destination; no data is lost')
        .argument('<source>', "the protected file server (the policies' source)"),
    ),
  )
    .option('--start-reverse-replication', 'replicate back from the destination at once (else: fsdr resume later)')
    .action(action((ctx, source: string) => runOperation(ctx, 'planned_failover', source, ctx.command.opts())));

  addCommon(
    failover
      .command('unplanned')
      .description('Unplanned failover: the destination comes up from its last complete snapshot sets')
      .argument('<source>', 'the protected (failed) file server'),
  )
    .addOption(
      new Option('--fence-mode <mode>', 'what the source shares become when it answers again').choices([
        'read_only',
        'off',
      ]),
    )
    .option(
      '--confirm-data-loss',
      'accept losing the changes after the last complete snapshot sets (needed with --yes)',
    )
    .action(action((ctx, source: string) => runOperation(ctx, 'unplanned_failover', source, ctx.command.opts())));

  addCommon(
    program
      .command('resume')
      .description("After a failover: keep one side's data and replicate to the other again")
      .argument('<source>', "the policies' configured source"),
  )
    .addOption(
      new Option('--primary <side>', "whose data wins: 'destination' (the failed-over copy) or 'source'")
        .choices(['source', 'destination'])
        .default(undefined, 'destination'),
    )
    .action(action((ctx, source: string) => runOperation(ctx, 'resume_replication', source, ctx.command.opts())));

  addSwitchover(
    addCommon(
      program
        .command('failback')
        .description('After a failover: final sync, then clients move back to the source; no data is lost')
        .argument('<source>', "the policies' configured source (where clients go back to)"),
    ),
  ).action(action((ctx, source: string) => runOperation(ctx, 'failback', source, ctx.command.opts())));

  addCommon(
    program
      .command('readiness')
      .description(
        'Check that the destination could take over now (runs the check as an operation; it changes nothing, so it asks no confirmation)',
      )
      .argument('<source>', "the policies' configured source"),
  ).action(action((ctx, source: string) => runOperation(ctx, 'dr_readiness', source, ctx.command.opts())));

  const ops = program
    .command('operations')
    .description('DR operations and policy changes: list, show, cancel, approve');

  ops
    .command('list')
    .description('Operations, newest first')
    .addOption(new Option('--kind <kind>', 'only this kind').choices(Object.keys(OPERATION_LABELS)))
    .option(
      '--state <state>',
      'only this state: pending, awaiting_approval, scheduled, running, succeeded, failed, cancelled',
    )
    .option('--file-server <name>', 'only operations acting on this file server')
    .option('--limit <n>', 'at most this many (1..200)', intArg('--limit', 1, 200))
    .option('--cursor <cursor>', 'the next page (printed under a full page)')
    .action(
      action(async (ctx) => {
        const o = ctx.command.opts<{
          kind?: string;
          state?: string;
          fileServer?: string;
          limit?: number;
          cursor?: string;
        }>();
        const page = await ctx.client().get<Page<Operation>>('/operations', {
          kind: o.kind,
          state: o.state,
          fileServer: o.fileServer,
          limit: o.limit,
          cursor: o.cursor,
        });
        ctx.out.result(
          page,
          page.items.map((i) => i.id),
          () => {
            ctx.out.table(
              page.items,
              [
                { header: 'ID', value: (x) => x.id },
                { header: 'KIND', value: (x) => words(x.kind) },
                { header: 'STATE', value: (x) => words(x.state) },
                {
                  header: 'FILE SERVERS',
                  value: (x) => (x.destination ? `${x.source} -> ${x.destination}` : x.fileServers.join(', ')),
                },
                { header: 'BY', value: (x) => x.requestedBy },
                { header: 'CREATED', value: (x) => time(x.createdAt) },
                { header: 'TOOK', value: (x) => (x.startedAt ? duration(elapsed(x.startedAt, x.endedAt)) : '-') },
              ],
              'No operations.',
            );
            if (page.nextCursor) ctx.out.line(`More: --cursor ${page.nextCursor}`);
          },
        );
      }),
    );

  ops
    .command('show')
    .description("An operation's steps, jobs and workflow; --watch follows it to its end")
    .argument('<id>', 'operation id', uuidArg('the operation id'))
    .option('-w, --watch', 'follow it with live progress until it ends (exit 1 when it fails or is cancelled)')
    .action(
      action(async (ctx, id: string) => {
        const { watch } = ctx.command.opts<{ watch?: boolean }>();
        if (watch) {
          finishOperation(ctx, await watchOperation(ctx.client(), id, ctx.out));
          return;
        }
        const op = await ctx.client().get<OperationStatus>(`/operations/${seg(id)}`);
        ctx.out.result(op, [op.id], () => showOperation(ctx, op));
      }),
    );

  ops
    .command('cancel')
    .description('Cancel a pending or running operation (it undoes what it did before its point of no return)')
    .argument('<id>', 'operation id', uuidArg('the operation id'))
    .option('-w, --watch', 'follow it until it has ended')
    .action(
      action(async (ctx, id: string) => {
        const op = await ctx.client().post<Operation>(`/operations/${seg(id)}/cancel`);
        if (ctx.command.opts<{ watch?: boolean }>().watch) {
          const final = await watchOperation(ctx.client(), id, ctx.out);
          ctx.out.result(final, [final.id], () => showOperation(ctx, final));
          return;
        }
        ctx.out.result(op, [op.id], () => {
          ctx.out.line(
            `Cancellation of ${OPERATION_LABELS[op.kind].toLowerCase()} ${op.id} requested (now ${words(op.state)}).`,
          );
          ctx.out.line(`Follow it: fsdr operations show ${op.id} --watch`);
        });
      }),
    );

  ops
    .command('approve')
    .description('Approve an operation waiting for approval (admin; not the one who requested it)')
    .argument('<id>', 'operation id', uuidArg('the operation id'))
    .action(
      action(async (ctx, id: string) => {
        const op = await ctx.client().post<Operation>(`/operations/${seg(id)}/approve`);
        ctx.out.result(op, [op.id], () =>
          ctx.out.line(`Approved ${OPERATION_LABELS[op.kind].toLowerCase()} ${op.id} (now ${words(op.state)}).`),
        );
      }),
    );
}
