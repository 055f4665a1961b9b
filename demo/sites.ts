// The demo's FSVMs: two file servers (site-a, site-b) of two FSVM gateway agents each, run on this machine by
// scripts/gateway-sites.sh (the documented way to run real gateways), with their data under DATA_DIR/demo/. Ports are
// chosen once (free ones) and kept in sites.conf, so a restart reuses the same gateway URLs; one found taken at a
// restart is replaced and the file server re-registered. Each FSVM's smbd listens on its file server's client-facing
// address when the demo has one of its own (demo/directory.ts), else on the loopback interface.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { installationRoot } from '../infra/installation';
import type { Logger } from '../infra/logger';

export const SCRIPT = path.join(installationRoot(), 'scripts', 'gateway-sites.sh');

export interface DemoFsvm {
  fileServer: string;
  nodeId: string;
  gatewayPort: number;
  smbPort: number;
  /** Where its smbd listens: its file server's client-facing address. */
  smbAddress: string;
}

export interface DemoFileServer {
  name: string;
  site: string;
  /** The client-facing name (in the demo DC's zone); which site clients reach by it is what a failover moves. */
  dnsName: string;
  /** The computer account in the demo DC that holds the name's SPNs. */
  computerAccount: string;
  nodes: string[];
}

export const DEMO_FILE_SERVERS: DemoFileServer[] = [
  {
    name: 'site-a',
    site: 'site-a',
    dnsName: 'files-a.demo.fsdr.test',
    computerAccount: 'FILES-A$',
    nodes: ['site-a-1', 'site-a-2'],
  },
  {
    name: 'site-b',
    site: 'site-b',
    dnsName: 'files-b.demo.fsdr.test',
    computerAccount: 'FILES-B$',
    nodes: ['site-b-1', 'site-b-2'],
  },
];

/** The demo's link between the sites, per stream: slow enough that a base copy's progress can be watched. */
export const DEMO_BANDWIDTH = '4M';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function readConf(file: string): DemoFsvm[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean)
    .map((l) => {
      const [fileServer, nodeId, g, s, a] = l.split(/\s+/);
      return {
        fileServer: fileServer!,
        nodeId: nodeId!,
        gatewayPort: Number(g),
        smbPort: Number(s),
        smbAddress: a ?? LOOPBACK,
      };
    });
}

/** Where clients of a demo file server connect when the demo has no address of its own for it. */
export const LOOPBACK = '127.0.0.1';

/**
 * sites.conf with a free port for every gateway and smbd (kept ports that are taken now are replaced) and, per file
 * server, the address its smbds listen on (`addressOf`; the loopback interface when it answers 127.0.0.1).
 */
export async function prepareSites(dir: string, addressOf: (fileServer: string) => string): Promise<DemoFsvm[]> {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'sites.conf');
  const kept = readConf(file);
  const out: DemoFsvm[] = [];
  for (const server of DEMO_FILE_SERVERS) {
    for (const nodeId of server.nodes) {
      const k = kept.find((f) => f.nodeId === nodeId);
      out.push({
        fileServer: server.name,
        nodeId,
        gatewayPort: k && (await portFree(k.gatewayPort)) ? k.gatewayPort : await freePort(),
        smbPort: k && k.smbPort > 0 && (await portFree(k.smbPort)) ? k.smbPort : await freePort(),
        smbAddress: addressOf(server.name),
      });
    }
  }
  const text = [
    '# The demo FSVMs (written by npm start): <file server> <node id> <gateway port> <smb port> [<smb address>]',
    ...out.map(
      (f) =>
        `${f.fileServer} ${f.nodeId} ${f.gatewayPort} ${f.smbPort}${f.smbAddress === LOOPBACK ? '' : ` ${f.smbAddress}`}`,
    ),
    '',
  ].join('\n');
  fs.writeFileSync(file, text);
  return out;
}

export interface RunningSites {
  fsvms: DemoFsvm[];
  dir: string;
  /** Whether each FSVM's shares are served by its own smbd. */
  smb: Map<string, boolean>;
  tokenOf(nodeId: string): string;
  urlOf(nodeId: string): string;
  /** Live data of a share (or one folder of a distributed share) on an FSVM. */
  livePath(nodeId: string, share: string, portion?: string): string;
  /** Resolves once every agent answers its health check (rejects after 60 s, the sites then stopped). */
  ready: Promise<void>;
  stop(): Promise<void>;
}

/** Starts the gateway agents (and smbds) of the demo sites; `ready` tells when they all answer. */
export async function startSites(
  dir: string,
  logger: Logger,
  addressOf: (fileServer: string) => string = () => LOOPBACK,
): Promise<RunningSites> {
  const fsvms = await prepareSites(dir, addressOf);
  const smb = new Map<string, boolean>();
  const child: ChildProcess = spawn('bash', [SCRIPT, dir], {
    // Its own process group: Ctrl-C in the terminal reaches `npm start`, which stops the sites last, in order.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GATEWAY_BANDWIDTH_LIMIT: DEMO_BANDWIDTH },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let pending = '';
  child.stdout!.on('data', (d: Buffer) => {
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^gateway-sites: ([^/]+)\/(\S+): .*?(smbd on|no SMB|smbd did not start)/.exec(line);
      if (m) smb.set(m[2]!, m[3] === 'smbd on');
      logger.debug({ component: 'demo' }, line);
      if (line.includes('not installed') || line.includes('did not start')) logger.info(`demo: ${line.slice(15)}`);
    }
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const done = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]);
    if (done === 'timeout') {
      // The script did not stop its agents in time: end its whole group, and the smbds it started in their sessions.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      for (const f of fsvms) {
        const pidFile = path.join(dir, f.nodeId, 'smb', 'smbd-agent.pid');
        const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : 0;
        if (pid > 1) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    }
  };
  const urlOf = (nodeId: string) => `http://127.0.0.1:${fsvms.find((f) => f.nodeId === nodeId)!.gatewayPort}`;
  const tokenOf = (nodeId: string) => fs.readFileSync(path.join(dir, nodeId, 'token'), 'utf8').trim();
  const ready = (async () => {
    const deadline = Date.now() + 60_000;
    for (const f of fsvms) {
      for (;;) {
        if (child.exitCode !== null)
          throw new Error(`the demo's gateway-sites.sh exited (${child.exitCode}): ${stderr}`);
        try {
          const res = await fetch(`${urlOf(f.nodeId)}/v1/health`, {
            headers: { authorization: `Bearer ${tokenOf(f.nodeId)}` },
            signal: AbortSignal.timeout(1000),
          });
          if (res.ok) break;
        } catch {
          // not up yet
        }
        if (Date.now() > deadline) {
          await stop();
          throw new Error(
            `demo FSVM ${f.nodeId} did not answer within 60 s; its log: ${path.join(dir, f.nodeId, 'gateway.log')}`,
          );
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();
  ready.catch(() => undefined); // awaited by the caller; not an unhandled rejection meanwhile
  return {
    fsvms,
    dir,
    smb,
    tokenOf,
    urlOf,
    livePath: (nodeId, share, portion) =>
      path.join(dir, nodeId, 'data', 'shares', share, ...(portion ? [portion] : [])),
    ready,
    stop,
  };
}
