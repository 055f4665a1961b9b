// What every command's action gets: the global options, the output in the mode asked for, and the API client (made on
// first use, so `--help` and `login` need no connection). Small argument parsers shared by the commands live here too:
// they throw commander's InvalidArgumentError, which ends in exit code 2 with the usage line.
import { InvalidArgumentError, type Command } from 'commander';
import { ApiError, createClient, type ApiClient } from './client';
import { resolveConnection } from './config';
import { CliError, EXIT } from './exit-codes';
import { Output, type Mode } from './output';

export interface GlobalOptions {
  url?: string;
  token?: string;
  profile?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

export interface Context {
  out: Output;
  globals: GlobalOptions;
  /** The command's own options (without the global ones). */
  command: Command;
  client(): ApiClient;
}

export function contextOf(command: Command): Context {
  const globals = command.optsWithGlobals<GlobalOptions>();
  if (globals.json && globals.quiet) throw new CliError('--json and --quiet exclude each other', EXIT.usage);
  const mode: Mode = globals.json ? 'json' : globals.quiet ? 'quiet' : 'human';
  const out = new Output(mode, process, globals.verbose === true);
  let client: ApiClient | undefined;
  return {
    out,
    globals,
    command,
    client() {
      if (!client) {
        const c = resolveConnection(globals, process.env, (w) => out.warn(w));
        out.trace(`API ${c.url}, token from ${c.source}`);
        client = createClient(c, { trace: (l) => out.trace(l) });
      }
      return client;
    },
  };
}

/** An action with its context; the arguments commander passes come first, the command last. */
export function action<A extends unknown[]>(
  fn: (ctx: Context, ...args: A) => Promise<void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    try {
      await fn(contextOf(command), ...(args.slice(0, -2) as A));
    } catch (err) {
      if (err instanceof ApiError && err.problem.errors?.length) throw withFlags(err, command);
      throw err;
    }
  };
}

/** API field names whose flag is not their kebab-case form. */
const FLAG_OF_FIELD: Record<string, string> = {
  retentionCount: 'retention',
  maxLagSeconds: 'max-lag',
  waitForRunningJobs: 'cancel-running-jobs',
  policies: 'policy',
  shares: 'share',
  addresses: 'address',
  fsvms: 'fsvm',
};

/** A refusal naming body or query fields, with the flag that sets each one beside it. */
function withFlags(err: ApiError, command: Command): ApiError {
  const flags = new Set(command.options.map((o) => o.long));
  const errors = err.problem.errors!.map((e) => {
    const field = /^(?:body|query)\.([A-Za-z]+)/.exec(e.path)?.[1];
    const flag = field ? `--${FLAG_OF_FIELD[field] ?? field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : '';
    return flags.has(flag) ? { path: `${e.path} (${flag})`, message: e.message } : e;
  });
  return new ApiError(err.status, { ...err.problem, errors }, err.method, err.path);
}

export function intArg(name: string, min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}, not '${raw}'`);
    }
    return n;
  };
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function isoArg(raw: string): string {
  if (
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(raw) ||
    Number.isNaN(Date.parse(raw))
  ) {
    throw new InvalidArgumentError(`'${raw}' is not an ISO 8601 time with a zone, e.g. 2026-12-24T22:00:00Z`);
  }
  return raw;
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function uuidArg(what: string) {
  return (raw: string): string => {
    if (!UUID_RE.test(raw)) throw new InvalidArgumentError(`${what} must be an id like 0b6f...-...: '${raw}' is not`);
    return raw.toLowerCase();
  };
}
