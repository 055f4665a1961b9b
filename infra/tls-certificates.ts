// A private certificate authority and the server certificates it issues, made with the openssl command line: what a
// test or demo domain controller needs so that its clients verify LDAPS for real (no `rejectUnauthorized: false`).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

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
  opts: { name: string; dnsNames: string[]; ipAddresses: string[]; days?: number },
): Promise<ServerCertificate> {
  fs.mkdirSync(dir, { recursive: true });
  const keyFile = path.join(dir, `${opts.name}.key`);
  const csrFile = path.join(dir, `${opts.name}.csr`);
  const certFile = path.join(dir, `${opts.name}.pem`);
  const extFile = path.join(dir, `${opts.name}.ext`);
  const san = [...opts.dnsNames.map((d) => `DNS:${d}`), ...opts.ipAddresses.map((ip) => `IP:${ip}`)].join(',');
  fs.writeFileSync(
    extFile,
    `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyAgreement\n`,
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
    `0x${Date.now().toString(16)}`,
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
