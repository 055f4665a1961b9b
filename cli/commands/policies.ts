// `policies list|show|create|update|delete|replicate`. A policy is created from flags or from a JSON or YAML file
// holding the API's request body (flags given beside a file override its fields); the API validates it and names
// any bad field. Create, update and delete start a workflow: --wait follows it to its end.
import { InvalidArgumentError, type Command } from 'commander';
import type { OperationStatus, PolicyAccepted, PolicyDetails, PolicySummary } from '../api-types';
import { seg } from '../client';
import { action, collect, intArg, type Context } from '../context';
import { readBodyFile } from '../files';
import { ago, duration, time, words } from '../format';
import { confirmByName } from '../prompt';
import { watchOperation } from '../watch';
import { finishOperation } from './operations';

/** --share src or src:target. */
function shareSpec(raw: string): { source: string; target?: string } {
  const m = /^([^:\s]+)(?::([^:\s]+))?$/.exec(raw);
  if (!m) throw new InvalidArgumentError(`--share takes <source>[:<target>], not '${raw}'`);
  return m[2] ? { source: m[1]!, target: m[2] } : { source: m[1]! };
}

interface PolicyFlags {
  file?: string;
  source?: string;
  destination?: string;
  rpoMinutes?: number;
  retention?: number;
  share?: string[];
  wait?: boolean;
}

function policyBody(f: PolicyFlags, name?: string): Record<string, unknown> {
  const body = f.file ? readBodyFile(f.file) : {};
  if (name) body.name = name;
  if (f.source) body.source = f.source;
  if (f.destination) body.destination = f.destination;
  if (f.rpoMinutes !== undefined) body.rpoMinutes = f.rpoMinutes;
  if (f.retention !== undefined) body.retentionCount = f.retention;
  if (f.share?.length) body.shares = f.share.map(shareSpec);
  return body;
}

function policyOptions(c: Command): Command {
  return c
    .option('-f, --file <path>', "the request body as JSON or YAML ('-': standard input)")
    .option('--rpo-minutes <n>', 'recovery point objective in minutes (1..10080)', intArg('--rpo-minutes', 1, 10080))
    .option('--retention <n>', 'complete snapshot sets kept per share (1..100)', intArg('--retention', 1, 100))
    .option('--share <source[:target]>', 'a protected share, optionally with its target name (repeatable)', collect)
    .option('--wait', 'follow the policy workflow to its end (exit 1 when it fails)');
}

async function accepted(ctx: Context, r: PolicyAccepted, what: string, wait: boolean | undefined): Promise<void> {
  if (wait) {
    ctx.out.info(`${what} policy '${r.policy}': operation ${r.operationId}`);
    const op: OperationStatus = await watchOperation(ctx.client(), r.operationId, ctx.out);
    finishOperation(ctx, op);
    return;
  }
  ctx.out.result(r, [r.policy], () => {
    ctx.out.line(`${what} policy '${r.policy}': operation ${r.operationId}`);
    ctx.out.line(`Follow it: fsdr operations show ${r.operationId} --watch`);
  });
}

export function registerPolicies(program: Command): void {
  const policies = program.command('policies').description('Replication policies: list, show, create, update, delete');

  policies
    .command('list')
    .description('Policies with their RPO compliance')
    .action(
      action(async (ctx) => {
        const r = await ctx.client().get<{ items: PolicySummary[] }>('/policies');
        ctx.out.result(
          r,
          r.items.map((p) => p.name),
          () =>
            ctx.out.table(
              r.items,
              [
                { header: 'NAME', value: (p) => p.name },
                { header: 'SOURCE -> DESTINATION', value: (p) => `${p.source} -> ${p.destination}` },
                { header: 'STATUS', value: (p) => p.status },
                { header: 'RPO', value: (p) => `${p.rpoMinutes} min` },
                { header: 'KEEP', value: (p) => p.retentionCount, align: 'right' },
                { header: 'SHARES', value: (p) => p.shares, align: 'right' },
                {
                  header: 'COMPLIANT/VIOLATED/UNKNOWN',
                  value: (p) => `${p.compliance.compliant}/${p.compliance.violated}/${p.compliance.unknown}`,
                },
                {
                  header: 'LAST RECOVERY POINT',
                  value: (p) => (p.lastReplicationAt ? ago(p.lastReplicationAt) : 'none'),
                },
              ],
              'No policies.',
            ),
        );
      }),
    );

  policies
    .command('show')
    .description('A policy: its shares, their recovery points and compliance, its current operation')
    .argument('<name>', 'policy name')
    .action(
      action(async (ctx, name: string) => {
        const p = await ctx.client().get<PolicyDetails>(`/policies/${seg(name)}`);
        ctx.out.result(p, [p.name], () => {
          const o = ctx.out;
          o.line(`Policy ${p.name} (version ${p.version})`);
          o.line(`  direction: ${p.source} -> ${p.destination}`);
          o.line(`  status:    ${p.status}${p.statusReason ? `: ${p.statusReason}` : ''}`);
          o.line(`  RPO:       ${p.rpoMinutes} min, ${p.retentionCount} complete snapshot sets kept per share`);
          o.line(
            `  shares:    ${p.compliance.compliant} compliant, ${p.compliance.violated} violated, ${p.compliance.unknown} unknown`,
          );
          if (p.currentOperation) {
            o.line(
              `  operation: ${words(p.currentOperation.kind)} ${p.currentOperation.id} (${words(p.currentOperation.state)})`,
            );
          }
          if (p.workflowUrl) o.line(`  Temporal:  ${p.workflowUrl}`);
          o.line('');
          o.table(
            p.shares,
            [
              { header: 'SHARE', value: (s) => s.source },
              { header: 'TARGET', value: (s) => s.target },
              { header: 'COMPLIANCE', value: (s) => s.compliance },
              {
                header: 'RECOVERY POINT',
                value: (s) =>
                  s.recoveryPoint
                    ? `${time(s.recoveryPoint.createdAt)} on ${s.recoveryPoint.fileServer} (${duration(s.recoveryPoint.ageSeconds)} old)`
                    : 'none yet',
              },
              {
                header: 'LAST JOB',
                value: (s) => (s.lastJob ? `${words(s.lastJob.state)} ${s.lastJob.percent}% ${s.lastJob.id}` : '-'),
              },
            ],
            'No shares.',
          );
        });
      }),
    );

  policyOptions(
    policies
      .command('create')
      .description(
        'Create a policy from flags or from a file (JSON/YAML: name, source, destination, rpoMinutes, retentionCount, shares)',
      )
      .argument('[name]', 'policy name (or "name" in the file)')
      .option('--source <file-server>', 'the file server whose shares are protected')
      .option('--destination <file-server>', 'the file server the shares replicate to'),
  ).action(
    action(async (ctx, name: string | undefined) => {
      const f = ctx.command.opts<PolicyFlags>();
      const body = policyBody(f, name);
      if (
        !f.file &&
        (!body.name || !body.source || !body.destination || body.rpoMinutes === undefined || !body.shares)
      ) {
        ctx.command.error(
          'error: give the policy as a file (-f policy.yaml) or as <name> --source --destination --rpo-minutes --share',
        );
      }
      const r = await ctx.client().post<PolicyAccepted>('/policies', body);
      await accepted(ctx, r, 'Creating', f.wait);
    }),
  );

  policyOptions(
    policies
      .command('update')
      .description('Change the RPO, the retention or the shares (--share lists them all) of a policy')
      .argument('<name>', 'policy name'),
  ).action(
    action(async (ctx, name: string) => {
      const f = ctx.command.opts<PolicyFlags>();
      const body = policyBody(f);
      delete body.name;
      if (!Object.keys(body).length) ctx.command.error('error: give --rpo-minutes, --retention, --share or -f <file>');
      const r = await ctx.client().patch<PolicyAccepted>(`/policies/${seg(name)}`, body);
      await accepted(ctx, r, 'Updating', f.wait);
    }),
  );

  policies
    .command('delete')
    .description("Delete a policy: its shares' replication stops (asks for its name; --yes skips)")
    .argument('<name>', 'policy name')
    .option('-y, --yes', 'confirm without the prompt (scripts)')
    .option('--wait', 'follow the delete workflow to its end')
    .action(
      action(async (ctx, name: string) => {
        const f = ctx.command.opts<{ yes?: boolean; wait?: boolean }>();
        await confirmByName({ expected: name, what: `deleting policy '${name}'`, yes: f.yes === true, out: ctx.out });
        const r = await ctx.client().delete<PolicyAccepted>(`/policies/${seg(name)}`);
        await accepted(ctx, r, 'Deleting', f.wait);
      }),
    );

  policies
    .command('replicate')
    .description('Replicate one share of a policy now (queued behind a running run)')
    .argument('<name>', 'policy name')
    .argument('<share>', 'source share name')
    .action(
      action(async (ctx, name: string, share: string) => {
        const r = await ctx
          .client()
          .post<{ policy: string; share: string; requestedAt: string; queuedBehind: string | null }>(
            `/policies/${seg(name)}/shares/${seg(share)}/replicate`,
          );
        ctx.out.result(r, [`${r.policy}/${r.share}`], () =>
          ctx.out.line(
            `Replication of '${r.share}' (policy '${r.policy}') requested${r.queuedBehind ? `, queued behind job ${r.queuedBehind}` : ''}: fsdr jobs list --policy ${r.policy} --share ${r.share}`,
          ),
        );
      }),
    );
}
