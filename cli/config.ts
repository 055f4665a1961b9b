// Where the CLI finds the API and its token, first match wins: --url / --token, FSDR_URL / FSDR_TOKEN, then the
// profile file (FSDR_CONFIG, else $XDG_CONFIG_HOME/fsdr/config.json, else ~/.config/fsdr/config.json) that
// `fsdr login` writes with mode 0600. Profiles are named (--profile, FSDR_PROFILE, else the file's current one), so an
// operator can keep the API of each site. The token is never printed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { normalizeBaseUrl, type Connection } from './client';
import { CliError, EXIT } from './exit-codes';

export interface Profile {
  url: string;
  token: string;
}

export interface ProfileFile {
  current?: string;
  profiles: Record<string, Profile>;
}

export interface ConnectionFlags {
  url?: string;
  token?: string;
  profile?: string;
}

export const DEFAULT_PROFILE = 'default';

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FSDR_CONFIG) return path.resolve(env.FSDR_CONFIG);
  const base = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : path.join(env.HOME ?? os.homedir(), '.config');
  return path.join(base, 'fsdr', 'config.json');
}

/** The profile file, or an empty one when there is none; a broken file is an error that names it. */
export function readProfiles(file: string, warn: (line: string) => void = () => undefined): ProfileFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.usage);
  }
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o077) {
    warn(`warning: ${file} holds API tokens and is readable by others (mode ${mode.toString(8)}): chmod 600 it`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file} is not valid JSON (${(err as Error).message}); run fsdr login again`, EXIT.usage);
  }
  const p = parsed as Partial<ProfileFile> | null;
  if (!p || typeof p !== 'object' || typeof p.profiles !== 'object' || p.profiles === null) {
    throw new CliError(`${file} has no "profiles" object; run fsdr login again`, EXIT.usage);
  }
  return { ...(typeof p.current === 'string' ? { current: p.current } : {}), profiles: p.profiles };
}

/** Writes the profile file readable by its owner only (a new file is created 0600; an old one is set to 0600). */
export function writeProfiles(file: string, content: ProfileFile): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600); // the umask cannot widen it, but an existing tmp file keeps its mode
  fs.renameSync(tmp, file);
}

export function profileName(flags: ConnectionFlags, file: ProfileFile, env: NodeJS.ProcessEnv = process.env): string {
  return flags.profile ?? env.FSDR_PROFILE ?? file.current ?? DEFAULT_PROFILE;
}

/** The connection a command uses; a missing URL is a usage error, a missing token an authentication error. */
export function resolveConnection(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
  warn?: (line: string) => void,
): Connection & { source: string } {
  const needFile = !(flags.url ?? env.FSDR_URL) || !(flags.token ?? env.FSDR_TOKEN);
  const file = configPath(env);
  const profiles = needFile ? readProfiles(file, warn) : { profiles: {} };
  const name = profileName(flags, profiles, env);
  const profile = profiles.profiles[name];
  if ((flags.profile ?? env.FSDR_PROFILE) && needFile && !profile) {
    throw new CliError(`no profile '${name}' in ${file}: run fsdr login --profile ${name}`, EXIT.usage);
  }
  const url = flags.url ?? env.FSDR_URL ?? profile?.url;
  if (!url) {
    throw new CliError(
      `no API URL: pass --url, set FSDR_URL, or run fsdr login --url <url> (profile file ${file})`,
      EXIT.usage,
    );
  }
  const token = flags.token ?? env.FSDR_TOKEN ?? profile?.token;
  if (!token) {
    throw new CliError(
      `no API token: pass --token, set FSDR_TOKEN, or run fsdr login (profile file ${file})`,
      EXIT.auth,
    );
  }
  const source = flags.token ? '--token' : env.FSDR_TOKEN ? 'FSDR_TOKEN' : `profile '${name}' of ${file}`;
  return { url: normalizeBaseUrl(url), token: token.trim(), source };
}
