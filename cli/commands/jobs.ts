// `jobs list|show [--watch]` (replication runs) and `alerts list` (shares out of their RPO).
import { type Command } from 'commander';
import type { Alert, JobDetails, JobPage } from '../api-types';
import { seg } from '../client';
import { action, intArg, isoArg, uuidArg, type Context } from '../context';
import { CliError, EXIT } from '../exit-codes';
import { bytes, duration, rate, time, words } from '../format';
import { watchJob } from '../watch';

function showJob(ctx: Context, j: JobDetails): void {
  const o = ctx.out;
  o.line(`Job ${j.id}: ${j.share} ${j.source} -> ${j.destination}/${j.targetShare}`);
  o.line(`  state:        ${words(j.state)} ${j.percent}%${j.error ? `: ${j.error}` : ''}`);
  o.line(`  policy:       ${j.policy ?? '-'} (${words(j.kind)}, ${j.incremental ? 'incremental' : 'base copy'})`);
  o.line(`  bytes:        ${bytes(j.bytesSynced)} of ${bytes(j.bytesTotal)} at ${rate(j.averageThroughputBps)}`);
  o.line(
    `  ran:          ${time(j.startedAt)} -> ${j.endedAt ? time(j.endedAt) : '(running)'} (${duration(j.durationSeconds)})`,
  );
  if (j.snapshotSetId) o.line(`  snapshot set: ${j.snapshotSetId}`);
  if (j.rpoCompliant !== null) o.line(`  within RPO:   ${j.rpoCompliant ? 'yes' : 'no'}`);
  if (j.operationId) o.line(`  operation:    ${j.operationId}`);
  if (j.subJobs.length) {
    o.line('');
    o.table(j.subJobs, [
      { header: 'FSVMS', value: (s) => `${s.sourceNodeId} -> ${s.destNodeId}` },
      { header: 'PORTION', value: (s) => s.portion || '(root)' },
      { header: 'STATE', value: (s) => words(s.state) },
      { header: 'BYTES', value: (s) => `${bytes(s.bytesSynced)} / ${bytes(s.bytesTotal)}`, align: 'right' },
      { header: 'RATE', value: (s) => rate(s.throughputBps), align: 'right' },
      { header: 'ERROR', value: (s) => s.error },
    ]);
  }
}

export function registerJobs(program: Command): void {
  const jobs = program.command('jobs').description('Replication jobs: list, show, watch');

  jobs
    .command('list')
    .description('Replication jobs, newest first')
    .option('--status <states>', 'only these states, comma-separated: pending, running, succeeded, failed, cancelled')
    .option('--policy <name>', 'only jobs of this policy')
    .option('--share <name>', 'only jobs of this (source) share')
    .option('--source <file-server>', 'only jobs from this file server')
    .option('--destination <file-server>', 'only jobs to this file server')
    .option('--from <time>', 'started at or after (ISO 8601)', isoArg)
    .option('--to <time>', 'started before (ISO 8601)', isoArg)
    .option('--limit <n>', 'at most this many (1..200, default 50)', intArg('--limit', 1, 200))
    .option('--cursor <cursor>', 'the next page (printed under a full page)')
    .action(
      action(async (ctx) => {
        const q = ctx.command.opts<Record<string, string | number | undefined>>();
        const page = await ctx.client().get<JobPage>('/jobs', q);
        ctx.out.result(
          page,
          page.items.map((j) => j.id),
          () => {
            ctx.out.table(
              page.items,
              [
                { header: 'ID', value: (j) => j.id },
                { header: 'STARTED', value: (j) => time(j.startedAt) },
                { header: 'POLICY', value: (j) => j.policy },
                { header: 'SHARE', value: (j) => j.share },
                { header: 'SOURCE -> DESTINATION', value: (j) => `${j.source} -> ${j.destination}` },
                { header: 'KIND', value: (j) => words(j.kind) },
                { header: 'STATE', value: (j) => words(j.state) },
                { header: '%', value: (j) => j.percent, align: 'right' },
                { header: 'BYTES', value: (j) => bytes(j.bytesSynced), align: 'right' },
                {
                  header: 'TOOK',
                  value: (j) => (j.endedAt ? duration((Date.parse(j.endedAt) - Date.parse(j.startedAt)) / 1000) : '-'),
                },
              ],
              'No jobs.',
            );
            if (page.nextCursor) ctx.out.line(`More: --cursor ${page.nextCursor}`);
          },
        );
      }),
    );

  jobs
    .command('show')
    .description('A job: state, bytes, throughput, sub-jobs per FSVM pair; --watch follows it to its end')
    .argument('<id>', 'job id', uuidArg('the job id'))
    .option('-w, --watch', 'follow it with live progress until it ends (exit 1 when it fails or is cancelled)')
    .action(
      action(async (ctx, id: string) => {
        const { watch } = ctx.command.opts<{ watch?: boolean }>();
        const j = watch
          ? await watchJob(ctx.client(), id, ctx.out)
          : await ctx.client().get<JobDetails>(`/jobs/${seg(id)}`);
        ctx.out.result(j, [j.id], () => showJob(ctx, j));
        if (watch && j.state !== 'succeeded') {
          throw new CliError(`job ${j.id} ${j.state}${j.error ? `: ${j.error}` : ''}`, EXIT.failed);
        }
      }),
    );

  program
    .command('alerts')
    .description('Shares out of their RPO')
    .command('list')
    .description('Open RPO alerts, newest first (--all: cleared ones too)')
    .option('--all', 'include cleared alerts')
    .option('--limit <n>', 'at most this many (1..200)', intArg('--limit', 1, 200))
    .action(
      action(async (ctx) => {
        const o = ctx.command.opts<{ all?: boolean; limit?: number }>();
        const r = await ctx
          .client()
          .get<{ alerts: Alert[] }>('/alerts', { state: o.all ? 'all' : undefined, limit: o.limit });
        ctx.out.result(
          r,
          r.alerts.map((a) => a.id),
          () =>
            ctx.out.table(
              r.alerts,
              [
                { header: 'RAISED', value: (a) => time(a.raisedAt) },
                { header: 'POLICY', value: (a) => a.policy },
                { header: 'SHARE', value: (a) => a.share },
                { header: 'CLEARED', value: (a) => (a.clearedAt ? time(a.clearedAt) : 'open') },
                { header: 'MESSAGE', value: (a) => a.message },
              ],
              'No open alerts: every share is within its RPO.',
            ),
        );
      }),
    );
}
