// Steps of one replication run of one share (seed 000 [0214]-[0220]). The orchestrator never touches file data:
// it asks source FSVMs to snapshot and to stream each portion to its destination FSVM, watches the streams, and
// commits the set at the destination only when every portion arrived.
import { Context, CancelledFailure } from '@temporalio/activity';
import { ConflictError, GatewayUnavailable, NotFoundError, ValidationError } from '../domain/errors';
import {
  newestCommonSnapshot,
  planDatasetMap,
  setIdRunTag,
  snapshotsToPrune,
  transferId as transferIdOf,
} from '../domain/replication';
import type { GatewaySnapshot, TransferStatus } from '../domain/gateway-contract';
import type { Db } from '../infra/database';
import type { GatewayDirectory } from './gateway-directory';
import { rpoCompliance } from '../domain/compliance';
import { forgetPrunedSets, protectedSetIds, recordSnapshotSet, recoveryPoint } from '../store/recovery-points';
import { portionOwners } from './ownership';
import { PROGRESS_WRITE_MS, recordPortionProgress } from './job-progress';

export interface ReplicationActivityDeps {
  db: Db;
  gateways: GatewayDirectory;
  /** How often a running transfer is polled; tests shorten it. */
  pollIntervalMs?: number;
  /** How often a running transfer's progress is written to its job (default PROGRESS_WRITE_MS). */
  progressIntervalMs?: number;
}

export interface PortionPlan {
  portion: string;
  sourceNode: string;
  destNode: string;
}

export interface ReplicationPlan {
  policyName: string;
  policyStatus: string;
  source: string;
  destination: string;
  sourceShare: string;
  targetShare: string;
  rpoSeconds: number;
  retentionCount: number;
  /** Whether the receiving side has a complete set already (the run is then expected to be incremental). */
  hasCompleteSet: boolean;
  /** The run goes from the policy's destination back to its source (the destination is primary since a failover). */
  reversed: boolean;
  portions: PortionPlan[];
}

export interface TransferResult {
  portion: string;
  /** The FSVM that sent it: the planned one, or the one that took the portion over. */
  sourceNode: string;
  /** The base of the incremental send; null: a full copy. */
  baseSnapshotId: string | null;
  transferId: string;
  bytes: number;
  seconds: number;
  resumes: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createReplicationActivities(deps: ReplicationActivityDeps) {
  const { db, gateways } = deps;
  const pollMs = deps.pollIntervalMs ?? 1000;
  const progressMs = deps.progressIntervalMs ?? PROGRESS_WRITE_MS;

  async function fileServerId(name: string): Promise<string> {
    const fs = await db.fileServer.findUnique({ where: { name }, select: { id: true } });
    if (!fs) throw new NotFoundError(`file server '${name}' is not registered`);
    return fs.id;
  }

  /** Portion -> FSVM holding it now, and the FSVMs that did not answer (domain/ownership.ts). */
  async function currentOwners(fileServer: string, share: string) {
    const view = await portionOwners(gateways, fileServer, { share });
    return { owners: view.shares.get(share)?.owners ?? new Map<string, string>(), down: view.down };
  }

  return {
    /**
     * Reads the policy and dataset map, follows portions that moved to another FSVM and maps new ones. Base vs
     * incremental is negotiated by each sub-job for its portion ([0218]), once its FSVM answers.
     */
    async prepareReplication(input: {
      policyId: string;
      share: string;
      trigger?: 'schedule' | 'on_demand' | 'final_delta';
    }): Promise<ReplicationPlan> {
      const policy = await db.replicationPolicy.findUnique({
        where: { id: input.policyId },
        include: {
          source: { select: { name: true, fsvms: { select: { nodeId: true, gatewayUrl: true } } } },
          destination: { select: { name: true, fsvms: { select: { nodeId: true, gatewayUrl: true } } } },
          shares: { where: { sourceShare: input.share }, include: { datasets: { where: { inUse: true } } } },
        },
      });
      if (!policy) throw new NotFoundError(`policy ${input.policyId} no longer exists`);
      const ps = policy.shares[0];
      if (!ps) throw new NotFoundError(`share '${input.share}' is not in policy '${policy.name}'`);
      // Replication runs from the primary (where clients write) to the other side: after a failover, backwards.
      const reversed = ps.primary === 'destination';
      const from = reversed ? policy.destination : policy.source;
      const to = reversed ? policy.source : policy.destination;
      const fromShare = reversed ? ps.targetShare : ps.sourceShare;
      const toShare = reversed ? ps.sourceShare : ps.targetShare;
      const toId = reversed ? policy.sourceFileServerId : policy.destFileServerId;
      const base = {
        policyName: policy.name,
        policyStatus: policy.status,
        source: from.name,
        destination: to.name,
        sourceShare: fromShare,
        targetShare: toShare,
        reversed,
        rpoSeconds: policy.rpoSeconds,
        retentionCount: policy.retentionCount,
        hasCompleteSet: (await recoveryPoint(db, toId, toShare)) !== null,
      };
      if (policy.status !== 'active' && policy.status !== 'creating') return { ...base, portions: [] };
      // A failover paused the share: a run its schedule had already queued does nothing. Its own final delta runs.
      if (ps.paused && input.trigger !== 'final_delta') return { ...base, policyStatus: 'paused', portions: [] };

      const datasets = ps.datasets.filter((d) => d.reverse === reversed);
      const { owners, down } = await currentOwners(from.name, fromShare);
      // Portions on an FSVM that does not answer stay where the map has them; their sub-jobs wait for it.
      for (const d of datasets)
        if (!owners.has(d.portion) && down.includes(d.sourceNodeId)) owners.set(d.portion, d.sourceNodeId);
      if (!owners.size) {
        if (down.length) throw new GatewayUnavailable(`no FSVM of '${from.name}' holding '${fromShare}' answers`);
        throw new ValidationError(`share '${fromShare}' is not on any FSVM of '${from.name}'`);
      }
      const placements = planDatasetMap(
        [...owners].map(([portion, sourceNode]) => ({ portion, sourceNode })),
        to.fsvms.map((f) => f.nodeId),
        datasets.map((d) => ({ portion: d.portion, sourceNode: d.sourceNodeId, destNode: d.destNodeId })),
      );
      for (const p of placements) {
        const known = datasets.find((d) => d.portion === p.portion);
        if (known && known.sourceNodeId === p.sourceNode && known.destNodeId === p.destNode) continue;
        // A new portion, or one that moved to another FSVM: record where it is now, both ways (the entry of the
        // other direction is the way back a failover, a failback or a reverse resync takes).
        const pair = {
          sourceFileServerId: policy.sourceFileServerId,
          sourceShare: ps.sourceShare,
          destFileServerId: policy.destFileServerId,
          targetShare: ps.targetShare,
        };
        await db.$transaction(
          [false, true].map((reverse) => {
            const nodes =
              reverse === reversed
                ? { sourceNodeId: p.sourceNode, destNodeId: p.destNode }
                : { sourceNodeId: p.destNode, destNodeId: p.sourceNode };
            return db.datasetMapEntry.upsert({
              where: {
                sourceFileServerId_sourceShare_destFileServerId_targetShare_portion_reverse: {
                  ...pair,
                  portion: p.portion,
                  reverse,
                },
              },
              update: { ...nodes, inUse: true, policyShareId: ps.id },
              create: { ...pair, ...nodes, policyShareId: ps.id, portion: p.portion, reverse },
            });
          }),
        );
      }
      const portions: PortionPlan[] = placements;
      return { ...base, portions };
    },

    /** The job and its sub-jobs as the API shows them ([0220], figs. 18-19). */
    async startJob(input: {
      policyId: string;
      plan: ReplicationPlan;
      snapshotSetId: string;
      kind: 'scheduled' | 'on_demand' | 'final_delta';
      workflowId: string;
      /** The operation a final delta belongs to. */
      operationId?: string;
    }): Promise<{ jobId: string }> {
      const { plan } = input;
      // One job per run. A retry finds its row by the set id; but in a run recorded before its set id came from its
      // start time, a worker that died while it ran the local steps left them to run again in a new workflow task whose
      // clock, hence the set id, had moved on: the run's unfinished row then follows the new set, rather than a second
      // row being started and the first left running (a final delta stuck at 0 % on its operation). The run is known
      // by its set ids' run tag, not by the workflow id alone: a schedule names its runs by the second, so two runs
      // may share one.
      const existing = await db.job.findFirst({
        where: {
          workflowId: input.workflowId,
          OR: [
            { snapshotSetId: input.snapshotSetId },
            { state: { in: ['pending', 'running'] }, snapshotSetId: { endsWith: setIdRunTag(input.snapshotSetId) } },
          ],
        },
        orderBy: { startedAt: 'desc' },
      });
      if (existing) {
        if (existing.snapshotSetId !== input.snapshotSetId) {
          await db.job.update({
            where: { id: existing.id },
            data: { snapshotSetId: input.snapshotSetId, incremental: plan.hasCompleteSet },
          });
        }
        return { jobId: existing.id };
      }
      // A run an operator asked for (POST .../replicate triggers the schedule, so it queues like any run) is
      // recorded as on demand; the request is used up by the first run that starts after it.
      let kind: 'scheduled' | 'on_demand' | 'final_delta' | 'reverse' = input.kind;
      if (kind === 'scheduled') {
        const used = await db.policyShare.updateMany({
          where: { policyId: input.policyId, sourceShare: plan.sourceShare, replicateRequestedAt: { lte: new Date() } },
          data: { replicateRequestedAt: null },
        });
        if (used.count) kind = 'on_demand';
        else if (plan.reversed) kind = 'reverse';
      }
      const job = await db.job.create({
        data: {
          policyId: input.policyId,
          kind,
          state: 'running',
          share: plan.sourceShare,
          targetShare: plan.targetShare,
          sourceFileServer: plan.source,
          destFileServer: plan.destination,
          snapshotSetId: input.snapshotSetId,
          incremental: plan.hasCompleteSet,
          workflowId: input.workflowId,
          operationId: input.operationId ?? null,
          subJobs: {
            create: plan.portions.map((p) => ({
              portion: p.portion,
              sourceNodeId: p.sourceNode,
              destNodeId: p.destNode,
              state: 'pending' as const,
            })),
          },
        },
      });
      return { jobId: job.id };
    },

    /**
     * One snapshot per portion on every source FSVM holding the share, all with the set's id, taken together
     * ([0216]). An FSVM that does not answer is reported, not waited for: its sub-job takes the snapshot when the
     * FSVM (or the one that took its portions over) answers.
     */
    async takeSnapshotSet(input: {
      source: string;
      share: string;
      snapshotSetId: string;
      nodes: string[];
      expiresAt: string;
    }): Promise<{ unreachable: string[] }> {
      const unreachable: string[] = [];
      const taken: GatewaySnapshot[] = [];
      await Promise.all(
        input.nodes.map(async (nodeId) => {
          try {
            const client = await gateways.client(input.source, nodeId);
            taken.push(
              ...(await client.createSnapshot(input.share, {
                snapshotId: input.snapshotSetId,
                expiresAt: input.expiresAt,
              })),
            );
          } catch (err) {
            if (!(err instanceof GatewayUnavailable)) throw err;
            unreachable.push(nodeId);
          }
        }),
      );
      // At the source a set is complete once every FSVM holding the share took its snapshot; one that was down takes
      // it in its sub-job, and completeJob records the set complete then.
      await recordSnapshotSet(db, {
        fileServerId: await fileServerId(input.source),
        share: input.share,
        setId: input.snapshotSetId,
        origin: 'local',
        createdAt: taken.length ? new Date(Math.min(...taken.map((t) => Date.parse(t.createdAt)))) : new Date(),
        expiresAt: new Date(input.expiresAt),
        complete: unreachable.length === 0,
        portions: [...new Set(taken.map((t) => t.portion))].sort(),
      });
      return { unreachable };
    },

    /**
     * A sub-job: one portion streamed from its source FSVM to its destination FSVM ([0219]). Heartbeats carry the
     * progress; a retry finds the transfer it started (ids are deterministic) and the gateway resumes the stream
     * from the last acknowledged byte. A transfer that failed for good (checksum, disk full) is started afresh under
     * a new id. Follows the portion to a new FSVM after a takeover.
     */
    async transferPortion(input: {
      jobId: string;
      source: string;
      destination: string;
      share: string;
      targetShare: string;
      snapshotSetId: string;
      expiresAt: string;
      portion: PortionPlan;
    }): Promise<TransferResult> {
      const ctx = Context.current();
      const { portion } = input;
      // The plan's owner was looked up when the run started; a retry looks again (the FSVM may have been taken over).
      const sourceNode =
        ctx.info.attempt > 1
          ? ((await currentOwners(input.source, input.share)).owners.get(portion.portion) ?? portion.sourceNode)
          : portion.sourceNode;
      // Throws GatewayUnavailable while the FSVM is down: the activity retries with backoff, and each attempt
      // looks again for the portion's owner.
      const client = await gateways.client(input.source, sourceNode);
      const destClient = await gateways.client(input.destination, portion.destNode);
      // Idempotent: a no-op where the set's snapshot was taken with the others; taken now on an FSVM that was down
      // then, or that took the portion over since.
      await client.createSnapshot(input.share, { snapshotId: input.snapshotSetId, expiresAt: input.expiresAt });
      const [src, dst] = await Promise.all([
        client.negotiate(input.share, portion.portion),
        destClient.negotiate(input.targetShare, portion.portion),
      ]);
      const baseSnapshotId =
        newestCommonSnapshot(
          src.snapshots.filter((s) => s.id !== input.snapshotSetId),
          dst.snapshots,
        ) ?? null;
      const baseId = transferIdOf(input.snapshotSetId, input.share, portion.portion);
      const started = Date.now();
      let id = baseId;
      let status: TransferStatus | undefined;
      for (let round = 1; ; round++) {
        status = await client.getTransfer(id).catch((err: unknown) => {
          if (err instanceof NotFoundError) return undefined;
          throw err;
        });
        if (status && (status.state === 'failed' || status.state === 'cancelled')) {
          id = `${baseId}.r${round + 1}`;
          continue;
        }
        break;
      }
      if (!status) {
        status = await client.startTransfer({
          transferId: id,
          share: input.share,
          portion: portion.portion,
          snapshotId: input.snapshotSetId,
          ...(baseSnapshotId ? { baseSnapshotId } : {}),
          // the node, never its address: the sending agent sends only to the peers it has pinned (GATEWAY_PEERS)
          target: {
            nodeId: portion.destNode,
            share: input.targetShare,
            portion: portion.portion,
          },
        });
      }
      await db.subJob.updateMany({
        where: { jobId: input.jobId, portion: portion.portion },
        data: { state: 'running', sourceNodeId: sourceNode },
      });
      let lastDbWrite = 0;
      let delay = Math.min(50, pollMs);
      try {
        for (;;) {
          ctx.heartbeat({
            transferId: id,
            state: status.state,
            bytesSent: status.bytesSent,
            bytesTotal: status.bytesTotal,
          });
          if (Date.now() - lastDbWrite >= progressMs && status.state !== 'succeeded') {
            lastDbWrite = Date.now();
            await recordPortionProgress(db, {
              jobId: input.jobId,
              portion: portion.portion,
              bytesSent: status.bytesSent,
              bytesTotal: status.bytesTotal,
              rateBytesPerSec: status.rateBytesPerSec,
            });
          }
          if (status.state === 'succeeded') break;
          if (status.state === 'failed' || status.state === 'cancelled') {
            // Retryable: the next attempt starts a fresh transfer of the same snapshot under a new id.
            throw new Error(
              `transfer ${id} of portion '${portion.portion || '(root)'}' ${status.state}: ${status.error ?? 'no reason given'}`,
            );
          }
          // Small transfers finish in a fraction of a second: poll soon, then back off to the normal interval.
          await Promise.race([sleep(delay), ctx.cancelled]);
          delay = Math.min(delay * 2, pollMs);
          status = await client.getTransfer(id);
        }
      } catch (err) {
        // Only a cancelled run stops the stream. When this worker shuts down or loses the activity (heartbeat timeout),
        // the transfer goes on at the gateway and the retry, on any worker, picks it up where it is.
        if (err instanceof CancelledFailure && ctx.cancellationDetails?.cancelRequested) {
          await client.cancelTransfer(id).catch(() => undefined);
          await db.subJob.updateMany({
            where: { jobId: input.jobId, portion: portion.portion },
            data: { state: 'cancelled', endedAt: new Date() },
          });
        }
        throw err;
      }
      const seconds = (Date.now() - started) / 1000;
      const bytes = status.bytesTotal ?? status.bytesSent;
      await db.subJob.updateMany({
        where: { jobId: input.jobId, portion: portion.portion },
        data: {
          state: 'succeeded',
          bytesSynced: BigInt(bytes),
          bytesTotal: BigInt(bytes),
          throughputBps: BigInt(Math.round(bytes / Math.max(seconds, 0.001))),
          endedAt: new Date(),
        },
      });
      return {
        portion: portion.portion,
        sourceNode,
        baseSnapshotId: status.baseSnapshotId ?? null,
        transferId: id,
        bytes,
        seconds,
        resumes: status.resumes,
      };
    },

    /**
     * Publishes the received snapshot of every portion at the destination. Called only when every portion arrived,
     * so the set becomes complete at once from the orchestrator's point of view; a crash in between leaves some
     * portions committed, and the set is not recorded complete, so failover keeps using the previous complete set.
     */
    async commitSnapshotSet(input: { destination: string; transfers: { destNode: string; transferId: string }[] }) {
      for (const t of input.transfers) {
        const client = await gateways.client(input.destination, t.destNode);
        const st = await client.getReceive(t.transferId);
        if (st?.state === 'committed') continue;
        try {
          await client.commitReceive(t.transferId);
        } catch (err) {
          // The gateway refuses to bring a read-write share to a received snapshot (clients' writes would be lost).
          if (!(err instanceof ConflictError)) throw err;
          if ((await client.findShare(st.share))?.accessMode !== 'read_write') throw err;
          // This run will not come back to commit its set: free what it received rather than leave it unlisted.
          for (const other of input.transfers) {
            const c = await gateways.client(input.destination, other.destNode);
            await c.discardReceive(other.transferId);
          }
          throw new ConflictError(
            `target share '${st.share}' on ${input.destination} is read_write: replicating into it would overwrite ` +
              'what clients wrote there, so the snapshot set was not committed (nothing there was changed). Make ' +
              'the target share read-only on the destination to resume replication.',
          );
        }
      }
    },

    /** The set is complete at the destination: record it, the job's figures and the share's RPO position. */
    async completeJob(input: {
      jobId: string;
      policyId: string;
      share: string;
      destination: string;
      targetShare: string;
      snapshotSetId: string;
      snapshotTakenAt: string;
      rpoSeconds: number;
      portions: string[];
      results: TransferResult[];
    }) {
      const bytes = input.results.reduce((n, r) => n + r.bytes, 0);
      const job = await db.job.findUniqueOrThrow({ where: { id: input.jobId }, select: { startedAt: true } });
      const seconds = Math.max((Date.now() - job.startedAt.getTime()) / 1000, 0.001);
      const takenAt = new Date(input.snapshotTakenAt);
      const now = new Date();
      const destId = await fileServerId(input.destination);
      await db.$transaction(async (tx) => {
        // Every portion arrived and was committed: the set is the share's new recovery point at the destination.
        await recordSnapshotSet(tx, {
          fileServerId: destId,
          share: input.targetShare,
          setId: input.snapshotSetId,
          origin: 'received',
          createdAt: takenAt,
          complete: true,
          portions: [...input.portions].sort(),
        });
        // ... and complete on the sending side too, where an FSVM that was down at the start took its snapshot since
        // (set ids are unique per run: the one other row of this set is the sending side's).
        await tx.snapshotSet.updateMany({
          where: { setId: input.snapshotSetId, share: input.share, fileServerId: { not: destId }, origin: 'local' },
          data: { complete: true, portions: [...input.portions].sort() },
        });
        await tx.job.update({
          where: { id: input.jobId },
          data: {
            state: 'succeeded',
            incremental: input.results.every((r) => r.baseSnapshotId !== null),
            baseSnapshotId: input.results.find((r) => r.baseSnapshotId)?.baseSnapshotId ?? null,
            percent: 100,
            bytesTotal: BigInt(bytes),
            bytesSynced: BigInt(bytes),
            throughputBps: BigInt(Math.round(bytes / seconds)),
            // Whether this run landed in time: its set's data was within one RPO when it became the recovery point.
            rpoCompliant: rpoCompliance(takenAt, input.rpoSeconds, now) === 'compliant',
            endedAt: now,
          },
        });
      });
      return { bytes, seconds };
    },

    async failJob(input: { jobId: string; error: string; cancelled?: boolean }) {
      await db.job.updateMany({
        where: { id: input.jobId, state: { in: ['pending', 'running'] } },
        data: {
          state: input.cancelled ? 'cancelled' : 'failed',
          error: input.error.slice(0, 2000),
          endedAt: new Date(),
        },
      });
      await db.subJob.updateMany({
        where: { jobId: input.jobId, state: { in: ['pending', 'running'] } },
        data: { state: input.cancelled ? 'cancelled' : 'failed', endedAt: new Date() },
      });
    },

    /**
     * Keeps the newest `keep` snapshot sets of the share on each FSVM, and always the ones named in `protect` (the
     * newest complete set: the base of the next incremental run and the set a failover rolls back to). Only snapshots
     * of the given origin count: a share in a cascade (A -> B -> C) holds at B both the sets it received and the sets
     * taken for the next hop, and each policy prunes only its own.
     */
    async pruneShareSnapshots(input: {
      fileServer: string;
      share: string;
      keep: number;
      protect: string[];
      origin: 'local' | 'received';
    }) {
      const fsId = await fileServerId(input.fileServer);
      const listings = await Promise.all(
        (await gateways.fsvms(input.fileServer)).map(async (f) => {
          const client = await gateways.client(input.fileServer, f.nodeId);
          const all = await client.listSnapshots(input.share).catch((err: unknown) => {
            if (err instanceof NotFoundError) return []; // the share is not on this FSVM
            throw err;
          });
          return { nodeId: f.nodeId, client, snaps: all.filter((s) => s.origin === input.origin) };
        }),
      );
      // Decided per set, over all FSVMs, so a set is pruned everywhere or nowhere; never the recovery point or a
      // retained set, whatever the caller passed.
      const unique = [...new Map(listings.flatMap((l) => l.snaps).map((s) => [s.id, s])).values()];
      const protect = [...input.protect, ...(await protectedSetIds(db, fsId, input.share))];
      const doomed = snapshotsToPrune(unique, input.keep, protect);
      if (!doomed.length) return { deleted: [] as string[] };
      // A set stops counting as complete before its first snapshot goes: a half-pruned set is never a recovery point.
      await db.snapshotSet.updateMany({
        where: { fileServerId: fsId, share: input.share, setId: { in: doomed }, retained: false },
        data: { complete: false },
      });
      const deleted: string[] = [];
      for (const l of listings) {
        for (const id of doomed.filter((d) => l.snaps.some((s) => s.id === d))) {
          await l.client.deleteSnapshot(input.share, id);
          deleted.push(`${l.nodeId}:${id}`);
        }
      }
      await forgetPrunedSets(db, fsId, input.share, doomed);
      return { deleted };
    },
  };
}

export type ReplicationActivities = ReturnType<typeof createReplicationActivities>;
