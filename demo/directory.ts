// The demo's Active Directory: a real Samba AD domain controller (infra/samba-dc.ts), provisioned once under
// DATA_DIR/demo/ad and reused by every later start, so that a failover from the UI really moves a name. Its zone,
// demo.fsdr.test, holds the client-facing names of the demo file servers (files-a -> site-a's address, files-b ->
// site-b's), their computer accounts FILES-A$ and FILES-B$ hold their SPNs, and both file servers get directory
// settings through the API: a planned failover of site-a makes files-a resolve to site-b's address and moves its SPNs
// to FILES-B$, a failback moves them back.
//
// The DC serves on fixed ports (DNS 53, Kerberos 88, LDAP 389/636...), so it gets a loopback address of its own, and
// so does each demo file server (its FSVMs' smbds listen there: the address a redirect points clients to is one they
// can connect to). Adding addresses to `lo` needs root; the addresses are chosen once and kept in network.json, added
// again at each start and removed at the stop. Where the demo is not run as root, or Samba's AD DC is not installed,
// one line says so and the demo runs without a DC (its file servers then serve on 127.0.0.1).
//
// The DC runs detached (samba forks many processes) and is stopped by its root pid, with the rest of `npm start`; a
// small watchdog stops it too if `npm start` itself is killed, and a start finds and stops one left running.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { defaultSpns } from '../domain/directory';
import type { Logger } from '../infra/logger';
import { claimLoopbackAddress, ensureLoopbackAddress, releaseLoopbackAddress } from '../infra/loopback-address';
import {
  provisionDomainController,
  startDomainController,
  stopDomainControllerProcess,
  type DomainController,
  type DomainControllerInfo,
} from '../infra/samba-dc';
import { DEMO_FILE_SERVERS, LOOPBACK } from './sites';

export const DEMO_REALM = 'DEMO.FSDR.TEST';
export const DEMO_ZONE = 'demo.fsdr.test';

/** The loopback addresses the demo keeps: its DC's, and each demo file server's client-facing one. */
interface DemoAddresses {
  dc: string;
  fileServers: Record<string, string>;
}

export interface DemoDirectory {
  /** A demo file server's client-facing address (where its smbds listen, where a redirect points). */
  addressOf: (fileServer: string) => string;
  /** Why there is no demo DC, in one line; null when there is one. */
  unavailable: string | null;
  /** Starts the DC (provisioning it the first time); resolves when it serves LDAPS, DNS and RPC. */
  start(): Promise<DomainController>;
  /** Stops the DC (if it was started) and removes the demo's loopback addresses. */
  stop(): Promise<void>;
}

function onPath(binary: string): boolean {
  // As spawn looks it up: on PATH.
  return (process.env.PATH ?? '')
    .split(':')
    .filter(Boolean)
    .some((d) => {
      try {
        fs.accessSync(path.join(d, binary), fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** Why a demo DC cannot run here, or null. */
function whyNoDomainController(): string | null {
  if (process.getuid?.() !== 0) {
    return 'no demo Active Directory DC: it needs root (a loopback address of its own); failovers do not redirect clients';
  }
  const missing = ['samba', 'samba-tool', 'ip'].filter((b) => !onPath(b));
  if (missing.length) {
    return `no demo Active Directory DC: ${missing.join(', ')} not installed (apt-get install samba-ad-dc iproute2); failovers do not redirect clients`;
  }
  return null;
}

function readAddresses(file: string): DemoAddresses | null {
  try {
    const a = JSON.parse(fs.readFileSync(file, 'utf8')) as DemoAddresses;
    const all = [a.dc, ...DEMO_FILE_SERVERS.map((s) => a.fileServers?.[s.name])];
    return all.every((x) => typeof x === 'string' && /^127\.\d+\.\d+\.\d+$/.test(x)) ? a : null;
  } catch {
    return null;
  }
}

/** A samba left running by a start that was killed: its root pid, if it still runs with this DC's configuration. */
function leftRunning(adDir: string): number {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(adDir, 'dc.json'), 'utf8')) as DomainControllerInfo;
    if (!info.pid) return 0;
    const cmd = fs.readFileSync(`/proc/${info.pid}/cmdline`, 'utf8');
    return cmd.includes(info.smbConf) ? info.pid : 0;
  } catch {
    return 0;
  }
}

/**
 * Stops the DC when `npm start` is gone without stopping it (killed): a shell that watches both and ends with the
 * DC. Its environment is PATH alone, so it holds no reference to the data folder.
 */
function watchdog(dcPid: number): void {
  const w = spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${dcPid} 2>/dev/null; do sleep 1; done; ` +
        `kill -0 ${process.pid} 2>/dev/null || kill -TERM -${dcPid} 2>/dev/null; exit 0`,
    ],
    { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
  );
  w.unref();
}

/**
 * Decides whether the demo has a DC and claims its loopback addresses (before the sites start: their smbds listen on
 * them). Fast; the DC itself starts with start().
 */
export async function prepareDemoDirectory(demoDir: string, logger: Logger): Promise<DemoDirectory> {
  const adDir = path.join(demoDir, 'ad');
  const none = (why: string): DemoDirectory => ({
    addressOf: () => LOOPBACK,
    unavailable: why,
    start: () => Promise.reject(new Error(why)),
    stop: async () => undefined,
  });
  const why = whyNoDomainController();
  if (why) return none(why);

  fs.mkdirSync(demoDir, { recursive: true });
  const file = path.join(demoDir, 'network.json');
  const claimed: string[] = [];
  let addresses = readAddresses(file);
  try {
    if (addresses) {
      for (const a of [addresses.dc, ...Object.values(addresses.fileServers)]) {
        await ensureLoopbackAddress(a);
        claimed.push(a);
      }
    } else {
      const dc = await claimLoopbackAddress();
      claimed.push(dc);
      const fileServers: Record<string, string> = {};
      for (const s of DEMO_FILE_SERVERS) {
        fileServers[s.name] = await claimLoopbackAddress();
        claimed.push(fileServers[s.name]!);
      }
      addresses = { dc, fileServers };
      fs.writeFileSync(file, `${JSON.stringify(addresses, null, 2)}\n`);
    }
  } catch (err) {
    await Promise.all(claimed.map((a) => releaseLoopbackAddress(a).catch(() => undefined)));
    return none(`no demo Active Directory DC: ${err instanceof Error ? err.message : String(err)}`);
  }

  const stale = leftRunning(adDir);
  if (stale) {
    logger.info(`demo: stopping the demo DC a killed start left running (pid ${stale})`);
    await stopDomainControllerProcess(stale);
  }
  // A provisioning that was cut short leaves a folder without dc.json: start it afresh.
  if (fs.existsSync(adDir) && !fs.existsSync(path.join(adDir, 'dc.json'))) fs.rmSync(adDir, { recursive: true });

  const a = addresses;
  let started: Promise<DomainController> | undefined;
  let stopping = false;
  return {
    addressOf: (name) => a.fileServers[name] ?? LOOPBACK,
    unavailable: null,
    start() {
      started ??= (async () => {
        const t = Date.now();
        const options = { dir: adDir, address: a.dc, realm: DEMO_REALM };
        const provisioned = fs.existsSync(path.join(adDir, 'dc.json'));
        if (!provisioned) await provisionDomainController(options);
        // A stop that came while it was provisioned: nothing to start, only to stop again.
        if (stopping) throw new Error('npm start is stopping');
        const dc = await startDomainController(options);
        watchdog(dc.pid);
        logger.info(
          `demo: Active Directory DC ${dc.dcDnsName} up on ${dc.address} (${provisioned ? 'started' : 'provisioned and started'} in ${((Date.now() - t) / 1000).toFixed(1)} s)`,
        );
        return dc;
      })();
      return started;
    },
    async stop() {
      stopping = true;
      const dc = await started?.catch(() => undefined);
      if (dc) await dc.stop();
      // A DC whose start failed half-way may still run: its pid is in dc.json.
      const rest = leftRunning(adDir);
      if (rest) await stopDomainControllerProcess(rest);
      await Promise.all(claimed.map((x) => releaseLoopbackAddress(x).catch(() => undefined)));
    },
  };
}

/**
 * The demo's AD objects, made once (a marker file in the DC's folder): each demo file server's computer account with
 * its default SPNs and the A record of its client-facing name. Never made again: after a failover the name points
 * where the failover moved it, and a restart keeps it so.
 */
export async function ensureDemoObjects(
  dc: DomainController,
  addressOf: (fileServer: string) => string,
): Promise<boolean> {
  const marker = path.join(dc.dir, 'demo-objects');
  if (fs.existsSync(marker)) return false;
  // Idempotent, in case a start was cut short between two of these.
  const accounts = (await dc.sambaTool(['computer', 'list'])).split('\n').map((l) => l.trim().toLowerCase());
  for (const s of DEMO_FILE_SERVERS) {
    if (!accounts.includes(s.computerAccount.toLowerCase())) {
      await dc.addComputer(s.computerAccount.replace(/\$$/, ''), { spns: defaultSpns(s.dnsName) });
    }
    await dc
      .sambaTool(['dns', 'add', dc.address, DEMO_ZONE, s.dnsName.split('.')[0]!, 'A', addressOf(s.name)], {
        auth: true,
      })
      .catch((err: Error) => {
        if (!/ALREADY_EXISTS|already exists/i.test(err.message)) throw err;
      });
  }
  fs.writeFileSync(marker, `made ${new Date().toISOString()}\n`);
  return true;
}

/** What a demo file server's directory settings are (PUT /api/v1/file-servers/<name>/directory). */
export function demoDirectorySettings(dc: DomainControllerInfo, computerAccount: string) {
  return {
    domain: dc.dnsDomain,
    servers: [dc.ldapsUrl],
    bindUser: dc.adminUser,
    bindPassword: dc.adminPassword,
    caCertificates: dc.caPem,
    dnsZone: DEMO_ZONE,
    computerAccount,
  };
}
