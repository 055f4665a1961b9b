// Client access through a real smbd: the agent writes its smb.conf include file and makes smbd reload it; smbclient
// then writes on read_write, is refused writing on read_only, and cannot connect to the share when it is off.
// smbd runs standalone on a high loopback port with its own state dirs; a missing smbd fails the test.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import { Gateway, createGatewayApp } from '../../gateway/app';
import { renderSambaShares } from '../../gateway/samba';
import { freePort } from '../helpers/ports';
import { TOKEN, quietLog, testConfig, tmpDir } from './helpers';

const exec = promisify(execFile);
const auth = { authorization: `Bearer ${TOKEN}` };

async function smbclient(port: number, share: string, cmd: string): Promise<string> {
  try {
    const { stdout, stderr } = await exec('smbclient', [`//127.0.0.1/${share}`, '-p', String(port), '-N', '-c', cmd]);
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}`;
  }
}

/** smbd applies a reload asynchronously: poll until the outcome is the expected one (or give up). */
async function eventually(fn: () => Promise<string>, expected: RegExp): Promise<string> {
  let last = '';
  for (let i = 0; i < 40; i++) {
    last = await fn();
    if (expected.test(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}

describe('access modes applied to a real smbd', () => {
  let dir: string;
  let smbd: ChildProcess | undefined;
  let gw: Gateway | undefined;

  afterAll(async () => {
    await gw?.stop();
    if (smbd?.pid && smbd.exitCode === null && smbd.signalCode === null) {
      smbd.kill('SIGTERM');
      await new Promise((r) => smbd!.once('exit', r));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('read_write allows writes, read_only refuses them, off refuses the connection', async () => {
    dir = tmpDir('smb');
    fs.chmodSync(dir, 0o755); // smbd serves the share as the guest account
    const port = await freePort();
    for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc']) fs.mkdirSync(path.join(dir, d));
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
        '  interfaces = lo',
        '  bind interfaces only = yes',
        `  smb ports = ${port}`,
        ...['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc'].map(
          (d) =>
            `  ${d === 'lock' ? 'lock directory' : d === 'private' ? 'private dir' : d === 'ncalrpc' ? 'ncalrpc dir' : `${d} directory`} = ${path.join(dir, d)}`,
        ),
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
    smbd = spawn('smbd', ['-s', conf, '--foreground', '--no-process-group', '--debug-stdout', '-d', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // its own process group: smbd signals its whole group when it shuts down
      detached: true,
    });
    smbd.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    smbd.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    smbd.on('error', (err) => (out += String(err)));
    fs.writeFileSync(pidFile, String(smbd.pid));
    // smbd must be up (its SIGHUP handler installed) before the agent signals it
    await eventually(async () => {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      return ok ? 'up' : '';
    }, /up/);
    if (smbd.exitCode !== null || smbd.signalCode !== null) throw new Error(`smbd did not start: ${out}`);

    const root = path.join(dir, 'gw');
    gw = new Gateway(testConfig(root, { smb: { includeFile: include, pidFile } }), quietLog);
    await gw.start();
    const app = createGatewayApp(gw);
    await request(app).put('/v1/shares/docs').set(auth).send({}).expect(200);
    const live = path.join(root, 'shares/docs');
    fs.chmodSync(live, 0o777); // the guest account writes as nobody
    expect(fs.readFileSync(include, 'utf8')).toMatch(/\[docs\][\s\S]*read only = no/);
    const local = path.join(dir, 'local.txt');
    fs.writeFileSync(local, 'hello over SMB\n');

    const put = (name: string) => smbclient(port, 'docs', `put ${local} ${name}`);
    expect(await eventually(() => put('rw.txt'), /putting file/)).toMatch(/putting file/);
    expect(fs.readFileSync(path.join(live, 'rw.txt'), 'utf8')).toBe('hello over SMB\n');
    if (smbd.exitCode !== null) throw new Error(`smbd exited: ${out}`);

    await request(app).put('/v1/shares/docs/access').set(auth).send({ mode: 'read_only' }).expect(200);
    expect(await eventually(() => put('ro.txt'), /NT_STATUS_(ACCESS_DENIED|MEDIA_WRITE_PROTECTED)/)).toMatch(
      /NT_STATUS_(ACCESS_DENIED|MEDIA_WRITE_PROTECTED)/,
    );
    expect(fs.existsSync(path.join(live, 'ro.txt'))).toBe(false);
    expect(await smbclient(port, 'docs', 'ls')).toMatch(/rw\.txt/); // still readable

    await request(app).put('/v1/shares/docs/access').set(auth).send({ mode: 'off' }).expect(200);
    expect(await eventually(() => smbclient(port, 'docs', 'ls'), /NT_STATUS_BAD_NETWORK_NAME/)).toMatch(
      /tree connect failed: NT_STATUS_BAD_NETWORK_NAME/,
    );

    await request(app).put('/v1/shares/docs/access').set(auth).send({ mode: 'read_write' }).expect(200);
    expect(await eventually(() => put('back.txt'), /putting file/)).toMatch(/putting file/);
    expect(fs.existsSync(path.join(live, 'back.txt'))).toBe(true);
  });
});
