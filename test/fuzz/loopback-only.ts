// A fuzzer makes up addresses: a gateway URL `http://a.example:80` in a file server registration, a domain controller
// `ldaps://x.y` in directory settings, a transfer target. The product then (rightly) tries to reach them, and a test
// must never send traffic outside loopback (this machine's rule, and any CI's good manners). This guard refuses every
// TCP connection to anything but loopback (and Unix sockets) before a name is even looked up, as a host with no
// network would: the caller gets ECONNREFUSED, so the product code on the path is the real one, answering what it
// answers when a peer is unreachable. Installed in the test process (API and worker) and, through `--import`, in the
// gateway agent's process (`import './loopback-only'` installs it; `installLoopbackOnly` returns the uninstall).
import dns from 'node:dns';
import net from 'node:net';

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1|::ffff:127(\.\d{1,3}){3}|\[::1\])$/i;

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host);
}

/** The host a Socket#connect call is for, or undefined for a Unix socket path. */
function targetHost(args: unknown[]): string | undefined {
  // net.connect() hands the socket its already normalized [options, callback] array.
  const a = Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
  const first = a[0];
  if (first && typeof first === 'object') {
    const o = first as { host?: unknown; path?: unknown };
    if (typeof o.path === 'string') return undefined;
    return typeof o.host === 'string' && o.host ? o.host : 'localhost';
  }
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    return typeof a[1] === 'string' && a[1] ? a[1] : 'localhost';
  }
  return undefined; // a path
}

export interface LoopbackGuard {
  /** Hosts a connection was refused to (deduplicated, in order). */
  refused: string[];
  uninstall(): void;
}

export function installLoopbackOnly(): LoopbackGuard {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, on the prototype
  const connect = net.Socket.prototype.connect;
  const lookup = dns.lookup;
  const promisesLookup = dns.promises.lookup;
  const refused: string[] = [];
  const note = (host: string) => {
    if (!refused.includes(host) && refused.length < 1000) refused.push(host);
  };
  const refusal = (host: string) =>
    Object.assign(new Error(`connect ECONNREFUSED ${host} (test network: loopback only)`), {
      code: 'ECONNREFUSED',
      errno: -111,
      syscall: 'connect',
    });
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const host = targetHost(args);
    if (host !== undefined && !isLoopbackHost(host)) {
      note(host);
      process.nextTick(() => this.destroy(refusal(host)));
      return this;
    }
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  };
  dns.lookup = function (hostname: string, ...rest: unknown[]) {
    if (isLoopbackHost(hostname)) return (lookup as (...a: unknown[]) => void).call(dns, hostname, ...rest);
    note(hostname);
    const cb = rest[rest.length - 1] as (err: Error) => void;
    process.nextTick(() => cb(Object.assign(refusal(hostname), { code: 'ENOTFOUND', syscall: 'getaddrinfo' })));
  } as typeof dns.lookup;
  dns.promises.lookup = async function (hostname: string, ...rest: unknown[]) {
    if (isLoopbackHost(hostname))
      return (promisesLookup as (...a: unknown[]) => Promise<unknown>).call(dns.promises, hostname, ...rest);
    note(hostname);
    throw Object.assign(refusal(hostname), { code: 'ENOTFOUND', syscall: 'getaddrinfo' });
  } as typeof dns.promises.lookup;
  return {
    refused,
    uninstall() {
      net.Socket.prototype.connect = connect;
      dns.lookup = lookup;
      dns.promises.lookup = promisesLookup;
    },
  };
}
