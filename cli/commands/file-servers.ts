// `file-servers list|show|register|remove` and `shares list|show`. Registration takes its FSVM gateways as
// --fsvm [<node id>=]<url> with the gateways' token read from a file (never a flag: it would show in `ps`), or the
// whole request body from a JSON/YAML file.
import { InvalidArgumentError, type Command } from 'commander';
import type { FileServerDetails, FileServerOverview, ShareDetails, ShareList } from '../api-types';
import { seg } from '../client';
import { action, collect, type Context } from '../context';
import { readBodyFile, readSecret } from '../files';
import { ago, bytes, duration, time, words } from '../format';

function fsvmSpec(raw: string): { nodeId?: string; gatewayUrl: string } {
  const m = /^(?:([A-Za-z0-9][A-Za-z0-9_.-]*)=)?(https?:\/\/\S+)$/.exec(raw);
  if (!m)
    throw new InvalidArgumentError(`--fsvm takes [<node id>=]<gateway URL>, e.g. n1=https://fsvm1:7443, not '${raw}'`);
  return m[1] ? { nodeId: m[1], gatewayUrl: m[2]! } : { gatewayUrl: m[2]! };
}

function showDetails(ctx: Context, d: FileServerDetails): void {
  const o = ctx.out;
  o.line(`File server ${d.name} (site ${d.site})`);
  o.line(`  status:    ${d.status} (primary for ${d.roles.primaryShares} shares, replica of ${d.roles.replicaShares})`);
  if (d.fence) {
    o.line(
      `  fenced:    since ${time(d.fence.since)}${d.fence.reason ? `: ${d.fence.reason}` : ''} (${d.fence.mode ?? 'read_only'}; ${d.fence.enforcedAt ? `enforced ${time(d.fence.enforcedAt)}` : 'not yet enforced on every FSVM'})`,
    );
  }
  o.line(`  DNS name:  ${d.dnsName}${d.addresses.length ? ` (${d.addresses.join(', ')})` : ''}`);
  o.line(
    `  directory: ${d.directory ? `${d.directory.domain}, zone ${d.directory.dnsZone}, account ${d.directory.computerAccount}` : 'none: clients are not redirected'}`,
  );
  o.line('');
  o.table(d.fsvms, [
    { header: 'FSVM', value: (f) => f.nodeId },
    { header: 'GATEWAY', value: (f) => f.gatewayUrl },
    { header: 'HEALTH', value: (f) => f.health },
    { header: 'LAST SEEN', value: (f) => (f.lastSeenAt ? ago(f.lastSeenAt) : 'never') },
    { header: 'LAST ERROR', value: (f) => f.lastError },
  ]);
  if (d.policies.length) {
    o.line('');
    o.table(d.policies, [
      { header: 'POLICY', value: (p) => p.name },
      { header: 'ROLE', value: (p) => p.role },
      { header: 'PEER', value: (p) => p.peer },
      { header: 'STATUS', value: (p) => p.status },
    ]);
  }
  if (d.recentOperations.length) {
    o.line('');
    o.table(d.recentOperations, [
      { header: 'OPERATION', value: (x) => x.id },
      { header: 'KIND', value: (x) => words(x.kind) },
      { header: 'STATE', value: (x) => words(x.state) },
      { header: 'CREATED', value: (x) => time(x.createdAt) },
    ]);
  }
}

export function registerFileServers(program: Command): void {
  const fsCmd = program.command('file-servers').description('File servers and their FSVM gateways');

  fsCmd
    .command('list')
    .description('File servers, their protected pairs, running operations and the actions allowed now')
    .action(
      action(async (ctx) => {
        const r = await ctx.client().get<{ items: FileServerOverview[] }>('/file-servers');
        ctx.out.result(
          r,
          r.items.map((s) => s.name),
          () => {
            ctx.out.table(
              r.items,
              [
                { header: 'NAME', value: (s) => s.name },
                { header: 'SITE', value: (s) => s.site },
                { header: 'STATUS', value: (s) => s.status + (s.fence ? ' (fenced)' : '') },
                { header: 'FSVMS HEALTHY', value: (s) => `${s.fsvms.healthy}/${s.fsvms.total}` },
                { header: 'SHARES', value: (s) => s.shares, align: 'right' },
                { header: 'DNS NAME', value: (s) => s.dnsName },
              ],
              'No file servers registered.',
            );
            const pairs = new Map<string, FileServerOverview['protection'][number]>();
            for (const s of r.items)
              for (const p of s.protection) pairs.set(`${p.source.name}>${p.destination.name}`, p);
            if (!pairs.size) return;
            ctx.out.line('');
            ctx.out.line('Protected pairs:');
            for (const p of pairs.values()) {
              ctx.out.line(
                `  ${p.source.name} (${p.source.status}) -> ${p.destination.name} (${p.destination.status}): policies ${p.policies.map((x) => `${x.name} (${x.status})`).join(', ')}`,
              );
              if (p.runningOperation) {
                ctx.out.line(
                  `    running: ${words(p.runningOperation.kind)} ${p.runningOperation.id} (${words(p.runningOperation.state)})`,
                );
              }
              ctx.out.line(`    actions now: ${p.availableActions.map(words).join(', ') || 'none'}`);
            }
          },
        );
      }),
    );

  fsCmd
    .command('show')
    .description('A file server: status, FSVMs and their health, directory, policies, recent operations')
    .argument('<name>', 'file server name')
    .option('--refresh', "call every FSVM's health now")
    .action(
      action(async (ctx, name: string) => {
        const { refresh } = ctx.command.opts<{ refresh?: boolean }>();
        const d = await ctx
          .client()
          .get<FileServerDetails>(`/file-servers/${seg(name)}`, refresh ? { refresh: 'true' } : {});
        ctx.out.result(d, [d.name], () => showDetails(ctx, d));
      }),
    );

  fsCmd
    .command('register')
    .description("Register a file server with its FSVM gateways (each gateway's health is checked first)")
    .argument('[name]', 'file server name (or "name" in the file)')
    .option('-f, --file <path>', "the request body as JSON or YAML ('-': standard input)")
    .option('--site <site>', 'the site it stands at')
    .option('--dns-name <name>', 'its client-facing DNS name')
    .option('--address <ip>', 'a client-facing address (repeatable)', collect)
    .option('--fsvm <[node=]url>', 'an FSVM gateway, optionally with its expected node id (repeatable)', collect)
    .option('--gateway-token-file <path>', "the file holding the gateways' token ('-': standard input)")
    .action(
      action(async (ctx, name: string | undefined) => {
        const f = ctx.command.opts<{
          file?: string;
          site?: string;
          dnsName?: string;
          address?: string[];
          fsvm?: string[];
          gatewayTokenFile?: string;
        }>();
        const body = f.file ? readBodyFile(f.file) : {};
        if (name) body.name = name;
        if (f.site) body.site = f.site;
        if (f.dnsName) body.dnsName = f.dnsName;
        if (f.address?.length) body.addresses = f.address;
        if (f.fsvm?.length) {
          if (!f.gatewayTokenFile) ctx.command.error('error: --fsvm needs --gateway-token-file <path>');
          const token = readSecret(f.gatewayTokenFile!, "the gateways' token");
          body.fsvms = f.fsvm.map((x) => ({ ...fsvmSpec(x), token }));
        }
        if (!f.file && (!body.name || !body.site || !body.dnsName || !body.fsvms)) {
          ctx.command.error(
            'error: give the file server as a file (-f fs.yaml) or as <name> --site --dns-name --fsvm --gateway-token-file',
          );
        }
        const d = await ctx.client().post<FileServerDetails>('/file-servers', body);
        ctx.out.result(d, [d.name], () => {
          ctx.out.line(`Registered file server '${d.name}'.`);
          showDetails(ctx, d);
        });
      }),
    );

  fsCmd
    .command('remove')
    .description('Remove a file server (refused while a policy uses it or an operation runs on it)')
    .argument('<name>', 'file server name')
    .action(
      action(async (ctx, name: string) => {
        await ctx.client().delete(`/file-servers/${seg(name)}`);
        ctx.out.result({ removed: name }, [name], () => ctx.out.line(`Removed file server '${name}'.`));
      }),
    );

  const shares = program.command('shares').description("A file server's shares, as its gateways report them");

  shares
    .command('list')
    .description("A file server's shares and the policies protecting them")
    .argument('<file-server>', 'file server name')
    .option('--refresh', 'ask the gateways now instead of using the recent cache')
    .action(
      action(async (ctx, name: string) => {
        const { refresh } = ctx.command.opts<{ refresh?: boolean }>();
        const r = await ctx
          .client()
          .get<ShareList>(`/file-servers/${seg(name)}/shares`, refresh ? { refresh: 'true' } : {});
        ctx.out.result(
          r,
          r.shares.map((s) => s.name),
          () => {
            if (r.stale) {
              ctx.out.line(`Stale: the list of ${time(r.refreshedAt)} (a gateway did not answer):`);
              for (const e of r.errors) ctx.out.line(`  ${e.nodeId} ${e.gatewayUrl}: ${e.message}`);
            }
            ctx.out.table(
              r.shares,
              [
                { header: 'SHARE', value: (s) => s.name },
                { header: 'KIND', value: (s) => s.kind },
                { header: 'ACCESS', value: (s) => words(s.accessMode) },
                { header: 'SIZE', value: (s) => bytes(s.sizeBytes), align: 'right' },
                {
                  header: 'FSVMS',
                  value: (s) => [...new Set(Object.values(s.portions))].join(', '),
                },
                {
                  header: 'PROTECTED BY',
                  value: (s) =>
                    s.protectedBy.map((p) => `${p.policy} (${p.role} of ${p.peer}/${p.peerShare})`).join(', '),
                },
              ],
              `No shares on '${name}'.`,
            );
          },
        );
      }),
    );

  shares
    .command('show')
    .description('A share: its portions, the policies protecting it, its latest replication jobs')
    .argument('<file-server>', 'file server name')
    .argument('<share>', 'share name')
    .action(
      action(async (ctx, name: string, share: string) => {
        const s = await ctx.client().get<ShareDetails>(`/file-servers/${seg(name)}/shares/${seg(share)}`);
        ctx.out.result(s, [s.name], () => {
          const o = ctx.out;
          o.line(`Share ${s.fileServer}/${s.name} (${s.kind}, ${words(s.accessMode)}, ${bytes(s.sizeBytes)})`);
          for (const [portion, node] of Object.entries(s.portions)) o.line(`  ${portion || '(root)'} on ${node}`);
          for (const p of s.protectedBy) o.line(`  ${p.role} of policy ${p.policy}: ${p.peer}/${p.peerShare}`);
          o.line('');
          o.table(
            s.history,
            [
              { header: 'JOB', value: (j) => j.id },
              { header: 'STARTED', value: (j) => time(j.startedAt) },
              { header: 'KIND', value: (j) => words(j.kind) },
              { header: 'STATE', value: (j) => words(j.state) },
              { header: 'BYTES', value: (j) => bytes(j.bytesSynced), align: 'right' },
              {
                header: 'TOOK',
                value: (j) => (j.endedAt ? duration((Date.parse(j.endedAt) - Date.parse(j.startedAt)) / 1000) : '-'),
              },
            ],
            'No replication jobs yet.',
          );
        });
      }),
    );
}
