// A real Active Directory domain controller (Samba AD DC, Debian `samba` + `samba-ad-dc`) for tests and demos:
// provisioned into a folder of its own, serving LDAP, LDAPS (a certificate from a CA made here, so that clients
// verify TLS for real), Kerberos, DCE/RPC and its internal DNS server on ONE address (its ports are fixed by the
// protocols, so give it an address of its own: infra/loopback-address.ts). It forwards no DNS query and registers
// nothing elsewhere: no traffic leaves that address. Samba forks many processes; it is stopped by its root pid
// (its process group), never by name.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as dnsPromises } from 'node:dns';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'ldapts';
import { createCertificateAuthority, issueServerCertificate } from './tls-certificates';

const run = promisify(execFile);

export interface DomainControllerOptions {
  /** Folder of its own (created): provisioned database, configuration, certificates, logs. */
  dir: string;
  /** IPv4 address the DC serves on; it must be configured on an interface (e.g. claimLoopbackAddress()). */
  address: string;
  /** Kerberos realm = DNS domain in upper case, e.g. CORP.EXAMPLE.TEST. */
  realm: string;
  /** NetBIOS domain name; default: the realm's first label. */
  domain?: string;
  /** The DC's host name; default dc1. */
  hostName?: string;
  /** Administrator's password; default: generated (meets AD's complexity rules). */
  adminPassword?: string;
  /** How long start may take (provisioning excluded); default 90 s. */
  startTimeoutMs?: number;
}

/** Everything a client needs to use a running DC, as plain JSON: another process can attach to it. */
export interface DomainControllerInfo {
  dir: string;
  address: string;
  realm: string;
  /** DNS domain, e.g. corp.example.test; also the name of its AD-integrated DNS zone. */
  dnsDomain: string;
  /** NetBIOS domain name, e.g. CORP. */
  domain: string;
  hostName: string;
  /** The DC's own DNS name, e.g. dc1.corp.example.test (in its certificate, like its address). */
  dcDnsName: string;
  baseDn: string;
  adminUser: string;
  adminPassword: string;
  /** The CA that issued the DC's LDAPS certificate (PEM). */
  caPem: string;
  ldapsUrl: string;
  ldapUrl: string;
  smbConf: string;
  /** Root process of the running DC (process group leader); 0 when not running. */
  pid: number;
}

export interface DomainController extends DomainControllerInfo {
  /**
   * Runs samba-tool against this DC's configuration. With `auth`, as Administrator over NTLM (the password goes
   * through the environment, not the command line) for the subcommands that talk to the server (dns ...).
   */
  sambaTool(args: string[], opts?: { auth?: boolean }): Promise<string>;
  /** Adds a computer account NAME$ with SPNs and, optionally, A/AAAA records of its DNS name. */
  addComputer(name: string, opts?: { spns?: string[]; addresses?: string[] }): Promise<void>;
  stop(): Promise<void>;
}

function baseDnOf(dnsDomain: string): string {
  return dnsDomain
    .split('.')
    .map((l) => `DC=${l}`)
    .join(',');
}

function generatedPassword(): string {
  // Upper, lower, digit and symbol: AD's default complexity rules.
  return `Dc-${randomBytes(12).toString('base64url')}-9a`;
}

function smbConf(info: Omit<DomainControllerInfo, 'pid' | 'smbConf' | 'caPem'>, tls: Record<string, string>): string {
  const d = info.dir;
  return `# Written by infra/samba-dc.ts: one DC on one address, nothing forwarded, nothing registered elsewhere.
[global]
	netbios name = ${info.hostName.toUpperCase()}
	realm = ${info.realm}
	workgroup = ${info.domain}
	server role = active directory domain controller
	interfaces = ${info.address}
	bind interfaces only = yes
	disable netbios = yes
	server services = rpc, ldap, cldap, kdc, dns
	dns forwarder =
	prefork children = 2
	tls enabled = yes
	tls keyfile = ${tls.keyFile}
	tls certfile = ${tls.certFile}
	tls cafile = ${tls.caFile}
	private dir = ${d}/dc/private
	state directory = ${d}/dc/state
	cache directory = ${d}/dc/cache
	lock directory = ${d}/dc/lock
	pid directory = ${d}/dc/run
	ncalrpc dir = ${d}/dc/run/ncalrpc
	winbindd socket directory = ${d}/dc/run/winbindd
	ntp signd socket directory = ${d}/dc/run/ntp_signd
	binddns dir = ${d}/dc/bind-dns
	log file = ${d}/log/samba.%m.log
	logging = file
	log level = 1
[sysvol]
	path = ${d}/dc/state/sysvol
	read only = no
[netlogon]
	path = ${d}/dc/state/sysvol/${info.dnsDomain}/scripts
	read only = no
`;
}

async function sambaToolRun(info: DomainControllerInfo, args: string[], auth: boolean): Promise<string> {
  const full = [...args, '-s', info.smbConf];
  if (auth) full.push('-U', info.adminUser, '--use-kerberos=off');
  try {
    const { stdout, stderr } = await run('samba-tool', full, {
      timeout: 60_000,
      maxBuffer: 16 << 20,
      // KRB5_CONFIG: never ask the system's resolvers for this realm's KDC.
      env: { ...process.env, PASSWD: info.adminPassword, KRB5_CONFIG: path.join(info.dir, 'krb5.conf') },
    });
    return `${stdout}${stderr ? `\n${stderr}` : ''}`.trim();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    const out = `${e.stdout ?? ''}\n${e.stderr ?? ''}`.trim().split('\n').slice(-5).join(' | ');
    throw new Error(`samba-tool ${args.slice(0, 2).join(' ')} failed: ${out || (err as Error).message}`);
  }
}

/** Provisions a new domain into opts.dir (which must not hold one yet). Takes a few seconds. */
export async function provisionDomainController(opts: DomainControllerOptions): Promise<DomainControllerInfo> {
  const dir = path.resolve(opts.dir);
  if (fs.existsSync(path.join(dir, 'dc.json'))) throw new Error(`${dir} already holds a provisioned DC`);
  const realm = opts.realm.toUpperCase();
  const dnsDomain = realm.toLowerCase();
  const domain = (opts.domain ?? realm.split('.')[0]!).toUpperCase();
  const hostName = (opts.hostName ?? 'dc1').toLowerCase();
  const adminPassword = opts.adminPassword ?? generatedPassword();
  const dcDnsName = `${hostName}.${dnsDomain}`;
  for (const sub of ['dc', 'log', 'tls']) fs.mkdirSync(path.join(dir, sub), { recursive: true });

  await run(
    'samba-tool',
    [
      'domain',
      'provision',
      `--realm=${realm}`,
      `--domain=${domain}`,
      '--server-role=dc',
      '--dns-backend=SAMBA_INTERNAL',
      `--host-name=${hostName}`,
      `--host-ip=${opts.address}`,
      `--targetdir=${path.join(dir, 'dc')}`,
      // A test or demo password: briefly visible in the local process list while provisioning runs.
      `--adminpass=${adminPassword}`,
      `--option=interfaces=${opts.address}`,
      '--option=bind interfaces only=yes',
      // Provisioning copies the system's resolver as the DNS forwarder unless told otherwise.
      '--option=dns forwarder=',
    ],
    { timeout: 120_000, maxBuffer: 16 << 20 },
  ).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`samba-tool domain provision failed: ${(err.stderr ?? err.message).trim().split('\n').pop()}`);
  });
  const ca = await createCertificateAuthority(path.join(dir, 'tls'), {
    name: 'ca',
    commonName: `fs-dr test CA for ${dnsDomain}`,
  });
  const cert = await issueServerCertificate(ca, path.join(dir, 'tls'), {
    name: 'dc',
    dnsNames: [dcDnsName],
    ipAddresses: [opts.address],
  });
  const info: DomainControllerInfo = {
    dir,
    address: opts.address,
    realm,
    dnsDomain,
    domain,
    hostName,
    dcDnsName,
    baseDn: baseDnOf(dnsDomain),
    adminUser: `Administrator@${dnsDomain}`,
    adminPassword,
    caPem: ca.certPem,
    ldapsUrl: `ldaps://${opts.address}:636`,
    ldapUrl: `ldap://${opts.address}:389`,
    smbConf: path.join(dir, 'smb.conf'),
    pid: 0,
  };
  fs.writeFileSync(
    info.smbConf,
    smbConf(info, { keyFile: cert.keyFile, certFile: cert.certFile, caFile: ca.certFile }),
  );
  for (const sub of ['cache', 'lock', 'run']) fs.mkdirSync(path.join(dir, 'dc', sub), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'krb5.conf'),
    `[libdefaults]\n\tdefault_realm = ${realm}\n\tdns_lookup_realm = false\n\tdns_lookup_kdc = false\n` +
      `[realms]\n\t${realm} = {\n\t\tkdc = ${opts.address}\n\t}\n`,
  );
  fs.writeFileSync(path.join(dir, 'dc.json'), JSON.stringify(info, null, 2), { mode: 0o600 });
  return info;
}

async function waitUntilServing(info: DomainControllerInfo, exited: () => string | null, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last = 'not started';
  const resolver = new dnsPromises.Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([info.address]);
  while (Date.now() < deadline) {
    const gone = exited();
    if (gone) throw new Error(`samba exited before serving: ${gone}`);
    try {
      await new Promise<void>((resolve, reject) => {
        const s = net.connect({ host: info.address, port: 135, timeout: 1000 }, () => {
          s.destroy();
          resolve();
        });
        s.once('error', reject);
        s.once('timeout', () => reject(new Error('RPC port 135: timeout')));
      });
      const client = new Client({
        url: info.ldapsUrl,
        connectTimeout: 2000,
        timeout: 5000,
        tlsOptions: { ca: [info.caPem] },
      });
      try {
        await client.bind(info.adminUser, info.adminPassword);
        await client.search('', { scope: 'base', attributes: ['defaultNamingContext'] });
      } finally {
        await client.unbind().catch(() => undefined);
      }
      const answer = await resolver.resolve4(info.dcDnsName);
      if (!answer.includes(info.address)) throw new Error(`DNS answers ${answer.join(', ')} for ${info.dcDnsName}`);
      return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  throw new Error(`samba at ${info.address} did not serve LDAPS, DNS and RPC within ${timeoutMs} ms: ${last}`);
}

/** Stops a DC by its root pid: SIGTERM to its process group, SIGKILL after `graceMs`. */
export async function stopDomainControllerProcess(pid: number, graceMs = 10_000): Promise<void> {
  if (!pid) return;
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  if (!alive()) return;
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) signal('SIGKILL');
  // The children of the group go with their parent: wait until the whole group is gone (they hold the ports), a
  // moment at most.
  const groupAlive = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  while ((alive() || groupAlive()) && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 100));
}

/** A DomainController over a running DC's info, e.g. in another process than the one that started it. */
export function attachDomainController(info: DomainControllerInfo): DomainController {
  return {
    ...info,
    sambaTool: (args, opts) => sambaToolRun(info, args, opts?.auth ?? false),
    async addComputer(name, opts = {}) {
      const args = ['computer', 'add', name];
      for (const spn of opts.spns ?? []) args.push(`--service-principal-name=${spn}`);
      await sambaToolRun(info, args, false);
      // Not `computer add --ip-address`: that looks the DNS server up through the system's resolvers.
      for (const ip of opts.addresses ?? []) {
        const type = ip.includes(':') ? 'AAAA' : 'A';
        await sambaToolRun(info, ['dns', 'add', info.address, info.dnsDomain, name.toLowerCase(), type, ip], true);
      }
    },
    stop: () => stopDomainControllerProcess(info.pid),
  };
}

/**
 * Provisions (unless opts.dir already holds this DC) and starts the DC; resolves once LDAPS answers a verified bind,
 * DNS answers for the DC's own name and RPC accepts connections. The process is detached: it outlives its starter
 * until stop() (or stopDomainControllerProcess(pid) from another process).
 */
export async function startDomainController(opts: DomainControllerOptions): Promise<DomainController> {
  const stateFile = path.join(path.resolve(opts.dir), 'dc.json');
  let info: DomainControllerInfo;
  if (fs.existsSync(stateFile)) {
    info = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as DomainControllerInfo;
    if (info.address !== opts.address) {
      throw new Error(`${opts.dir} was provisioned for ${info.address}, not ${opts.address}`);
    }
  } else {
    info = await provisionDomainController(opts);
  }
  const logFile = path.join(info.dir, 'log', 'samba.stdout.log');
  const out = fs.openSync(logFile, 'a');
  const child = spawn('samba', ['-s', info.smbConf, '-i', '--debug-stdout'], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, KRB5_CONFIG: path.join(info.dir, 'krb5.conf') },
  });
  fs.closeSync(out);
  child.unref();
  let exit: string | null = null;
  child.once('exit', (code, sig) => {
    const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join(' | ');
    exit = `code ${code ?? sig}: ${tail}`;
  });
  child.once('error', (err) => {
    exit = err.message;
  });
  if (!child.pid) throw new Error('cannot start samba (is the Debian package samba-ad-dc installed?)');
  info = { ...info, pid: child.pid };
  try {
    await waitUntilServing(info, () => exit, opts.startTimeoutMs ?? 90_000);
  } catch (err) {
    await stopDomainControllerProcess(info.pid);
    throw err;
  }
  fs.writeFileSync(stateFile, JSON.stringify(info, null, 2), { mode: 0o600 });
  return attachDomainController(info);
}
