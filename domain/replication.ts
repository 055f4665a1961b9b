// Pure rules of share replication (seed 000 [0209], [0214]-[0220]): workflow and schedule ids, snapshot set ids,
// the balanced dataset map, and base-vs-incremental negotiation. Used by workflows and activities alike.
import { z } from 'zod';
import { isReplicationSetId } from './recovery-points';

export const REPLICATE_WORKFLOW_TYPE = 'replicateShareWorkflow';

export const ReplicationTrigger = z.enum(['schedule', 'on_demand', 'final_delta']);
export type ReplicationTrigger = z.infer<typeof ReplicationTrigger>;

export const ReplicateShareInput = z.object({
  policyId: z.uuid(),
  /** The source share (its target share is read from the policy). */
  share: z.string().min(1).max(80),
  trigger: ReplicationTrigger.default('schedule'),
  /** The operation whose final delta this run is (trigger final_delta). */
  operationId: z.uuid().optional(),
});
export type ReplicateShareInput = z.infer<typeof ReplicateShareInput>;

/** The id a schedule's workflows carry (Temporal appends the scheduled time), readable in the Web UI. */
export function replicateWorkflowId(policyName: string, share: string): string {
  return `replicate/${policyName}/${share}`;
}

export function scheduleId(policyName: string, share: string): string {
  return `schedule/replicate/${policyName}/${share}`;
}

/**
 * Snapshot set ids sort by time and are unique per run: `fsdr-20261122T024500Z-<12 hex of the run id>`. The hex
 * digits are the run id's random tail: run ids are UUIDv7, whose leading digits are a timestamp shared by runs that
 * start together.
 */
export function snapshotSetId(at: Date, runId: string): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `fsdr-${stamp}-${runId.replace(/[^0-9a-f]/gi, '').slice(-12)}`;
}

/** The part of a set id that names its run (the same in every set id that run derived, whatever its clock said). */
export function setIdRunTag(setId: string): string {
  return setId.slice(setId.lastIndexOf('-'));
}

/**
 * A transfer id per share portion of a set, so a retried sub-job finds the transfer it already started; unique on
 * a receiving FSVM that takes portions of several shares.
 */
export function transferId(setId: string, share: string, portion: string): string {
  return `${setId}.${share}.${portion === '' ? 'root' : `p-${portion}`}`;
}

export interface PortionPlacement {
  portion: string;
  sourceNode: string;
  destNode: string;
}

/**
 * Which destination FSVM receives each portion. Existing entries are kept (the destination's snapshots of a portion
 * live on that FSVM, so moving it would force a full base copy); new portions go to the destination FSVM with the
 * fewest portions so far, and portions of one source FSVM stay together where possible, so each FSVM pair is one
 * stream (seed 004: parallel FSVM-pair streams). Deterministic: same input, same map.
 */
export function planDatasetMap(
  portions: { portion: string; sourceNode: string }[],
  destNodes: string[],
  existing: PortionPlacement[] = [],
): PortionPlacement[] {
  if (!destNodes.length) throw new Error('the destination file server has no FSVMs');
  const dests = [...destNodes].sort();
  const load = new Map(dests.map((d) => [d, 0]));
  const byPortion = new Map(existing.filter((e) => load.has(e.destNode)).map((e) => [e.portion, e]));
  const pairOf = new Map<string, string>(); // source node -> dest node chosen for its first new portion
  const out: PortionPlacement[] = [];
  const sorted = [...portions].sort(
    (a, b) => a.sourceNode.localeCompare(b.sourceNode) || a.portion.localeCompare(b.portion),
  );
  for (const p of sorted) {
    const kept = byPortion.get(p.portion);
    if (kept) {
      out.push({ portion: p.portion, sourceNode: p.sourceNode, destNode: kept.destNode });
      load.set(kept.destNode, load.get(kept.destNode)! + 1);
      pairOf.set(p.sourceNode, pairOf.get(p.sourceNode) ?? kept.destNode);
    }
  }
  const leastLoaded = () => dests.reduce((best, d) => (load.get(d)! < load.get(best)! ? d : best), dests[0]!);
  // No destination FSVM takes more than its fair share of the portions.
  const capacity = Math.ceil(portions.length / dests.length);
  for (const p of sorted) {
    if (byPortion.has(p.portion)) continue;
    const paired = pairOf.get(p.sourceNode);
    // Stay with the source FSVM's partner unless that would take it beyond its fair share.
    const dest = paired !== undefined && load.get(paired)! < capacity ? paired : leastLoaded();
    out.push({ portion: p.portion, sourceNode: p.sourceNode, destNode: dest });
    load.set(dest, load.get(dest)! + 1);
    if (!pairOf.has(p.sourceNode)) pairOf.set(p.sourceNode, dest);
  }
  return out.sort((a, b) => a.portion.localeCompare(b.portion));
}

/** The newest snapshot both sides have complete: the base of an incremental send; undefined means a base copy. */
export function newestCommonSnapshot(
  source: { id: string; createdAt: string }[],
  destination: { id: string }[],
): string | undefined {
  const have = new Set(destination.map((s) => s.id));
  const common = source.filter((s) => have.has(s.id));
  common.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  return common[common.length - 1]?.id;
}

/**
 * Snapshot ids of one side to delete so that `keep` newest remain, never deleting one in `protect`. Only replication
 * sets are pruned: a retained set (safety, pre-failover) or an operator's own snapshot is never touched.
 */
export function snapshotsToPrune(
  snapshots: { id: string; createdAt: string }[],
  keep: number,
  protect: string[],
): string[] {
  const sorted = [...snapshots].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
  const keepIds = new Set([...sorted.slice(0, Math.max(1, keep)).map((s) => s.id), ...protect]);
  return sorted.filter((s) => !keepIds.has(s.id) && isReplicationSetId(s.id)).map((s) => s.id);
}

/**
 * How often, and when, a share with this RPO is replicated. A run's data is as old as its snapshot, and the next set
 * lands one interval (plus jitter and the run's own duration) later: at an interval equal to the RPO every share
 * would drop out of compliance for a moment each cycle. Three quarters of the RPO, with at most a tenth of it as
 * jitter, keeps the newest set younger than the RPO.
 *
 * Temporal aligns interval schedules to the epoch, so without an offset every share with the same RPO would start
 * at the same instant: 500 shares as one burst each cycle, which made runs queue past their RPO. The offset is a
 * stable hash of the schedule id within the interval: shares spread evenly over it, and a share keeps its phase
 * across updates.
 */
export function scheduleTiming(
  rpoSeconds: number,
  scheduleId: string,
): { intervalMs: number; offsetMs: number; jitterMs: number } {
  const intervalMs = Math.round(rpoSeconds * 750);
  // FNV-1a with murmur3's final mix (ids differ only in their last characters): stable across processes and
  // releases, unlike anything seeded.
  let hash = 0x811c9dc5;
  for (let i = 0; i < scheduleId.length; i++) hash = Math.imul(hash ^ scheduleId.charCodeAt(i), 0x01000193);
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  hash = (hash ^ (hash >>> 16)) >>> 0;
  const offsetMs = Math.floor(((hash / 2 ** 32) * intervalMs) / 1000) * 1000;
  return { intervalMs, offsetMs, jitterMs: Math.min(rpoSeconds * 100, 30_000) };
}
