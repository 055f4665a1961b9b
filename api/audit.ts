// The audit log: one AuditEntry for every mutating call (who, what, when, result), successful or not, written before
// the answer is sent. Bodies are never stored (they may hold credentials): only the action, its target and outcome.
//
// Two ways the log could be evaded or drowned, closed here:
// - PostgreSQL text and jsonb cannot hold a NUL character or a lone UTF-16 surrogate: an entry quoting one (a problem
//   detail naming an unknown JSON key "\u0000", say) would fail to be written. Every string of an entry is stored
//   with those characters escaped as the text `\u0000` (what was sent stays readable; nothing is dropped).
// - A client that is rate-limited (429) keeps knocking: one entry per rejected request would let it write rows at
//   will. Its rejections are aggregated instead: one entry per client address and blocked window, counting them
//   (`detail.rejected`), brought up to date at most every few seconds and when the window ends. The counts live in
//   this process until written: several API processes write one entry each per window.
import type { Db } from '../infra/database';
import type { Prisma } from '../prisma/generated/client';

export interface AuditRecord {
  actor: string;
  action: string;
  target?: string;
  /** succeeded | rejected (4xx) | failed (5xx) | unauthenticated | rate_limited */
  result: string;
  detail?: Record<string, unknown>;
}

export interface RateLimitedRecord {
  /** The client address the limit applies to. */
  key: string;
  /** `METHOD path` of the rejected request. */
  action: string;
  target: string;
  /** The problem detail the client got. */
  detail: string;
  /** When the client may try again: the end of the window this rejection belongs to. */
  until: Date;
}

export interface AuditLog {
  record(entry: AuditRecord): Promise<void>;
  /** A request refused because its client is rate-limited: counted in that client's entry for the window. */
  rateLimited(entry: RateLimitedRecord): Promise<void>;
  /** Writes the pending counts of the rate-limited windows (at shutdown; tests). */
  flush(): Promise<void>;
}

export function resultOf(status: number): string {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'failed';
  if (status >= 400) return 'rejected';
  return 'succeeded';
}

// A NUL, or a surrogate that is not half of a pair (JSON.stringify writes those as \udxxx escapes, which jsonb refuses).
// eslint-disable-next-line no-control-regex -- matching the NUL character is the point
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The string with every character PostgreSQL cannot store written as its `\uXXXX` escape. */
export function storable(s: string): string {
  return s.replace(UNSTORABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function storableJson(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return storable(v);
  if (depth > 20 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => storableJson(x, depth + 1));
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [storable(k), storableJson(x, depth + 1)]));
}

/** How often the count of an open rate-limited window is written while the client keeps knocking. */
const RATE_LIMITED_UPDATE_MS = 5_000;
const MAX_OPEN_WINDOWS = 10_000;
const MAX_ACTIONS_LISTED = 10;

interface OpenWindow {
  id: bigint;
  key: string;
  until: Date;
  rejected: number;
  written: number;
  writtenAt: number;
  firstAt: Date;
  lastAt: Date;
  actions: string[];
  detail: string;
  timer: NodeJS.Timeout;
}

export function createAuditLog(db: Pick<Db, 'auditEntry'>, now: () => number = Date.now): AuditLog {
  const create = (e: AuditRecord) =>
    db.auditEntry.create({
      data: {
        actor: storable(e.actor.slice(0, 200)),
        action: storable(e.action.slice(0, 200)),
        target: e.target === undefined ? undefined : storable(e.target.slice(0, 500)),
        result: e.result,
        detail: storableJson(e.detail) as Prisma.InputJsonValue | undefined,
      },
      select: { id: true },
    });

  const open = new Map<string, OpenWindow>();
  const windowDetail = (w: OpenWindow) => ({
    status: 429,
    detail: w.detail,
    ip: w.key,
    rejected: w.rejected,
    firstAt: w.firstAt.toISOString(),
    lastAt: w.lastAt.toISOString(),
    until: w.until.toISOString(),
    actions: w.actions,
  });
  const write = async (w: OpenWindow) => {
    // id 0: the entry is still being created (with the count of that moment); the next write brings it up to date.
    if (w.written === w.rejected || w.id === 0n) return;
    const count = w.rejected;
    await db.auditEntry.update({
      where: { id: w.id },
      data: { detail: storableJson(windowDetail(w)) as Prisma.InputJsonValue },
    });
    w.written = Math.max(w.written, count);
    w.writtenAt = now();
  };
  const close = async (w: OpenWindow) => {
    clearTimeout(w.timer);
    if (open.get(w.key) === w) open.delete(w.key);
    await write(w).catch(() => undefined); // the entry exists; only its last count is lost
  };

  return {
    async record(e) {
      await create(e);
    },

    async rateLimited(r) {
      const t = now();
      const current = open.get(r.key);
      if (current && current.until.getTime() > t) {
        current.rejected++;
        current.lastAt = new Date(t);
        if (current.actions.length < MAX_ACTIONS_LISTED && !current.actions.includes(storable(r.action))) {
          current.actions.push(storable(r.action));
        }
        if (t - current.writtenAt >= RATE_LIMITED_UPDATE_MS) await write(current);
        return;
      }
      if (current) await close(current);
      if (open.size >= MAX_OPEN_WINDOWS) {
        const oldest = open.values().next();
        if (!oldest.done) await close(oldest.value);
      }
      const w: OpenWindow = {
        id: 0n,
        key: r.key,
        until: r.until,
        rejected: 1,
        written: 1,
        writtenAt: t,
        firstAt: new Date(t),
        lastAt: new Date(t),
        actions: [storable(r.action)],
        detail: r.detail,
        timer: setTimeout(() => void close(w), Math.max(0, r.until.getTime() - t) + 100).unref(),
      };
      open.set(r.key, w);
      try {
        w.id = (
          await create({
            actor: 'anonymous',
            action: r.action,
            target: r.target,
            result: 'rate_limited',
            detail: windowDetail(w),
          })
        ).id;
      } catch (err) {
        clearTimeout(w.timer);
        open.delete(r.key);
        throw err;
      }
    },

    async flush() {
      await Promise.all([...open.values()].map((w) => write(w)));
    },
  };
}
