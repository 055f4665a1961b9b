// Client redirection through Active Directory, as plain types and rules shared by the API (settings), the activities
// (plan, redirect, undo, check) and the workflows (which only pass these values along: every one is plain JSON, small,
// and holds no secret).
//
// A redirect is one general operation: "make the client-facing name of file server N resolve to the client-facing
// addresses of file server X, and make X's computer account hold N's managed SPNs". Failover is redirect(N -> X),
// failback is redirect(N -> N), and undo puts back exactly what a redirect found.
import { z } from 'zod';

/** servicePrincipalName: service class / host [:port] [/ service name]. No spaces, quotes or LDAP specials. */
export const SPN_PATTERN =
  /^[A-Za-z][A-Za-z0-9-]{0,31}\/[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:[0-9]{1,5})?(\/[A-Za-z0-9][A-Za-z0-9.-]{0,252})?$/;
export const Spn = z
  .string()
  .trim()
  .max(600)
  .regex(SPN_PATTERN, 'must be an SPN like cifs/fs1.corp.example.com (class/host[:port][/name])');

/** The file server's short name: the first label of its DNS name, as Windows writes it in HOST/ and cifs/ SPNs. */
export function shortName(dnsName: string): string {
  return dnsName.split('.')[0]!.toUpperCase();
}

/** The SPNs a redirect moves when the settings name none: cifs/ and HOST/, each with the short name and the FQDN. */
export function defaultSpns(dnsName: string): string[] {
  const fqdn = dnsName.toLowerCase();
  const short = shortName(fqdn);
  return [`cifs/${short}`, `cifs/${fqdn}`, `HOST/${short}`, `HOST/${fqdn}`];
}

/** The name relative to the zone (the dnsNode's DC= value), or null when `fqdn` is not strictly inside `zone`. */
export function nameInZone(fqdn: string, zone: string): string | null {
  const f = fqdn.toLowerCase().replace(/\.$/, '');
  const z = zone.toLowerCase().replace(/\.$/, '');
  if (!f.endsWith(`.${z}`)) return null;
  const rel = f.slice(0, -(z.length + 1));
  return rel.length ? rel : null;
}

export interface FsvmName {
  /** FQDN of one FSVM, inside the zone. */
  name: string;
  /** Its client-facing addresses (each one of the file server's addresses). */
  addresses: string[];
}

/**
 * Where N's per-FSVM names point when N's name is served by X: N's i-th FSVM name takes the addresses of X's
 * (i mod count)-th FSVM name, or all of X's addresses when X has no FSVM names. Serving its own name (X = N), each
 * FSVM name takes its own addresses again.
 */
export function fsvmNameTargets(own: FsvmName[], target: { fsvmNames: FsvmName[]; addresses: string[] }) {
  return own.map((n, i) => ({
    name: n.name,
    addresses: target.fsvmNames.length ? target.fsvmNames[i % target.fsvmNames.length]!.addresses : target.addresses,
  }));
}

/** What the workflows ask for: N's name to be served by `to`; `from` is the file server that may serve it now. */
export interface RedirectRequest {
  /** N: the file server whose client-facing name and SPNs move. */
  fileServer: string;
  /** X: the file server that serves N's name afterwards (N itself for a failback). */
  to: string;
  /**
   * The file server that may serve N's name now, whose computer account may hold N's SPNs (default N). A failback
   * after a failover to X is { fileServer: N, to: N, from: X }. SPNs are only ever taken from N, `from` or `to`.
   */
  from?: string;
}

/** One record as an undo record keeps it (A, AAAA or CNAME). */
export interface DnsRecordSnapshot {
  type: 'A' | 'AAAA' | 'CNAME';
  /** Address, or the CNAME's target. */
  value: string;
  ttl: number;
  rank: number;
  flags: number;
  serial: number;
  /** Hours since 1601 of a dynamic record; 0: static. */
  timestamp: number;
}

export interface NameChange {
  /** FQDN. */
  name: string;
  before: string[];
  after: string[];
  ttl: number;
  changes: boolean;
}

export interface SpnChange {
  spn: string;
  /** sAMAccountName holding it now; null: nobody. */
  before: string | null;
  after: string;
  changes: boolean;
}

export interface RedirectPlan {
  fileServer: string;
  to: string;
  configured: boolean;
  /** In words: what changes, or why nothing does. */
  summary: string;
  names: NameChange[];
  spns: SpnChange[];
  /** How many directory objects a redirect would write (0: it would issue no write). */
  writes: number;
}

/** What undoRedirect needs to put back exactly what a redirect found. */
export interface RedirectUndo {
  fileServer: string;
  configured: boolean;
  summary: string;
  zone: string | null;
  /** Every name the redirect managed, with the A/AAAA/CNAME records it had (none and `existed: false`: no node). */
  names: { name: string; existed: boolean; records: DnsRecordSnapshot[] }[];
  /** Every managed SPN and the account that held it (null: nobody). */
  spns: { spn: string; holder: string | null }[];
  /** The computer accounts the SPNs may be on after the redirect (where undo takes them from). */
  accounts: string[];
  /** How many objects the redirect wrote (0: nothing was changed, undo has nothing to do). */
  writes: number;
}

export interface DirectoryCheckItem {
  /** What was checked, e.g. "domain controller ldaps://dc1.corp.example.com". */
  subject: string;
  ok: boolean;
  /** In words: what works, or what does not and why. */
  detail: string;
}

export interface DirectoryCheck {
  fileServer: string;
  configured: boolean;
  ok: boolean;
  summary: string;
  checks: DirectoryCheckItem[];
}

export function notConfiguredSummary(fileServer: string): string {
  return `clients are not redirected: no directory configured for file server '${fileServer}'`;
}
