// TLS on the gateway: the control API on HTTPS verified against the CA by the orchestrator's client, the data plane
// with mutual TLS between pinned peers (a receiver accepts only a certificate that names a node it lists and that
// the CA signed), a certificate renewed by SIGHUP without a restart, and plain HTTP refused in production off
// loopback. Real agent processes, certificates made with openssl (infra/tls-certificates.ts).
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { PEER_NODE_HEADER } from '../../domain/gateway-contract';
import { GatewayClient } from '../../gateway/client';
import {
  createCertificateAuthority,
  issueFsvmCertificate,
  type CertificateAuthority,
} from '../../infra/tls-certificates';
import { freePort } from '../helpers/ports';
import {
  REPO,
  TOKEN,
  agentUrl,
  randomBytesDeterministic,
  runCleanups,
  snapshotDigest,
  startAgent,
  tmpDir,
  transferEnded,
  treeDigest,
  waitFor,
  writeFiles,
  type Agent,
} from './helpers';

const PAIR = 'pair-secret-tls-a-b-000000001';
const run = promisify(execFile);

/** The serial of the certificate a TLS server presents to a new connection. */
function servedSerial(url: string, ca: Buffer): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: u.hostname, port: Number(u.port), ca, servername: undefined }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.end();
    });
    s.on('error', reject);
  });
}

/** Status of a data-plane request to `agent` as peer `node`, over TLS with the client certificate `cert` (if any). */
function peerRequest(
  agent: Agent,
  node: string,
  ca: Buffer,
  cert?: { certFile: string; keyFile: string },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${agent.url}/v1/receives`, {
      headers: { authorization: `Bearer ${PAIR}`, [PEER_NODE_HEADER]: node },
      ca,
      ...(cert ? { cert: fs.readFileSync(cert.certFile), key: fs.readFileSync(cert.keyFile) } : {}),
      agent: false,
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS on the gateway', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(() => runCleanups(cleanups));
  let dir: string;
  let ca: CertificateAuthority;
  let caPem: Buffer;
  const files = (name: string) => ({
    certFile: path.join(dir, 'certs', `${name}.pem`),
    keyFile: path.join(dir, 'certs', `${name}.key`),
    caFile: ca.certFile,
  });

  beforeAll(async () => {
    dir = tmpDir('tls');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    ca = await createCertificateAuthority(path.join(dir, 'ca'), { name: 'ca', commonName: 'fs-dr test CA' });
    caPem = fs.readFileSync(ca.certFile);
    const certs = path.join(dir, 'certs');
    await issueFsvmCertificate(ca, certs, { fileServer: 'fs-a', nodeId: 'node-a', hosts: ['127.0.0.1'] });
    await issueFsvmCertificate(ca, certs, { fileServer: 'fs-b', nodeId: 'node-b', hosts: ['127.0.0.1'] });
    // signed by the same CA, but a node neither agent lists
    await issueFsvmCertificate(ca, certs, { fileServer: 'fs-c', nodeId: 'node-c', hosts: ['127.0.0.1'] });
    // node-a's name, signed by a CA the agents do not trust
    const rogue = await createCertificateAuthority(path.join(dir, 'rogue'), { name: 'rogue', commonName: 'rogue' });
    await issueFsvmCertificate(rogue, path.join(dir, 'rogue-certs'), {
      fileServer: 'fs-a',
      nodeId: 'node-a',
      hosts: ['127.0.0.1'],
    });
  });

  it('replicates over mutual TLS, and a receiver refuses a peer whose certificate is not one it lists', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const a = await startAgent({
      nodeId: 'node-a',
      port: portA,
      dataRoot: path.join(dir, 'a'),
      peers: { 'node-b': PAIR },
      peerUrls: { 'node-b': agentUrl(portB, true) },
      tls: files('node-a'),
      env: { GATEWAY_FILE_SERVER_ID: 'fs-a' },
    });
    cleanups.push(() => a.kill9());
    const b = await startAgent({
      nodeId: 'node-b',
      port: portB,
      dataRoot: path.join(dir, 'b'),
      peers: { 'node-a': PAIR },
      peerUrls: { 'node-a': agentUrl(portA, true) },
      tls: files('node-b'),
      env: { GATEWAY_FILE_SERVER_ID: 'fs-b' },
    });
    cleanups.push(() => b.kill9());
    expect(a.url).toMatch(/^https:/);

    // the orchestrator's client verifies the gateway against the configured CA: without it the gateway is refused
    expect((await a.client.health()).nodeId).toBe('node-a');
    const untrusting = new GatewayClient({ url: a.url, token: TOKEN });
    await expect(untrusting.health()).rejects.toThrow(/refused its TLS certificate/);
    // and there is no plain HTTP on the agent's port
    await expect(fetch(`http://127.0.0.1:${portA}/v1/health`)).rejects.toThrow();

    await a.client.createShare('eng');
    await b.client.createShare('eng', { accessMode: 'read_only' });
    writeFiles(path.join(a.dataRoot, 'shares/eng'), {
      'big.bin': randomBytesDeterministic(4 * 1024 * 1024, 3),
      'd/small.txt': 'over TLS\n',
    });
    await a.client.createSnapshot('eng', { snapshotId: 's1' });
    await a.client.startTransfer({
      transferId: 't1',
      share: 'eng',
      snapshotId: 's1',
      target: { nodeId: 'node-b', share: 'eng' },
    });
    expect(await transferEnded(a, 't1')).toMatchObject({ state: 'succeeded', error: null });
    await b.client.commitReceive('t1');
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(snapshotDigest(a.dataRoot, 'eng', '', 's1'));
    // the sender says which protocol and cipher suite carried the stream
    expect(a.output()).toMatch(/"transferId":"t1"[^\n]*"tls":"TLSv1\.3 TLS_AES_256_GCM_SHA384"/);

    // the pair secret alone is not enough: b takes a's requests only with a's certificate
    expect(await peerRequest(b, 'node-a', caPem, files('node-a'))).toBe(200);
    expect(await peerRequest(b, 'node-a', caPem)).toBe(401); // no client certificate
    expect(await peerRequest(b, 'node-a', caPem, files('node-c'))).toBe(401); // a valid certificate, another node
    expect(await peerRequest(b, 'node-c', caPem, files('node-c'))).toBe(401); // a node b does not list
    const rogue = {
      certFile: path.join(dir, 'rogue-certs', 'node-a.pem'),
      keyFile: path.join(dir, 'rogue-certs', 'node-a.key'),
    };
    expect(await peerRequest(b, 'node-a', caPem, rogue)).toBe(401); // node-a's name, from a CA b does not trust

    // a peer pinned at an address that presents another node's certificate is refused by the sender
    const c = await startAgent({
      nodeId: 'node-c',
      dataRoot: path.join(dir, 'c'),
      peers: { 'node-a': PAIR },
      tls: files('node-c'),
      env: { GATEWAY_FILE_SERVER_ID: 'fs-c' },
    });
    cleanups.push(() => c.kill9());
    await a.stop();
    const impostor = await startAgent({
      nodeId: 'node-a',
      port: portA,
      dataRoot: a.dataRoot,
      peers: { 'node-b': PAIR },
      peerUrls: { 'node-b': c.url }, // node-b pinned where node-c answers
      tls: files('node-a'),
      env: { GATEWAY_FILE_SERVER_ID: 'fs-a' },
    });
    cleanups.push(() => impostor.kill9());
    await impostor.client.createSnapshot('eng', { snapshotId: 's2' });
    await impostor.client.startTransfer({
      transferId: 't2',
      share: 'eng',
      snapshotId: 's2',
      target: { nodeId: 'node-b', share: 'eng' },
    });
    await waitFor(
      async () => (/names node node-c, not peer node-b/.test(impostor.output()) ? true : undefined),
      'the sender refusing node-c as node-b',
    );
    expect(await c.client.listReceives()).toEqual([]);
    await impostor.client.cancelTransfer('t2');
  });

  it('takes a renewed certificate on SIGHUP without a restart', async () => {
    const own = path.join(dir, 'renew');
    await issueFsvmCertificate(ca, own, { fileServer: 'fs-a', nodeId: 'node-r', hosts: ['127.0.0.1'] });
    const f = { certFile: path.join(own, 'node-r.pem'), keyFile: path.join(own, 'node-r.key'), caFile: ca.certFile };
    const r = await startAgent({
      nodeId: 'node-r',
      dataRoot: path.join(dir, 'r'),
      peers: {},
      tls: f,
      env: { GATEWAY_FILE_SERVER_ID: 'fs-a' },
    });
    cleanups.push(() => r.kill9());
    const first = new X509Certificate(fs.readFileSync(f.certFile)).serialNumber;
    expect(await servedSerial(r.url, caPem)).toBe(first);
    // renewed in place (a new key too), then SIGHUP: new connections get the new one, the agent keeps its pid
    await issueFsvmCertificate(ca, own, { fileServer: 'fs-a', nodeId: 'node-r', hosts: ['127.0.0.1'] });
    const second = new X509Certificate(fs.readFileSync(f.certFile)).serialNumber;
    expect(second).not.toBe(first);
    const pid = r.proc.pid;
    r.proc.kill('SIGHUP');
    await waitFor(
      async () => ((await servedSerial(r.url, caPem)) === second ? true : undefined),
      'the new certificate',
    );
    expect(r.proc.pid).toBe(pid);
    expect(r.proc.exitCode).toBeNull();
    expect((await r.client.health()).status).toBe('ok');
    // a broken file is refused on reload and the agent keeps serving the certificate it has
    fs.writeFileSync(f.keyFile, 'not a key');
    r.proc.kill('SIGHUP');
    await waitFor(async () => (/reload refused/.test(r.output()) ? true : undefined), 'the refused reload');
    expect(await servedSerial(r.url, caPem)).toBe(second);
  });

  it('refuses plain HTTP off loopback in production, and a certificate that names another FSVM', async () => {
    const env = {
      ...process.env,
      NODE_ENV: 'production',
      GATEWAY_FILE_SERVER_ID: 'fs-a',
      GATEWAY_NODE_ID: 'node-a',
      GATEWAY_LISTEN: `0.0.0.0:${await freePort()}`,
      GATEWAY_DATA_ROOT: path.join(dir, 'prod'),
      GATEWAY_TOKEN: TOKEN,
    };
    const start = (extra: Record<string, string>) =>
      run(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
        cwd: REPO,
        env: { ...env, ...extra },
        timeout: 30_000,
      }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
      );
    const plain = await start({});
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/GATEWAY_LISTEN: plain HTTP on 0\.0\.0\.0 is refused with NODE_ENV=production/);
    const wrong = await start({
      GATEWAY_TLS_CERT_FILE: files('node-b').certFile,
      GATEWAY_TLS_KEY_FILE: files('node-b').keyFile,
      GATEWAY_TLS_CA_FILE: ca.certFile,
    });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(
      /must name this FSVM \(subjectAltName URI fsdr:\/\/fs-a\/node-a\); it names fsdr:\/\/fs-b\/node-b/,
    );
    const plainPeer = await start({
      GATEWAY_TLS_CERT_FILE: files('node-a').certFile,
      GATEWAY_TLS_KEY_FILE: files('node-a').keyFile,
      GATEWAY_TLS_CA_FILE: ca.certFile,
      GATEWAY_PEER_TOKENS: `node-b=${PAIR}`,
      GATEWAY_PEERS: 'node-b=http://10.9.9.9:7500',
    });
    expect(plainPeer.code).toBe(2);
    expect(plainPeer.stderr).toMatch(/GATEWAY_PEERS: node-b must be an https:\/\/ address/);
  });
});
