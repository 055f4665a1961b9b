// `login`, `whoami` and `tokens list|create|revoke`. `login` checks the token against the API (GET /whoami) before
// it writes the profile file (mode 0600); the token is read from a file, standard input or a hidden prompt, and never
// printed. `tokens create` prints the new token once, since that is the only time it can be seen.
import { Option, type Command } from 'commander';
import type { Token } from '../api-types';
import { createClient, normalizeBaseUrl, seg } from '../client';
import { configPath, profileName, readProfiles, writeProfiles } from '../config';
import { action, UUID_RE, type Context } from '../context';
import { CliError, EXIT } from '../exit-codes';
import { readSecret } from '../files';
import { ago, time } from '../format';
import { readHidden } from '../prompt';

type Role = Token['role'];

export function registerTokens(program: Command): void {
  program
    .command('login')
    .description(`Check a token against the API and save both in the profile file (mode 0600; ${configPath()})`)
    .option('--token-file <path>', "read the token from this file ('-': standard input; default: asked for, hidden)")
    .action(
      action(async (ctx) => {
        const { tokenFile } = ctx.command.opts<{ tokenFile?: string }>();
        const g = ctx.globals;
        const rawUrl = g.url ?? process.env.FSDR_URL;
        if (!rawUrl) ctx.command.error('error: give the API URL: fsdr login --url http://127.0.0.1:8080');
        const url = normalizeBaseUrl(rawUrl!);
        const token = tokenFile
          ? readSecret(tokenFile, 'an API token')
          : (g.token ?? process.env.FSDR_TOKEN ?? (await readHidden('API token: ', ctx.out)));
        const me = await createClient({ url, token }, { trace: (l) => ctx.out.trace(l) }).get<{
          name: string;
          role: Role;
        }>('/whoami');
        const file = configPath();
        const profiles = readProfiles(file, (w) => ctx.out.warn(w));
        const name = profileName(g, profiles);
        profiles.profiles[name] = { url, token };
        profiles.current = name;
        writeProfiles(file, profiles);
        ctx.out.result({ profile: name, url, name: me.name, role: me.role, file }, [name], () =>
          ctx.out.line(`Signed in to ${url} as '${me.name}' (${me.role}); profile '${name}' saved in ${file}`),
        );
      }),
    );

  program
    .command('whoami')
    .description('The API and the token in use: its name and role')
    .action(
      action(async (ctx) => {
        const me = await ctx.client().get<{ name: string; role: Role }>('/whoami');
        ctx.out.result(me, [me.name], () => ctx.out.line(`'${me.name}' (${me.role}) at ${ctx.client().baseUrl}`));
      }),
    );

  const tokens = program.command('tokens').description('API tokens (admin): list, create, revoke');

  tokens
    .command('list')
    .description('Tokens, never their secrets')
    .action(
      action(async (ctx) => {
        const r = await ctx.client().get<{ items: Token[] }>('/tokens');
        ctx.out.result(
          r,
          r.items.map((t) => t.id),
          () =>
            ctx.out.table(r.items, [
              { header: 'ID', value: (t) => t.id },
              { header: 'NAME', value: (t) => t.name },
              { header: 'ROLE', value: (t) => t.role },
              { header: 'CREATED', value: (t) => time(t.createdAt) },
              { header: 'LAST USED', value: (t) => (t.lastUsedAt ? ago(t.lastUsedAt) : 'never') },
              { header: 'REVOKED', value: (t) => (t.revokedAt ? time(t.revokedAt) : '') },
            ]),
        );
      }),
    );

  tokens
    .command('create')
    .description('Create a token; it is printed once, now')
    .argument('<name>', 'token name (a person or a script)')
    .addOption(
      new Option('--role <role>', 'what it may do').choices(['viewer', 'operator', 'admin']).makeOptionMandatory(),
    )
    .action(
      action(async (ctx, name: string) => {
        const { role } = ctx.command.opts<{ role: Role }>();
        const t = await ctx.client().post<Token & { token: string }>('/tokens', { name, role });
        ctx.out.result(t, [t.token], () => {
          ctx.out.line(`Created token '${t.name}' (${t.role}), id ${t.id}. It is shown this once:`);
          ctx.out.line(t.token);
        });
      }),
    );

  tokens
    .command('revoke')
    .description('Revoke a token by its id or name (it is refused from now on)')
    .argument('<token>', 'token id or name')
    .action(
      action(async (ctx, ref: string) => {
        const id = UUID_RE.test(ref) ? ref : await tokenIdByName(ctx, ref);
        await ctx.client().delete(`/tokens/${seg(id)}`);
        ctx.out.result({ revoked: id }, [id], () =>
          ctx.out.line(`Revoked token ${ref === id ? id : `'${ref}' (${id})`}.`),
        );
      }),
    );
}

async function tokenIdByName(ctx: Context, name: string): Promise<string> {
  const r = await ctx.client().get<{ items: Token[] }>('/tokens');
  const t = r.items.find((x) => x.name === name);
  if (!t) throw new CliError(`no token named '${name}'`, EXIT.notFound);
  return t.id;
}
