// File servers with directory settings pointing at the run's domain controller, their AD objects, and the independent
// clients the tests verify every change with: `dig` (what the DC's DNS server answers), `samba-tool spn list` (the
// directory database read directly) and `samba-tool dns query` (the DNS RPC interface).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { defaultSpns, type FsvmName } from '../../domain/directory';
import type { Db } from '../../infra/database';
import type { DomainController } from '../../infra/samba-dc';
import type { SecretBox } from '../../infra/secrets';
import type { SessionOptions } from '../../directory/session';
import { uniqueHost, ZONE } from './domain-controller';

const run = promisify(execFile);

/** Session options to use the DC as its Administrator over verified LDAPS (tests that call directory/ directly). */
export function adminSession(dc: DomainController): SessionOptions {
  return {
    servers: [dc.ldapsUrl],
    bindUser: dc.adminUser,
    bindPassword: dc.adminPassword,
    caPem: dc.caPem,
    plainLdap: false,
    production: false,
  };
}

export interface DirectoryFileServer {
  name: string;
  host: string;
  fqdn: string;
  account: string;
  addresses: string[];
}

/** Creates the AD side (computer account with the default SPNs, A/AAAA records of its name) of a new file server. */
export async function createAdFileServer(
  dc: DomainController,
  prefix: string,
  addresses: string[],
): Promise<DirectoryFileServer> {
  const host = uniqueHost(prefix);
  const fqdn = `${host}.${ZONE}`;
  await dc.addComputer(host.toUpperCase(), { spns: defaultSpns(fqdn), addresses });
  return { name: `fs-${host}`, host, fqdn, account: `${host.toUpperCase()}$`, addresses };
}

/** The admin database side: the file server row and (unless `settings: false`) its directory settings. */
export async function registerFileServer(
  db: Db,
  secrets: SecretBox,
  dc: DomainController,
  fsv: DirectoryFileServer,
  opts: {
    settings?: false;
    servers?: string[];
    password?: string;
    bindUser?: string;
    caPem?: string | null;
    zone?: string;
    account?: string;
    plainLdap?: boolean;
    fsvmNames?: FsvmName[];
    spns?: string[];
  } = {},
): Promise<void> {
  await db.fileServer.create({
    data: {
      name: fsv.name,
      site: `site-${fsv.host}`,
      dnsName: fsv.fqdn,
      addresses: fsv.addresses,
      ...(opts.settings === false
        ? {}
        : {
            directory: {
              create: {
                domain: dc.dnsDomain,
                servers: opts.servers ?? [dc.ldapsUrl],
                plainLdap: opts.plainLdap ?? false,
                bindUser: opts.bindUser ?? dc.adminUser,
                bindPasswordEnc: secrets.seal(opts.password ?? dc.adminPassword),
                caCertificates: opts.caPem === undefined ? dc.caPem : opts.caPem,
                dnsZone: opts.zone ?? ZONE,
                computerAccount: opts.account ?? fsv.account,
                spns: opts.spns ?? [],
                fsvmNames: (opts.fsvmNames ?? []) as never,
              },
            },
          }),
    },
  });
}

export interface DigAnswer {
  name: string;
  ttl: number;
  type: string;
  value: string;
}

/** What the DC's DNS server answers for A and AAAA of `name` (dig, one try each, no recursion). */
export async function dig(dc: DomainController, name: string): Promise<{ text: string; answers: DigAnswer[] }> {
  const lines: string[] = [];
  for (const type of ['A', 'AAAA', 'CNAME']) {
    const { stdout } = await run(
      'dig',
      [`@${dc.address}`, name, type, '+noall', '+answer', '+norecurse', '+time=3', '+tries=1'],
      { timeout: 15_000 },
    );
    lines.push(...stdout.split('\n').filter((l) => l.trim() && !lines.includes(l)));
  }
  const answers = lines.map((l) => {
    const [n, ttl, , type, value] = l.split(/\s+/);
    return { name: n!.replace(/\.$/, ''), ttl: Number(ttl), type: type!, value: value!.replace(/\.$/, '') };
  });
  return { text: lines.join('\n'), answers };
}

export function addressesOf(answers: DigAnswer[], name: string): string[] {
  return answers
    .filter((a) => a.name === name && (a.type === 'A' || a.type === 'AAAA'))
    .map((a) => a.value)
    .sort();
}

/** The zone's SOA serial as the DC's DNS server answers it. */
export async function soaSerialByDig(dc: DomainController): Promise<number> {
  const { stdout } = await run('dig', [`@${dc.address}`, dc.dnsDomain, 'SOA', '+short', '+time=3', '+tries=1'], {
    timeout: 15_000,
  });
  return Number(stdout.trim().split(/\s+/)[2]);
}

/** The SPNs of an account as `samba-tool spn list` reads them from the directory database. */
export async function spnList(dc: DomainController, account: string): Promise<{ text: string; spns: string[] }> {
  const text = await dc.sambaTool(['spn', 'list', account]);
  const spns = text
    .split('\n')
    .filter((l) => l.startsWith('\t'))
    .map((l) => l.trim())
    .sort();
  return { text, spns };
}

/** `samba-tool dns query <dc> <zone> <name> ALL` (over DNS RPC); lines like "A: 10.1.0.11 (flags=f0, serial=2, ttl=900)". */
export async function dnsQuery(dc: DomainController, host: string): Promise<string> {
  try {
    return await dc.sambaTool(['dns', 'query', dc.address, dc.dnsDomain, host, 'ALL'], { auth: true });
  } catch (err) {
    if (/WERR_DNS_ERROR_NAME_DOES_NOT_EXIST|does not exist/i.test((err as Error).message)) return '(no such name)';
    throw err;
  }
}

/** The record lines of a dns query, without the serial (which every write advances). */
export function recordsWithoutSerial(query: string): string[] {
  return query
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(A|AAAA|CNAME):/.test(l))
    .map((l) => l.replace(/serial=\d+, /, ''))
    .sort();
}

/** Appends to the transcript file named by DIRECTORY_TRANSCRIPT (the report quotes it); a no-op otherwise. */
export function transcript(title: string, text: string): void {
  const file = process.env.DIRECTORY_TRANSCRIPT;
  if (file) fs.appendFileSync(file, `\n### ${title}\n${text.trim()}\n`);
}
