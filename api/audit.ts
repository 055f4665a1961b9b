// The audit log: one AuditEntry for every mutating call (who, what, when, result), successful or not, written before
// the answer is sent. Bodies are never stored (they may hold credentials): only the action, its target and outcome.
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

export interface AuditLog {
  record(entry: AuditRecord): Promise<void>;
}

export function resultOf(status: number): string {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'failed';
  if (status >= 400) return 'rejected';
  return 'succeeded';
}

export function createAuditLog(db: Pick<Db, 'auditEntry'>): AuditLog {
  return {
    async record(e) {
      await db.auditEntry.create({
        data: {
          actor: e.actor.slice(0, 200),
          action: e.action.slice(0, 200),
          target: e.target?.slice(0, 500),
          result: e.result,
          detail: e.detail as Prisma.InputJsonValue | undefined,
        },
      });
    },
  };
}
