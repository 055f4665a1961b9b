// Bearer-token authentication, roles and the rate limit on authentication failures.
// Tokens look like `fsdr_<43 base64url chars>`; only their SHA-256 is stored (ApiToken.tokenHash). Roles are ordered:
// viewer (read) < operator (run operations) < admin (configure). 401: no, unknown or revoked token; 403: a valid token
// whose role is too low; 429: too many failed authentications from one client address in the window.
import { createHash, randomBytes } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Db } from '../infra/database';
import { ForbiddenError, UnauthenticatedError } from '../domain/errors';
import { problem, sendProblem, toProblem } from './problem';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
}

export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export function requireRole(principal: Principal | undefined, need: Role): Principal {
  if (!principal) throw new UnauthenticatedError('a bearer token is required');
  if (!roleAllows(principal.role, need)) {
    throw new ForbiddenError(`token '${principal.name}' has role '${principal.role}'; this call needs '${need}'`);
  }
  return principal;
}

export function newToken(): string {
  return `fsdr_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const TOKEN_SHAPE = /^fsdr_[A-Za-z0-9_-]{43}$/;

export interface RateLimitOptions {
  /** Failed authentications allowed per client address per window (default 20). */
  maxFailures: number;
  windowMs: number;
}

/** Counts failures per key in a fixed window; bounded in memory (oldest keys dropped past `maxKeys`). */
export class FailureLimiter {
  private readonly hits = new Map<string, { count: number; resetAt: number }>();
  constructor(
    private readonly opts: RateLimitOptions,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until the key may try again, or 0 when it is not blocked. */
  blockedFor(key: string): number {
    const h = this.hits.get(key);
    if (!h) return 0;
    const t = this.now();
    if (t >= h.resetAt) {
      this.hits.delete(key);
      return 0;
    }
    return h.count >= this.opts.maxFailures ? Math.ceil((h.resetAt - t) / 1000) : 0;
  }

  fail(key: string): void {
    const t = this.now();
    const h = this.hits.get(key);
    if (!h || t >= h.resetAt) {
      this.hits.delete(key);
      if (this.hits.size >= this.maxKeys) {
        const oldest = this.hits.keys().next();
        if (!oldest.done) this.hits.delete(oldest.value);
      }
      this.hits.set(key, { count: 1, resetAt: t + this.opts.windowMs });
    } else h.count++;
  }
}

export interface AuthDeps {
  db: Db;
  cache: TokenCache;
  limiter: FailureLimiter;
  /** Called for a rejected call (401/429) before the problem is sent, e.g. to audit it. */
  onReject?: (
    req: Parameters<RequestHandler>[0],
    status: number,
    detail: string,
    /** 429: seconds until the client may try again. */
    retryAfterSeconds?: number,
  ) => Promise<void>;
}

const LAST_USED_RESOLUTION_MS = 60_000;
/** How long a verified token is trusted without a database read. Revocation through this process is immediate. */
export const TOKEN_CACHE_MS = 5_000;

export class TokenCache {
  private readonly entries = new Map<string, { principal: Principal; until: number }>();
  get(hash: string): Principal | undefined {
    const e = this.entries.get(hash);
    if (!e) return undefined;
    if (Date.now() > e.until) {
      this.entries.delete(hash);
      return undefined;
    }
    return e.principal;
  }
  set(hash: string, principal: Principal): void {
    if (this.entries.size > 10_000) this.entries.clear();
    this.entries.set(hash, { principal, until: Date.now() + TOKEN_CACHE_MS });
  }
  /** Forgets every cached entry of a token id (on revocation). */
  forget(tokenId: string): void {
    for (const [k, v] of this.entries) if (v.principal.tokenId === tokenId) this.entries.delete(k);
  }
}

/**
 * Resolves `Authorization: Bearer <token>` into res.locals.principal, or answers 401/429. Runs before the body is
 * parsed, so an unauthenticated client cannot make the server read a body.
 */
export function authenticate(deps: AuthDeps): RequestHandler {
  const lastUsed = new Map<string, number>();
  return async (req, res, next) => {
    const key = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const wait = deps.limiter.blockedFor(key);
    if (wait > 0) {
      const p = problem(
        429,
        'Too many requests',
        'rate-limited',
        `too many failed authentications; retry in ${wait} s`,
      );
      await deps.onReject?.(req, 429, p.detail!, wait);
      sendProblem(res, p, { 'retry-after': String(wait) });
      return;
    }
    const header = req.get('authorization');
    const reject = async (detail: string) => {
      deps.limiter.fail(key);
      const p = toProblem(new UnauthenticatedError(detail));
      await deps.onReject?.(req, 401, detail);
      sendProblem(res, p, { 'www-authenticate': 'Bearer realm="fs-dr"' });
    };
    if (!header) return reject('a bearer token is required (Authorization: Bearer <token>)');
    const m = /^Bearer ([^\s]+)$/i.exec(header.trim());
    if (!m || !TOKEN_SHAPE.test(m[1]!)) return reject('the bearer token is malformed');
    const hash = hashToken(m[1]!);
    const cached = deps.cache.get(hash);
    if (cached) {
      res.locals.principal = cached;
      return next();
    }
    const row = await deps.db.apiToken.findUnique({ where: { tokenHash: hash } });
    if (!row) return reject('the bearer token is not valid');
    if (row.revokedAt) return reject(`token '${row.name}' was revoked`);
    const principal: Principal = { tokenId: row.id, name: row.name, role: row.role };
    deps.cache.set(hash, principal);
    res.locals.principal = principal;
    const now = Date.now();
    if (now - (lastUsed.get(row.id) ?? 0) > LAST_USED_RESOLUTION_MS) {
      lastUsed.set(row.id, now);
      if (lastUsed.size > 10_000) lastUsed.clear();
      await deps.db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date(now) } });
    }
    next();
  };
}
