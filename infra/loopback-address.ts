// A loopback address of its own for a server whose ports are fixed by its protocol (an AD domain controller serves
// LDAP 389, LDAPS 636, Kerberos 88 and DNS 53): several such servers, and other test runs on the same machine, can
// then run side by side. The address is added to `lo` as a /32 (root only) and removed again by whoever added it.
// Traffic to it never leaves the machine.
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The range addresses are picked from: 127.64.0.0/10, far from 127.0.0.1 and systemd-resolved's 127.0.0.53. */
function randomLoopbackAddress(): string {
  return `127.${randomInt(64, 128)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

/**
 * Adds a random, unused 127.x.y.z/32 to `lo` and returns it. `ip addr add` refuses an address that is already there,
 * which makes the claim atomic between concurrent callers.
 */
export async function claimLoopbackAddress(): Promise<string> {
  let lastError = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    const address = randomLoopbackAddress();
    try {
      await run('ip', ['-4', 'addr', 'add', `${address}/32`, 'dev', 'lo'], { timeout: 10_000 });
      return address;
    } catch (err) {
      lastError = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim();
      if (!/exists/i.test(lastError)) break;
    }
  }
  throw new Error(
    `cannot add a loopback address for the domain controller (needs root and iproute2's ip): ${lastError}`,
  );
}

/**
 * Adds a given 127.x.y.z/32 to `lo` again (a restart of a server that keeps its address, e.g. the demo's DC and file
 * servers); one that is there already (left by a process that ended without removing it) is fine.
 */
export async function ensureLoopbackAddress(address: string): Promise<void> {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)) throw new Error(`'${address}' is not a loopback address`);
  try {
    await run('ip', ['-4', 'addr', 'add', `${address}/32`, 'dev', 'lo'], { timeout: 10_000 });
  } catch (err) {
    const stderr = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim();
    if (!/exists/i.test(stderr)) {
      throw new Error(`cannot add the loopback address ${address} (needs root and iproute2's ip): ${stderr}`);
    }
  }
}

/** Removes an address claimLoopbackAddress added; an address that is already gone is not an error. */
export async function releaseLoopbackAddress(address: string): Promise<void> {
  try {
    await run('ip', ['-4', 'addr', 'del', `${address}/32`, 'dev', 'lo'], { timeout: 10_000 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    if (!/Cannot assign requested address|not found/i.test(stderr)) throw err;
  }
}
