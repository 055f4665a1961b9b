// The binary `dnsRecord` attribute of AD-integrated DNS (MS-DNSP 2.3.2.2, DNS_RPC_RECORD as stored in a dnsNode):
//
//   DataLength u16 LE | Type u16 LE | Version u8 (5) | Rank u8 | Flags u16 LE | Serial u32 LE | TtlSeconds u32 BE |
//   Reserved u32 | TimeStamp u32 LE (hours since 1601; 0 = static) | Data (DataLength bytes)
//
// Data is decoded for A (4 bytes), AAAA (16 bytes), CNAME (a DNS_COUNT_NAME) and SOA (five u32 BE, then two
// DNS_COUNT_NAMEs); every other type is kept as raw bytes, so a node's other records survive a rewrite untouched.
// Note the TTL is the one big-endian field of the header.

export const DNS_TYPE = { TOMBSTONE: 0, A: 1, CNAME: 5, SOA: 6, AAAA: 28 } as const;
/** DNS_RANK_ZONE: the record is authoritative data of the zone (what a DNS server writes for a zone record). */
export const RANK_ZONE = 0xf0;
const VERSION = 5;
const HEADER = 24;

export interface DnsRecord {
  type: number;
  version: number;
  rank: number;
  flags: number;
  serial: number;
  ttl: number;
  reserved: number;
  timestamp: number;
  data: Buffer;
}

export class DnsRecordFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnsRecordFormatError';
  }
}

export function decodeDnsRecord(buf: Buffer): DnsRecord {
  if (buf.length < HEADER) throw new DnsRecordFormatError(`dnsRecord value of ${buf.length} bytes is too short`);
  const length = buf.readUInt16LE(0);
  if (buf.length < HEADER + length) {
    throw new DnsRecordFormatError(`dnsRecord value announces ${length} data bytes, has ${buf.length - HEADER}`);
  }
  return {
    type: buf.readUInt16LE(2),
    version: buf.readUInt8(4),
    rank: buf.readUInt8(5),
    flags: buf.readUInt16LE(6),
    serial: buf.readUInt32LE(8),
    ttl: buf.readUInt32BE(12),
    reserved: buf.readUInt32LE(16),
    timestamp: buf.readUInt32LE(20),
    data: Buffer.from(buf.subarray(HEADER, HEADER + length)),
  };
}

export function encodeDnsRecord(r: DnsRecord): Buffer {
  const out = Buffer.alloc(HEADER + r.data.length);
  out.writeUInt16LE(r.data.length, 0);
  out.writeUInt16LE(r.type, 2);
  out.writeUInt8(r.version, 4);
  out.writeUInt8(r.rank, 5);
  out.writeUInt16LE(r.flags, 6);
  out.writeUInt32LE(r.serial >>> 0, 8);
  out.writeUInt32BE(r.ttl >>> 0, 12);
  out.writeUInt32LE(r.reserved >>> 0, 16);
  out.writeUInt32LE(r.timestamp >>> 0, 20);
  r.data.copy(out, HEADER);
  return out;
}

// --- DNS_COUNT_NAME: total length u8, label count u8, then length-prefixed labels and a terminating zero byte.

export function encodeCountName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = Buffer.from(l, 'ascii');
    if (b.length < 1 || b.length > 63) throw new DnsRecordFormatError(`DNS label '${l}' must have 1 to 63 characters`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  const raw = Buffer.concat(parts);
  if (raw.length > 255) throw new DnsRecordFormatError(`DNS name '${name}' is too long`);
  return Buffer.concat([Buffer.from([raw.length, labels.length]), raw]);
}

/** Decodes a DNS_COUNT_NAME at `offset`; returns the name (no trailing dot) and the offset after it. */
export function decodeCountName(buf: Buffer, offset = 0): { name: string; next: number } {
  if (offset + 2 > buf.length) throw new DnsRecordFormatError('truncated DNS name');
  const length = buf.readUInt8(offset);
  const end = offset + 2 + length;
  if (end > buf.length) throw new DnsRecordFormatError('truncated DNS name');
  const labels: string[] = [];
  let p = offset + 2;
  while (p < end) {
    const n = buf.readUInt8(p);
    if (n === 0) break;
    if (p + 1 + n > end) throw new DnsRecordFormatError('DNS name label runs past its length');
    labels.push(buf.subarray(p + 1, p + 1 + n).toString('ascii'));
    p += 1 + n;
  }
  return { name: labels.join('.'), next: end };
}

// --- addresses

export function ipv4ToBytes(ip: string): Buffer {
  const parts = ip.split('.').map((p) => Number(p));
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new DnsRecordFormatError(`'${ip}' is not an IPv4 address`);
  }
  return Buffer.from(parts);
}

export function ipv6ToBytes(ip: string): Buffer {
  let text = ip.toLowerCase();
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = ipv4ToBytes(v4[2]!);
    text = `${v4[1]}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  const parse = (s: string) => (s ? s.split(':') : []).map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  const fits = halves.length === 2 ? missing >= 1 : halves.length === 1 && missing === 0;
  if (!fits || [...head, ...rest].some((g) => Number.isNaN(g))) {
    throw new DnsRecordFormatError(`'${ip}' is not an IPv6 address`);
  }
  const groups = [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...rest];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** RFC 5952 text of 16 address bytes: lower case, longest run of two or more zero groups as ::. */
export function ipv6FromBytes(b: Buffer): string {
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** The canonical text of an IPv4 or IPv6 address, so that address sets compare equal however they were written. */
export function canonicalAddress(ip: string): string {
  return ip.includes(':') ? ipv6FromBytes(ipv6ToBytes(ip)) : ipv4ToBytes(ip).join('.');
}

// --- typed views of the records a redirect manages

/** The fields of a record that a caller keeps or sets; the serial is the zone's, stamped when written. */
export interface RecordFields {
  ttl: number;
  rank: number;
  flags: number;
  serial: number;
  timestamp: number;
}

export function addressRecord(address: string, f: RecordFields): DnsRecord {
  const v6 = address.includes(':');
  return {
    type: v6 ? DNS_TYPE.AAAA : DNS_TYPE.A,
    version: VERSION,
    reserved: 0,
    ...f,
    data: v6 ? ipv6ToBytes(address) : ipv4ToBytes(address),
  };
}

export function cnameRecord(target: string, f: RecordFields): DnsRecord {
  return { type: DNS_TYPE.CNAME, version: VERSION, reserved: 0, ...f, data: encodeCountName(target) };
}

/** The text of an A/AAAA/CNAME record's data (an address, or the CNAME's target without trailing dot). */
export function recordValue(r: DnsRecord): string {
  switch (r.type) {
    case DNS_TYPE.A:
      if (r.data.length !== 4) throw new DnsRecordFormatError(`A record with ${r.data.length} data bytes`);
      return Array.from(r.data).join('.');
    case DNS_TYPE.AAAA:
      if (r.data.length !== 16) throw new DnsRecordFormatError(`AAAA record with ${r.data.length} data bytes`);
      return ipv6FromBytes(r.data);
    case DNS_TYPE.CNAME:
      return decodeCountName(r.data).name;
    default:
      throw new DnsRecordFormatError(`record type ${r.type} has no single value`);
  }
}

export function typeName(type: number): string {
  const entry = Object.entries(DNS_TYPE).find(([, v]) => v === type);
  return entry ? entry[0] : `TYPE${type}`;
}

// --- SOA

export function soaSerial(r: DnsRecord): number {
  if (r.type !== DNS_TYPE.SOA || r.data.length < 20) throw new DnsRecordFormatError('not an SOA record');
  return r.data.readUInt32BE(0);
}

/** The SOA record with a new zone serial in its data (and as its own record serial, as a DNS server writes it). */
export function withSoaSerial(r: DnsRecord, serial: number): DnsRecord {
  const data = Buffer.from(r.data);
  data.writeUInt32BE(serial >>> 0, 0);
  return { ...r, serial: serial >>> 0, data };
}

/** RFC 1982 serial arithmetic: the next serial after `s` (wrapping past 2^32 - 1, never 0). */
export function nextSerial(s: number): number {
  const n = (s + 1) >>> 0;
  return n === 0 ? 1 : n;
}
