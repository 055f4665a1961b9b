// The dnsRecord codec against values a Samba AD DC wrote (`samba-tool dns add`, read back over LDAP), byte for byte.
// test/directory/dns-records.test.ts does the same round trip live against the DC.
import {
  addressRecord,
  canonicalAddress,
  cnameRecord,
  decodeCountName,
  decodeDnsRecord,
  DNS_TYPE,
  encodeCountName,
  encodeDnsRecord,
  ipv6FromBytes,
  ipv6ToBytes,
  nextSerial,
  RANK_ZONE,
  recordValue,
  soaSerial,
  withSoaSerial,
} from './dns-record';

const hex = (s: string) => Buffer.from(s, 'hex');
// samba-tool dns add ... fs1 A 10.1.0.11 (serial 2), AAAA fd00::11 (serial 3), alias1 CNAME fs1.corp.example.test
const SAMBA_A = '0400010005f00000020000000000038400000000000000000a01000b';
const SAMBA_AAAA = '10001c0005f0000003000000000003840000000000000000fd000000000000000000000000000011';
const SAMBA_CNAME =
  '1900050005f000000400000000000384000000000000000017040366733104636f7270076578616d706c65047465737400';
const SAMBA_SOA =
  '4d00060005f000000400000000000e1000000000000000000000000400000384000002580001518000000e10' +
  '17040364633104636f7270076578616d706c650474657374001e040a686f73746d617374657204636f7270076578616d706c65047465737400';

describe('dnsRecord (MS-DNSP DNS_RPC_RECORD)', () => {
  it('decodes the header of what Samba wrote: TTL big-endian, serial little-endian, zone rank, static', () => {
    const a = decodeDnsRecord(hex(SAMBA_A));
    expect(a).toMatchObject({ type: DNS_TYPE.A, version: 5, rank: RANK_ZONE, flags: 0, serial: 2, ttl: 900 });
    expect(a.timestamp).toBe(0);
    expect(recordValue(a)).toBe('10.1.0.11');
    expect(recordValue(decodeDnsRecord(hex(SAMBA_AAAA)))).toBe('fd00::11');
    expect(recordValue(decodeDnsRecord(hex(SAMBA_CNAME)))).toBe('fs1.corp.example.test');
  });

  it('re-encodes every decoded value to the same bytes (A, AAAA, CNAME, SOA)', () => {
    for (const v of [SAMBA_A, SAMBA_AAAA, SAMBA_CNAME, SAMBA_SOA]) {
      expect(encodeDnsRecord(decodeDnsRecord(hex(v))).toString('hex')).toBe(v);
    }
  });

  it('builds the same bytes Samba builds from the values alone', () => {
    const f = { ttl: 900, rank: RANK_ZONE, flags: 0, timestamp: 0 };
    expect(encodeDnsRecord(addressRecord('10.1.0.11', { ...f, serial: 2 })).toString('hex')).toBe(SAMBA_A);
    expect(encodeDnsRecord(addressRecord('fd00::11', { ...f, serial: 3 })).toString('hex')).toBe(SAMBA_AAAA);
    expect(encodeDnsRecord(cnameRecord('fs1.corp.example.test.', { ...f, serial: 4 })).toString('hex')).toBe(
      SAMBA_CNAME,
    );
  });

  it('reads and bumps the zone serial in an SOA record', () => {
    const soa = decodeDnsRecord(hex(SAMBA_SOA));
    expect(soaSerial(soa)).toBe(4);
    const next = withSoaSerial(soa, nextSerial(soaSerial(soa)));
    expect(soaSerial(next)).toBe(5);
    expect(next.serial).toBe(5);
    expect(next.data.subarray(4)).toEqual(soa.data.subarray(4));
    expect(nextSerial(0xffffffff)).toBe(1);
  });

  it('DNS_COUNT_NAME round trip', () => {
    const enc = encodeCountName('dc1.corp.example.test');
    expect(enc.toString('hex')).toBe('17040364633104636f7270076578616d706c65047465737400');
    expect(decodeCountName(enc)).toEqual({ name: 'dc1.corp.example.test', next: enc.length });
    expect(() => encodeCountName(`${'a'.repeat(64)}.test`)).toThrow(/1 to 63/);
  });

  it('IPv6 text and bytes, canonical forms', () => {
    expect(ipv6FromBytes(ipv6ToBytes('FD00:0:0:0:0:0:0:11'))).toBe('fd00::11');
    expect(ipv6FromBytes(ipv6ToBytes('::'))).toBe('::');
    expect(ipv6FromBytes(ipv6ToBytes('2001:db8:0:1:0:0:0:1'))).toBe('2001:db8:0:1::1');
    expect(ipv6FromBytes(ipv6ToBytes('::ffff:10.1.0.11'))).toBe('::ffff:a01:b');
    expect(canonicalAddress('010.001.000.011')).toBe('10.1.0.11');
    for (const bad of ['1::2::3', '12345::', 'fd00:1:2:3:4:5:6:7:8', 'x::1', '1.2.3']) {
      expect(() => canonicalAddress(bad)).toThrow(/not an IPv/);
    }
  });

  it('refuses truncated values', () => {
    expect(() => decodeDnsRecord(hex(SAMBA_A).subarray(0, 20))).toThrow(/too short/);
    expect(() => decodeDnsRecord(hex(SAMBA_A).subarray(0, 26))).toThrow(/announces 4 data bytes/);
  });
});
