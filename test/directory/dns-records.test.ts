// The dnsRecord codec against the real DC: decode what `samba-tool dns add` wrote (read over raw LDAP), re-encode it
// to the same bytes, and write our own encoding of the same records to another name: `samba-tool dns query` and
// `dig` read ours back identically (A, AAAA, CNAME).
import { Client } from 'ldapts';
import { decodeDnsRecord, encodeDnsRecord, recordValue, typeName } from '../../directory/dns-record';
import { bumpZoneSerial, findZone, readNode, replaceManagedRecords } from '../../directory/dns-zone';
import { withSession } from '../../directory/session';
import { addressRecord, cnameRecord, RANK_ZONE } from '../../directory/dns-record';
import type { DomainController } from '../../infra/samba-dc';
import { sharedDomainController, uniqueHost, ZONE } from '../helpers/domain-controller';
import { dig, dnsQuery, recordsWithoutSerial } from '../helpers/directory-fixture';

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
  beforeAll(async () => {
    dc = await sharedDomainController();
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
    await withSession(
      {
        servers: [dc.ldapsUrl],
        bindUser: dc.adminUser,
        bindPassword: dc.adminPassword,
        caPem: dc.caPem,
        plainLdap: false,
        production: false,
      },
      async (s) => {
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
      },
    );

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
});
