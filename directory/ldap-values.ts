// Every value that goes into a DN or a filter passes through here. Names are first checked against what they may be
// (a DNS name, an SPN, a sAMAccountName: none of them can hold an LDAP special character), and then escaped anyway
// (RFC 4514) on their way into a DN, so neither a bug in a check nor a future caller can turn a value into LDAP
// syntax. Filters are sent as typed objects (ldapts EqualityFilter, encoded as BER), never parsed from text.
import { AndFilter, EqualityFilter, type Filter } from 'ldapts';
import { DirectoryError } from '../domain/errors';
import { SPN_PATTERN } from '../domain/directory';

const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*$/;
const SAM_ACCOUNT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}\$$/;

function refuse(kind: string, value: string, rule: string): never {
  // Quote what was sent, but as JSON so control characters (NUL, newlines) stay visible and harmless.
  throw new DirectoryError('invalid_input', `${kind} ${JSON.stringify(value).slice(0, 200)} refused: ${rule}`);
}

export function checkDnsName(value: string, kind = 'DNS name'): string {
  if (typeof value !== 'string' || !DNS_NAME.test(value))
    refuse(kind, String(value), 'letters, digits, - and _ in dot-separated labels');
  return value.toLowerCase();
}

export function checkSpn(value: string): string {
  if (typeof value !== 'string' || !SPN_PATTERN.test(value)) refuse('SPN', String(value), 'class/host[:port][/name]');
  return value;
}

export function checkAccountName(value: string): string {
  if (typeof value !== 'string' || !SAM_ACCOUNT.test(value))
    refuse('computer account', String(value), 'like FS1$ (at most 15 characters and a $)');
  return value;
}

/** RFC 4514: escapes a value for use in one RDN of a DN string. */
export function escapeDnValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    const code = ch.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).padStart(2, '0')}`;
    else if (',+"\\<>;='.includes(ch)) out += `\\${ch}`;
    else if ((i === 0 && (ch === ' ' || ch === '#')) || (i === value.length - 1 && ch === ' ')) out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

export function equals(attribute: string, value: string): Filter {
  return new EqualityFilter({ attribute, value });
}

export function all(...filters: Filter[]): Filter {
  return new AndFilter({ filters });
}
