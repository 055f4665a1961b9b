// TLS of every process that listens on, or calls across, a network: the REST API, the gateway's control API and the
// data plane between FSVMs. Certificates come from files (PEM: certificate chain, key, CA bundle), are read again on
// SIGHUP (new connections get the new ones), and every client verifies its server against a configured CA. Plain HTTP
// stays possible on loopback only (the embedded default, tests) and is refused in production elsewhere.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http, { type Server as HttpServer } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle: what a peer's or server's certificate must chain to. */
  caFile?: string;
}

/** The contents of TlsFiles, checked (certificate and key match, the CA parses). */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  files: TlsFiles;
}

export class TlsConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsConfigError';
  }
}

function readPem(file: string, what: string): Buffer {
  try {
    const b = fs.readFileSync(file);
    if (!b.includes('-----BEGIN ')) throw new TlsConfigError(`${what} ${file} is not PEM`);
    return b;
  } catch (err) {
    if (err instanceof TlsConfigError) throw err;
    throw new TlsConfigError(`cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** Reads and checks the files; throws TlsConfigError naming the file (never echoing a key). */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  const m: TlsMaterial = {
    cert: readPem(files.certFile, 'certificate'),
    key: readPem(files.keyFile, 'key'),
    ...(files.caFile ? { ca: readPem(files.caFile, 'CA bundle') } : {}),
    files,
  };
  try {
    tls.createSecureContext({ cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}) });
  } catch (err) {
    throw new TlsConfigError(
      `certificate ${files.certFile} with key ${files.keyFile}${files.caFile ? ` and CA ${files.caFile}` : ''}: ` +
        (err instanceof Error ? err.message : String(err)),
    );
  }
  return m;
}

/** Only a CA bundle (a client that verifies servers but presents no certificate of its own). */
export function readCaFile(file: string): Buffer {
  const ca = readPem(file, 'CA bundle');
  try {
    tls.createSecureContext({ ca });
  } catch (err) {
    throw new TlsConfigError(`CA bundle ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return ca;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return net.isIPv4(h) && h.startsWith('127.');
}

/**
 * Why plain HTTP may not be served on `host` (undefined: it may): only loopback addresses carry plain HTTP in
 * production. `what` names the setting to fix in the message.
 */
export function plainHttpRefusal(what: string, host: string, production: boolean): string | undefined {
  if (!production || isLoopbackHost(host)) return undefined;
  return (
    `${what}: plain HTTP on ${host} is refused with NODE_ENV=production (only loopback may go without TLS); ` +
    'configure a certificate, key and CA bundle'
  );
}

/** Server options of a TLS listener; `requestCert`: ask clients for a certificate (verified against the CA). */
export function serverOptions(m: TlsMaterial, requestCert = false): https.ServerOptions {
  return {
    cert: m.cert,
    key: m.key,
    ...(m.ca ? { ca: m.ca } : {}),
    minVersion: 'TLSv1.2',
    // a client without a certificate still reaches the routes that do not need one; those that do check
    // `socket.authorized` themselves (the control API authenticates with its token)
    ...(requestCert ? { requestCert: true, rejectUnauthorized: false } : {}),
  };
}

/**
 * Re-reads the certificate files on SIGHUP and gives the server the new ones (connections opened from then on use
 * them; open ones keep theirs). A file that does not read or match is refused and the server keeps what it has.
 */
export function reloadOnSighup(
  server: https.Server,
  files: TlsFiles,
  opts: {
    requestCert?: boolean;
    onReload?: (m: TlsMaterial) => void;
    log: { info(o: object, msg: string): void; error(o: object, msg: string): void };
  },
): () => void {
  const reload = (): void => {
    try {
      const m = readTlsFiles(files);
      server.setSecureContext(serverOptions(m, opts.requestCert));
      opts.onReload?.(m);
      opts.log.info({ cert: files.certFile, ...certificateSummary(m.cert) }, 'TLS certificate reloaded');
    } catch (err) {
      opts.log.error(
        { err: err instanceof Error ? err.message : String(err) },
        'TLS reload refused: the server keeps its certificate',
      );
    }
  };
  process.on('SIGHUP', reload);
  return () => process.off('SIGHUP', reload);
}

/** Subject, serial and expiry of the first certificate of a PEM chain (for logs). */
export function certificateSummary(pem: Buffer): { subject?: string; serial?: string; validTo?: string } {
  try {
    const c = new X509Certificate(pem);
    return { subject: c.subject.replace(/\n/g, ', '), serial: c.serialNumber, validTo: c.validTo };
  } catch {
    return {};
  }
}

/** How a certificate names an FSVM: a subjectAltName URI fsdr://<file server>/<node id>. */
export function fsvmIdentityUri(fileServer: string, nodeId: string): string {
  return `fsdr://${encodeURIComponent(fileServer)}/${encodeURIComponent(nodeId)}`;
}

/** The FSVM a certificate names (its fsdr:// subjectAltName URI), if any. */
export function fsvmIdentityOf(
  cert: { subjectaltname?: string } | X509Certificate | undefined,
): { fileServer: string; nodeId: string } | undefined {
  const san = cert instanceof X509Certificate ? cert.subjectAltName : cert?.subjectaltname;
  for (const part of (san ?? '').split(/,\s*/)) {
    const m = /^URI:fsdr:\/\/([^/]+)\/([^/]+)$/.exec(part);
    if (m) return { fileServer: decodeURIComponent(m[1]!), nodeId: decodeURIComponent(m[2]!) };
  }
  return undefined;
}

/** The address the server listens on, for log lines and URLs. */
export function listeningUrl(server: HttpServer | https.Server, host: string): string {
  const a = server.address() as net.AddressInfo;
  const h = host.includes(':') ? `[${host}]` : host;
  return `${server instanceof https.Server ? 'https' : 'http'}://${h}:${a.port}`;
}

/**
 * The HTTP server of a handler: HTTPS with the given certificate (reloaded on SIGHUP), or plain HTTP. Callers have
 * checked that plain HTTP is allowed where they listen (plainHttpRefusal).
 */
export function createServerFor(
  handler: http.RequestListener,
  files: TlsFiles | undefined,
  log: { info(o: object, msg: string): void; error(o: object, msg: string): void },
): http.Server | https.Server {
  if (!files) return http.createServer(handler);
  const server = https.createServer(serverOptions(readTlsFiles(files)), handler);
  const stop = reloadOnSighup(server, files, { log });
  server.once('close', stop);
  return server;
}

/**
 * A CA bundle read from `file` and again on every SIGHUP (a bundle that does not read is refused, the previous one
 * kept); undefined without a file (the system's trust store).
 */
export function reloadableCa(
  file: string | undefined,
  log: { info(o: object, msg: string): void; error(o: object, msg: string): void },
): () => Buffer | undefined {
  if (!file) return () => undefined;
  let ca = readCaFile(file);
  process.on('SIGHUP', () => {
    try {
      ca = readCaFile(file);
      log.info({ caFile: file }, 'CA bundle reloaded');
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'CA bundle reload refused');
    }
  });
  return () => ca;
}

/**
 * One request over TLS through `agent` (which holds the CA, and the client certificate if any), answered as text: the
 * clients of the gateway's control API (orchestrator) and of the data plane (peers) both use it.
 */
export function requestOverTls(
  url: string | URL,
  init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal; agent: https.Agent },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method: init.method,
      headers: {
        ...init.headers,
        ...(init.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(init.body)) }),
      },
      signal: init.signal,
      agent: init.agent,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}
