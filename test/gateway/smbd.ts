// A real smbd for the gateway tests: standalone, on a free loopback port, with its own state directories and an
// include file for the agent's shares (guests map to nobody). A missing smbd fails the test.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { renderSambaShares } from '../../gateway/samba';
import { freePort } from '../helpers/ports';

const exec = promisify(execFile);

export interface Smbd {
  port: number;
  /** its smb.conf (given on its command line with -s) */
  conf: string;
  /** the include file the agent owns (GATEWAY_SMB_CONF) */
  include: string;
  /** its pid, as the agent reads it (GATEWAY_SMBD_PID_FILE) */
  pidFile: string;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** smbclient's output (also on failure) of `cmd` on //<address>/<share> as a guest (address default 127.0.0.1). */
export async function smbclient(port: number, share: string, cmd: string, address = '127.0.0.1'): Promise<string> {
  try {
    const { stdout, stderr } = await exec('smbclient', [`//${address}/${share}`, '-p', String(port), '-N', '-c', cmd]);
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}`;
  }
}

/** smbd applies a reload asynchronously: poll until the outcome is the expected one (or give up). */
export async function eventually(fn: () => Promise<string>, expected: RegExp): Promise<string> {
  let last = '';
  for (let i = 0; i < 40; i++) {
    last = await fn();
    if (expected.test(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}

const DIRS: Record<string, string> = {
  private: 'private dir',
  lock: 'lock directory',
  state: 'state directory',
  cache: 'cache directory',
  pid: 'pid directory',
  ncalrpc: 'ncalrpc dir',
};

/**
 * Starts smbd with its files under `dir` (which must be traversable by nobody: mode 0755), on a free loopback port,
 * or on `address` (a loopback address of its own, e.g. claimLoopbackAddress()) and `port` when given: then several
 * smbds serve on one port, one an address, as the FSVMs of a file server do.
 */
export async function startSmbd(dir: string, opts: { address?: string; port?: number } = {}): Promise<Smbd> {
  const port = opts.port ?? (await freePort());
  const host = opts.address ?? '127.0.0.1';
  for (const d of Object.keys(DIRS)) fs.mkdirSync(path.join(dir, d));
  const include = path.join(dir, 'shares.conf');
  const pidFile = path.join(dir, 'smbd-agent.pid');
  fs.writeFileSync(include, renderSambaShares([]));
  const conf = path.join(dir, 'smb.conf');
  fs.writeFileSync(
    conf,
    [
      '[global]',
      '  workgroup = FSDRTEST',
      '  server role = standalone server',
      `  interfaces = ${opts.address ? `${opts.address}/32` : 'lo'}`,
      '  bind interfaces only = yes',
      `  smb ports = ${port}`,
      ...Object.entries(DIRS).map(([d, option]) => `  ${option} = ${path.join(dir, d)}`),
      `  log file = ${path.join(dir, 'log.%m')}`,
      '  map to guest = Bad User',
      '  guest ok = yes',
      '  load printers = no',
      '  printing = bsd',
      '  printcap name = /dev/null',
      '  disable spoolss = yes',
      `  include = ${include}`,
      '',
    ].join('\n'),
  );
  let out = '';
  const proc = spawn('smbd', ['-s', conf, '--foreground', '--no-process-group', '--debug-stdout', '-d', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // its own process group: smbd signals its whole group when it shuts down
    detached: true,
  });
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  proc.on('error', (err) => (out += String(err)));
  fs.writeFileSync(pidFile, String(proc.pid));
  // smbd must be up (its SIGHUP handler installed) before an agent signals it
  await eventually(async () => {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    return ok ? 'up' : '';
  }, /up/);
  if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`smbd did not start: ${out}`);
  return {
    port,
    conf,
    include,
    pidFile,
    proc,
    output: () => out,
    async stop() {
      if (!proc.pid || proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}
