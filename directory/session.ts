// One bound LDAP session to a domain controller, with every failure turned into a DirectoryError whose reason says
// whether a retry can help (domain/errors.ts). Domain controllers are tried in the configured order; TLS is verified
// against the configured CA only (the CA list replaces Node's default roots): LDAPS, or StartTLS on ldap://. Plain
// LDAP only when the settings say so explicitly, and never with NODE_ENV=production. Every connect, TLS handshake
// and operation is bounded by a timeout.
import net from 'node:net';
import tls from 'node:tls';
import {
  AlreadyExistsError,
  Attribute,
  BusyError,
  Change,
  Client,
  ConfidentialityRequiredError,
  InappropriateAuthError,
  InsufficientAccessError,
  InvalidCredentialsError,
  NoSuchAttributeError,
  NoSuchObjectError,
  ResultCodeError,
  StrongAuthRequiredError,
  TimeLimitExceededError,
  UnavailableError,
  type Entry,
  type Filter,
} from 'ldapts';
import { DirectoryError, type DirectoryFailureReason } from '../domain/errors';

export interface SessionOptions {
  /** ldaps://host[:port] or ldap://host[:port], tried in order. */
  servers: string[];
  bindUser: string;
  bindPassword: string;
  /** PEM certificate(s) to verify the DCs' TLS certificates against; required unless plain LDAP. */
  caPem: string | null;
  /** ldap:// without StartTLS (explicit opt-in). */
  plainLdap: boolean;
  /** NODE_ENV=production: plain LDAP is refused whatever the settings say. */
  production: boolean;
  /** TCP connect + TLS handshake + bind, per DC; default 5 s. */
  connectTimeoutMs?: number;
  /** Each LDAP operation; default 10 s. */
  timeoutMs?: number;
}

export type Security = 'ldaps' | 'starttls' | 'plain';

export interface RootDse {
  defaultNamingContext: string;
  rootDomainNamingContext: string;
  dnsHostName: string;
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EADDRNOTAVAIL',
]);

/** Turns anything ldapts or the network threw into a DirectoryError naming `what` was being done. */
export function directoryError(err: unknown, what: string): DirectoryError {
  if (err instanceof DirectoryError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const text = typeof e?.message === 'string' ? e.message.split('\n')[0]!.slice(0, 300) : String(err);
  const make = (reason: DirectoryFailureReason, detail: string) => new DirectoryError(reason, `${what}: ${detail}`);
  if (err instanceof InvalidCredentialsError || err instanceof InappropriateAuthError) {
    return make('invalid_credentials', 'invalid credentials (wrong user or password, or a disabled or locked account)');
  }
  if (err instanceof InsufficientAccessError) return make('insufficient_rights', 'insufficient access rights');
  if (err instanceof StrongAuthRequiredError || err instanceof ConfidentialityRequiredError) {
    return make('tls_required', 'the domain controller requires TLS for this bind (use ldaps:// or StartTLS)');
  }
  if (err instanceof BusyError || err instanceof UnavailableError) return make('unreachable', `the server is ${text}`);
  if (err instanceof TimeLimitExceededError) return make('timeout', 'the server hit its time limit');
  if (err instanceof NoSuchAttributeError || err instanceof AlreadyExistsError) {
    return make('concurrent_change', `changed by another writer since it was read (${text})`);
  }
  if (err instanceof ResultCodeError) return make('refused', `LDAP result ${err.code}: ${text}`);
  const code = typeof e?.code === 'string' ? e.code : '';
  if (TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    return make('tls_verification_failed', `TLS certificate not accepted (${code}: ${text})`);
  }
  if (NETWORK_CODES.has(code)) return make('unreachable', `${code} (${text})`);
  if (/timeout|timed out/i.test(text)) return make('timeout', text);
  if (/Connection closed|Socket error|socket hang up/i.test(text)) return make('unreachable', text);
  return make('refused', text);
}

function parseServer(url: string): { scheme: 'ldap' | 'ldaps'; host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DirectoryError('invalid_input', `domain controller URL ${JSON.stringify(url)} is not a URL`);
  }
  const scheme = u.protocol.replace(/:$/, '');
  if ((scheme !== 'ldap' && scheme !== 'ldaps') || !u.hostname || u.username || u.password || u.search) {
    throw new DirectoryError(
      'invalid_input',
      `domain controller URL ${JSON.stringify(url)} must be ldaps://host[:port] or ldap://host[:port]`,
    );
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return { scheme, host, port: u.port ? Number(u.port) : scheme === 'ldaps' ? 636 : 389 };
}

/** Rejects after `ms` and runs `onTimeout` (which must release whatever the promise is waiting on). */
async function bounded<T>(p: Promise<T>, ms: number, onTimeout: () => void, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          onTimeout();
          reject(new DirectoryError('timeout', `${what}: no answer within ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export class DirectorySession {
  private constructor(
    private readonly client: Client,
    private readonly sockets: Set<net.Socket>,
    /** The domain controller this session is bound to. */
    readonly server: string,
    readonly security: Security,
    readonly rootDse: RootDse,
    private readonly timeoutMs: number,
  ) {}

  /** Connects to the first DC that accepts the bind. Never puts the password into a message. */
  static async open(opts: SessionOptions): Promise<DirectorySession> {
    if (!opts.servers.length) throw new DirectoryError('not_configured', 'no domain controller configured');
    const failures: DirectoryError[] = [];
    for (const server of opts.servers) {
      try {
        return await DirectorySession.openOne(server, opts);
      } catch (err) {
        const de = directoryError(err, `domain controller ${server}`);
        // A refused identity is refused by every DC of the domain; trying the others only risks locking it out.
        if (!de.retryable && de.reason !== 'tls_verification_failed') throw de;
        failures.push(de);
      }
    }
    if (failures.length === 1) throw failures[0]!;
    const retryable = failures.find((f) => f.retryable);
    throw new DirectoryError(
      retryable?.reason ?? failures[0]!.reason,
      `no domain controller could be used: ${failures.map((f) => f.message).join('; ')}`,
    );
  }

  private static async openOne(server: string, opts: SessionOptions): Promise<DirectorySession> {
    const { scheme, host, port } = parseServer(server);
    const plain = scheme === 'ldap' && opts.plainLdap;
    if (plain && opts.production) {
      throw new DirectoryError('invalid_input', `plain LDAP (no TLS) to ${server} is refused with NODE_ENV=production`);
    }
    if (!plain && !opts.caPem) {
      throw new DirectoryError('not_configured', `no CA certificate configured to verify ${server}`);
    }
    if (!opts.bindPassword) throw new DirectoryError('not_configured', 'no bind password configured');
    const tlsOptions: tls.ConnectionOptions = {
      ca: opts.caPem ?? undefined,
      host,
      // SNI takes host names only; an IP address is checked against the certificate's IP subjectAltNames.
      servername: net.isIP(host) ? undefined : host,
      minVersion: 'TLSv1.2',
    };
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    // Every socket this client opens, so that a timeout can close it (ldapts has no abort for a TLS upgrade).
    const sockets = new Set<net.Socket>();
    const track = <S extends net.Socket>(s: S): S => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      return s;
    };
    const client = new Client({
      url: `${scheme}://${net.isIPv6(host) ? `[${host}]` : host}:${port}`,
      connectTimeout: connectTimeoutMs,
      timeout: timeoutMs,
      // For ldap:// no tlsOptions here: ldapts would then speak TLS from the first byte instead of StartTLS.
      ...(scheme === 'ldaps' ? { tlsOptions } : {}),
      createConnection: ((p: number, h: string) => track(net.connect(p, h))) as typeof net.connect,
      createSecureConnection: (...args: unknown[]) =>
        track((tls.connect as (...a: unknown[]) => tls.TLSSocket)(...args)),
    });
    const destroy = () => {
      for (const s of sockets) s.destroy();
    };
    const security: Security = scheme === 'ldaps' ? 'ldaps' : plain ? 'plain' : 'starttls';
    try {
      const rootDse = await bounded(
        (async () => {
          if (security === 'starttls') await client.startTLS(tlsOptions);
          await client.bind(opts.bindUser, opts.bindPassword);
          const { searchEntries } = await client.search('', {
            scope: 'base',
            attributes: ['defaultNamingContext', 'rootDomainNamingContext', 'dnsHostName'],
          });
          const e = searchEntries[0] ?? { dn: '' };
          return {
            defaultNamingContext: String(e.defaultNamingContext ?? ''),
            rootDomainNamingContext: String(e.rootDomainNamingContext ?? e.defaultNamingContext ?? ''),
            dnsHostName: String(e.dnsHostName ?? ''),
          };
        })(),
        connectTimeoutMs + timeoutMs,
        destroy,
        `domain controller ${server}`,
      );
      if (!rootDse.defaultNamingContext) {
        throw new DirectoryError(
          'refused',
          `domain controller ${server} names no defaultNamingContext: is it an AD DC?`,
        );
      }
      return new DirectorySession(client, sockets, server, security, rootDse, timeoutMs);
    } catch (err) {
      destroy();
      const de = directoryError(err, `domain controller ${server}`);
      if (de.reason === 'invalid_credentials') {
        throw new DirectoryError(
          'invalid_credentials',
          `domain controller ${server} refused the bind as '${opts.bindUser}': ${de.message.split(': ').slice(1).join(': ')}`,
        );
      }
      throw de;
    }
  }

  private async op<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await bounded(fn(), this.timeoutMs + 1000, () => this.destroy(), what);
    } catch (err) {
      throw directoryError(err, what);
    }
  }

  private destroy(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** The entries of a search; a base that does not exist gives [] (the caller says what that means). */
  async search(
    base: string,
    what: string,
    opts: { scope: 'base' | 'one' | 'sub'; filter?: Filter; attributes: string[]; binary?: string[] },
  ): Promise<Entry[]> {
    return this.op(what, async () => {
      try {
        const r = await this.client.search(base, {
          scope: opts.scope,
          ...(opts.filter ? { filter: opts.filter } : {}),
          attributes: opts.attributes,
          explicitBufferAttributes: opts.binary ?? [],
          sizeLimit: 1000,
        });
        return r.searchEntries;
      } catch (err) {
        if (err instanceof NoSuchObjectError) return [];
        throw err;
      }
    });
  }

  async modify(
    dn: string,
    what: string,
    changes: { op: 'add' | 'delete' | 'replace'; type: string; values: (Buffer | string)[] }[],
  ) {
    await this.op(what, () =>
      this.client.modify(
        dn,
        changes.map(
          (c) =>
            new Change({
              operation: c.op,
              modification: new Attribute({ type: c.type, values: c.values as Buffer[] | string[] }),
            }),
        ),
      ),
    );
  }

  async add(dn: string, what: string, attributes: Record<string, (Buffer | string)[]>) {
    await this.op(what, () =>
      this.client.add(
        dn,
        Object.entries(attributes).map(
          ([type, values]) => new Attribute({ type, values: values as Buffer[] | string[] }),
        ),
      ),
    );
  }

  async del(dn: string, what: string) {
    await this.op(what, () => this.client.del(dn));
  }

  async close(): Promise<void> {
    try {
      await bounded(this.client.unbind(), 2000, () => this.destroy(), 'unbind');
    } catch {
      this.destroy();
    }
  }
}

/** Opens a session, runs `fn`, always closes it. */
export async function withSession<T>(opts: SessionOptions, fn: (s: DirectorySession) => Promise<T>): Promise<T> {
  const session = await DirectorySession.open(opts);
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}
