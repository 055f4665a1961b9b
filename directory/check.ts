// Readiness of a file server's directory settings, answered in words: each domain controller (reachable? TLS
// verified? bind accepted?), the domain, the zone and the right to write it, each managed name and what it resolves to
// now, the computer account and the right to write its SPNs, and who holds each managed SPN. Reads only.
import type { DirectoryCheckItem } from '../domain/directory';
import { DirectoryError } from '../domain/errors';
import { recordValue } from './dns-record';
import { findZone, managedRecords, readNode } from './dns-zone';
import { DirectorySession, type SessionOptions } from './session';
import { findAccount, holdersOf } from './spn';

export interface CheckInput {
  session: SessionOptions;
  domain: string;
  zone: string;
  account: string;
  names: string[];
  spns: string[];
  /** Computer accounts of the file servers fs-dr knows in this domain (sAMAccountName, lower case -> file server). */
  knownAccounts: Map<string, string>;
}

const LABEL = { ldaps: 'LDAPS', starttls: 'StartTLS', plain: 'plain LDAP (no TLS)' } as const;

function messageOf(err: unknown): string {
  return err instanceof DirectoryError ? err.message : err instanceof Error ? err.message : String(err);
}

function baseDnOf(domain: string): string {
  return domain
    .split('.')
    .map((l) => `DC=${l}`)
    .join(',')
    .toLowerCase();
}

async function writable(s: DirectorySession, dn: string, attribute: string): Promise<boolean> {
  const [e] = await s.search(dn, `rights on ${dn}`, { scope: 'base', attributes: ['allowedAttributesEffective'] });
  const allowed = e?.allowedAttributesEffective;
  const list = Array.isArray(allowed) ? allowed.map(String) : allowed ? [String(allowed)] : [];
  return list.some((a) => a.toLowerCase() === attribute.toLowerCase());
}

async function mayCreateNodes(s: DirectorySession, zoneDn: string): Promise<boolean> {
  const [e] = await s.search(zoneDn, `rights on ${zoneDn}`, {
    scope: 'base',
    attributes: ['allowedChildClassesEffective'],
  });
  const v = e?.allowedChildClassesEffective;
  const list = Array.isArray(v) ? v.map(String) : v ? [String(v)] : [];
  return list.some((c) => c.toLowerCase() === 'dnsnode');
}

export async function checkDirectory(input: CheckInput): Promise<DirectoryCheckItem[]> {
  const items: DirectoryCheckItem[] = [];
  let session: DirectorySession | undefined;
  for (const server of input.session.servers) {
    const subject = `domain controller ${server}`;
    try {
      const s = await DirectorySession.open({ ...input.session, servers: [server] });
      const tlsNote = s.security === 'plain' ? 'no TLS' : 'certificate verified against the configured CA';
      items.push({
        subject,
        ok: true,
        detail: `bound as '${input.session.bindUser}' over ${LABEL[s.security]} (${tlsNote}); it is ${s.rootDse.dnsHostName || 'a DC'}`,
      });
      if (session) await s.close();
      else session = s;
    } catch (err) {
      items.push({ subject, ok: false, detail: messageOf(err) });
    }
  }
  if (!session) {
    items.push({
      subject: 'directory',
      ok: false,
      detail: 'no domain controller could be used: nothing else was checked',
    });
    return items;
  }
  const s = session;
  try {
    const base = s.rootDse.defaultNamingContext;
    const sameDomain = base.toLowerCase() === baseDnOf(input.domain);
    items.push({
      subject: `domain ${input.domain}`,
      ok: sameDomain,
      detail: sameDomain
        ? `the DC serves ${base}`
        : `the DC serves ${base}, not ${baseDnOf(input.domain)}: check the domain setting`,
    });
    const step = async (subject: string, fn: () => Promise<{ ok: boolean; detail: string }>) => {
      try {
        items.push({ subject, ...(await fn()) });
      } catch (err) {
        items.push({ subject, ok: false, detail: messageOf(err) });
      }
    };
    let zone: Awaited<ReturnType<typeof findZone>> | undefined;
    await step(`DNS zone ${input.zone}`, async () => {
      zone = await findZone(s, input.zone);
      const serialWritable = await writable(s, `DC=@,${zone.dn}`, 'dnsRecord');
      const create = await mayCreateNodes(s, zone.dn);
      const ok = serialWritable && create;
      return {
        ok,
        detail: `found in ${zone.partition}; ${ok ? 'this identity may write its records' : `this identity may not ${serialWritable ? 'create names in it' : 'update its SOA serial'}`}`,
      };
    });
    for (const name of input.names) {
      await step(`DNS name ${name}`, async () => {
        if (!zone) return { ok: false, detail: 'not checked: the zone was not found' };
        const node = await readNode(s, zone, name);
        const recs = managedRecords(node);
        if (!recs.length) return { ok: true, detail: 'has no address record yet: a redirect creates them' };
        const mayWrite = await writable(s, node.dn, 'dnsRecord');
        const list = recs.map((r) => `${recordValue(r)}`).join(', ');
        return {
          ok: mayWrite,
          detail: `resolves to ${list} (TTL ${recs[0]!.ttl} s)${mayWrite ? '' : '; this identity may not change its records'}`,
        };
      });
    }
    await step(`computer account ${input.account}`, async () => {
      const acc = await findAccount(s, input.account);
      const mayWrite = await writable(s, acc.dn, 'servicePrincipalName');
      return {
        ok: mayWrite,
        detail: `found (${acc.dn}); ${mayWrite ? 'this identity may change its SPNs' : 'this identity may NOT change its SPNs'}`,
      };
    });
    for (const spn of input.spns) {
      await step(`SPN ${spn}`, async () => {
        const holders = await holdersOf(s, spn);
        if (!holders.length) return { ok: true, detail: 'held by no account: a redirect adds it' };
        const described = holders.map((h) => {
          const fs = input.knownAccounts.get(h.sam.toLowerCase());
          return fs ? `'${h.sam}' (file server '${fs}')` : `'${h.sam}' (not a file server fs-dr knows)`;
        });
        const unknown = holders.filter((h) => !input.knownAccounts.has(h.sam.toLowerCase()));
        if (holders.length > 1) {
          return {
            ok: false,
            detail: `duplicate: held by ${described.join(' and ')}; Kerberos fails until one is removed`,
          };
        }
        if (unknown.length) {
          return { ok: false, detail: `held by ${described[0]}: a redirect would refuse to take it (duplicate SPN)` };
        }
        return { ok: true, detail: `held by ${described[0]}` };
      });
    }
  } finally {
    await s.close();
  }
  return items;
}
