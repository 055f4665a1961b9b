// Computer accounts and their service principal names. Kerberos finds the key for `cifs/fs1.corp.example.com` by the
// one account that holds that SPN: after a redirect the account of the file server that now serves the name must hold
// it, and no other account may (a duplicate SPN makes Kerberos fail for every client).
import { DirectoryError } from '../domain/errors';
import { all, checkAccountName, checkSpn, equals } from './ldap-values';
import type { DirectorySession } from './session';

export interface ComputerAccount {
  /** sAMAccountName as stored, e.g. FS1$. */
  sam: string;
  dn: string;
  spns: string[];
}

function strings(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

function toAccount(e: { dn: string; sAMAccountName?: unknown; servicePrincipalName?: unknown }): ComputerAccount {
  return { sam: strings(e.sAMAccountName)[0] ?? e.dn, dn: e.dn, spns: strings(e.servicePrincipalName) };
}

export async function findAccount(s: DirectorySession, sam: string): Promise<ComputerAccount> {
  const name = checkAccountName(sam);
  const found = await s.search(s.rootDse.defaultNamingContext, `computer account '${name}'`, {
    scope: 'sub',
    filter: all(equals('objectClass', 'computer'), equals('sAMAccountName', name)),
    attributes: ['sAMAccountName', 'servicePrincipalName'],
  });
  if (!found.length) {
    throw new DirectoryError(
      'account_not_found',
      `computer account '${name}' not found in ${s.rootDse.defaultNamingContext} (on ${s.server})`,
    );
  }
  return toAccount(found[0]!);
}

/** Every account of the domain that holds `spn` (AD matches SPNs case-insensitively). */
export async function holdersOf(s: DirectorySession, spn: string): Promise<ComputerAccount[]> {
  const value = checkSpn(spn);
  const found = await s.search(s.rootDse.defaultNamingContext, `holders of SPN '${value}'`, {
    scope: 'sub',
    filter: equals('servicePrincipalName', value),
    attributes: ['sAMAccountName', 'servicePrincipalName'],
  });
  return found.map(toAccount);
}

/** The SPN as the account stores it (its own spelling), for a delete that must match the stored value. */
function stored(account: ComputerAccount, spn: string): string {
  return account.spns.find((v) => v.toLowerCase() === spn.toLowerCase()) ?? spn;
}

export async function removeSpn(s: DirectorySession, account: ComputerAccount, spn: string): Promise<void> {
  await s.modify(account.dn, `SPN '${spn}' of computer account '${account.sam}'`, [
    { op: 'delete', type: 'servicePrincipalName', values: [stored(account, checkSpn(spn))] },
  ]);
}

export async function addSpn(s: DirectorySession, account: ComputerAccount, spn: string): Promise<void> {
  try {
    await s.modify(account.dn, `SPN '${spn}' of computer account '${account.sam}'`, [
      { op: 'add', type: 'servicePrincipalName', values: [checkSpn(spn)] },
    ]);
  } catch (err) {
    // Samba and Windows refuse an SPN another account holds (constraint violation): someone added it meanwhile.
    if (err instanceof DirectoryError && err.reason === 'refused' && /LDAP result 19\b/.test(err.message)) {
      throw new DirectoryError('duplicate_spn', `SPN '${spn}' cannot be added to '${account.sam}': ${err.message}`);
    }
    throw err;
  }
}
