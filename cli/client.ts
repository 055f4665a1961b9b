// The CLI's one door to fs-dr: the REST API under /api/v1, with a bearer token, JSON both ways. An answer outside 2xx
// becomes an ApiError carrying the API's problem (RFC 9457 style: title, detail, errors[] naming each bad field); no
// answer at all becomes an Unreachable. The token is sent in the Authorization header only and never printed: the
// verbose trace shows method, path, status and time.
import type { Problem } from '../api/problem';
import { CliError, EXIT, exitCodeOf } from './exit-codes';

export interface Connection {
  /** The API's base URL, e.g. http://127.0.0.1:8080 (without /api/v1). */
  url: string;
  token: string;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
}

/** The API answered with an error: its status and problem. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem>,
    readonly method: string,
    readonly path: string,
  ) {
    super(describeProblem(status, problem), exitCodeOf(status));
    this.name = 'ApiError';
  }
}

/** No answer: connection refused, DNS, TLS, a timeout. */
export class Unreachable extends CliError {
  constructor(message: string) {
    super(message, EXIT.unreachable);
    this.name = 'Unreachable';
  }
}

/** The problem in words: its title and detail, or, when it names fields, each field with what is wrong with it. */
function describeProblem(status: number, p: Partial<Problem>): string {
  const title = p.title ?? `HTTP ${status}`;
  if (p.errors?.length) return [`${title}:`, ...p.errors.map((e) => `  ${e.path}: ${e.message}`)].join('\n');
  return p.detail ? `${title}: ${p.detail}` : title;
}

/** The base URL as typed, without a trailing slash or /api/v1 (both forms are accepted). */
export function normalizeBaseUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError(`'${raw}' is not a URL (e.g. http://127.0.0.1:8080)`, EXIT.usage);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new CliError(`'${raw}' must be an http:// or https:// URL`, EXIT.usage);
  }
  if (u.username || u.password) throw new CliError('the URL must not contain credentials: give the token', EXIT.usage);
  return `${u.origin}${u.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '')}`;
}

export interface ApiClient {
  readonly baseUrl: string;
  request<T>(method: string, path: string, opts?: RequestOptions): Promise<T>;
  get<T>(path: string, query?: Query): Promise<T>;
  post<T>(path: string, body?: unknown, opts?: Omit<RequestOptions, 'body'>): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
  delete<T>(path: string, query?: Query): Promise<T>;
}

export interface ClientOptions {
  /** Where the verbose trace goes (one line per request), when --verbose. */
  trace?: (line: string) => void;
  timeoutMs?: number;
}

/** A path segment as the API expects it (names are safe already; this guards against a stray slash or '?'). */
export function seg(s: string): string {
  return encodeURIComponent(s);
}

export function createClient(conn: Connection, opts: ClientOptions = {}): ApiClient {
  const timeoutMs = opts.timeoutMs ?? 120_000;

  async function request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const url = new URL(`${conn.url}/api/v1${path}`);
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const started = performance.now();
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          accept: 'application/json, application/problem+json',
          authorization: `Bearer ${conn.token}`,
          ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...o.headers,
        },
        body: o.body !== undefined ? JSON.stringify(o.body) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      opts.trace?.(`${method} ${url.pathname}${url.search} -> no answer`);
      throw new Unreachable(`cannot reach the API at ${conn.url}: ${reason(err, timeoutMs)}`);
    }
    const text = await res.text().catch(() => '');
    opts.trace?.(
      `${method} ${url.pathname}${url.search} -> ${res.status} (${Math.round(performance.now() - started)} ms)`,
    );
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    if (!res.ok) {
      const p = body && typeof body === 'object' ? (body as Partial<Problem>) : { title: `HTTP ${res.status}` };
      if (!body && res.status === 404) p.detail = `${url.pathname} is not an fs-dr API path (is ${conn.url} fs-dr?)`;
      throw new ApiError(res.status, p, method, path);
    }
    if (text && body === undefined) {
      throw new CliError(`the API at ${conn.url} answered ${method} ${path} with something that is not JSON`, 1);
    }
    return body as T;
  }

  return {
    baseUrl: conn.url,
    request,
    get: (path, query) => request('GET', path, { query }),
    post: (path, body, o) => request('POST', path, { ...o, body }),
    patch: (path, body) => request('PATCH', path, { body }),
    delete: (path, query) => request('DELETE', path, { query }),
  };
}

function reason(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `no answer within ${Math.round(timeoutMs / 1000)} s`;
  }
  // undici wraps the system error (ECONNREFUSED, ENOTFOUND, a certificate error) in `cause`.
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code && cause.message)
    return cause.message.includes(cause.code) ? cause.message : `${cause.code}: ${cause.message}`;
  if (cause?.message) return cause.message;
  return err instanceof Error ? err.message : String(err);
}
