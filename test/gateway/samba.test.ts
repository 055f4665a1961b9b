// Client access through a real smbd: the agent writes its smb.conf include file and makes smbd reload it; smbclient
// then writes on read_write, is refused writing on read_only, and cannot connect to the share when it is off.
// smbd runs standalone on a high loopback port with its own state dirs; a missing smbd fails the test.
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { Gateway, createGatewayApp } from '../../gateway/app';
import { TOKEN, quietLog, testConfig, tmpDir } from './helpers';
import { eventually, smbclient, startSmbd, type Smbd } from './smbd';

const auth = { authorization: `Bearer ${TOKEN}` };

describe('access modes applied to a real smbd', () => {
  let dir: string;
  let smbd: Smbd | undefined;
  let gw: Gateway | undefined;

  afterAll(async () => {
    await gw?.stop();
    await smbd?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('read_write allows writes, read_only refuses them, off refuses the connection', async () => {
    dir = tmpDir('smb');
    fs.chmodSync(dir, 0o755); // smbd serves the share as the guest account
    smbd = await startSmbd(dir);
    const { port, include, pidFile } = smbd;
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
    if (smbd.proc.exitCode !== null) throw new Error(`smbd exited: ${smbd.output()}`);

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
