// The dnsRecord codec against the real DC: decode what `samba-tool dns add` wrote (read over raw LDAP), re-encode it
// to the same bytes, and write our own encoding of the same records to another name: `samba-tool dns query` and
// `dig` read ours back identically (A, AAAA, CNAME).
import { Attribute, Client } from 'ldapts';
import { decodeDnsRecord, encodeDnsRecord, recordValue, typeName } from '../../directory/dns-record';
import { bumpZoneSerial, findZone, readNode, replaceManagedRecords } from '../../directory/dns-zone';
import { withSession, type SessionOptions } from '../../directory/session';
import { addressRecord, cnameRecord, RANK_ZONE } from '../../directory/dns-record';
import type { DomainController } from '../../infra/samba-dc';
import { sharedDomainController, uniqueHost, ZONE } from '../helpers/domain-controller';
import { adminSession, dig, dnsQuery, recordsWithoutSerial, soaSerialByDig } from '../helpers/directory-fixture';

// Each samba-tool call starts a Python interpreter (about 1 s, several under load): generous per-test time.
jest.setTimeout(180_000);

async function rawValues(dc: DomainController, host: string): Promise<Buffer[]> {
  const c = new Client({ url: dc.ldapsUrl, tlsOptions: { ca: [dc.caPem] } });
  try {
    await c.bind(dc.adminUser, dc.adminPassword);
    const { searchEntries } = await c.search(`DC=${host},DC=${ZONE},CN=MicrosoftDNS,DC=DomainDnsZones,${dc.baseDn}`, {
      scope: 'base',
      attributes: ['dnsRecord'],
      explicitBufferAttributes: ['dnsRecord'],
    });
    return ([] as Buffer[]).concat((searchEntries[0]?.dnsRecord as Buffer[] | undefined) ?? []);
  } finally {
    await c.unbind();
  }
}

describe('dnsRecord round trip with Samba (A, AAAA, CNAME)', () => {
  let dc: DomainController;
  let session: SessionOptions;
  beforeAll(async () => {
    dc = await sharedDomainController();
    session = adminSession(dc);
  }, 240_000);

  it('decodes what samba-tool wrote, re-encodes it byte for byte, and Samba reads our encoding back identically', async () => {
    const theirs = uniqueHost('rt');
    const theirsAlias = uniqueHost('rtc');
    const ours = uniqueHost('ro');
    const oursAlias = uniqueHost('roc');
    const add = (host: string, type: string, value: string) =>
      dc.sambaTool(['dns', 'add', dc.address, ZONE, host, type, value], { auth: true });
    await add(theirs, 'A', '10.70.0.1');
    await add(theirs, 'AAAA', 'fd00:70::1');
    await add(theirsAlias, 'CNAME', `${theirs}.${ZONE}`);

    // decode Samba's bytes; our encoder gives the same bytes back
    const raw = [...(await rawValues(dc, theirs)), ...(await rawValues(dc, theirsAlias))];
    const decoded = raw.map(decodeDnsRecord);
    expect(decoded.map((r) => [typeName(r.type), recordValue(r), r.ttl, r.rank, r.flags, r.timestamp]).sort()).toEqual(
      [
        ['A', '10.70.0.1', 900, RANK_ZONE, 0, 0],
        ['AAAA', 'fd00:70::1', 900, RANK_ZONE, 0, 0],
        ['CNAME', `${theirs}.${ZONE}`, 900, RANK_ZONE, 0, 0],
      ].sort(),
    );
    for (const [i, r] of decoded.entries()) expect(encodeDnsRecord(r).equals(raw[i]!)).toBe(true);

    // write the same records, encoded by us, to other names through the directory module
    await withSession(session, async (s) => {
      const zone = await findZone(s, ZONE);
      const serial = await bumpZoneSerial(s, zone);
      const f = { ttl: 900, rank: RANK_ZONE, flags: 0, timestamp: 0, serial };
      await replaceManagedRecords(s, await readNode(s, zone, `${ours}.${ZONE}`), [
        addressRecord('10.70.0.1', f),
        addressRecord('fd00:70::1', f),
      ]);
      await replaceManagedRecords(s, await readNode(s, zone, `${oursAlias}.${ZONE}`), [
        cnameRecord(`${theirs}.${ZONE}`, f),
      ]);
    });

    // samba-tool (DNS RPC) reads ours exactly as it reads its own, apart from the serial every write advances
    const [qTheirs, qOurs, qTheirsAlias, qOursAlias] = await Promise.all([
      dnsQuery(dc, theirs),
      dnsQuery(dc, ours),
      dnsQuery(dc, theirsAlias),
      dnsQuery(dc, oursAlias),
    ]);
    expect(recordsWithoutSerial(qOurs)).toEqual(recordsWithoutSerial(qTheirs));
    expect(recordsWithoutSerial(qOurs)).toEqual([
      'A: 10.70.0.1 (flags=f0, ttl=900)',
      'AAAA: fd00:0070:0000:0000:0000:0000:0000:0001 (flags=f0, ttl=900)',
    ]);
    expect(recordsWithoutSerial(qOursAlias)).toEqual(recordsWithoutSerial(qTheirsAlias));
    expect(recordsWithoutSerial(qOursAlias)).toEqual([`CNAME: ${theirs}.${ZONE}. (flags=f0, ttl=900)`]);

    // and the DNS server answers both the same way
    const strip = (text: string, host: string) => text.split(host).join('<name>');
    expect(strip((await dig(dc, `${ours}.${ZONE}`)).text, ours)).toBe(
      strip((await dig(dc, `${theirs}.${ZONE}`)).text, theirs),
    );
    const alias = await dig(dc, `${oursAlias}.${ZONE}`);
    expect(alias.answers[0]).toMatchObject({ type: 'CNAME', value: `${theirs}.${ZONE}`, ttl: 900 });

    // the bytes we stored are the bytes we encoded (no server-side rewriting)
    const oursRaw = await rawValues(dc, ours);
    expect(oursRaw.map((b) => recordValue(decodeDnsRecord(b))).sort()).toEqual(['10.70.0.1', 'fd00:70::1']);
  });

  it('finds zones in ForestDnsZones and in the legacy CN=MicrosoftDNS,CN=System container, and writes there', async () => {
    const legacy = `${uniqueHost('legacy')}.test`;
    await withSession(session, async (s) => {
      // _msdcs.<forest> lives in ForestDnsZones on every AD DC
      const forest = await findZone(s, `_msdcs.${ZONE}`);
      expect(forest.partition).toBe('ForestDnsZones');
      const host = uniqueHost('fz');
      const serial = await bumpZoneSerial(s, forest);
      const f = { ttl: 600, rank: RANK_ZONE, flags: 0, timestamp: 0, serial };
      await replaceManagedRecords(s, await readNode(s, forest, `${host}._msdcs.${ZONE}`), [
        addressRecord('10.71.0.1', f),
      ]);
      expect((await dig(dc, `${host}._msdcs.${ZONE}`)).answers).toEqual([
        { name: `${host}._msdcs.${ZONE}`, ttl: 600, type: 'A', value: '10.71.0.1' },
      ]);

      // a legacy zone (Windows 2000 style) made by hand: the zone object and its SOA, copied from the domain zone
      const c = new Client({ url: dc.ldapsUrl, tlsOptions: { ca: [dc.caPem] } });
      await c.bind(dc.adminUser, dc.adminPassword);
      try {
        const legacyDn = `DC=${legacy},CN=MicrosoftDNS,CN=System,${dc.baseDn}`;
        await c.add(legacyDn, { objectClass: ['top', 'dnsZone'] });
        const { searchEntries } = await c.search(`DC=@,DC=${ZONE},CN=MicrosoftDNS,DC=DomainDnsZones,${dc.baseDn}`, {
          scope: 'base',
          attributes: ['dnsRecord'],
          explicitBufferAttributes: ['dnsRecord'],
        });
        const soa = ([] as Buffer[])
          .concat(searchEntries[0]!.dnsRecord as Buffer[])
          .find((b) => b.readUInt16LE(2) === 6)!;
        await c.add(`DC=@,${legacyDn}`, [
          new Attribute({ type: 'objectClass', values: ['top', 'dnsNode'] }),
          new Attribute({ type: 'dnsRecord', values: [soa] }),
        ]);
      } finally {
        await c.unbind();
      }
      const zone = await findZone(s, legacy);
      expect(zone.partition).toBe('System');
      const serial2 = await bumpZoneSerial(s, zone);
      await replaceManagedRecords(s, await readNode(s, zone, `fs9.${legacy}`), [
        addressRecord('10.72.0.1', { ...f, serial: serial2 }),
      ]);
      const node = await readNode(s, zone, `fs9.${legacy}`);
      expect(node.dn).toBe(`DC=fs9,DC=${legacy},CN=MicrosoftDNS,CN=System,${dc.baseDn}`);
      expect(node.records.map(recordValue)).toEqual(['10.72.0.1']);
      expect(node.records[0]!.serial).toBe(serial2);
    });
  });

  it('concurrent writers each take a zone serial of their own (the SOA is updated by compare-and-swap, retried)', async () => {
    const before = await soaSerialByDig(dc);
    const serials = await Promise.all(
      [1, 2, 3, 4].map(() => withSession(session, async (s) => bumpZoneSerial(s, await findZone(s, ZONE)))),
    );
    expect(new Set(serials).size).toBe(4);
    expect(Math.min(...serials)).toBeGreaterThan(before);
    expect(await soaSerialByDig(dc)).toBeGreaterThanOrEqual(Math.max(...serials));
  });
});
