// A private certificate authority and the server certificates it issues, made with the openssl command line: what a
// test or demo domain controller needs so that its clients verify LDAPS for real (no `rejectUnauthorized: false`).
import { execFile } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fsvmIdentityUri } from './tls';

const run = promisify(execFile);

export interface CertificateAuthority {
  certPem: string;
  certFile: string;
  keyFile: string;
}

export interface ServerCertificate {
  certPem: string;
  certFile: string;
  keyFile: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 30_000 });
  } catch (err) {
    const stderr = ((err as { stderr?: string }).stderr ?? '').trim().split('\n').slice(-3).join(' | ');
    throw new Error(`openssl ${args[0]} failed: ${stderr || (err as Error).message}`);
  }
}

/** `openssl req` arguments for a new, unencrypted P-256 key written to keyFile. */
function newKey(keyFile: string): string[] {
  return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile];
}

/** A self-signed CA (P-256) valid for `days`, written to <dir>/<name>.pem and <dir>/<name>.key (0600). */
export async function createCertificateAuthority(
  dir: string,
  opts: { name: string; commonName: string; days?: number },
): Promise<CertificateAuthority> {
  fs.mkdirSync(dir, { recursive: true });
  const certFile = path.join(dir, `${opts.name}.pem`);
  const keyFile = path.join(dir, `${opts.name}.key`);
  await openssl([
    'req',
    '-x509',
    ...newKey(keyFile),
    '-out',
    certFile,
    '-days',
    String(opts.days ?? 30),
    '-subj',
    `/CN=${opts.commonName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  fs.chmodSync(keyFile, 0o600);
  return { certPem: fs.readFileSync(certFile, 'utf8'), certFile, keyFile };
}

/** A TLS server certificate signed by `ca`, for the given DNS names and IP addresses (subjectAltName). */
export async function issueServerCertificate(
  ca: CertificateAuthority,
  dir: string,
  opts: {
    name: string;
    dnsNames: string[];
    ipAddresses: string[];
    /** subjectAltName URIs, e.g. the fsdr://<file server>/<node> an FSVM's certificate names (infra/tls.ts). */
    uris?: string[];
    /** Also usable as a TLS client certificate (an FSVM's, presented to its peers). */
    clientAuth?: boolean;
    days?: number;
  },
): Promise<ServerCertificate> {
  fs.mkdirSync(dir, { recursive: true });
  const keyFile = path.join(dir, `${opts.name}.key`);
  const csrFile = path.join(dir, `${opts.name}.csr`);
  const certFile = path.join(dir, `${opts.name}.pem`);
  const extFile = path.join(dir, `${opts.name}.ext`);
  const san = [
    ...opts.dnsNames.map((d) => `DNS:${d}`),
    ...opts.ipAddresses.map((ip) => `IP:${ip}`),
    ...(opts.uris ?? []).map((u) => `URI:${u}`),
  ].join(',');
  fs.writeFileSync(
    extFile,
    `subjectAltName=${san}\nextendedKeyUsage=serverAuth${opts.clientAuth ? ',clientAuth' : ''}\n` +
      'keyUsage=critical,digitalSignature,keyAgreement\n',
  );
  await openssl([
    'req',
    ...newKey(keyFile),
    '-out',
    csrFile,
    '-subj',
    `/CN=${opts.dnsNames[0] ?? opts.ipAddresses[0] ?? opts.name}`,
  ]);
  await openssl([
    'x509',
    '-req',
    '-in',
    csrFile,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-set_serial',
    `0x1${randomBytes(15).toString('hex')}`, // unique even for certificates issued in the same millisecond
    '-days',
    String(opts.days ?? 30),
    '-out',
    certFile,
    '-extfile',
    extFile,
  ]);
  fs.chmodSync(keyFile, 0o600);
  fs.rmSync(csrFile);
  fs.rmSync(extFile);
  return { certPem: fs.readFileSync(certFile, 'utf8'), certFile, keyFile };
}

/**
 * An FSVM's certificate for the gateway agent (infra/tls.ts): it names its file server and node (subjectAltName URI
 * fsdr://<file server>/<node>) and the host its agent is reached at; server and client authentication (mutual TLS
 * between peers).
 */
export function issueFsvmCertificate(
  ca: CertificateAuthority,
  dir: string,
  opts: { fileServer: string; nodeId: string; hosts: string[]; days?: number },
): Promise<ServerCertificate> {
  const ip = (h: string) => /^[0-9.]+$/.test(h) || h.includes(':');
  return issueServerCertificate(ca, dir, {
    name: opts.nodeId,
    dnsNames: opts.hosts.filter((h) => !ip(h)),
    ipAddresses: opts.hosts.filter(ip),
    uris: [fsvmIdentityUri(opts.fileServer, opts.nodeId)],
    clientAuth: true,
    ...(opts.days ? { days: opts.days } : {}),
  });
}

/** Whether a certificate file is there, signed by `ca` (when given) and valid for at least `days` more days. */
export function certificateUsable(certFile: string, ca?: { certPem: string }, days = 7): boolean {
  try {
    const cert = new X509Certificate(fs.readFileSync(certFile));
    if (new Date(cert.validTo).getTime() < Date.now() + days * 86_400_000) return false;
    return ca ? cert.verify(new X509Certificate(ca.certPem).publicKey) : true;
  } catch {
    return false;
  }
}

/**
 * The local CA of the embedded default (`npm start`): made once under `dir` and reused across restarts, made again
 * when it is missing or about to expire (and then every certificate it signed with it: see certificateUsable).
 */
export async function ensureCertificateAuthority(
  dir: string,
  opts: { name: string; commonName: string; days?: number },
): Promise<CertificateAuthority> {
  const certFile = path.join(dir, `${opts.name}.pem`);
  const keyFile = path.join(dir, `${opts.name}.key`);
  if (fs.existsSync(keyFile) && certificateUsable(certFile)) {
    return { certPem: fs.readFileSync(certFile, 'utf8'), certFile, keyFile };
  }
  return createCertificateAuthority(dir, opts);
}
