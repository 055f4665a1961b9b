// The gateway agent's own configuration (one agent per FSVM), read from the environment once at start-up. Every bad
// variable is named in one error so an operator fixes them all in one go; a secret's value is never echoed.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { NodeId, SnapshotDriverName } from '../domain/gateway-contract';
import { fsvmIdentityOf, isLoopbackHost, plainHttpRefusal, readTlsFiles, type TlsMaterial } from '../infra/tls';

export const RECEIVE_SPOOL_SETTINGS = ['on', 'off', 'auto'] as const;
export type ReceiveSpoolSetting = (typeof RECEIVE_SPOOL_SETTINGS)[number];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

const listen = z
  .string()
  .trim()
  .regex(/^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):\d{1,5}$/, 'must be host:port, e.g. 0.0.0.0:7500')
  .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'port must be 0..65535');

/** e.g. "1.5M", "200k", "1G" (bytes per second), "0" = unlimited */
const byteRate = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?[kKmMgG]?$/, 'must be bytes per second, e.g. 50M, 800k or 0 (unlimited)')
  .transform((s) => {
    const unit = s.slice(-1).toLowerCase();
    const mult = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
    return Math.round(parseFloat(s) * mult);
  });

const envSchema = z.object({
  GATEWAY_FILE_SERVER_ID: z.string().trim().min(1, 'required').max(128),
  GATEWAY_NODE_ID: NodeId,
  GATEWAY_LISTEN: listen.default('127.0.0.1:7500'),
  GATEWAY_DATA_ROOT: z.string().trim().min(1, 'required'),
  GATEWAY_DRIVER: SnapshotDriverName.default('portable'),
  GATEWAY_TOKEN: optionalString,
  GATEWAY_TOKEN_FILE: optionalString,
  /**
   * "nodeB=secret1,nodeC=secret2": the pair secret shared with each peer FSVM of the data plane. A node listed twice
   * is in a rotation: its first secret is the current one (sent), the second the previous one (still accepted, and
   * tried when the peer refuses the current one). The file is read again on SIGHUP.
   */
  GATEWAY_PEER_TOKENS: optionalString,
  GATEWAY_PEER_TOKENS_FILE: optionalString,
  /**
   * "nodeB=https://10.0.0.21:7500,nodeC=...": the peer FSVMs this agent may send to, by node id, with the address of
   * their agent. A transfer goes only there: the orchestrator names the node, never the address.
   */
  GATEWAY_PEERS: optionalString,
  /**
   * TLS of the control API and the data plane (all three, PEM files, read again on SIGHUP): this FSVM's certificate
   * (it names its file server and node: subjectAltName URI fsdr://<file server>/<node id>, and the agent's host name
   * or address; usable for server and client authentication), its key, and the CA bundle its peers' certificates
   * chain to. Unset: plain HTTP, on loopback only with NODE_ENV=production.
   */
  GATEWAY_TLS_CERT_FILE: optionalString,
  GATEWAY_TLS_KEY_FILE: optionalString,
  GATEWAY_TLS_CA_FILE: optionalString,
  /** smb.conf include file the agent owns (one section per share); unset: no Samba integration. */
  GATEWAY_SMB_CONF: optionalString,
  /** How to make smbd re-read its configuration: its pid file (SIGHUP); unset: `smbcontrol smbd reload-config`. */
  GATEWAY_SMBD_PID_FILE: optionalString,
  /**
   * The smb.conf smbd runs with (the one that includes GATEWAY_SMB_CONF), for smbstatus to read this smbd's state;
   * unset: the -s of smbd's command line (GATEWAY_SMBD_PID_FILE), else Samba's default.
   */
  GATEWAY_SMBD_CONF: optionalString,
  GATEWAY_BANDWIDTH_LIMIT: byteRate.default(0),
  GATEWAY_MAX_STREAMS: z.coerce.number().int().min(1).max(64).default(4),
  /**
   * Seconds a transfer may go without progress before its connection is dropped and the stream resumed from the
   * receiver's offset on a new one (a cut link: packets vanish, nothing tells the sender).
   */
  GATEWAY_STALL_TIMEOUT: z.coerce.number().int().min(1).max(3600).default(60),
  /**
   * Seconds a peer may stay unreachable (refused connections, a cut link) before the transfers to it fail; until then
   * they wait and resume from the receiver's offset. Bounded also by the snapshot's life (an expired one is pruned).
   */
  GATEWAY_PEER_OUTAGE_LIMIT: z.coerce.number().int().min(1).max(604_800).default(86_400),
  /**
   * btrfs/zfs receives: also spool the stream, so that a restarted agent resumes from it instead of 0 (costs a second
   * write of every byte and the stream's size in free space while it runs). `auto`: only where the receiving tool
   * cannot outlive the agent to be taken over by the restarted one (zfs; btrfs can).
   */
  GATEWAY_RECEIVE_SPOOL: z.enum(RECEIVE_SPOOL_SETTINGS).default('auto'),
  /** zfs driver: the dataset under which shares live, e.g. tank/fsdr */
  GATEWAY_ZFS_DATASET: optionalString,
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
});

export interface GatewayConfig {
  fileServerId: string;
  nodeId: string;
  listen: { host: string; port: number };
  dataRoot: string;
  driver: z.infer<typeof SnapshotDriverName>;
  token: string;
  /** peer node id -> its pair secrets: the current one first, then (during a rotation) the previous one */
  peerTokens: Map<string, string[]>;
  /** The pinned peers: node id -> base URL of its agent (the only places a transfer may go). */
  peerUrls: Map<string, string>;
  smb?: { includeFile: string; pidFile?: string; smbdConf?: string };
  bandwidthLimit: number;
  maxStreams: number;
  /** A transfer with no progress this long drops its connection and resumes on a new one (GATEWAY_STALL_TIMEOUT). */
  stallTimeoutMs: number;
  /** A peer unreachable this long fails the transfers to it; until then they wait (GATEWAY_PEER_OUTAGE_LIMIT). */
  peerOutageLimitMs: number;
  /** btrfs/zfs receives spool their stream (resume after a restart of the receiving agent; see the variable). */
  receiveSpool: ReceiveSpoolSetting;
  zfsDataset?: string;
  log: { level: (typeof LOG_LEVELS)[number]; format: 'json' | 'pretty' };
  /** TLS (control API, data plane, mutual between peers); unset: plain HTTP. Replaced on SIGHUP. */
  tls?: TlsMaterial;
}

export class GatewayConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid gateway configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'GatewayConfigError';
  }
}

function readSecretFile(file: string, variable: string, problems: string[]): string | undefined {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    if (!text) problems.push(`${variable}: file ${file} is empty`);
    return text || undefined;
  } catch (err) {
    problems.push(`${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

/** The `<node id>=<value>` entries of a list (comma- or line-separated): position, the entry, node, value. */
function nodeEntries(text: string): { n: number; item: string; node: string; value: string }[] {
  return text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((item, i) => {
      const eq = item.indexOf('=');
      return {
        n: i + 1,
        item,
        node: eq > 0 ? item.slice(0, eq).trim() : '',
        value: eq > 0 ? item.slice(eq + 1).trim() : '',
      };
    });
}

function parsePeerTokens(text: string, variable: string, problems: string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const { n, node, value: token } of nodeEntries(text)) {
    if (!NodeId.safeParse(node).success || token.length < 16) {
      problems.push(`${variable}: entry ${n} must be <node id>=<token of at least 16 characters>`);
      continue;
    }
    const known = map.get(node) ?? [];
    if (known.length >= 2) {
      problems.push(`${variable}: node ${node} is listed more than twice (current and previous secret at most)`);
      continue;
    }
    map.set(node, [...known, token]);
  }
  return map;
}

/** The address of a pinned peer as it is compared and used: origin only (scheme, host, port). */
export function peerOrigin(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    if (u.username || u.password || u.search || u.hash || (u.pathname !== '/' && u.pathname !== '')) return undefined;
    return u.origin;
  } catch {
    return undefined;
  }
}

function parsePeerUrls(text: string, problems: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const { n, item, node, value } of nodeEntries(text)) {
    const origin = peerOrigin(value);
    if (!NodeId.safeParse(node).success || !origin) {
      problems.push(
        `GATEWAY_PEERS: entry ${n} (${JSON.stringify(item)}) must be <node id>=<http(s)://host:port of its agent>`,
      );
      continue;
    }
    if (map.has(node)) problems.push(`GATEWAY_PEERS: node ${node} is listed twice`);
    map.set(node, origin);
  }
  return map;
}

/** Parses the environment; throws GatewayConfigError naming every bad variable. */
export function loadGatewayConfig(source: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const known = Object.keys(envSchema.shape);
  const picked = Object.fromEntries(known.filter((k) => source[k] !== undefined).map((k) => [k, source[k]]));
  const parsed = envSchema.safeParse(picked);
  if (!parsed.success) {
    throw new GatewayConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.GATEWAY_TOKEN && e.GATEWAY_TOKEN_FILE) problems.push('GATEWAY_TOKEN and GATEWAY_TOKEN_FILE: set only one');
  const token = e.GATEWAY_TOKEN_FILE
    ? readSecretFile(e.GATEWAY_TOKEN_FILE, 'GATEWAY_TOKEN_FILE', problems)
    : e.GATEWAY_TOKEN;
  if (!token && !e.GATEWAY_TOKEN_FILE) problems.push('GATEWAY_TOKEN or GATEWAY_TOKEN_FILE: required');
  else if (token && token.length < 16) problems.push('GATEWAY_TOKEN: must be at least 16 characters');
  if (e.GATEWAY_PEER_TOKENS && e.GATEWAY_PEER_TOKENS_FILE)
    problems.push('GATEWAY_PEER_TOKENS and GATEWAY_PEER_TOKENS_FILE: set only one');
  const peerText = e.GATEWAY_PEER_TOKENS_FILE
    ? readSecretFile(e.GATEWAY_PEER_TOKENS_FILE, 'GATEWAY_PEER_TOKENS_FILE', problems)
    : e.GATEWAY_PEER_TOKENS;
  const peerTokens = peerText
    ? parsePeerTokens(
        peerText,
        e.GATEWAY_PEER_TOKENS_FILE ? 'GATEWAY_PEER_TOKENS_FILE' : 'GATEWAY_PEER_TOKENS',
        problems,
      )
    : new Map<string, string[]>();
  const peerUrls = e.GATEWAY_PEERS ? parsePeerUrls(e.GATEWAY_PEERS, problems) : new Map<string, string>();
  for (const node of peerUrls.keys()) {
    if (!peerTokens.has(node)) problems.push(`GATEWAY_PEERS: node ${node} has no pair secret in GATEWAY_PEER_TOKENS`);
  }
  const colon = e.GATEWAY_LISTEN.lastIndexOf(':');
  const listenHost = e.GATEWAY_LISTEN.slice(0, colon).replace(/^\[|\]$/g, '');
  const production = source.NODE_ENV === 'production';
  const tlsVars = [e.GATEWAY_TLS_CERT_FILE, e.GATEWAY_TLS_KEY_FILE, e.GATEWAY_TLS_CA_FILE];
  let tlsMaterial: TlsMaterial | undefined;
  if (tlsVars.some(Boolean) && !tlsVars.every(Boolean)) {
    problems.push('GATEWAY_TLS_CERT_FILE, GATEWAY_TLS_KEY_FILE and GATEWAY_TLS_CA_FILE: set all three or none');
  } else if (tlsVars.every(Boolean)) {
    try {
      tlsMaterial = readTlsFiles({
        certFile: e.GATEWAY_TLS_CERT_FILE!,
        keyFile: e.GATEWAY_TLS_KEY_FILE!,
        caFile: e.GATEWAY_TLS_CA_FILE!,
      });
      const named = fsvmIdentityOf(new X509Certificate(tlsMaterial.cert));
      if (named?.fileServer !== e.GATEWAY_FILE_SERVER_ID || named.nodeId !== e.GATEWAY_NODE_ID) {
        problems.push(
          `GATEWAY_TLS_CERT_FILE: the certificate must name this FSVM (subjectAltName URI ` +
            `fsdr://${e.GATEWAY_FILE_SERVER_ID}/${e.GATEWAY_NODE_ID}); it names ` +
            (named ? `fsdr://${named.fileServer}/${named.nodeId}` : 'no FSVM'),
        );
      }
    } catch (err) {
      problems.push(`GATEWAY_TLS_*: ${err instanceof Error ? err.message : String(err)}`);
    }
  } else {
    const refusal = plainHttpRefusal('GATEWAY_LISTEN', listenHost, production);
    if (refusal) problems.push(`${refusal} (GATEWAY_TLS_CERT_FILE, GATEWAY_TLS_KEY_FILE, GATEWAY_TLS_CA_FILE)`);
  }
  for (const [node, url] of peerUrls) {
    const host = new URL(url).hostname;
    if (tlsVars.every(Boolean) && !url.startsWith('https:'))
      problems.push(`GATEWAY_PEERS: ${node} must be an https:// address (this agent runs the data plane on TLS)`);
    else if (production && url.startsWith('http:') && !isLoopbackHost(host))
      problems.push(`GATEWAY_PEERS: ${node}: plain HTTP to ${host} is refused with NODE_ENV=production`);
  }
  if (e.GATEWAY_SMBD_CONF && !e.GATEWAY_SMB_CONF)
    problems.push('GATEWAY_SMBD_CONF: only with GATEWAY_SMB_CONF (the Samba integration)');
  if (e.GATEWAY_DRIVER === 'zfs' && !e.GATEWAY_ZFS_DATASET)
    problems.push('GATEWAY_ZFS_DATASET: required when GATEWAY_DRIVER=zfs');
  if (!path.isAbsolute(e.GATEWAY_DATA_ROOT) && source.NODE_ENV === 'production')
    problems.push('GATEWAY_DATA_ROOT: must be an absolute path in production');
  if (problems.length) throw new GatewayConfigError(problems);

  return {
    fileServerId: e.GATEWAY_FILE_SERVER_ID,
    nodeId: e.GATEWAY_NODE_ID,
    listen: { host: listenHost, port: Number(e.GATEWAY_LISTEN.slice(colon + 1)) },
    dataRoot: path.resolve(e.GATEWAY_DATA_ROOT),
    driver: e.GATEWAY_DRIVER,
    token: token!,
    peerTokens,
    peerUrls,
    smb: e.GATEWAY_SMB_CONF
      ? {
          includeFile: path.resolve(e.GATEWAY_SMB_CONF),
          pidFile: e.GATEWAY_SMBD_PID_FILE,
          ...(e.GATEWAY_SMBD_CONF ? { smbdConf: path.resolve(e.GATEWAY_SMBD_CONF) } : {}),
        }
      : undefined,
    bandwidthLimit: e.GATEWAY_BANDWIDTH_LIMIT,
    maxStreams: e.GATEWAY_MAX_STREAMS,
    stallTimeoutMs: e.GATEWAY_STALL_TIMEOUT * 1000,
    peerOutageLimitMs: e.GATEWAY_PEER_OUTAGE_LIMIT * 1000,
    receiveSpool: e.GATEWAY_RECEIVE_SPOOL,
    zfsDataset: e.GATEWAY_ZFS_DATASET,
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json') },
    ...(tlsMaterial ? { tls: tlsMaterial } : {}),
  };
}
