// The admin API from the browser: every call carries the bearer token (kept in sessionStorage only, for this tab's
// session); an error is the API's problem, shown in words; a 401 anywhere means the token expired or was revoked,
// and the UI returns to sign-in.
import type { Problem, Role, Whoami } from './types';

const TOKEN_KEY = 'fsdr.token';

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`);
    this.name = 'ApiError';
  }
  get status(): number {
    return this.problem.status;
  }
  /** The message for a field path the API names (e.g. `body.rpoMinutes`), if any. */
  field(path: string): string | undefined {
    return this.problem.errors?.find((e) => e.path === path)?.message;
  }
}

/** Words for any error: the API's title and detail, and any field message the detail does not already say. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    const p = err.problem;
    let text = p.detail ? `${p.title ?? `HTTP ${p.status}`}: ${p.detail}` : (p.title ?? `HTTP ${p.status}`);
    const extra = (p.errors ?? []).filter((e) => !p.detail?.includes(e.message));
    if (extra.length) text += ` (${extra.map((e) => `${e.path}: ${e.message}`).join('; ')})`;
    return text;
  }
  if (err instanceof TypeError) return `The API could not be reached (${err.message}).`;
  return err instanceof Error ? err.message : String(err);
}

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  save: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

let onUnauthorized: (message: string) => void = () => undefined;
export function setUnauthorizedHandler(fn: (message: string) => void): void {
  onUnauthorized = fn;
}

async function problemOf(res: Response): Promise<Problem> {
  const text = await res.text();
  try {
    const p = JSON.parse(text) as Partial<Problem>;
    if (typeof p === 'object' && p && typeof p.status === 'number') return p as Problem;
  } catch {
    // not a problem document
  }
  return { status: res.status, title: res.statusText || `HTTP ${res.status}`, detail: text.slice(0, 300) || undefined };
}

export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  token = session.token(),
  headers: Record<string, string> = {},
): Promise<T> {
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers: {
      ...headers,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      accept: 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    const problem = await problemOf(res);
    if (res.status === 401 && token) onUnauthorized(problem.detail ?? 'the token is not valid');
    throw new ApiError(problem);
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const api = {
  get: <T>(path: string) => call<T>('GET', path),
  post: <T>(path: string, body: unknown = {}, headers?: Record<string, string>) =>
    call<T>('POST', path, body, session.token(), headers),
  patch: <T>(path: string, body: unknown) => call<T>('PATCH', path, body),
  del: <T>(path: string) => call<T>('DELETE', path),
  whoami: (token: string) => call<Whoami>('GET', '/whoami', undefined, token),
};

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
export function allows(have: Role | undefined, need: Role): boolean {
  return have !== undefined && RANK[have] >= RANK[need];
}

export const enc = encodeURIComponent;

/** A query string from the defined values only. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${enc(k)}=${enc(String(v))}`);
  return q.length ? `?${q.join('&')}` : '';
}
