// Client redirection against a real Samba AD DC, every change verified through other clients than ours: `dig`
// against the DC's DNS server, `samba-tool spn list` (directory database) and `samba-tool dns query` (DNS RPC).
import { Client } from 'ldapts';
import { createDirectoryActivities } from '../../activities/directory';
import { createSecretBox } from '../../infra/secrets';
import type { DomainController } from '../../infra/samba-dc';
import { createTestDatabase, type TestDatabase } from '../helpers/environment';
import { sharedDomainController, ZONE } from '../helpers/domain-controller';
import {
  addressesOf,
  createAdFileServer,
  dig,
  dnsQuery,
  registerFileServer,
  soaSerialByDig,
  spnList,
  transcript,
  type DirectoryFileServer,
} from '../helpers/directory-fixture';

// Each samba-tool call starts a Python interpreter (about 1 s, several under load): generous per-test time.
jest.setTimeout(180_000);

const secrets = createSecretBox(Buffer.alloc(32, 7));

/** Sets the TTL of a name's records by hand (raw LDAP, TTL bytes 12..15 big-endian), as an administrator might. */
async function setTtlByHand(dc: DomainController, host: string, ttl: number): Promise<void> {
  const c = new Client({ url: dc.ldapsUrl, tlsOptions: { ca: [dc.caPem] } });
  try {
    await c.bind(dc.adminUser, dc.adminPassword);
    const dn = `DC=${host},DC=${ZONE},CN=MicrosoftDNS,DC=DomainDnsZones,${dc.baseDn}`;
    const { searchEntries } = await c.search(dn, {
      scope: 'base',
      attributes: ['dnsRecord'],
      explicitBufferAttributes: ['dnsRecord'],
    });
    const values = ([] as Buffer[]).concat(searchEntries[0]!.dnsRecord as Buffer[]).map((v) => {
      const b = Buffer.from(v);
      b.writeUInt32BE(ttl, 12);
      return b;
    });
    const { Attribute, Change } = await import('ldapts');
    await c.modify(
      dn,
      new Change({ operation: 'replace', modification: new Attribute({ type: 'dnsRecord', values }) }),
    );
  } finally {
    await c.unbind();
  }
}

async function usnOf(dc: DomainController, dns: string[]): Promise<string[]> {
  const c = new Client({ url: dc.ldapsUrl, tlsOptions: { ca: [dc.caPem] } });
  try {
    await c.bind(dc.adminUser, dc.adminPassword);
    const out: string[] = [];
    for (const dn of dns) {
      const { searchEntries } = await c.search(dn, { scope: 'base', attributes: ['uSNChanged'] });
      out.push(String(searchEntries[0]?.uSNChanged));
    }
    return out;
  } finally {
    await c.unbind();
  }
}

describe('client redirection through Active Directory (real Samba AD DC)', () => {
  let dc: DomainController;
  let database: TestDatabase;
  let activities: ReturnType<typeof createDirectoryActivities>;
  beforeAll(async () => {
    [dc, database] = await Promise.all([sharedDomainController(), createTestDatabase()]);
    activities = createDirectoryActivities({ db: database.db, secrets });
  }, 240_000);
  afterAll(async () => {
    await database?.drop();
  });

  async function pair(): Promise<{ n: DirectoryFileServer; x: DirectoryFileServer }> {
    const n = await createAdFileServer(dc, 'src', ['10.50.1.11', '10.50.1.12']);
    const x = await createAdFileServer(dc, 'dst', ['10.60.1.21', 'fd00:60::21']);
    await registerFileServer(database.db, secrets, dc, n);
    await registerFileServer(database.db, secrets, dc, x);
    return { n, x };
  }

  it('redirect then undo: dig answers the destination addresses then the source ones, TTL kept, SPNs follow, a second call writes nothing', async () => {
    const { n, x } = await pair();
    await setTtlByHand(dc, n.host, 300);
    const managed = [
      `cifs/${n.host.toUpperCase()}`,
      `cifs/${n.fqdn}`,
      `HOST/${n.host.toUpperCase()}`,
      `HOST/${n.fqdn}`,
    ];

    const before = await dig(dc, n.fqdn);
    expect(addressesOf(before.answers, n.fqdn)).toEqual(['10.50.1.11', '10.50.1.12']);
    expect(before.answers.every((a) => a.ttl === 300)).toBe(true);
    expect((await spnList(dc, n.account)).spns).toEqual([...managed].sort());
    transcript('before: dig', before.text);
    transcript(`before: samba-tool spn list ${n.account}`, (await spnList(dc, n.account)).text);
    transcript(`before: samba-tool spn list ${x.account}`, (await spnList(dc, x.account)).text);
    transcript(`before: samba-tool dns query ${n.host}`, await dnsQuery(dc, n.host));

    // plan: says what changes, changes nothing
    const plan = await activities.planRedirect({ fileServer: n.name, to: x.name });
    expect(plan).toMatchObject({ configured: true, writes: 1 + 1 + 8 });
    expect(plan.names).toEqual([
      {
        name: n.fqdn,
        before: ['10.50.1.11', '10.50.1.12'],
        after: ['10.60.1.21', 'fd00:60::21'],
        ttl: 300,
        changes: true,
      },
    ]);
    expect(plan.spns.map((s) => [s.spn, s.before, s.after])).toEqual(managed.map((s) => [s, n.account, x.account]));
    expect(plan.summary).toContain(`${n.fqdn}: 10.50.1.11, 10.50.1.12 -> 10.60.1.21, fd00:60::21`);
    expect(addressesOf((await dig(dc, n.fqdn)).answers, n.fqdn)).toEqual(['10.50.1.11', '10.50.1.12']);

    // redirect
    const serialBefore = await soaSerialByDig(dc);
    const undo = await activities.redirectClients({ fileServer: n.name, to: x.name });
    expect(undo.writes).toBe(10); // the SOA, the name, 4 SPNs removed from the source and 4 added to the destination
    expect(JSON.stringify(undo)).not.toContain(dc.adminPassword);
    const after = await dig(dc, n.fqdn);
    expect(addressesOf(after.answers, n.fqdn)).toEqual(['10.60.1.21', 'fd00:60::21']);
    expect(after.answers.map((a) => a.ttl)).toEqual([300, 300]);
    expect((await spnList(dc, n.account)).spns).toEqual([]);
    expect((await spnList(dc, x.account)).spns).toEqual(
      [
        ...managed,
        `cifs/${x.host.toUpperCase()}`,
        `cifs/${x.fqdn}`,
        `HOST/${x.host.toUpperCase()}`,
        `HOST/${x.fqdn}`,
      ].sort(),
    );
    const serialAfter = await soaSerialByDig(dc);
    expect(serialAfter).toBeGreaterThan(serialBefore);
    const query = await dnsQuery(dc, n.host);
    // The records carry a zone serial as new as the SOA's when they were written (as a DNS server writes them).
    const serials = [...query.matchAll(/serial=(\d+)/g)].map((m) => Number(m[1]));
    expect(serials.length).toBe(2);
    expect(serials.every((s) => s > serialBefore && s <= serialAfter)).toBe(true);
    expect(query).toMatch(/A: 10\.60\.1\.21 \(flags=f0, serial=\d+, ttl=300\)/);
    transcript(`redirect ${n.name} -> ${x.name}: summary`, undo.summary);
    transcript(`zone SOA serial (dig ${ZONE} SOA)`, `${serialBefore} before the redirect, ${serialAfter} after`);
    transcript('after redirect: dig', after.text);
    transcript(`after redirect: samba-tool spn list ${n.account}`, (await spnList(dc, n.account)).text);
    transcript(`after redirect: samba-tool spn list ${x.account}`, (await spnList(dc, x.account)).text);
    transcript(`after redirect: samba-tool dns query ${n.host}`, query);

    // idempotent: the same redirect again issues no write (no USN of the objects concerned moves)
    const zoneDn = `DC=${ZONE},CN=MicrosoftDNS,DC=DomainDnsZones,${dc.baseDn}`;
    const objects = [
      `DC=@,${zoneDn}`,
      `DC=${n.host},${zoneDn}`,
      `CN=${n.host.toUpperCase()},CN=Computers,${dc.baseDn}`,
      `CN=${x.host.toUpperCase()},CN=Computers,${dc.baseDn}`,
    ];
    const usns = await usnOf(dc, objects);
    const again = await activities.redirectClients({ fileServer: n.name, to: x.name });
    expect(again.writes).toBe(0);
    expect(again.summary).toMatch(/already reach file server .*nothing to change/);
    expect(await usnOf(dc, objects)).toEqual(usns);
    expect((await activities.planRedirect({ fileServer: n.name, to: x.name })).writes).toBe(0);

    // undo: exactly the previous records (addresses, TTL) and SPN holders
    const undone = await activities.undoRedirect(undo);
    expect(undone.writes).toBe(10);
    const back = await dig(dc, n.fqdn);
    expect(addressesOf(back.answers, n.fqdn)).toEqual(['10.50.1.11', '10.50.1.12']);
    expect(back.answers.map((a) => a.ttl)).toEqual([300, 300]);
    expect((await spnList(dc, n.account)).spns).toEqual([...managed].sort());
    expect((await spnList(dc, x.account)).spns).toHaveLength(4);
    transcript(`undo: summary`, undone.summary);
    transcript('after undo: dig', back.text);
    transcript(`after undo: samba-tool spn list ${n.account}`, (await spnList(dc, n.account)).text);
    transcript(`after undo: samba-tool spn list ${x.account}`, (await spnList(dc, x.account)).text);
    transcript(`after undo: samba-tool dns query ${n.host}`, await dnsQuery(dc, n.host));

    // and undo is idempotent too
    expect((await activities.undoRedirect(undo)).writes).toBe(0);
    // the undo record is plain, small JSON: what a workflow history stores
    expect(JSON.parse(JSON.stringify(undo))).toEqual(undo);
    expect(JSON.stringify(undo).length).toBeLessThan(4000);
  });

  it('failback is redirect(N -> N) taking the SPNs back from the destination; per-FSVM names move along', async () => {
    const n = await createAdFileServer(dc, 'src', ['10.51.0.11', '10.51.0.12']);
    const x = await createAdFileServer(dc, 'dst', ['10.61.0.21']);
    const nodes = ['n1', 'n2'].map((p) => `${n.host}-${p}.${ZONE}`);
    for (const [i, name] of nodes.entries()) {
      await dc.sambaTool(['dns', 'add', dc.address, ZONE, name.split('.')[0]!, 'A', n.addresses[i]!], { auth: true });
    }
    await registerFileServer(database.db, secrets, dc, n, {
      fsvmNames: nodes.map((name, i) => ({ name, addresses: [n.addresses[i]!] })),
    });
    await registerFileServer(database.db, secrets, dc, x);

    await activities.redirectClients({ fileServer: n.name, to: x.name });
    for (const name of [n.fqdn, ...nodes]) {
      expect(addressesOf((await dig(dc, name)).answers, name)).toEqual(['10.61.0.21']);
    }
    expect((await spnList(dc, n.account)).spns).toEqual([]);

    // without `from`, the SPNs on X's account would be a third account's: refused, nothing changed
    await expect(activities.redirectClients({ fileServer: n.name, to: n.name })).rejects.toMatchObject({
      reason: 'duplicate_spn',
    });
    expect(addressesOf((await dig(dc, n.fqdn)).answers, n.fqdn)).toEqual(['10.61.0.21']);

    const failback = await activities.redirectClients({ fileServer: n.name, to: n.name, from: x.name });
    expect(failback.writes).toBeGreaterThan(0);
    expect(addressesOf((await dig(dc, n.fqdn)).answers, n.fqdn)).toEqual(['10.51.0.11', '10.51.0.12']);
    expect(addressesOf((await dig(dc, nodes[0]!)).answers, nodes[0]!)).toEqual(['10.51.0.11']);
    expect(addressesOf((await dig(dc, nodes[1]!)).answers, nodes[1]!)).toEqual(['10.51.0.12']);
    expect((await spnList(dc, n.account)).spns).toHaveLength(4);
    expect((await spnList(dc, x.account)).spns).toHaveLength(4);
  });

  it('a name that was a CNAME becomes A records, and undo makes it the CNAME again', async () => {
    const n = await createAdFileServer(dc, 'cn', []);
    const x = await createAdFileServer(dc, 'dst', ['10.62.0.21']);
    await dc.sambaTool(['dns', 'add', dc.address, ZONE, n.host, 'CNAME', `fs1.${ZONE}`], { auth: true });
    await registerFileServer(database.db, secrets, dc, { ...n, addresses: ['10.52.0.1'] });
    await registerFileServer(database.db, secrets, dc, x);
    const before = await dnsQuery(dc, n.host);
    expect(before).toMatch(/CNAME: fs1\.corp\.example\.test\./);
    const undo = await activities.redirectClients({ fileServer: n.name, to: x.name });
    expect(addressesOf((await dig(dc, n.fqdn)).answers, n.fqdn)).toEqual(['10.62.0.21']);
    expect((await dig(dc, n.fqdn)).answers.some((a) => a.type === 'CNAME')).toBe(false);
    await activities.undoRedirect(undo);
    const after = await dig(dc, n.fqdn);
    expect(after.answers[0]).toMatchObject({ name: n.fqdn, type: 'CNAME', value: `fs1.${ZONE}`, ttl: 900 });
  });

  it('a name with no record at all is created by the redirect and removed again by the undo', async () => {
    const n = await createAdFileServer(dc, 'new', []);
    const x = await createAdFileServer(dc, 'dst', ['10.63.0.21']);
    await registerFileServer(database.db, secrets, dc, { ...n, addresses: ['10.53.0.1'] });
    await registerFileServer(database.db, secrets, dc, x);
    expect((await dig(dc, n.fqdn)).answers).toEqual([]);
    const undo = await activities.redirectClients({ fileServer: n.name, to: x.name });
    expect((await dig(dc, n.fqdn)).answers).toEqual([{ name: n.fqdn, ttl: 900, type: 'A', value: '10.63.0.21' }]);
    expect(undo.names).toEqual([{ name: n.fqdn, existed: false, records: [] }]);
    await activities.undoRedirect(undo);
    expect((await dig(dc, n.fqdn)).answers).toEqual([]);
    expect(await dnsQuery(dc, n.host)).toBe('(no such name)');
  });

  it('a name deleted earlier (a tombstoned node) gets records again, and undo leaves it without any', async () => {
    const n = await createAdFileServer(dc, 'tomb', ['10.55.0.1']);
    const x = await createAdFileServer(dc, 'dst', ['10.65.0.1']);
    await dc.sambaTool(['dns', 'delete', dc.address, ZONE, n.host, 'A', '10.55.0.1'], { auth: true });
    expect((await dig(dc, n.fqdn)).answers).toEqual([]);
    await registerFileServer(database.db, secrets, dc, n);
    await registerFileServer(database.db, secrets, dc, x);
    const undo = await activities.redirectClients({ fileServer: n.name, to: x.name });
    expect(addressesOf((await dig(dc, n.fqdn)).answers, n.fqdn)).toEqual(['10.65.0.1']);
    expect(undo.names).toEqual([{ name: n.fqdn, existed: false, records: [] }]);
    await activities.undoRedirect(undo);
    expect((await dig(dc, n.fqdn)).answers).toEqual([]);
  });

  it('a file server with no directory settings: the plan says so, redirect and undo change nothing', async () => {
    const n = await createAdFileServer(dc, 'nod', ['10.54.0.1']);
    const x = await createAdFileServer(dc, 'dst', ['10.64.0.1']);
    await registerFileServer(database.db, secrets, dc, n, { settings: false });
    await registerFileServer(database.db, secrets, dc, x);
    const plan = await activities.planRedirect({ fileServer: n.name, to: x.name });
    expect(plan).toMatchObject({
      configured: false,
      summary: `clients are not redirected: no directory configured for file server '${n.name}'`,
      writes: 0,
    });
    const undo = await activities.redirectClients({ fileServer: n.name, to: x.name });
    expect(undo).toMatchObject({ configured: false, writes: 0, names: [], spns: [] });
    expect(undo.summary).toBe(plan.summary);
    expect(await activities.undoRedirect(undo)).toMatchObject({ writes: 0, summary: plan.summary });
    expect(addressesOf((await dig(dc, n.fqdn)).answers, n.fqdn)).toEqual(['10.54.0.1']);
    expect((await spnList(dc, n.account)).spns).toHaveLength(4);
    const check = await activities.checkDirectory({ fileServer: n.name });
    expect(check).toMatchObject({ configured: false, ok: false, summary: plan.summary });
  });

  it('checkDirectory answers in words: DC, domain, zone, name, account, SPNs', async () => {
    const { n } = await pair();
    const check = await activities.checkDirectory({ fileServer: n.name });
    expect(check.ok).toBe(true);
    const bySubject = Object.fromEntries(check.checks.map((c) => [c.subject, c]));
    expect(bySubject[`domain controller ${dc.ldapsUrl}`]!.detail).toMatch(
      /bound as 'Administrator@corp.example.test' over LDAPS \(certificate verified against the configured CA\)/,
    );
    expect(bySubject[`DNS zone ${ZONE}`]!.detail).toBe('found in DomainDnsZones; this identity may write its records');
    expect(bySubject[`DNS name ${n.fqdn}`]!.detail).toBe('resolves to 10.50.1.11, 10.50.1.12 (TTL 900 s)');
    expect(bySubject[`computer account ${n.account}`]!.detail).toMatch(
      /found \(CN=.*\); this identity may change its SPNs/,
    );
    expect(bySubject[`SPN cifs/${n.fqdn}`]!.detail).toBe(`held by '${n.account}' (file server '${n.name}')`);
    expect(check.summary).toMatch(/^ready: a redirect can change/);
  });
});
