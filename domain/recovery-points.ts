// Recovery points (architecture.md, "Recovery point"): the newest COMPLETE snapshot set of a share at a site, and
// its age, which is the data a failover to that site would lose. Pure rules; store/recovery-points.ts reads the
// SnapshotSet rows they apply to. Failover, compliance, pruning and the API views all ask these functions, so they
// cannot disagree about which set counts.

export interface SnapshotSetLike {
  setId: string;
  createdAt: Date;
  complete: boolean;
}

/** The newest complete set, or undefined when the share has none here (a half-received set never counts). */
export function newestComplete<T extends SnapshotSetLike>(sets: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const s of sets) {
    if (!s.complete) continue;
    if (
      !best ||
      s.createdAt.getTime() > best.createdAt.getTime() ||
      (s.createdAt.getTime() === best.createdAt.getTime() && s.setId > best.setId)
    )
      best = s;
  }
  return best;
}

/** Complete sets, newest first: what an operator may roll a share back to. */
export function completeSets<T extends SnapshotSetLike>(sets: readonly T[]): T[] {
  return sets
    .filter((s) => s.complete)
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.setId.localeCompare(a.setId));
}

/** Seconds of writes a failover to this recovery point would lose, as of `now` (never negative). */
export function recoveryPointAgeSeconds(createdAt: Date, now: Date): number {
  return Math.max(0, (now.getTime() - createdAt.getTime()) / 1000);
}

/** Ids of the sets that replication takes (and prunes by retention): fsdr-<UTC stamp>-<hex>. */
const REPLICATION_SET_ID = /^fsdr-\d{8}T\d{6}Z-[0-9a-f]+$/;

export function isReplicationSetId(id: string): boolean {
  return REPLICATION_SET_ID.test(id);
}

/**
 * Ids of sets kept until an operator deletes them (safety snapshots of divergent data, pre-failover snapshots):
 * `fsdr-<purpose>-<UTC stamp>-<hex>`. Their prefix keeps them out of retention pruning even on a gateway that the
 * admin database cannot be asked about.
 */
export function retainedSetId(purpose: 'safety' | 'pre-failover' | 'final-delta', at: Date, salt: string): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `fsdr-${purpose}-${stamp}-${salt
    .replace(/[^0-9a-f]/gi, '')
    .slice(-12)
    .toLowerCase()}`;
}
