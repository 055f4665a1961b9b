// ONE Samba AD domain controller per test run, started lazily by the first test file that asks for it (runs of
// unrelated files don't pay for it), reused by every other file, stopped by the global teardown by its root pid.
// Files run in parallel processes: the first one takes a lock file under the run's root folder, claims a loopback
// address, provisions and starts the DC and publishes its info; the others wait for that info. Each test uses its own
// names within the zone (uniqueHost), so tests never see each other's records or accounts.
//
// Base fixture, as a demo would have it: computer accounts FS1$ and FS2$ with cifs/ and HOST/ SPNs, and the A records
// of fs1 and fs2. Tests only read it.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { claimLoopbackAddress, releaseLoopbackAddress } from '../../infra/loopback-address';
import {
  attachDomainController,
  startDomainController,
  stopDomainControllerProcess,
  type DomainController,
  type DomainControllerInfo,
} from '../../infra/samba-dc';
import { testEnvironment } from './environment';

export const REALM = 'CORP.EXAMPLE.TEST';
export const ZONE = 'corp.example.test';
export const BASE_FIXTURE = {
  fs1: { account: 'FS1$', addresses: ['10.1.0.11', '10.1.0.12'] },
  fs2: { account: 'FS2$', addresses: ['10.2.0.21'] },
};

const files = (root: string) => ({
  lock: path.join(root, 'samba-dc.lock'),
  info: path.join(root, 'samba-dc.json'),
  error: path.join(root, 'samba-dc.error'),
  address: path.join(root, 'samba-dc.address'),
  dir: path.join(root, 'samba-dc'),
});

let shared: Promise<DomainController> | undefined;

/** The run's domain controller, started on first use. A DC that cannot start fails the calling test file. */
export function sharedDomainController(): Promise<DomainController> {
  shared ??= obtain();
  return shared;
}

async function obtain(): Promise<DomainController> {
  const f = files(testEnvironment().root);
  let lock: number | undefined;
  try {
    lock = fs.openSync(f.lock, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if (lock === undefined) return attachDomainController(await waitForInfo(f));
  fs.closeSync(lock);
  try {
    const started = Date.now();
    const address = await claimLoopbackAddress();
    fs.writeFileSync(f.address, address);
    const dc = await startDomainController({ dir: f.dir, address, realm: REALM });
    await dc.addComputer('FS1', {
      spns: ['cifs/FS1', `cifs/fs1.${ZONE}`, 'HOST/FS1', `HOST/fs1.${ZONE}`],
      addresses: BASE_FIXTURE.fs1.addresses,
    });
    await dc.addComputer('FS2', {
      spns: ['cifs/FS2', `cifs/fs2.${ZONE}`, 'HOST/FS2', `HOST/fs2.${ZONE}`],
      addresses: BASE_FIXTURE.fs2.addresses,
    });
    const info: DomainControllerInfo = { ...dc };
    fs.writeFileSync(`${f.info}.tmp`, JSON.stringify(info), { mode: 0o600 });
    fs.renameSync(`${f.info}.tmp`, f.info);
    if (process.env.CI) console.log(`[samba-dc] ${address} ready in ${Date.now() - started} ms`);
    return dc;
  } catch (err) {
    fs.writeFileSync(f.error, err instanceof Error ? err.message : String(err));
    throw err;
  }
}

async function waitForInfo(f: ReturnType<typeof files>): Promise<DomainControllerInfo> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (fs.existsSync(f.info)) return JSON.parse(fs.readFileSync(f.info, 'utf8')) as DomainControllerInfo;
    if (fs.existsSync(f.error))
      throw new Error(`the run's domain controller did not start: ${fs.readFileSync(f.error, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("the run's domain controller did not start within 180 s");
}

/** Global teardown: stops the run's DC (if one was started) by its root pid and releases its address. */
export async function stopSharedDomainController(root: string): Promise<void> {
  const f = files(root);
  if (fs.existsSync(f.info)) {
    const info = JSON.parse(fs.readFileSync(f.info, 'utf8')) as DomainControllerInfo;
    await stopDomainControllerProcess(info.pid);
  } else if (fs.existsSync(path.join(f.dir, 'dc.json'))) {
    // Started but never published (it failed to serve in time): its pid is in the provisioning folder.
    const info = JSON.parse(fs.readFileSync(path.join(f.dir, 'dc.json'), 'utf8')) as DomainControllerInfo;
    await stopDomainControllerProcess(info.pid);
  }
  if (fs.existsSync(f.address)) await releaseLoopbackAddress(fs.readFileSync(f.address, 'utf8').trim());
}

/** A host/computer name of its own for one test: letters and digits, at most 15 characters with its prefix. */
export function uniqueHost(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`.slice(0, 15).toLowerCase();
}
