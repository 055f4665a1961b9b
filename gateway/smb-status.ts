// Who has files open on a share, from `smbstatus --json` (Samba 4.16 and later) of the smbd that serves the agent's
// shares: a planned failover reports these clients before it makes the share read-only, since they are cut off.
//
// smbstatus reads smbd's state from the databases in the lock and state directories that smb.conf names, so it must
// read the smb.conf this smbd runs with (the one that includes GATEWAY_SMB_CONF), not the system's: GATEWAY_SMBD_CONF,
// else the `-s`/`--configfile` on the command line of the process in GATEWAY_SMBD_PID_FILE, else Samba's default
// (smbd started without -s). smbstatus exits 0 with empty lists when it cannot load the file it was given: its
// "Can't load" message is taken as the failure it is.
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { OpenFile } from '../domain/gateway-contract';
import { run } from './util';

const SMBSTATUS_TIMEOUT_MS = 15_000;

export interface SmbStatusOptions {
  /** smb.conf of the smbd (GATEWAY_SMBD_CONF) */
  smbdConf?: string;
  /** smbd's pid file (GATEWAY_SMBD_PID_FILE): its command line names the smb.conf when smbdConf is not set */
  pidFile?: string;
}

/** The smb.conf named by a command line's -s/--configfile (relative to `cwd`), if any. */
export function configFileOf(argv: string[], cwd: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    let file: string | undefined;
    if (a === '-s' || a === '--configfile') file = argv[i + 1];
    else if (a.startsWith('--configfile=')) file = a.slice('--configfile='.length);
    else if (a.startsWith('-s') && !a.startsWith('--')) file = a.slice(2);
    if (file) return path.resolve(cwd, file);
  }
  return undefined;
}

/** The smb.conf smbstatus must read (undefined: Samba's default). */
export async function smbdConfigFile(opts: SmbStatusOptions): Promise<string | undefined> {
  if (opts.smbdConf) return opts.smbdConf;
  if (!opts.pidFile) return undefined;
  try {
    const pid = Number((await fs.readFile(opts.pidFile, 'utf8')).trim());
    if (!Number.isInteger(pid) || pid <= 1) return undefined;
    const argv = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
    return configFileOf(argv, await fs.readlink(`/proc/${pid}/cwd`));
  } catch {
    // smbd not running (or not visible): its default configuration is the one it would start with
    return undefined;
  }
}

// The parts of smbstatus's JSON read here; everything else is ignored (its format grows between Samba versions).
const ServerId = z.object({ pid: z.string(), unique_id: z.string().optional() }).partial();
const SmbStatusJson = z.object({
  sessions: z
    .record(
      z.string(),
      z
        .object({
          session_id: z.string(),
          server_id: ServerId,
          username: z.string(),
          remote_machine: z.string(),
          hostname: z.string(),
        })
        .partial(),
    )
    .optional(),
  tcons: z
    .record(
      z.string(),
      z.object({ service: z.string(), session_id: z.string(), server_id: ServerId, machine: z.string() }).partial(),
    )
    .optional(),
  open_files: z
    .record(
      z.string(),
      z
        .object({
          service_path: z.string(),
          filename: z.string(),
          opens: z.record(
            z.string(),
            z.object({ server_id: ServerId, uid: z.number(), opened_at: z.string() }).partial(),
          ),
        })
        .partial(),
    )
    .optional(),
});
export type SmbStatusJson = z.infer<typeof SmbStatusJson>;

/** Runs smbstatus against this smbd's configuration and returns its parsed JSON. */
export async function readSmbStatus(opts: SmbStatusOptions): Promise<SmbStatusJson> {
  const conf = await smbdConfigFile(opts);
  const argv = ['smbstatus', ...(conf ? ['-s', conf] : []), '--json'];
  const { stdout, stderr } = await run(argv, { timeoutMs: SMBSTATUS_TIMEOUT_MS });
  if (/Can't load/i.test(stderr)) throw new Error(`${argv.join(' ')}: ${stderr.trim().split('\n')[0]}`);
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new Error(`${argv.join(' ')} did not print JSON (Samba 4.16 or later is needed): ${stdout.slice(0, 200)}`);
  }
  const parsed = SmbStatusJson.safeParse(json);
  if (!parsed.success) throw new Error(`${argv.join(' ')}: unexpected output (${parsed.error.issues[0]?.message})`);
  return parsed.data;
}

/** "ipv4:10.0.0.5:51234" / "ipv6:[fd00::5]:51234" (smbd's form of a client's socket address) -> the address. */
export function addressOf(hostname: string | undefined): string | undefined {
  const m = /^ipv[46]:(.+):\d+$/.exec(hostname ?? '');
  return m ? m[1]!.replace(/^\[(.*)\]$/, '$1') : undefined;
}

function isoOrNull(t: string | undefined): string | null {
  if (!t) return null;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

const serverKey = (s: z.infer<typeof ServerId> | undefined): string => `${s?.pid ?? ''}/${s?.unique_id ?? ''}`;

/**
 * The open files and sessions of one share in smbstatus's JSON. A share is recognised by its name in tree connects
 * (case-insensitive, as SMB compares share names) and by its path in open files (`paths`: the path smb.conf gives and
 * its real path, which smbd may report instead).
 */
export function shareOpenFiles(
  status: SmbStatusJson,
  share: { name: string; paths: string[] },
): { openFiles: OpenFile[]; sessions: number } {
  const name = share.name.toLowerCase();
  const paths = new Set(share.paths.map((p) => p.replace(/\/+$/, '')));
  const sessionsByServer = new Map<string, NonNullable<SmbStatusJson['sessions']>[string][]>();
  for (const s of Object.values(status.sessions ?? {})) {
    const k = serverKey(s.server_id);
    sessionsByServer.set(k, [...(sessionsByServer.get(k) ?? []), s]);
  }
  const onShare = new Set<string>();
  for (const t of Object.values(status.tcons ?? {})) {
    if (t.service?.toLowerCase() === name) onShare.add(t.session_id ?? serverKey(t.server_id));
  }
  const openFiles: OpenFile[] = [];
  for (const f of Object.values(status.open_files ?? {})) {
    if (!f.service_path || !paths.has(f.service_path.replace(/\/+$/, ''))) continue;
    const rel = (f.filename ?? '').replace(/^(\.\/)+/, '').replace(/^\.$/, '');
    for (const o of Object.values(f.opens ?? {})) {
      const candidates = sessionsByServer.get(serverKey(o.server_id)) ?? [];
      const session = candidates.find((s) => s.session_id && onShare.has(s.session_id)) ?? candidates[0];
      const address = addressOf(session?.hostname);
      openFiles.push({
        path: rel,
        client: address ?? session?.remote_machine ?? 'unknown',
        machine: session?.remote_machine ?? null,
        user: session?.username ?? (o.uid === undefined ? 'unknown' : `uid:${o.uid}`),
        since: isoOrNull(o.opened_at),
      });
    }
  }
  openFiles.sort((a, b) => a.path.localeCompare(b.path) || a.client.localeCompare(b.client));
  return { openFiles, sessions: onShare.size };
}
