// Client redirection in one shape for every caller: read the names and SPNs concerned, compare them with what they
// should be, and write only the difference. Redirect (failover, failback) and undo differ only in what "should be"
// means: the addresses of the file server that serves the name now, or exactly the records and holders an undo record
// kept. Nothing is written before every check passed (zone, accounts, no SPN on a third account); a write that fails
// half-way is rolled back to what was read, best effort, before the error is reported.
import { DirectoryError } from '../domain/errors';
import type { DnsRecordSnapshot, NameChange, RedirectUndo, SpnChange } from '../domain/directory';
import {
  addressRecord,
  canonicalAddress,
  cnameRecord,
  RANK_ZONE,
  recordValue,
  typeName,
  type DnsRecord,
} from './dns-record';
import {
  bumpZoneSerial,
  findZone,
  managedRecords,
  readNode,
  replaceManagedRecords,
  type DnsNode,
  type Zone,
} from './dns-zone';
import type { DirectorySession } from './session';
import { addSpn, findAccount, holdersOf, removeSpn, type ComputerAccount } from './spn';

/** TTL of a record written for a name that had no address record to take it from. */
export const DEFAULT_TTL_SECONDS = 900;

type RecordSpec = Omit<DnsRecordSnapshot, 'serial'>;

export interface RedirectTarget {
  zone: string;
  /** Each managed name and the addresses it should resolve to. */
  names: { name: string; addresses: string[] }[];
  spns: string[];
  /** sAMAccountName that should hold the SPNs. */
  account: string;
  /** Every account the SPNs may be taken from (the pair, and `account` itself). */
  accounts: string[];
}

interface Observed {
  zone: Zone;
  nodes: DnsNode[];
  accounts: Map<string, ComputerAccount>;
  holders: Map<string, ComputerAccount[]>;
}

export interface Outcome {
  names: NameChange[];
  spns: SpnChange[];
  /** The state found, as an undo record's content. */
  before: Pick<RedirectUndo, 'zone' | 'names' | 'spns' | 'accounts'>;
  writes: number;
}

const key = (sam: string) => sam.toLowerCase();

function spec(r: DnsRecord): RecordSpec {
  return {
    type: typeName(r.type) as RecordSpec['type'],
    value: recordValue(r),
    ttl: r.ttl,
    rank: r.rank,
    flags: r.flags,
    timestamp: r.timestamp,
  };
}

function snapshot(r: DnsRecord): DnsRecordSnapshot {
  return { ...spec(r), serial: r.serial };
}

function toRecord(s: RecordSpec, serial: number): DnsRecord {
  const f = { ttl: s.ttl, rank: s.rank, flags: s.flags, timestamp: s.timestamp, serial };
  return s.type === 'CNAME' ? cnameRecord(s.value, f) : addressRecord(s.value, f);
}

function sameRecords(a: RecordSpec[], b: RecordSpec[]): boolean {
  const k = (s: RecordSpec) =>
    `${s.type}|${s.type === 'CNAME' ? s.value.toLowerCase() : canonicalAddress(s.value)}|${s.ttl}|${s.rank}|${s.flags}|${s.timestamp}`;
  const ka = a.map(k).sort();
  const kb = b.map(k).sort();
  return ka.length === kb.length && ka.every((x, i) => x === kb[i]);
}

async function observe(
  s: DirectorySession,
  zoneName: string,
  names: string[],
  spns: string[],
  accountNames: string[],
): Promise<Observed> {
  const zone = await findZone(s, zoneName);
  const nodes: DnsNode[] = [];
  for (const n of names) nodes.push(await readNode(s, zone, n));
  const accounts = new Map<string, ComputerAccount>();
  for (const a of accountNames) {
    if (!accounts.has(key(a))) accounts.set(key(a), await findAccount(s, a));
  }
  const holders = new Map<string, ComputerAccount[]>();
  const third: string[] = [];
  for (const spn of spns) {
    const h = await holdersOf(s, spn);
    holders.set(spn, h);
    for (const acc of h) if (!accounts.has(key(acc.sam))) third.push(`'${spn}' is held by '${acc.sam}' (${acc.dn})`);
  }
  if (third.length) {
    throw new DirectoryError(
      'duplicate_spn',
      `SPN ${third.join(', SPN ')}: not one of ${[...accounts.values()].map((a) => `'${a.sam}'`).join(', ')}; ` +
        'moving it would make a duplicate SPN, which breaks Kerberos. Remove it from that account first.',
    );
  }
  return { zone, nodes, accounts, holders };
}

function before(o: Observed): Outcome['before'] {
  return {
    zone: o.zone.name,
    names: o.nodes.map((n) => ({
      name: n.fqdn,
      existed: n.exists && !n.tombstoned,
      records: managedRecords(n).map(snapshot),
    })),
    spns: [...o.holders.entries()].map(([spn, h]) => ({ spn, holder: h[0]?.sam ?? null })),
    accounts: [...o.accounts.values()].map((a) => a.sam),
  };
}

/** The records a name should have to resolve to `addresses`: unchanged when it already does (same address set). */
function addressTargets(node: DnsNode, addresses: string[]): RecordSpec[] {
  const current = managedRecords(node).map(spec);
  const want = [...new Set(addresses.map(canonicalAddress))];
  const have = current.filter((r) => r.type !== 'CNAME').map((r) => canonicalAddress(r.value));
  const sameSet =
    have.length === want.length && new Set(have).size === want.length && want.every((a) => have.includes(a));
  if (sameSet && current.every((r) => r.type !== 'CNAME')) return current;
  const template = current[0];
  return want.map(
    (a) =>
      current.find((r) => r.type !== 'CNAME' && canonicalAddress(r.value) === a) ?? {
        type: a.includes(':') ? 'AAAA' : 'A',
        value: a,
        ttl: template?.ttl ?? DEFAULT_TTL_SECONDS,
        rank: template?.rank ?? RANK_ZONE,
        flags: template?.flags ?? 0,
        timestamp: 0,
      },
  );
}

interface Desired {
  names: Map<string, RecordSpec[]>;
  /** SPN -> the sAMAccountName that should hold it, or null for nobody. */
  spns: Map<string, string | null>;
}

function changesOf(o: Observed, d: Desired): { names: NameChange[]; spns: SpnChange[] } {
  const names = o.nodes.map((n) => {
    const want = d.names.get(n.fqdn) ?? [];
    const cur = managedRecords(n).map(spec);
    return {
      name: n.fqdn,
      before: cur.map((r) => r.value),
      after: want.map((r) => r.value),
      ttl: want[0]?.ttl ?? cur[0]?.ttl ?? DEFAULT_TTL_SECONDS,
      changes: !sameRecords(cur, want),
    };
  });
  const spns = [...d.spns.entries()].map(([spn, holder]) => {
    const h = o.holders.get(spn) ?? [];
    const after = holder === null ? null : (o.accounts.get(key(holder))?.sam ?? holder);
    const settled = holder === null ? h.length === 0 : h.length === 1 && key(h[0]!.sam) === key(holder);
    return { spn, before: h[0]?.sam ?? null, after: after ?? '(nobody)', changes: !settled };
  });
  return { names, spns };
}

/**
 * The writes that take the observed state to the desired one, in order: the zone serial first (the names are stamped
 * with it), then the names, then the SPNs: each removed from every other holder before it is added to its new one
 * (Samba and Windows refuse to add an SPN another account still holds). A plan counts them; a redirect runs them.
 */
function writeSteps(s: DirectorySession, o: Observed, d: Desired): (() => Promise<void>)[] {
  const changed = changesOf(o, d);
  const steps: (() => Promise<void>)[] = [];
  const nodes = o.nodes.filter((_, i) => changed.names[i]!.changes);
  let serial = 0;
  if (nodes.length) {
    steps.push(async () => {
      serial = await bumpZoneSerial(s, o.zone);
    });
    for (const n of nodes) {
      steps.push(() =>
        replaceManagedRecords(
          s,
          n,
          (d.names.get(n.fqdn) ?? []).map((r) => toRecord(r, serial)),
        ),
      );
    }
  }
  for (const c of changed.spns.filter((x) => x.changes)) {
    const want = d.spns.get(c.spn) ?? null;
    const held = o.holders.get(c.spn) ?? [];
    for (const h of held) {
      if (want !== null && key(h.sam) === key(want)) continue;
      steps.push(() => removeSpn(s, o.accounts.get(key(h.sam)) ?? h, c.spn));
    }
    if (want !== null && !held.some((h) => key(h.sam) === key(want))) {
      steps.push(() => addSpn(s, o.accounts.get(key(want))!, c.spn));
    }
  }
  return steps;
}

async function converge(
  s: DirectorySession,
  o: Observed,
  d: Desired,
  opts: { apply: boolean; rollback: boolean },
): Promise<Outcome> {
  const { names, spns } = changesOf(o, d);
  const found = before(o);
  const steps = writeSteps(s, o, d);
  if (!opts.apply) return { names, spns, before: found, writes: steps.length };
  let writes = 0;
  try {
    for (const step of steps) {
      await step();
      writes++;
    }
  } catch (err) {
    if (!opts.rollback || writes === 0) throw err;
    const rolledBack = await putBack(s, found).then(
      () => 'everything written before it was put back',
      (e: unknown) => `putting back what was written failed too (${(e as Error).message})`,
    );
    if (err instanceof DirectoryError) throw new DirectoryError(err.reason, `${err.message}; ${rolledBack}`);
    throw err;
  }
  return { names, spns, before: found, writes };
}

/** What a redirect to `target` changes (apply=false: nothing is written) or changed (apply=true). */
export async function redirect(s: DirectorySession, target: RedirectTarget, apply: boolean): Promise<Outcome> {
  const accounts = [...new Set([target.account, ...target.accounts])];
  const o = await observe(
    s,
    target.zone,
    target.names.map((n) => n.name.toLowerCase()),
    target.spns,
    accounts,
  );
  const d: Desired = {
    names: new Map(o.nodes.map((n, i) => [n.fqdn, addressTargets(n, target.names[i]!.addresses)])),
    spns: new Map(target.spns.map((spn) => [spn, target.account])),
  };
  return converge(s, o, d, { apply, rollback: true });
}

/** Puts back exactly the records and SPN holders of `state` (an undo record's content); writes only differences. */
export async function restore(s: DirectorySession, state: Outcome['before']): Promise<Outcome> {
  return putBack(s, state, true);
}

async function putBack(s: DirectorySession, state: Outcome['before'], rollback = false): Promise<Outcome> {
  if (!state.zone) throw new DirectoryError('invalid_input', 'the undo record names no DNS zone');
  const o = await observe(
    s,
    state.zone,
    state.names.map((n) => n.name),
    state.spns.map((x) => x.spn),
    state.accounts,
  );
  const d: Desired = {
    names: new Map(state.names.map((n) => [n.name, n.records.map(({ serial: _s, ...r }) => r)])),
    spns: new Map(state.spns.map((x) => [x.spn, x.holder])),
  };
  return converge(s, o, d, { apply: true, rollback });
}
