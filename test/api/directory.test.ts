// Directory settings and the directory check through the real API: settings validated (400 naming the field, nothing
// changed), the password sealed and never returned, the check answered in words by checkDirectoryWorkflow running on
// a real worker against the run's Samba AD DC.
import request from 'supertest';
import { createApp } from '../../api/app';
import { createLogger } from '../../infra/logger';
import type { DomainController } from '../../infra/samba-dc';
import { recordHistories } from '../helpers/record-histories';
import { sharedDomainController, ZONE } from '../helpers/domain-controller';
import { uniqueName } from '../helpers/environment';
import { startTestWorker, TEST_SECRETS, type TestWorker } from '../helpers/worker';
import { seedFileServer, startHarness, type Harness } from './helpers/api-harness';

// Each samba-tool call starts a Python interpreter (about 1 s, several under load): generous per-test time.
jest.setTimeout(180_000);

describe('directory settings and check (API)', () => {
  let h: Harness;
  let dc: DomainController;
  let tw: TestWorker;

  beforeAll(async () => {
    [h, dc] = await Promise.all([startHarness({ secrets: TEST_SECRETS }), sharedDomainController()]);
    tw = await startTestWorker({ db: h.database.db, taskQueue: h.taskQueue });
    const db = h.database.db;
    for (const [name, host, addresses] of [
      ['fs1', 'fs1', ['10.1.0.11', '10.1.0.12']],
      ['fs2', 'fs2', ['10.2.0.21']],
      ['fs3', 'fs3', ['10.3.0.31']],
    ] as const) {
      await seedFileServer(db, name, []);
      await db.fileServer.update({ where: { name }, data: { dnsName: `${host}.${ZONE}`, addresses: [...addresses] } });
    }
  }, 240_000);
  afterAll(async () => {
    if (process.env.RECORD_HISTORIES) await recordHistories(tw.client, h.taskQueue);
    await tw?.stop();
    await h?.close();
  });

  const settings = (over: Record<string, unknown> = {}) => ({
    domain: dc.dnsDomain,
    servers: [dc.ldapsUrl],
    bindUser: dc.adminUser,
    bindPassword: dc.adminPassword,
    caCertificates: dc.caPem,
    dnsZone: ZONE,
    computerAccount: 'FS1$',
    ...over,
  });

  it('stores settings with the password sealed, never returned; defaults the SPNs; GET and details show them', async () => {
    const put = await request(h.app)
      .put('/api/v1/file-servers/fs1/directory')
      .set(h.auth('admin'))
      .send(settings({ fsvmNames: [{ name: `fs1-n1.${ZONE}`, addresses: ['10.1.0.11'] }] }))
      .expect(200);
    expect(put.body).toMatchObject({
      fileServer: 'fs1',
      domain: 'corp.example.test',
      servers: [dc.ldapsUrl],
      plainLdap: false,
      bindUser: dc.adminUser,
      bindPasswordSet: true,
      dnsZone: ZONE,
      clientName: `fs1.${ZONE}`,
      computerAccount: 'FS1$',
      spns: ['cifs/FS1', `cifs/fs1.${ZONE}`, 'HOST/FS1', `HOST/fs1.${ZONE}`],
      spnsDefault: true,
      fsvmNames: [{ name: `fs1-n1.${ZONE}`, addresses: ['10.1.0.11'] }],
    });
    expect(put.body.caCertificates).toContain('-----BEGIN CERTIFICATE-----');
    const get = await request(h.app).get('/api/v1/file-servers/fs1/directory').set(h.auth('viewer')).expect(200);
    expect(get.body).toEqual(put.body);
    const details = await request(h.app).get('/api/v1/file-servers/fs1').set(h.auth('viewer')).expect(200);
    expect(details.body.directory).toEqual({ domain: dc.dnsDomain, dnsZone: ZONE, computerAccount: 'FS1$' });
    for (const body of [put.body, get.body, details.body]) {
      expect(JSON.stringify(body)).not.toContain(dc.adminPassword);
      expect(JSON.stringify(body)).not.toMatch(/Enc"/);
    }
    const row = await h.database.db.directorySettings.findFirstOrThrow({ where: { fileServer: { name: 'fs1' } } });
    expect(row.bindPasswordEnc).not.toContain(dc.adminPassword);
    expect(TEST_SECRETS.open(row.bindPasswordEnc)).toBe(dc.adminPassword);
    const audit = await h.database.db.auditEntry.findMany({ where: { action: 'PUT /file-servers/:name/directory' } });
    expect(audit.length).toBe(1);
    expect(JSON.stringify(audit.map((a) => a.detail))).not.toContain(dc.adminPassword);

    // a later PUT without the password keeps it
    const { bindPassword: _omitted, ...withoutPassword } = settings();
    await request(h.app)
      .put('/api/v1/file-servers/fs1/directory')
      .set(h.auth('admin'))
      .send({ ...withoutPassword, spns: ['cifs/fs1.corp.example.test'] })
      .expect(200);
    const again = await h.database.db.directorySettings.findFirstOrThrow({ where: { fileServer: { name: 'fs1' } } });
    expect(TEST_SECRETS.open(again.bindPasswordEnc)).toBe(dc.adminPassword);
    expect(again.spns).toEqual(['cifs/fs1.corp.example.test']);
    expect(again.fsvmNames).toEqual([]);
    await request(h.app).put('/api/v1/file-servers/fs1/directory').set(h.auth('admin')).send(settings()).expect(200);
  });

  it('refuses bad settings with 400 naming the field, and changes nothing', async () => {
    const before = await h.counts();
    const row = () => h.database.db.directorySettings.findFirst({ where: { fileServer: { name: 'fs1' } } });
    const stored = await row();
    const otherPem = '-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n';
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [settings({ servers: ['http://dc1.corp.example.test'] }), 'body.servers.0', /ldaps:\/\/host/],
      [
        settings({ servers: ['ldaps://admin:pw@dc1.corp.example.test'] }),
        'body.servers.0',
        /no path, query or credentials/,
      ],
      [settings({ servers: ['ldaps://dc1.corp.example.test/dc=x?cn'] }), 'body.servers.0', /no path/],
      [settings({ servers: [] }), 'body.servers', /too small|at least/i],
      [settings({ caCertificates: 'not a pem' }), 'body.caCertificates', /PEM certificates/],
      [settings({ caCertificates: otherPem }), 'body.caCertificates', /not a valid X.509 certificate/],
      [
        settings({ caCertificates: `${dc.caPem}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n` }),
        'body.caCertificates',
        /never a private key/,
      ],
      [settings({ caCertificates: undefined }), 'body.caCertificates', /required/],
      [settings({ domain: undefined }), 'body.domain', /./],
      [settings({ bindUser: undefined }), 'body.bindUser', /./],
      [settings({ dnsZone: undefined }), 'body.dnsZone', /./],
      [settings({ computerAccount: undefined }), 'body.computerAccount', /./],
      [settings({ computerAccount: '*)(cn=*' }), 'body.computerAccount', /computer account name like FS1\$/],
      [settings({ spns: ['cifs/*)(servicePrincipalName=*'] }), 'body.spns.0', /must be an SPN/],
      [settings({ dnsZone: 'other.example.test' }), 'body.dnsZone', /'fs1.corp.example.test' is not inside zone/],
      [settings({ bindUser: 'admin\u0000' }), 'body.bindUser', /control/],
      [
        settings({ fsvmNames: [{ name: `fs1-n1.${ZONE}`, addresses: ['10.9.9.9'] }] }),
        'body.fsvmNames.0.addresses.0',
        /10.9.9.9 is not one of the file server's addresses/,
      ],
      [
        settings({ fsvmNames: [{ name: 'n1.elsewhere.test', addresses: ['10.1.0.11'] }] }),
        'body.fsvmNames.0.name',
        /not inside zone/,
      ],
      [settings({ plainLdap: true, servers: [dc.ldapsUrl] }), 'body.plainLdap', /no ldap:\/\/ server/],
      [settings({ unexpected: 1 }), 'body', /unexpected|Unrecognized/i],
    ];
    const failures: string[] = [];
    for (const [body, path, message] of cases) {
      const res = await request(h.app).put('/api/v1/file-servers/fs1/directory').set(h.auth('admin')).send(body);
      const field = (res.body.errors as { path: string; message: string }[] | undefined)?.find((e) => e.path === path);
      if (res.status !== 400 || !field || !message.test(field.message)) {
        failures.push(`${path}: ${res.status} ${JSON.stringify(res.body.errors ?? res.body).slice(0, 300)}`);
      }
    }
    // the first PUT of a file server needs the password
    const { bindPassword: _p, ...noPassword } = settings({ computerAccount: 'FS2$' });
    const first = await request(h.app).put('/api/v1/file-servers/fs2/directory').set(h.auth('admin')).send(noPassword);
    expect(first.status).toBe(400);
    expect(first.body.errors).toEqual([
      { path: 'body.bindPassword', message: 'required when the file server has no directory settings yet' },
    ]);
    expect(failures).toEqual([]);
    expect(await h.counts()).toEqual(before);
    expect(await row()).toEqual(stored);
  });

  it('plain LDAP only when explicit, and never with NODE_ENV=production', async () => {
    const body = settings({
      servers: [dc.ldapUrl],
      plainLdap: true,
      caCertificates: undefined,
      computerAccount: 'FS3$',
    });
    const prodApp = createApp({
      db: h.database.db,
      temporal: h.temporal,
      temporalAddress: '',
      taskQueue: h.taskQueue,
      logger: createLogger({ log: { level: 'silent', format: 'json' } }),
      secrets: TEST_SECRETS,
      production: true,
    });
    const refused = await request(prodApp).put('/api/v1/file-servers/fs3/directory').set(h.auth('admin')).send(body);
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([
      { path: 'body.plainLdap', message: 'plain LDAP is refused with NODE_ENV=production' },
    ]);
    // without plainLdap an ldap:// server means StartTLS, which needs the CA
    const noCa = await request(h.app)
      .put('/api/v1/file-servers/fs3/directory')
      .set(h.auth('admin'))
      .send({ ...body, plainLdap: undefined });
    expect(noCa.status).toBe(400);
    expect(noCa.body.errors[0].path).toBe('body.caCertificates');
    const ok = await request(h.app)
      .put('/api/v1/file-servers/fs3/directory')
      .set(h.auth('admin'))
      .send(body)
      .expect(200);
    expect(ok.body).toMatchObject({ plainLdap: true, caCertificates: null });
    // the DC itself refuses a simple bind without TLS: the check says so in words
    const check = await request(h.app)
      .post('/api/v1/file-servers/fs3/directory/check')
      .set(h.auth('operator'))
      .expect(200);
    expect(check.body.ok).toBe(false);
    expect(check.body.checks[0]).toMatchObject({
      subject: `domain controller ${dc.ldapUrl}`,
      ok: false,
      detail: expect.stringMatching(/requires TLS for this bind \(use ldaps:\/\/ or StartTLS\)/),
    });
    await request(h.app).delete('/api/v1/file-servers/fs3/directory').set(h.auth('admin')).expect(204);
  });

  it('the check runs on a worker and answers in words what works', async () => {
    const res = await request(h.app)
      .post('/api/v1/file-servers/fs1/directory/check')
      .set(h.auth('operator'))
      .expect(200);
    expect(res.body).toMatchObject({ fileServer: 'fs1', configured: true, ok: true });
    expect(res.body.summary).toBe(
      `ready: a redirect can change fs1.${ZONE} and move the SPNs of FS1$ (${res.body.checks.length} checks passed)`,
    );
    const checks = res.body.checks as { subject: string; detail: string }[];
    expect(checks.map((c) => `${c.subject}: ${c.detail}`)).toEqual([
      `domain controller ${dc.ldapsUrl}: bound as '${dc.adminUser}' over LDAPS (certificate verified against the configured CA); it is ${dc.dcDnsName}`,
      `domain ${dc.dnsDomain}: the DC serves ${dc.baseDn}`,
      `DNS zone ${ZONE}: found in DomainDnsZones; this identity may write its records`,
      `DNS name fs1.${ZONE}: resolves to 10.1.0.11, 10.1.0.12 (TTL 900 s)`,
      expect.stringMatching(
        /^computer account FS1\$: found \(CN=FS1,CN=Computers,DC=corp.*\); this identity may change its SPNs$/,
      ),
      `SPN cifs/FS1: held by 'FS1$' (file server 'fs1')`,
      `SPN cifs/fs1.${ZONE}: held by 'FS1$' (file server 'fs1')`,
      `SPN HOST/FS1: held by 'FS1$' (file server 'fs1')`,
      `SPN HOST/fs1.${ZONE}: held by 'FS1$' (file server 'fs1')`,
    ]);
    expect(res.body.workflowId).toMatch(/^directory-check\/fs1\//);
    expect(res.body.workflowUrl).toContain(encodeURIComponent(res.body.workflowId));
    const d = await h.temporal.workflow.getHandle(res.body.workflowId).describe();
    expect(d.type).toBe('checkDirectoryWorkflow');
    // payloads as text (base64 in the history's JSON): the password is in no input, result or failure
    const json = JSON.stringify(await h.temporal.workflow.getHandle(res.body.workflowId).fetchHistory());
    const history = [...json.matchAll(/"data":"([A-Za-z0-9+/=]+)"/g)]
      .map((m) => Buffer.from(m[1]!, 'base64').toString('utf8'))
      .join('\n');
    expect(history).toContain('"fileServer":"fs1"');
    expect(history).toContain('resolves to 10.1.0.11, 10.1.0.12');
    expect(history).not.toContain(dc.adminPassword);
  });

  it('the check says what does not work: a wrong password, a missing account', async () => {
    await request(h.app)
      .put('/api/v1/file-servers/fs2/directory')
      .set(h.auth('admin'))
      .send(settings({ computerAccount: 'NOSUCH2$', bindPassword: 'Wrong-passw0rd!' }))
      .expect(200);
    const bad = await request(h.app)
      .post('/api/v1/file-servers/fs2/directory/check')
      .set(h.auth('operator'))
      .expect(200);
    expect(bad.body.ok).toBe(false);
    expect(bad.body.summary).toMatch(
      /cannot be redirected: domain controller ldaps:.*refused the bind as 'Administrator@corp.example.test': invalid credentials/,
    );
    expect(JSON.stringify(bad.body)).not.toContain('Wrong-passw0rd!');
    await request(h.app)
      .put('/api/v1/file-servers/fs2/directory')
      .set(h.auth('admin'))
      .send(settings({ computerAccount: 'NOSUCH2$' }))
      .expect(200);
    const missing = await request(h.app)
      .post('/api/v1/file-servers/fs2/directory/check')
      .set(h.auth('operator'))
      .expect(200);
    expect(missing.body.ok).toBe(false);
    expect(
      (missing.body.checks as { subject: string }[]).find((c) => c.subject === 'computer account NOSUCH2$'),
    ).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/^computer account 'NOSUCH2\$' not found in DC=corp,DC=example,DC=test/),
    });
  });

  it('without settings the check says clients are not redirected; DELETE removes settings; 503 when no worker polls', async () => {
    await request(h.app).delete('/api/v1/file-servers/fs2/directory').set(h.auth('admin')).expect(204);
    await request(h.app).get('/api/v1/file-servers/fs2/directory').set(h.auth('viewer')).expect(404);
    await request(h.app).delete('/api/v1/file-servers/fs2/directory').set(h.auth('admin')).expect(404);
    const none = await request(h.app)
      .post('/api/v1/file-servers/fs2/directory/check')
      .set(h.auth('operator'))
      .expect(200);
    expect(none.body).toEqual({
      fileServer: 'fs2',
      configured: false,
      ok: false,
      summary: "clients are not redirected: no directory configured for file server 'fs2'",
      checks: [],
      workflowId: null,
      workflowUrl: null,
    });
    await request(h.app).post('/api/v1/file-servers/nosuch/directory/check').set(h.auth('operator')).expect(404);
    const unpolled = createApp({
      db: h.database.db,
      temporal: h.temporal,
      temporalAddress: '',
      taskQueue: uniqueName('unpolled'),
      logger: createLogger({ log: { level: 'silent', format: 'json' } }),
      secrets: TEST_SECRETS,
      directoryCheckWaitMs: 1500,
    });
    const started = Date.now();
    const res = await request(unpolled).post('/api/v1/file-servers/fs1/directory/check').set(h.auth('operator'));
    // No worker polls that queue: refused at once, naming it, rather than waiting for a check nobody runs.
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ type: 'urn:fs-dr:problem:no-worker' });
    expect(res.body.detail).toMatch(/^no worker is polling task queue 'unpolled_/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a file server patch may not move its name out of the zone or drop an address an FSVM name uses', async () => {
    await request(h.app)
      .put('/api/v1/file-servers/fs1/directory')
      .set(h.auth('admin'))
      .send(settings({ fsvmNames: [{ name: `fs1-n2.${ZONE}`, addresses: ['10.1.0.12'] }] }))
      .expect(200);
    const moved = await request(h.app)
      .patch('/api/v1/file-servers/fs1')
      .set(h.auth('admin'))
      .send({ dnsName: 'fs1.elsewhere.test' });
    expect(moved.status).toBe(400);
    expect(moved.body.errors[0]).toEqual({
      path: 'body.dnsName',
      message: `the file server's name 'fs1.elsewhere.test' is not inside zone '${ZONE}'`,
    });
    const dropped = await request(h.app)
      .patch('/api/v1/file-servers/fs1')
      .set(h.auth('admin'))
      .send({ addresses: ['10.1.0.11'] });
    expect(dropped.status).toBe(400);
    expect(dropped.body.errors[0].path).toBe('body.addresses');
    const fs1 = await h.database.db.fileServer.findUniqueOrThrow({ where: { name: 'fs1' } });
    expect(fs1.dnsName).toBe(`fs1.${ZONE}`);
    expect(fs1.addresses).toEqual(['10.1.0.11', '10.1.0.12']);
  });
});
