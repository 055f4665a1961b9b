// Bad input and faults against the real DC, each with its typed failure (the ApplicationFailure type a workflow
// branches on, retryable or not) and no change to the directory: LDAP-injection-shaped names, a wrong password, an
// unknown CA, a missing account or zone, a duplicate SPN on a third account, insufficient rights, plain LDAP, an
// unreachable and a hung domain controller, and a DC that is stopped and started again.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { createDirectoryActivities } from '../../activities/directory';
import { withFailureMapping } from '../../activities/failures';
import { findZone, readNode } from '../../directory/dns-zone';
import { withSession } from '../../directory/session';
import { findAccount, holdersOf } from '../../directory/spn';
import { DirectoryError } from '../../domain/errors';
import { claimLoopbackAddress, releaseLoopbackAddress } from '../../infra/loopback-address';
import { startDomainController, type DomainController } from '../../infra/samba-dc';
import { createSecretBox } from '../../infra/secrets';
import { createCertificateAuthority } from '../../infra/tls-certificates';
import { createTestDatabase, type TestDatabase } from '../helpers/environment';
import { sharedDomainController, uniqueHost, ZONE } from '../helpers/domain-controller';
import {
  addressesOf,
  adminSession,
  createAdFileServer,
  dig,
  registerFileServer,
  soaSerialByDig,
  spnList,
  type DirectoryFileServer,
} from '../helpers/directory-fixture';
import { freePort } from '../helpers/ports';

// Each samba-tool call starts a Python interpreter (about 1 s, several under load): generous per-test time.
jest.setTimeout(180_000);

const secrets = createSecretBox(Buffer.alloc(32, 5));

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('directory faults (real Samba AD DC)', () => {
  let dc: DomainController;
  let database: TestDatabase;
  let tmp: string;
  let activities: ReturnType<typeof createDirectoryActivities>;
  let n: DirectoryFileServer;
  let x: DirectoryFileServer;
  /** What the directory shows for n and x; every refused call must leave it so. */
  let state: () => Promise<unknown>;
  let unchanged: unknown;

  beforeAll(async () => {
    [dc, database] = await Promise.all([sharedDomainController(), createTestDatabase()]);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-dir-faults-'));
    activities = withFailureMapping(
      createDirectoryActivities({
        db: database.db,
        secrets,
        directoryTimeouts: { connectMs: 1500, operationMs: 3000 },
      }),
    );
    n = await createAdFileServer(dc, 'fsrc', ['10.80.0.11']);
    x = await createAdFileServer(dc, 'fdst', ['10.81.0.21']);
    await registerFileServer(database.db, secrets, dc, n);
    await registerFileServer(database.db, secrets, dc, x);
    state = async () => ({
      n: addressesOf((await dig(dc, n.fqdn)).answers, n.fqdn),
      nSpns: (await spnList(dc, n.account)).spns,
      xSpns: (await spnList(dc, x.account)).spns,
    });
    unchanged = await state();
    expect(unchanged).toMatchObject({ n: ['10.80.0.11'] });
  }, 240_000);
  afterAll(async () => {
    await database?.drop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** A variant of n (same AD objects) registered under another name with other settings. */
  async function variant(opts: Parameters<typeof registerFileServer>[4], over: Partial<DirectoryFileServer> = {}) {
    const v = { ...n, ...over, name: `fs-${uniqueHost('v')}` };
    await registerFileServer(database.db, secrets, dc, v, opts);
    return v.name;
  }

  async function expectRefused(name: string, type: string, retryable: boolean, message: RegExp) {
    const f = await failureOf(activities.redirectClients({ fileServer: name, to: x.name }));
    expect({ type: f.type, nonRetryable: f.nonRetryable }).toEqual({ type, nonRetryable: !retryable });
    expect(f.message).toMatch(message);
    expect(f.message).not.toContain(dc.adminPassword);
    expect(await state()).toEqual(unchanged);
    return f;
  }

  it('a wrong password: DIRECTORY_INVALID_CREDENTIALS, naming the DC and the user, never the password', async () => {
    const name = await variant({ password: 'Wrong-passw0rd!' });
    const f = await expectRefused(
      name,
      'DIRECTORY_INVALID_CREDENTIALS',
      false,
      /refused the bind as 'Administrator@corp.example.test'/,
    );
    expect(f.message).toContain(dc.ldapsUrl);
    expect(f.message).not.toContain('Wrong-passw0rd!');
  });

  it('an unknown CA: LDAPS refused, DIRECTORY_TLS_VERIFICATION_FAILED', async () => {
    const other = await createCertificateAuthority(tmp, { name: 'other', commonName: 'some other CA' });
    const name = await variant({ caPem: other.certPem });
    await expectRefused(name, 'DIRECTORY_TLS_VERIFICATION_FAILED', false, /TLS certificate not accepted/);
    // StartTLS on ldap:// is verified the same way
    const name2 = await variant({ caPem: other.certPem, servers: [dc.ldapUrl] });
    await expectRefused(name2, 'DIRECTORY_TLS_VERIFICATION_FAILED', false, /ldap:\/\/.*TLS certificate not accepted/);
  });

  it('a missing computer account or zone: DIRECTORY_ACCOUNT_NOT_FOUND / DIRECTORY_ZONE_NOT_FOUND naming it', async () => {
    await expectRefused(
      await variant({ account: 'NOSUCHFS$' }),
      'DIRECTORY_ACCOUNT_NOT_FOUND',
      false,
      /computer account 'NOSUCHFS\$' not found/,
    );
    await expectRefused(
      await variant({ zone: 'nosuch.example.test' }),
      'DIRECTORY_ZONE_NOT_FOUND',
      false,
      /DNS zone 'nosuch.example.test' not found/,
    );
  });

  it('a duplicate SPN on a third account: DIRECTORY_DUPLICATE_SPN naming SPN and account, nothing moved', async () => {
    const m = await createAdFileServer(dc, 'fdup', ['10.82.0.11']);
    const y = await createAdFileServer(dc, 'fdupd', ['10.83.0.21']);
    const third = uniqueHost('third').toUpperCase();
    await dc.addComputer(third);
    await dc.sambaTool(['spn', 'delete', `cifs/${m.fqdn}`, m.account]);
    await dc.sambaTool(['spn', 'add', `cifs/${m.fqdn}`, `${third}$`]);
    await registerFileServer(database.db, secrets, dc, m);
    await registerFileServer(database.db, secrets, dc, y);
    const before = [
      (await spnList(dc, m.account)).spns,
      (await spnList(dc, y.account)).spns,
      (await spnList(dc, `${third}$`)).spns,
    ];
    const f = await failureOf(activities.redirectClients({ fileServer: m.name, to: y.name }));
    expect(f.type).toBe('DIRECTORY_DUPLICATE_SPN');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain(`'cifs/${m.fqdn}' is held by '${third}$'`);
    const plan = await failureOf(activities.planRedirect({ fileServer: m.name, to: y.name }));
    expect(plan.type).toBe('DIRECTORY_DUPLICATE_SPN');
    expect([
      (await spnList(dc, m.account)).spns,
      (await spnList(dc, y.account)).spns,
      (await spnList(dc, `${third}$`)).spns,
    ]).toEqual(before);
    expect(addressesOf((await dig(dc, m.fqdn)).answers, m.fqdn)).toEqual(['10.82.0.11']);
  });

  it('insufficient rights: DIRECTORY_INSUFFICIENT_RIGHTS naming the object, and the check says so in words', async () => {
    const user = uniqueHost('lowpriv');
    const password = `Lp-${uniqueHost('p')}-9!`;
    await dc.sambaTool(['user', 'create', user, password]);
    const name = await variant({ bindUser: `${user}@${ZONE}`, password });
    await expectRefused(
      name,
      'DIRECTORY_INSUFFICIENT_RIGHTS',
      false,
      /SOA serial of DNS zone 'corp.example.test': insufficient access rights/,
    );
    const check = await activities.checkDirectory({ fileServer: name });
    expect(check.ok).toBe(false);
    expect(check.checks.find((c) => c.subject === `DNS zone ${ZONE}`)).toMatchObject({
      ok: false,
      detail: 'found in DomainDnsZones; this identity may not update its SOA serial',
    });
    expect(check.summary).toMatch(/cannot be redirected: DNS zone corp.example.test: .*may not update its SOA serial/);
  });

  it('a write that fails half-way is put back: DNS written, SPNs refused -> the DNS records are restored', async () => {
    // A member of DnsAdmins may write the zone but not the computer accounts' SPNs.
    const user = uniqueHost('dnsadm');
    const password = `Da-${uniqueHost('p')}-9!`;
    await dc.sambaTool(['user', 'create', user, password]);
    await dc.sambaTool(['group', 'addmembers', 'DnsAdmins', user]);
    const name = await variant({ bindUser: `${user}@${ZONE}`, password });
    const serialBefore = await soaSerialByDig(dc);
    const f = await expectRefused(
      name,
      'DIRECTORY_INSUFFICIENT_RIGHTS',
      false,
      /SPN 'cifs\/.*' of computer account '.*': insufficient access rights; everything written before it was put back/,
    );
    expect(f.message).toContain(n.account);
    // the zone serial moved (the records were written, then written back), the records are as before
    expect(await soaSerialByDig(dc)).toBeGreaterThan(serialBefore);
    const check = await activities.checkDirectory({ fileServer: name });
    expect(check.checks.find((c) => c.subject === `computer account ${n.account}`)).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/this identity may NOT change its SPNs$/),
    });
  });

  it('plain LDAP: the DC refuses a simple bind without TLS; with NODE_ENV=production it is never even tried', async () => {
    const name = await variant({ servers: [dc.ldapUrl], plainLdap: true, caPem: null });
    await expectRefused(name, 'DIRECTORY_TLS_REQUIRED', false, /requires TLS/);
    const prod = withFailureMapping(createDirectoryActivities({ db: database.db, secrets, production: true }));
    const f = await failureOf(prod.redirectClients({ fileServer: name, to: x.name }));
    expect(f.type).toBe('DIRECTORY_INVALID_INPUT');
    expect(f.message).toBe(`plain LDAP (no TLS) to ${dc.ldapUrl} is refused with NODE_ENV=production`);
    // StartTLS on ldap:// with the right CA works
    const tlsName = await variant({ servers: [dc.ldapUrl] });
    expect((await activities.planRedirect({ fileServer: tlsName, to: x.name })).writes).toBeGreaterThan(0);
  });

  it('an unreachable and a hung DC: retryable DIRECTORY_UNREACHABLE / DIRECTORY_TIMEOUT; the next DC in the list is used', async () => {
    const closed = `ldaps://127.0.0.1:${await freePort()}`;
    await expectRefused(await variant({ servers: [closed] }), 'DIRECTORY_UNREACHABLE', true, /ECONNREFUSED/);
    const hung = net.createServer(() => undefined); // accepts, never answers (no TLS handshake)
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    try {
      const url = `ldaps://127.0.0.1:${(hung.address() as net.AddressInfo).port}`;
      const hungName = await variant({ servers: [url] });
      // bounded by the 1.5 s connect timeout (TLS handshake included), not by the test's own timeout
      const started = Date.now();
      const timedOut = await failureOf(activities.planRedirect({ fileServer: hungName, to: x.name }));
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(timedOut.type).toBe('DIRECTORY_TIMEOUT');
      await expectRefused(hungName, 'DIRECTORY_TIMEOUT', true, /timeout|no answer/i);
      const both = await variant({ servers: [closed, url, dc.ldapsUrl] });
      expect((await activities.planRedirect({ fileServer: both, to: x.name })).writes).toBeGreaterThan(0);
      const check = await activities.checkDirectory({ fileServer: both });
      expect(check.checks.slice(0, 3).map((c) => c.ok)).toEqual([false, false, true]);
      expect(check.ok).toBe(true);
      expect(check.summary).toMatch(/^ready: .*; but domain controller ldaps:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    } finally {
      hung.close();
    }
  });

  it('a stopped DC: DIRECTORY_UNREACHABLE (retryable); once it runs again the same call succeeds', async () => {
    // A DC of its own, so that stopping it does not disturb the other test files.
    const address = await claimLoopbackAddress();
    let own: DomainController | undefined;
    try {
      own = await startDomainController({ dir: path.join(tmp, 'dc2'), address, realm: 'STOP.EXAMPLE.TEST' });
      const s = await createAdFileServer(own, 'sstop', ['10.90.0.1']);
      const d = await createAdFileServer(own, 'dstop', ['10.91.0.1']);
      const zone = 'stop.example.test';
      const fix = (v: DirectoryFileServer) => ({ ...v, fqdn: v.fqdn.replace(ZONE, zone) });
      await registerFileServer(database.db, secrets, own, fix(s), { zone });
      await registerFileServer(database.db, secrets, own, fix(d), { zone });
      await own.stop();
      const f = await failureOf(activities.redirectClients({ fileServer: s.name, to: d.name }));
      expect({ type: f.type, nonRetryable: f.nonRetryable }).toEqual({
        type: 'DIRECTORY_UNREACHABLE',
        nonRetryable: false,
      });
      expect(f.message).toContain(`domain controller ${own.ldapsUrl}: ECONNREFUSED`);
      own = await startDomainController({ dir: path.join(tmp, 'dc2'), address, realm: 'STOP.EXAMPLE.TEST' });
      const undo = await activities.redirectClients({ fileServer: s.name, to: d.name });
      expect(undo.writes).toBeGreaterThan(0);
    } finally {
      await own?.stop();
      await releaseLoopbackAddress(address);
    }
  }, 120_000);

  it('LDAP-injection-shaped names are refused before anything is sent, and change nothing', async () => {
    const bad = ['*)(cn=*', 'fs1)(objectClass=*', 'a\\2a', 'x\u0000y', '(fs1)', '*', 'FS1$)(|(cn=*'];
    await withSession(adminSession(dc), async (s) => {
      const zone = await findZone(s, ZONE);
      for (const v of bad) {
        await expect(findAccount(s, v)).rejects.toMatchObject({ reason: 'invalid_input' });
        await expect(findZone(s, v)).rejects.toMatchObject({ reason: 'invalid_input' });
        await expect(readNode(s, zone, `${v}.${ZONE}`)).rejects.toMatchObject({ reason: 'invalid_input' });
        await expect(holdersOf(s, `cifs/${v}`)).rejects.toBeInstanceOf(DirectoryError);
      }
    });
    // rows that never went through the API's validation: refused by the directory module itself
    await expectRefused(
      await variant({ account: '*)(cn=*' }),
      'DIRECTORY_INVALID_INPUT',
      false,
      /computer account "\*\)\(cn=\*" refused/,
    );
    await expectRefused(
      await variant({ spns: ['cifs/*)(servicePrincipalName=*'] }),
      'DIRECTORY_INVALID_INPUT',
      false,
      /SPN "cifs\/\*\)\(servicePrincipalName=\*" refused/,
    );
    await expectRefused(
      await variant({}, { fqdn: `x)(dc=*.${ZONE}` }),
      'DIRECTORY_INVALID_INPUT',
      false,
      /DNS name "x\)\(dc=\*.corp.example.test" refused/,
    );
  });
});
