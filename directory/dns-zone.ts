// AD-integrated DNS over LDAP: a zone is a dnsZone object in one of three places (the DomainDnsZones and
// ForestDnsZones application partitions, or the legacy CN=MicrosoftDNS,CN=System of the domain); each name in it is a
// dnsNode `DC=<name relative to the zone>,<zone>` whose multi-valued `dnsRecord` holds its records (dns-record.ts).
// A write stamps the records with a zone serial newer than the SOA's and stores that serial in the SOA, as a DNS
// server does for an update, so secondaries and caches that compare serials see the change.
import { DirectoryError } from '../domain/errors';
import { nameInZone } from '../domain/directory';
import {
  decodeDnsRecord,
  DNS_TYPE,
  encodeDnsRecord,
  nextSerial,
  soaSerial,
  withSoaSerial,
  type DnsRecord,
} from './dns-record';
import { checkDnsName, equals, escapeDnValue } from './ldap-values';
import type { DirectorySession } from './session';

export interface Zone {
  name: string;
  dn: string;
  /** Where it was found: DomainDnsZones, ForestDnsZones or System. */
  partition: string;
}

export interface DnsNode {
  fqdn: string;
  dn: string;
  exists: boolean;
  tombstoned: boolean;
  /** The stored values, exactly as read (a write deletes exactly these, so a concurrent change fails it). */
  values: Buffer[];
  records: DnsRecord[];
  usnChanged: string | null;
}

/** A, AAAA and CNAME: the records that make a name resolve to addresses, and so the ones a redirect owns. */
export const MANAGED_TYPES: readonly number[] = [DNS_TYPE.A, DNS_TYPE.AAAA, DNS_TYPE.CNAME];

export async function findZone(s: DirectorySession, zoneName: string): Promise<Zone> {
  const name = checkDnsName(zoneName, 'DNS zone');
  const base = s.rootDse.defaultNamingContext;
  const forest = s.rootDse.rootDomainNamingContext;
  const places = [
    { partition: 'DomainDnsZones', dn: `CN=MicrosoftDNS,DC=DomainDnsZones,${base}` },
    { partition: 'ForestDnsZones', dn: `CN=MicrosoftDNS,DC=ForestDnsZones,${forest}` },
    { partition: 'System', dn: `CN=MicrosoftDNS,CN=System,${base}` },
  ];
  for (const p of places) {
    const dn = `DC=${escapeDnValue(name)},${p.dn}`;
    const found = await s.search(dn, `DNS zone '${name}'`, {
      scope: 'base',
      filter: equals('objectClass', 'dnsZone'),
      attributes: ['name'],
    });
    if (found.length) return { name, dn, partition: p.partition };
  }
  throw new DirectoryError(
    'zone_not_found',
    `DNS zone '${name}' not found in DomainDnsZones, ForestDnsZones or System of ${base} (on ${s.server})`,
  );
}

function asBuffers(v: unknown): Buffer[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is Buffer => Buffer.isBuffer(x));
}

async function readNodeDn(s: DirectorySession, dn: string, fqdn: string): Promise<DnsNode> {
  const [e] = await s.search(dn, `DNS name '${fqdn}'`, {
    scope: 'base',
    attributes: ['dnsRecord', 'dNSTombstoned', 'uSNChanged'],
    binary: ['dnsRecord'],
  });
  if (!e) return { fqdn, dn, exists: false, tombstoned: false, values: [], records: [], usnChanged: null };
  const values = asBuffers(e.dnsRecord);
  const records = values.map((v) => {
    try {
      return decodeDnsRecord(v);
    } catch (err) {
      throw new DirectoryError(
        'refused',
        `DNS name '${fqdn}' holds a dnsRecord value that is not DNS_RPC_RECORD: ${(err as Error).message}`,
      );
    }
  });
  return {
    fqdn,
    dn,
    exists: true,
    tombstoned: String(e.dNSTombstoned).toUpperCase() === 'TRUE',
    values,
    records,
    usnChanged: typeof e.uSNChanged === 'string' ? e.uSNChanged : null,
  };
}

export function nodeDn(zone: Zone, fqdn: string): string {
  const name = checkDnsName(fqdn);
  const rel = nameInZone(name, zone.name);
  if (rel === null) {
    throw new DirectoryError('invalid_input', `DNS name '${name}' is not inside zone '${zone.name}'`);
  }
  return `DC=${escapeDnValue(rel)},${zone.dn}`;
}

export async function readNode(s: DirectorySession, zone: Zone, fqdn: string): Promise<DnsNode> {
  return readNodeDn(s, nodeDn(zone, fqdn), fqdn.toLowerCase());
}

/** The A, AAAA and CNAME records of a node (none for a tombstoned one). */
export function managedRecords(node: DnsNode): DnsRecord[] {
  if (node.tombstoned) return [];
  return node.records.filter((r) => MANAGED_TYPES.includes(r.type));
}

/**
 * Advances the zone's SOA serial by one and returns the new serial, for stamping the records written with it. The
 * old SOA value is deleted by its exact bytes, so two writers never both take the same serial. Every update of the
 * zone (a DNS client registering itself, the DC's own scavenging, another fs-dr activity) advances it too: when one
 * got in between our read and our write, read it again and retry, a few times, before reporting the contention.
 */
export async function bumpZoneSerial(s: DirectorySession, zone: Zone, attempts = 6): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const apex = await readNodeDn(s, `DC=@,${zone.dn}`, `@.${zone.name}`);
    const i = apex.records.findIndex((r) => r.type === DNS_TYPE.SOA);
    if (i < 0) throw new DirectoryError('refused', `DNS zone '${zone.name}' has no SOA record`);
    const serial = nextSerial(soaSerial(apex.records[i]!));
    try {
      await s.modify(apex.dn, `SOA serial of DNS zone '${zone.name}'`, [
        { op: 'delete', type: 'dnsRecord', values: [apex.values[i]!] },
        { op: 'add', type: 'dnsRecord', values: [encodeDnsRecord(withSoaSerial(apex.records[i]!, serial))] },
      ]);
      return serial;
    } catch (err) {
      if (!(err instanceof DirectoryError && err.reason === 'concurrent_change') || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 20 * attempt + Math.floor(Math.random() * 50)));
    }
  }
}

/**
 * Replaces the managed records of a node with `desired` (already stamped with the zone serial), keeping its other
 * records. A node that does not exist is created; a node left with no record at all is deleted. One LDAP modify per
 * node: the old values are deleted by their exact bytes, so a concurrent change makes it fail rather than merge.
 */
export async function replaceManagedRecords(s: DirectorySession, node: DnsNode, desired: DnsRecord[]): Promise<void> {
  const what = `DNS name '${node.fqdn}'`;
  const encoded = desired.map(encodeDnsRecord);
  if (!node.exists) {
    if (encoded.length) await s.add(node.dn, what, { objectClass: ['top', 'dnsNode'], dnsRecord: encoded });
    return;
  }
  const drop = node.values.filter((_, i) => {
    const t = node.records[i]!.type;
    return MANAGED_TYPES.includes(t) || t === DNS_TYPE.TOMBSTONE;
  });
  const kept = node.values.length - drop.length;
  if (!encoded.length && kept === 0) {
    await s.del(node.dn, what);
    return;
  }
  const changes: { op: 'add' | 'delete' | 'replace'; type: string; values: (Buffer | string)[] }[] = [];
  if (drop.length) changes.push({ op: 'delete', type: 'dnsRecord', values: drop });
  if (encoded.length) changes.push({ op: 'add', type: 'dnsRecord', values: encoded });
  if (node.tombstoned) changes.push({ op: 'replace', type: 'dNSTombstoned', values: ['FALSE'] });
  if (changes.length) await s.modify(node.dn, what, changes);
}
