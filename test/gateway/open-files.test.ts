// GET /v1/shares/:share/open-files with a real smbd and real SMB clients: smbclient sessions that hold a file open
// (its `open` command keeps the handle until the session ends) are listed for their share only, with the client's
// address, the user and the time of the open; once they end, the list is empty. The agent finds smbd's smb.conf on
// smbd's command line (or is told it); a configuration smbstatus cannot load is an error, not an empty list; without
// Samba integration the answer is smb:false. A missing smbd or smbclient fails the test.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ShareOpenFiles } from '../../domain/gateway-contract';
import { randomBytesDeterministic, runCleanups, startAgent, tmpDir, waitFor, writeFiles } from './helpers';
import { startSmbd, type Smbd } from './smbd';

/** An interactive smbclient session on //127.0.0.1/<share>; `send` types a command. */
function session(port: number, share: string): { proc: ChildProcess; send(cmd: string): void; output(): string } {
  const proc = spawn('smbclient', [`//127.0.0.1/${share}`, '-p', String(port), '-N'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  proc.on('error', (err) => (out += String(err)));
  return { proc, send: (cmd) => proc.stdin.write(`${cmd}\n`), output: () => out };
}

async function ended(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise((r) => proc.once('exit', r));
}

describe('clients with open files, from a real smbd', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(() => runCleanups(cleanups));

  it('lists the files SMB clients hold open on each share, and nothing once they are gone', async () => {
    const dir = tmpDir('open-files');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.chmodSync(dir, 0o755); // smbd serves the shares as the guest account
    const smbd: Smbd = await startSmbd(dir);
    cleanups.push(() => smbd.stop());
    // told only the pid file: the agent reads smbd's smb.conf off its command line
    const a = await startAgent({
      nodeId: 'node-a',
      dataRoot: path.join(dir, 'gw'),
      peers: {},
      env: { GATEWAY_SMB_CONF: smbd.include, GATEWAY_SMBD_PID_FILE: smbd.pidFile },
    });
    cleanups.push(() => a.kill9());
    await a.client.createShare('docs');
    await a.client.createShare('dist', { kind: 'distributed', portions: ['p1'] });
    const docs = path.join(a.dataRoot, 'shares/docs');
    writeFiles(docs, { 'big.bin': randomBytesDeterministic(2 * 1024 * 1024, 5), 'other.txt': 'not opened' });
    writeFiles(path.join(a.dataRoot, 'shares/dist/p1'), { 'reports/q3.txt': 'quarterly' });
    expect(await a.client.openFiles('docs')).toEqual({ share: 'docs', smb: true, openFiles: [], sessions: 0 });

    const before = Date.now();
    const c1 = session(smbd.port, 'docs');
    cleanups.push(() => void c1.proc.kill('SIGKILL'));
    c1.send('open big.bin');
    const c2 = session(smbd.port, 'dist');
    cleanups.push(() => void c2.proc.kill('SIGKILL'));
    c2.send('open p1/reports/q3.txt');

    const listed = (share: string, n: number) =>
      waitFor(
        async () => {
          const r = await a.client.openFiles(share);
          return r.openFiles.length === n ? r : undefined;
        },
        `${n} open file(s) on ${share} (smbclient said: ${c1.output()} ${c2.output()})`,
        20_000,
        200,
      );
    const onDocs: ShareOpenFiles = await listed('docs', 1);
    expect(onDocs).toMatchObject({
      share: 'docs',
      smb: true,
      sessions: 1,
      openFiles: [{ path: 'big.bin', client: '127.0.0.1', user: 'nobody' }],
    });
    const since = Date.parse(onDocs.openFiles[0]!.since!);
    expect(since).toBeGreaterThanOrEqual(before - 2000);
    expect(since).toBeLessThanOrEqual(Date.now() + 2000);
    // each share lists its own: a distributed share's paths start with the portion
    expect(await listed('dist', 1)).toMatchObject({
      sessions: 1,
      openFiles: [{ path: 'p1/reports/q3.txt', client: '127.0.0.1', user: 'nobody' }],
    });

    // a second open of the same file, from another session: two rows, two sessions
    const c3 = session(smbd.port, 'docs');
    cleanups.push(() => void c3.proc.kill('SIGKILL'));
    c3.send('open big.bin');
    expect((await listed('docs', 2)).sessions).toBe(2);

    // the sessions end: nothing is open, nobody is connected
    for (const c of [c1, c2, c3]) {
      c.proc.stdin!.end();
      await ended(c.proc);
    }
    for (const share of ['docs', 'dist']) {
      expect(await listed(share, 0)).toEqual({ share, smb: true, openFiles: [], sessions: 0 });
    }
    await expect(a.client.openFiles('missing')).rejects.toThrow(/does not exist/);

    // an agent told a configuration smbstatus cannot load says so (an empty list would tell a failover nobody is
    // cut off); one without Samba integration answers smb:false
    const wrong = await startAgent({
      nodeId: 'node-w',
      dataRoot: path.join(dir, 'gw-wrong'),
      peers: {},
      env: {
        GATEWAY_SMB_CONF: path.join(dir, 'wrong-shares.conf'),
        GATEWAY_SMBD_PID_FILE: smbd.pidFile,
        GATEWAY_SMBD_CONF: path.join(dir, 'no-such-smb.conf'),
      },
    });
    cleanups.push(() => wrong.kill9());
    await wrong.client.createShare('docs');
    await expect(wrong.client.openFiles('docs')).rejects.toThrow(/Can't load .*no-such-smb\.conf/);
    const plain = await startAgent({ nodeId: 'node-p', dataRoot: path.join(dir, 'gw-plain'), peers: {} });
    cleanups.push(() => plain.kill9());
    await plain.client.createShare('docs');
    expect(await plain.client.openFiles('docs')).toEqual({ share: 'docs', smb: false, openFiles: [], sessions: 0 });
  });
});
