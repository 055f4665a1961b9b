// Helpers of the gateway tests: agents in-process (supertest) or as real processes, trees to compare, loop-mounted
// btrfs images. In CI (CI=true) a missing component fails the test; elsewhere too: nothing here skips.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { TransferStatus } from '../../domain/gateway-contract';
import { GatewayClient } from '../../gateway/client';
import type { GatewayConfig } from '../../gateway/config';
import { GATEWAY_NODE_FLAGS } from '../../gateway/node-flags';
import { freePort } from '../helpers/ports';

export const REPO = path.resolve(__dirname, '../..');
export const TOKEN = 'control-token-0123456789';
export const quietLog = pino({ level: 'silent' });

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `gw-${prefix}-`));
}

export function testConfig(dataRoot: string, over: Partial<GatewayConfig> = {}): GatewayConfig {
  return {
    fileServerId: 'fs-test',
    nodeId: 'node-a',
    listen: { host: '127.0.0.1', port: 0 },
    dataRoot,
    driver: 'portable',
    token: TOKEN,
    peerTokens: new Map([['node-b', ['pair-token-abcdefghijkl']]]),
    peerUrls: new Map([['node-b', 'http://127.0.0.1:9']]),
    bandwidthLimit: 0,
    maxStreams: 4,
    stallTimeoutMs: 60_000,
    peerOutageLimitMs: 86_400_000,
    receiveSpool: 'auto',
    log: { level: 'silent', format: 'json' },
    ...over,
  };
}

export interface Agent {
  nodeId: string;
  url: string;
  port: number;
  dataRoot: string;
  client: GatewayClient;
  proc: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
  kill9(): Promise<void>;
  restart(): Promise<void>;
}

export interface AgentOptions {
  nodeId: string;
  dataRoot: string;
  driver?: 'portable' | 'btrfs';
  /** Pair secrets by peer node id (a list: current, then previous during a rotation). */
  peers: Record<string, string | string[]>;
  /** The peers this agent may send to (GATEWAY_PEERS): node id -> base URL of its agent. */
  peerUrls?: Record<string, string>;
  env?: Record<string, string>;
  port?: number;
  /** Extra node flags for the agent process (e.g. `--cpu-prof` from the benchmark). */
  nodeArgs?: string[];
  /** TLS files of the agent (GATEWAY_TLS_*): it then listens on https, and its client verifies it against the CA. */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /** A compiled agent (JavaScript) to run instead of `gateway/main.ts` through tsx (the benchmark's, as deployed). */
  entry?: string;
  /** The address the agent listens on (default 127.0.0.1), e.g. its site's in a sites network. */
  host?: string;
  /** A network namespace to run the agent in (`ip netns exec`; the process is the agent itself, as without). */
  netns?: string;
}

/** The base URL of an agent started on `port` by startAgent (what a peer pins in GATEWAY_PEERS). */
export function agentUrl(port: number, tls = false, host = '127.0.0.1'): string {
  return `${tls ? 'https' : 'http'}://${host}:${port}`;
}

/** Starts `gateway/main.ts` as its own node process (no tsx wrapper process: kill -9 hits the agent itself). */
export async function startAgent(o: AgentOptions): Promise<Agent> {
  const port = o.port ?? (await freePort());
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GATEWAY_FILE_SERVER_ID: 'fs-test',
    GATEWAY_NODE_ID: o.nodeId,
    GATEWAY_LISTEN: `${o.host ?? '127.0.0.1'}:${port}`,
    GATEWAY_DATA_ROOT: o.dataRoot,
    GATEWAY_DRIVER: o.driver ?? 'portable',
    GATEWAY_TOKEN: TOKEN,
    GATEWAY_PEER_TOKENS: Object.entries(o.peers)
      .flatMap(([k, v]) => [v].flat().map((t) => `${k}=${t}`))
      .join(','),
    GATEWAY_PEERS: Object.entries(o.peerUrls ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    ...(o.tls
      ? {
          GATEWAY_TLS_CERT_FILE: o.tls.certFile,
          GATEWAY_TLS_KEY_FILE: o.tls.keyFile,
          GATEWAY_TLS_CA_FILE: o.tls.caFile,
        }
      : {}),
    ...o.env,
  };
  if (o.env?.GATEWAY_PEER_TOKENS_FILE) delete env.GATEWAY_PEER_TOKENS;
  let out = '';
  const entry = o.entry ? [o.entry] : ['--import', 'tsx', 'gateway/main.ts'];
  const argv = [process.execPath, ...GATEWAY_NODE_FLAGS, ...(o.nodeArgs ?? []), ...entry];
  // `ip netns exec` execs the command after entering the namespace: the child's pid is the agent's all the same
  const [file, ...args] = o.netns ? ['ip', 'netns', 'exec', o.netns, ...argv] : argv;
  const proc = spawn(file!, args, {
    cwd: REPO,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const url = agentUrl(port, o.tls !== undefined, o.host);
  const client = new GatewayClient(
    { url, token: TOKEN, ...(o.tls ? { ca: fs.readFileSync(o.tls.caFile) } : {}) },
    { timeoutMs: 30_000 },
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`agent ${o.nodeId} exited: ${out}`);
    try {
      await client.health({ timeoutMs: 1000 });
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`agent ${o.nodeId} did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  const exited = (): Promise<void> =>
    proc.exitCode !== null || proc.signalCode !== null
      ? Promise.resolve()
      : new Promise((r) => proc.once('exit', () => r()));
  const agent: Agent = {
    nodeId: o.nodeId,
    url,
    port,
    dataRoot: o.dataRoot,
    client,
    proc,
    output: () => out,
    async stop() {
      proc.kill('SIGTERM');
      await exited();
    },
    async kill9() {
      proc.kill('SIGKILL');
      await exited();
    },
    async restart() {
      const next = await startAgent({ ...o, port });
      agent.proc = next.proc;
      agent.output = () => next.output();
      agent.stop = () => next.stop();
      agent.kill9 = () => next.kill9();
    },
  };
  return agent;
}

/** A fingerprint of a tree: path, type, mode, mtime (ms), size, sha256 / link target of every entry. */
export function treeDigest(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    const abs = rel ? path.join(root, rel) : root;
    // bigint: a float mtimeMs rounds x.9999995 ms up to the next millisecond, the manifest's microseconds do not
    const st = fs.lstatSync(abs, { bigint: true });
    const mode = (st.mode & 0o7777n).toString(8);
    if (st.isSymbolicLink()) out[rel] = `l ${fs.readlinkSync(abs)}`;
    else if (st.isDirectory()) {
      out[rel] = `d ${mode}`;
      for (const n of fs.readdirSync(abs).sort()) walk(rel ? `${rel}/${n}` : n);
    } else {
      const h = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
      out[rel] = `f ${mode} ${st.mtimeNs / 1000000n} ${st.size} ${h}`;
    }
  };
  walk('');
  return out;
}

/**
 * treeDigest of a snapshot as it was taken or received: its data/ tree (btrfs), or for the portable driver its
 * manifest with every file read from the content store (so a missing or altered object shows).
 */
export function snapshotDigest(dataRoot: string, share: string, portion: string, id: string): Record<string, string> {
  const dir = path.join(dataRoot, 'snapshots', share, portion || '_root');
  if (fs.existsSync(path.join(dir, id, 'data'))) return treeDigest(path.join(dir, id, 'data'));
  const out: Record<string, string> = {};
  const lines = fs
    .readFileSync(path.join(dir, id, 'manifest.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean);
  for (const line of lines) {
    const e = JSON.parse(line) as { p: string; t: string; m: number; mt: number; s: number; h?: string; l?: string };
    if (e.t === 'd') out[e.p] = `d ${e.m.toString(8)}`;
    else if (e.t === 'l') out[e.p] = `l ${e.l}`;
    else {
      const content = fs.readFileSync(path.join(dir, '.objects', e.h!.slice(0, 2), e.h!));
      const h = createHash('sha256').update(content).digest('hex');
      out[e.p] = `f ${e.m.toString(8)} ${Math.floor(e.mt / 1000)} ${content.length} ${h}`;
    }
  }
  return out;
}

export function writeFiles(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
}

export function randomBytesDeterministic(n: number, seed: number): Buffer {
  const buf = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf.writeUInt32LE(x >>> 0, Math.min(i, n - 4));
  }
  return buf;
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A transfer on its sender once it has ended (succeeded, failed or cancelled). */
export function transferEnded(a: Agent, id: string, timeoutMs = 50_000, intervalMs = 100): Promise<TransferStatus> {
  return waitFor(
    async () => {
      const t = await a.client.getTransfer(id);
      return ['succeeded', 'failed', 'cancelled'].includes(t.state) ? t : undefined;
    },
    `transfer ${id}`,
    timeoutMs,
    intervalMs,
  );
}

/** Runs a test's cleanups, the last registered first; one that fails is reported and the others still run. */
export async function runCleanups(cleanups: (() => Promise<void> | void)[]): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch (err) {
      console.error('cleanup failed', err);
    }
  }
}

/** A btrfs filesystem on a loop-mounted image file. Needs root and btrfs-progs: missing ones fail the test. */
export function mountBtrfs(sizeMiB = 200): { mount: string; cleanup: () => void } {
  const dir = tmpDir('btrfs');
  const img = path.join(dir, 'image');
  const mount = path.join(dir, 'mnt');
  fs.mkdirSync(mount);
  fs.writeFileSync(img, '');
  fs.truncateSync(img, sizeMiB * 1024 * 1024);
  execFileSync('mkfs.btrfs', ['-q', img], { stdio: 'pipe' });
  execFileSync('mount', ['-o', 'loop', img, mount], { stdio: 'pipe' });
  return {
    mount,
    cleanup: () => {
      try {
        execFileSync('umount', [mount], { stdio: 'pipe' });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * A proxy in front of an agent that flips one bit of the first data request's body at byte `at` (a corruption in
 * flight that TCP did not catch). `flipped()` says whether it happened. Like an HTTP proxy without upgrade support it
 * does not forward the hop-by-hop `connection`/`upgrade` headers, so a sender streams its data request chunked.
 */
export async function flippingProxy(
  targetPort: number,
  at = 1_000_000,
  port?: number,
): Promise<{ url: string; flipped: () => boolean; close: () => Promise<void> }> {
  port ??= await freePort();
  let flipped = false;
  const proxy = http.createServer((req, res) => {
    const { connection: _c, upgrade: _u, ...headers } = req.headers;
    const up = http.request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    let seen = 0;
    req.on('data', (chunk: Buffer) => {
      if (req.url?.includes('/data') && !flipped && seen + chunk.length > at) {
        chunk[at - seen]! ^= 0x01;
        flipped = true;
      }
      seen += chunk.length;
      up.write(chunk);
    });
    req.on('end', () => up.end());
  });
  await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    flipped: () => flipped,
    close: () => new Promise<void>((r) => proxy.close(() => r())),
  };
}

/**
 * A TCP proxy to `targetPort` (upgrades pass through) that holds back the first connection once `after` bytes went
 * from the client to the target: `stalled()` says when, `cut()` then closes both of its sides. Later connections
 * pass untouched.
 */
export async function stallingProxy(
  targetPort: number,
  after: number,
  port?: number,
): Promise<{ url: string; stalled: () => boolean; cut: () => void; close: () => Promise<void> }> {
  port ??= await freePort();
  let held: { client: net.Socket; target: net.Socket } | undefined;
  let used = false;
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const target = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, target]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    target.on('close', () => client.destroy());
    client.on('close', () => target.destroy());
    target.pipe(client);
    const watch = !used;
    let seen = 0;
    client.on('data', (chunk: Buffer) => {
      if (watch && !used && seen + chunk.length > after) {
        used = true;
        held = { client, target };
        target.write(chunk.subarray(0, after - seen));
        client.pause();
        return;
      }
      seen += chunk.length;
      if (held?.client !== client) target.write(chunk);
    });
  });
  await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    stalled: () => held !== undefined,
    cut: () => {
      held?.client.destroy();
      held?.target.destroy();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => r());
      }),
  };
}
