// The SnapshotSet rows the recovery-point rules (domain/recovery-points.ts) apply to: recorded when a set is taken,
// received and committed, read by failover, compliance and the API, and removed with their snapshots when pruned.
// Shared by the worker's activities and the API (which reads the database, never the gateways).
import type { Db } from '../infra/database';

import { completeSets, newestComplete, recoveryPointAgeSeconds } from '../domain/recovery-points';

export interface RecoveryPoint {
  setId: string;
  fileServerId: string;
  share: string;
  createdAt: Date;
  portions: string[];
  purpose: 'replication' | 'final_delta' | 'pre_failover' | 'safety';
}

export interface SetRecord {
  fileServerId: string;
  share: string;
  setId: string;
  origin: 'local' | 'received';
  purpose?: RecoveryPoint['purpose'];
  createdAt: Date;
  expiresAt?: Date | null;
  complete: boolean;
  portions: string[];
  retained?: boolean;
  operationId?: string | null;
  note?: string | null;
}

/** Records (or completes) a set; idempotent, and a complete set never becomes incomplete again. */
export async function recordSnapshotSet(db: Pick<Db, 'snapshotSet'>, s: SetRecord): Promise<void> {
  const key = { fileServerId_share_setId: { fileServerId: s.fileServerId, share: s.share, setId: s.setId } };
  await db.snapshotSet.upsert({
    where: key,
    update: s.complete ? { complete: true, portions: s.portions } : {},
    create: {
      fileServerId: s.fileServerId,
      share: s.share,
      setId: s.setId,
      origin: s.origin,
      purpose: s.purpose ?? 'replication',
      createdAt: s.createdAt,
      expiresAt: s.expiresAt ?? null,
      complete: s.complete,
      portions: s.portions,
      retained: s.retained ?? false,
      operationId: s.operationId ?? null,
      note: s.note ?? null,
    },
  });
}

/** A SnapshotSet row as both the ORM and the raw query read it. */
type SetRow = Omit<RecoveryPoint, 'portions'> & { portions: unknown };

function toPoint(r: SetRow): RecoveryPoint {
  return {
    setId: r.setId,
    fileServerId: r.fileServerId,
    share: r.share,
    createdAt: r.createdAt,
    portions: Array.isArray(r.portions) ? (r.portions as string[]) : [],
    purpose: r.purpose,
  };
}

/** The share's recovery point on this file server: its newest complete set, or null when it has none. */
export async function recoveryPoint(db: Db, fileServerId: string, share: string): Promise<RecoveryPoint | null> {
  const rows = await db.snapshotSet.findMany({
    where: { fileServerId, share, complete: true },
    orderBy: [{ createdAt: 'desc' }, { setId: 'desc' }],
    take: 1,
  });
  const best = newestComplete(rows);
  return best ? toPoint(best) : null;
}

export function pointKey(fileServerId: string, share: string): string {
  return `${fileServerId}/${share}`;
}

/** Recovery points of many shares in one query (policy lists, metrics, the RPO monitor), keyed by pointKey. */
export async function recoveryPoints(
  db: Db,
  keys: { fileServerId: string; share: string }[],
): Promise<Map<string, RecoveryPoint>> {
  const out = new Map<string, RecoveryPoint>();
  if (!keys.length) return out;
  const rows = await db.$queryRaw<
    SetRow[]
  >`SELECT DISTINCT ON ("fileServerId", share) "setId", "fileServerId"::text AS "fileServerId", share, "createdAt",
      portions, purpose::text AS purpose
    FROM "SnapshotSet"
    WHERE complete AND ("fileServerId", share) IN (
      SELECT * FROM unnest(${keys.map((k) => k.fileServerId)}::uuid[], ${keys.map((k) => k.share)}::text[]))
    ORDER BY "fileServerId", share, "createdAt" DESC, "setId" DESC`;
  for (const r of rows) out.set(pointKey(r.fileServerId, r.share), toPoint(r));
  return out;
}

/** Every complete set of the share here, newest first, with its age: what a rollback may choose from. */
export async function listCompleteSets(db: Db, fileServerId: string, share: string, now = new Date()) {
  const rows = await db.snapshotSet.findMany({ where: { fileServerId, share, complete: true } });
  return completeSets(rows).map((r) => ({
    ...toPoint(r),
    retained: r.retained,
    ageSeconds: recoveryPointAgeSeconds(r.createdAt, now),
  }));
}

/** Set ids that must never be pruned from this share: the recovery point and every retained set. */
export async function protectedSetIds(db: Db, fileServerId: string, share: string): Promise<string[]> {
  const [point, retained] = await Promise.all([
    recoveryPoint(db, fileServerId, share),
    db.snapshotSet.findMany({ where: { fileServerId, share, retained: true }, select: { setId: true } }),
  ]);
  return [...(point ? [point.setId] : []), ...retained.map((r) => r.setId)];
}

/** Forgets the sets whose snapshots pruning deleted (retained sets are never forgotten this way). */
export async function forgetPrunedSets(db: Db, fileServerId: string, share: string, setIds: string[]): Promise<number> {
  if (!setIds.length) return 0;
  const r = await db.snapshotSet.deleteMany({
    where: { fileServerId, share, setId: { in: setIds }, retained: false },
  });
  return r.count;
}
