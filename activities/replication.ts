// Steps of one replication run of one share (seed 000 [0214]-[0220]). The orchestrator never touches file data:
// it asks source FSVMs to snapshot and to stream each portion to its destination FSVM, watches the streams, and
// commits the set at the destination only when every portion arrived.
import { Context, CancelledFailure } from '@temporalio/activity';
import { ConflictError, GatewayUnavailable, NotFoundError, ValidationError } from '../domain/errors';
import {
  newestCommonSnapshot,
  planDatasetMap,
  snapshotsToPrune,
  transferId as transferIdOf,
} from '../domain/replication';
import type { TransferStatus } from '../domain/gateway-contract';
import type { Db } from '../infra/database';
import type { GatewayDirectory } from './gateway-directory';

export interface ReplicationActivityDeps {
  db: Db;
  gateways: GatewayDirectory;
  /** How often a running transfer is polled (and the sub-job row updated); tests shorten it. */
  pollIntervalMs?: number;
}

export interface PortionPlan {
  portion: string;
  sourceNode: string;
  destNode: string;
  destUrl: string;
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
  /** Whether the destination has a complete set already (the run is then expected to be incremental). */
  hasCompleteSet: boolean;
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

  /**
   * Which FSVM holds each portion of the share now (seed 003: after a takeover, the new owner). FSVMs that do not
   * answer are left out: their portions keep the owner the dataset map recorded, and those sub-jobs wait for them.
   */
  async function currentOwners(
    fileServer: string,
    share: string,
  ): Promise<{ owners: Map<string, string>; down: string[] }> {
    const owners = new Map<string, string>();
    const down: string[] = [];
    await Promise.all(
      (await gateways.fsvms(fileServer)).map(async (f) => {
        try {
          const client = await gateways.client(fileServer, f.nodeId);
          const s = await client.findShare(share, { timeoutMs: 5000 });
          for (const p of s?.portions ?? []) owners.set(p.name, f.nodeId);
        } catch (err) {
          if (!(err instanceof GatewayUnavailable)) throw err;
          down.push(f.nodeId);
        }
      }),
    );
    return { owners, down };
  }

  return {
    /**
     * Reads the policy and dataset map, follows portions that moved to another FSVM and maps new ones. Base vs
     * incremental is negotiated by each sub-job for its portion ([0218]), once its FSVM answers.
     */
    async prepareReplication(input: { policyId: string; share: string }): Promise<ReplicationPlan> {
      const policy = await db.replicationPolicy.findUnique({
        where: { id: input.policyId },
        include: {
          source: { select: { name: true } },
          destination: { select: { name: true, fsvms: { select: { nodeId: true, gatewayUrl: true } } } },
          shares: {
            where: { sourceShare: input.share },
            include: { datasets: { where: { reverse: false, inUse: true } } },
          },
        },
      });
      if (!policy) throw new NotFoundError(`policy ${input.policyId} no longer exists`);
      const ps = policy.shares[0];
      if (!ps) throw new NotFoundError(`share '${input.share}' is not in policy '${policy.name}'`);
      const base = {
        policyName: policy.name,
        policyStatus: policy.status,
        source: policy.source.name,
        destination: policy.destination.name,
        sourceShare: ps.sourceShare,
        targetShare: ps.targetShare,
        rpoSeconds: policy.rpoSeconds,
        retentionCount: policy.retentionCount,
        hasCompleteSet: ps.lastCompleteSnapshotSetId !== null,
      };
      if (policy.status !== 'active' && policy.status !== 'creating') return { ...base, portions: [] };

      const { owners, down } = await currentOwners(base.source, ps.sourceShare);
      // Portions on an FSVM that does not answer stay where the map has them; their sub-jobs wait for it.
      for (const d of ps.datasets)
        if (!owners.has(d.portion) && down.includes(d.sourceNodeId)) owners.set(d.portion, d.sourceNodeId);
      if (!owners.size) {
        if (down.length)
          throw new GatewayUnavailable(`no FSVM of '${base.source}' holding '${ps.sourceShare}' answers`);
        throw new ValidationError(`share '${ps.sourceShare}' is not on any FSVM of '${base.source}'`);
      }
      const destNodes = policy.destination.fsvms.map((f) => f.nodeId);
      const placements = planDatasetMap(
        [...owners].map(([portion, sourceNode]) => ({ portion, sourceNode })),
        destNodes,
        ps.datasets.map((d) => ({ portion: d.portion, sourceNode: d.sourceNodeId, destNode: d.destNodeId })),
      );
      for (const p of placements) {
        const known = ps.datasets.find((d) => d.portion === p.portion);
        if (known && known.sourceNodeId === p.sourceNode) continue;
        // A new portion, or one that moved to another source FSVM: record where it is now.
        const pair = {
          sourceFileServerId: policy.sourceFileServerId,
          sourceShare: ps.sourceShare,
          destFileServerId: policy.destFileServerId,
          targetShare: ps.targetShare,
        };
        await db.datasetMapEntry.upsert({
          where: {
            sourceFileServerId_sourceShare_destFileServerId_targetShare_portion_reverse: {
              ...pair,
              portion: p.portion,
              reverse: false,
            },
          },
          update: { sourceNodeId: p.sourceNode, destNodeId: p.destNode, inUse: true, policyShareId: ps.id },
          create: {
            ...pair,
            policyShareId: ps.id,
            portion: p.portion,
            reverse: false,
            sourceNodeId: p.sourceNode,
            destNodeId: p.destNode,
          },
        });
      }
      const urlOf = new Map(policy.destination.fsvms.map((f) => [f.nodeId, f.gatewayUrl]));
      const portions = placements.map((p): PortionPlan => ({ ...p, destUrl: urlOf.get(p.destNode)! }));
      return { ...base, portions };
    },

    /** The job and its sub-jobs as the API shows them ([0220], figs. 18-19). */
    async startJob(input: {
      policyId: string;
      plan: ReplicationPlan;
      snapshotSetId: string;
      kind: 'scheduled' | 'on_demand' | 'final_delta';
      workflowId: string;
    }): Promise<{ jobId: string }> {
      const { plan } = input;
      const existing = await db.job.findFirst({
        where: { workflowId: input.workflowId, snapshotSetId: input.snapshotSetId },
      });
      if (existing) return { jobId: existing.id };
      const job = await db.job.create({
        data: {
          policyId: input.policyId,
          kind: input.kind,
          state: 'running',
          share: plan.sourceShare,
          targetShare: plan.targetShare,
          sourceFileServer: plan.source,
          destFileServer: plan.destination,
          snapshotSetId: input.snapshotSetId,
          incremental: plan.hasCompleteSet,
          workflowId: input.workflowId,
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
      await Promise.all(
        input.nodes.map(async (nodeId) => {
          try {
            const client = await gateways.client(input.source, nodeId);
            await client.createSnapshot(input.share, { snapshotId: input.snapshotSetId, expiresAt: input.expiresAt });
          } catch (err) {
            if (!(err instanceof GatewayUnavailable)) throw err;
            unreachable.push(nodeId);
          }
        }),
      );
      await db.snapshotSet.upsert({
        where: { id: input.snapshotSetId },
        update: {},
        create: {
          id: input.snapshotSetId,
          fileServerId: (await db.fileServer.findUniqueOrThrow({ where: { name: input.source } })).id,
          share: input.share,
          expiresAt: new Date(input.expiresAt),
          complete: true, // at the source a set is complete as soon as every FSVM took its snapshot
          portions: input.nodes,
        },
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
          target: {
            url: portion.destUrl,
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
          if (Date.now() - lastDbWrite > 5 * pollMs && status.state !== 'succeeded') {
            lastDbWrite = Date.now();
            await db.subJob.updateMany({
              where: { jobId: input.jobId, portion: portion.portion },
              data: {
                bytesSynced: BigInt(status.bytesSent),
                bytesTotal: BigInt(status.bytesTotal ?? status.bytesSent),
                throughputBps: BigInt(Math.round(status.rateBytesPerSec)),
              },
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
      const dest = await db.fileServer.findUniqueOrThrow({ where: { name: input.destination }, select: { id: true } });
      await db.$transaction([
        db.snapshotSet.upsert({
          where: { id: `${input.snapshotSetId}@${input.destination}` },
          update: { complete: true },
          create: {
            id: `${input.snapshotSetId}@${input.destination}`,
            fileServerId: dest.id,
            share: input.targetShare,
            createdAt: takenAt,
            complete: true,
            portions: input.portions,
          },
        }),
        db.policyShare.updateMany({
          where: { policyId: input.policyId, sourceShare: input.share },
          data: { lastCompleteSnapshotSetId: input.snapshotSetId, lastCompleteAt: takenAt },
        }),
        db.job.update({
          where: { id: input.jobId },
          data: {
            state: 'succeeded',
            incremental: input.results.every((r) => r.baseSnapshotId !== null),
            baseSnapshotId: input.results.find((r) => r.baseSnapshotId)?.baseSnapshotId ?? null,
            percent: 100,
            bytesTotal: BigInt(bytes),
            bytesSynced: BigInt(bytes),
            throughputBps: BigInt(Math.round(bytes / seconds)),
            // The set's data is as old as its snapshot: compliant if that is within one RPO of now.
            rpoCompliant: Date.now() - takenAt.getTime() <= input.rpoSeconds * 1000,
            endedAt: new Date(),
          },
        }),
      ]);
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
      const deleted: string[] = [];
      for (const f of await gateways.fsvms(input.fileServer)) {
        const client = await gateways.client(input.fileServer, f.nodeId);
        const all = await client.listSnapshots(input.share).catch((err: unknown) => {
          if (err instanceof NotFoundError) return []; // the share is not on this FSVM
          throw err;
        });
        const snaps = all.filter((s) => s.origin === input.origin);
        const unique = [...new Map(snaps.map((s) => [s.id, s])).values()];
        for (const id of snapshotsToPrune(unique, input.keep, input.protect)) {
          await client.deleteSnapshot(input.share, id);
          deleted.push(`${f.nodeId}:${id}`);
        }
      }
      return { deleted };
    },
  };
}

export type ReplicationActivities = ReturnType<typeof createReplicationActivities>;
