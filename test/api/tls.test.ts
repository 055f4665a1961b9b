// The REST API on HTTPS (with HSTS) as a client that verifies the CA sees it, a certificate renewed on SIGHUP, the
// orchestrator verifying a gateway's certificate against GATEWAY_CA_FILE's bundle when a file server is registered,
// and production refusing plain HTTP on a non-loopback address (a clear error at start-up).
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import type { Server } from 'node:https';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import pino from 'pino';
import request from 'supertest';
import { HSTS } from '../../api/app';
import { createServerFor } from '../../infra/tls';
import {
  createCertificateAuthority,
  issueFsvmCertificate,
  issueServerCertificate,
  type CertificateAuthority,
} from '../../infra/tls-certificates';
import { REPO, TOKEN, runCleanups, startAgent, tmpDir, type Agent } from '../gateway/helpers';
import { freePort } from '../helpers/ports';
import { startHarness, type Harness } from './helpers/api-harness';

const run = promisify(execFile);

/** A GET over HTTPS that trusts `ca` only (no agent: each request its own connection, so its own handshake). */
function get(
  url: string,
  ca: Buffer | undefined,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ca, headers, agent: false });
    req.on('response', (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, serial }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the REST API on TLS', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let dir: string;
  let ca: CertificateAuthority;
  let caPem: Buffer;
  let h: Harness;
  let server: Server;
  let url: string;
  let agent: Agent;

  beforeAll(async () => {
    dir = tmpDir('api-tls');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    ca = await createCertificateAuthority(path.join(dir, 'ca'), { name: 'ca', commonName: 'fs-dr test CA' });
    caPem = fs.readFileSync(ca.certFile);
    await issueServerCertificate(ca, path.join(dir, 'api'), {
      name: 'api',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    await issueFsvmCertificate(ca, path.join(dir, 'fsvm'), {
      fileServer: 'fs1',
      nodeId: 'node-a',
      hosts: ['127.0.0.1'],
    });
    agent = await startAgent({
      nodeId: 'node-a',
      dataRoot: path.join(dir, 'gw'),
      peers: {},
      tls: {
        certFile: path.join(dir, 'fsvm', 'node-a.pem'),
        keyFile: path.join(dir, 'fsvm', 'node-a.key'),
        caFile: ca.certFile,
      },
      env: { GATEWAY_FILE_SERVER_ID: 'fs1' },
    });
    cleanups.push(() => agent.kill9());
    h = await startHarness({ gatewayCa: () => caPem });
    cleanups.push(() => h.close());
    server = createServerFor(
      h.app,
      { certFile: path.join(dir, 'api', 'api.pem'), keyFile: path.join(dir, 'api', 'api.key') },
      pino({ level: 'silent' }),
    ) as Server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => runCleanups(cleanups));

  it('serves HTTPS with HSTS to a client that verifies the CA; a client that does not trust it is refused', async () => {
    const res = await get(`${url}/healthz`, caPem);
    expect(res.status).toBe(200);
    expect(res.headers['strict-transport-security']).toBe(HSTS);
    const api = await get(`${url}/api/v1/file-servers`, caPem, h.auth('viewer'));
    expect(api.status).toBe(200);
    expect(api.headers['strict-transport-security']).toBe(HSTS);
    await expect(get(`${url}/healthz`, undefined)).rejects.toThrow(/self.signed|unable to (get|verify)/i);
  });

  it('verifies a gateway against the configured CA when a file server is registered', async () => {
    const body = {
      name: 'fs1',
      site: 'Paris',
      dnsName: 'fs1.corp.example.com',
      fsvms: [{ nodeId: 'node-a', gatewayUrl: agent.url, token: TOKEN }],
    };
    const post = (app: Harness) => request(app.app).post('/api/v1/file-servers').set(app.auth('admin')).send(body);
    // an orchestrator without the CA does not trust the gateway: nothing is registered, and it says why
    const untrusting = await startHarness();
    cleanups.push(() => untrusting.close());
    const refused = await post(untrusting);
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(refused.body)).toMatch(/TLS certificate/);
    expect((await untrusting.counts()).fileServers).toBe(0);
    const ok = await post(h);
    expect(ok.status).toBe(201);
    expect(ok.body.fsvms[0]).toMatchObject({ nodeId: 'node-a', health: 'healthy' });
  });

  it('takes a renewed certificate on SIGHUP', async () => {
    const before = (await get(`${url}/healthz`, caPem)).serial;
    await issueServerCertificate(ca, path.join(dir, 'api'), {
      name: 'api',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    const renewed = new X509Certificate(fs.readFileSync(path.join(dir, 'api', 'api.pem'))).serialNumber;
    expect(renewed).not.toBe(before);
    process.emit('SIGHUP', 'SIGHUP');
    expect((await get(`${url}/healthz`, caPem)).serial).toBe(renewed);
  });

  it('refuses plain HTTP on a non-loopback address in production, with a clear error at start-up', async () => {
    const result = await run(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
      cwd: REPO,
      timeout: 30_000,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        API_HOST: '0.0.0.0',
        API_PORT: String(await freePort()),
        TEMPORAL_ADDRESS: '127.0.0.1:1',
        DATABASE_URL: 'postgresql://127.0.0.1:1/none',
        SECRETS_KEY: Buffer.alloc(32, 7).toString('base64'),
        API_TLS_CERT_FILE: '',
        API_TLS_KEY_FILE: '',
      },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(
      /API_HOST: plain HTTP on 0\.0\.0\.0 is refused with NODE_ENV=production .*\(API_TLS_CERT_FILE, API_TLS_KEY_FILE\)/,
    );
  });
});
