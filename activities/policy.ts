// Steps of the policy lifecycle (seed 000 [0202]-[0213]) and their compensations. Every step is idempotent (a retried
// activity finds its own earlier work) and every compensation undoes only what its step reported it created.
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { ConflictError, GatewayUnavailable, NotFoundError, ValidationError } from '../domain/errors';
import {
  planDatasetMap,
  REPLICATE_WORKFLOW_TYPE,
  replicateWorkflowId,
  scheduleId as scheduleIdOf,
  scheduleTiming,
  type PortionPlacement,
  type ReplicateShareInput,
} from '../domain/replication';
import { FILE_SERVERS, POLICY, SHARE } from '../domain/search-attributes';
import type { Db } from '../infra/database';
import type { GatewayDirectory } from './gateway-directory';
import { portionOwners } from './ownership';

export interface PolicyActivityDeps {
  db: Db;
  gateways: GatewayDirectory;
  temporal: Client;
  taskQueue: string;
}

export interface ShareLayout {
  sourceShare: string;
  targetShare: string;
  kind: 'standard' | 'distributed';
  placements: PortionPlacement[];
}

export interface PolicyLayout {
  shares: ShareLayout[];
  destNodes: string[];
}

/** Every FSVM's view of the file server's shares (all must answer: a policy is validated against the whole server). */
async function shareOwners(gateways: GatewayDirectory, fileServer: string) {
  const view = await portionOwners(gateways, fileServer);
  if (!view.nodes.length) throw new ValidationError(`file server '${fileServer}' has no FSVMs registered`);
  if (view.down.length) {
    throw new GatewayUnavailable(`FSVMs ${view.down.map((n) => `'${n}'`).join(', ')} of '${fileServer}' do not answer`);
  }
  const byShare = new Map(
    [...view.shares].map(([name, s]) => [
      name,
      {
        kind: s.kind,
        sizeBytes: s.sizeBytes,
        portions: [...s.owners].map(([portion, sourceNode]) => ({ portion, sourceNode })),
      },
    ]),
  );
  return { nodes: view.nodes, byShare };
}

function specFor(rpoSeconds: number, scheduleId: string) {
  const { intervalMs, offsetMs, jitterMs } = scheduleTiming(rpoSeconds, scheduleId);
  return { intervals: [{ every: intervalMs, offset: offsetMs }], jitter: jitterMs };
}

/** Whether any FSVM of the file server holds snapshots of the share (it is an earlier replica). */
async function hasSnapshots(gateways: GatewayDirectory, fileServer: string, share: string): Promise<boolean> {
  for (const f of await gateways.fsvms(fileServer)) {
    const client = await gateways.client(fileServer, f.nodeId);
    if (!(await client.findShare(share))) continue;
    if ((await client.listSnapshots(share)).length) return true;
  }
  return false;
}

export function createPolicyActivities(deps: PolicyActivityDeps) {
  const { db, gateways, temporal } = deps;

  return {
    /**
     * Validation that needs the file servers themselves ([0204]): both registered and active, every source share
     * present with its portions, every FSVM on both sides answering. Plans where each portion goes.
     */
    async planPolicyLayout(input: {
      policyId: string;
      source: string;
      destination: string;
      shares: { sourceShare: string; targetShare: string }[];
    }): Promise<PolicyLayout> {
      const [src, dst] = await Promise.all([
        db.fileServer.findUnique({ where: { name: input.source }, select: { id: true, fencedAt: true } }),
        db.fileServer.findUnique({ where: { name: input.destination }, select: { id: true } }),
      ]);
      if (!src) throw new NotFoundError(`source file server '${input.source}' is not registered`);
      if (!dst) throw new NotFoundError(`destination file server '${input.destination}' is not registered`);
      if (src.fencedAt) throw new ValidationError(`source file server '${input.source}' is fenced since a failover`);
      const [source, destination] = await Promise.all([
        shareOwners(gateways, input.source),
        shareOwners(gateways, input.destination),
      ]);
      // Placements this pair of file servers had before (in use, or kept "not in use" by a deleted policy).
      const existing = await db.datasetMapEntry.findMany({
        where: {
          reverse: false,
          sourceFileServerId: src.id,
          destFileServerId: dst.id,
          sourceShare: { in: input.shares.map((p) => p.sourceShare) },
        },
      });
      const shares: ShareLayout[] = [];
      const problems: string[] = [];
      for (const pair of input.shares) {
        const found = source.byShare.get(pair.sourceShare);
        if (!found || !found.portions.length) {
          problems.push(`share '${pair.sourceShare}' does not exist on file server '${input.source}'`);
          continue;
        }
        const target = destination.byShare.get(pair.targetShare);
        if (target && target.sizeBytes > 0 && !(await hasSnapshots(gateways, input.destination, pair.targetShare))) {
          // A base copy replaces the target's tree: never do that to data that is not an earlier replica.
          problems.push(
            `target share '${pair.targetShare}' on '${input.destination}' already holds data that is not a replica; ` +
              'choose another target share or empty it first',
          );
          continue;
        }
        if (target && target.kind !== found.kind) {
          problems.push(
            `target share '${pair.targetShare}' on '${input.destination}' is ${target.kind}, source share '${pair.sourceShare}' is ${found.kind}`,
          );
          continue;
        }
        const kept = existing
          .filter((e) => e.sourceShare === pair.sourceShare && e.targetShare === pair.targetShare)
          .map((e) => ({ portion: e.portion, sourceNode: e.sourceNodeId, destNode: e.destNodeId }));
        shares.push({ ...pair, kind: found.kind, placements: planDatasetMap(found.portions, destination.nodes, kept) });
      }
      if (problems.length) throw new ValidationError(problems.join('; '));
      return { shares, destNodes: destination.nodes };
    },

    /** The FSVMs of a file server that hold a share now (read before creating, so compensation knows what was there). */
    async findShareNodes(input: { fileServer: string; share: string }): Promise<string[]> {
      const nodes: string[] = [];
      for (const f of await gateways.fsvms(input.fileServer)) {
        const client = await gateways.client(input.fileServer, f.nodeId);
        if (await client.findShare(input.share)) nodes.push(f.nodeId);
      }
      return nodes;
    },

    /**
     * Creates the target share on the destination FSVMs that receive its portions, read-only for clients until a
     * failover ([0211]). Idempotent. `createdByPolicy` records whether the policy made the share (none of the
     * destination FSVMs had it before), so deleting the policy later knows whose data it is.
     */
    async ensureTargetShare(input: {
      policyId: string;
      destination: string;
      layout: ShareLayout;
      createdByPolicy: boolean;
    }): Promise<void> {
      const { layout } = input;
      for (const nodeId of [...new Set(layout.placements.map((p) => p.destNode))]) {
        const portions = layout.placements.filter((p) => p.destNode === nodeId).map((p) => p.portion);
        const client = await gateways.client(input.destination, nodeId);
        const share = await client.createShare(layout.targetShare, {
          kind: layout.kind,
          ...(layout.kind === 'distributed' ? { portions } : {}),
          accessMode: 'read_only',
        });
        // A target that existed keeps its access mode. An empty read-write one (made by an operator) becomes
        // read-only like a new one; one holding data stays writable: its clients' writes are not ours to discard,
        // and the gateway refuses to commit over them (each run then fails saying so).
        if (share.accessMode === 'read_write' && share.portions.every((p) => p.sizeBytes === 0)) {
          await client.setAccess(layout.targetShare, 'read_only');
        }
      }
      await db.policyShare.updateMany({
        where: { policyId: input.policyId, sourceShare: layout.sourceShare },
        data: { targetCreated: input.createdByPolicy },
      });
    },

    /** Compensation of ensureTargetShare: removes the target share from the FSVMs where this run created it. */
    async deleteTargetShare(input: {
      policyId: string;
      destination: string;
      targetShare: string;
      sourceShare: string;
      nodes: string[];
    }) {
      for (const nodeId of input.nodes) {
        const client = await gateways.client(input.destination, nodeId);
        if (await client.findShare(input.targetShare)) {
          await client.deleteShare(input.targetShare);
        }
      }
      await db.policyShare.updateMany({
        where: { policyId: input.policyId, sourceShare: input.sourceShare },
        data: { targetCreated: false },
      });
    },

    /**
     * Records the dataset map and its reverse ([0209]). Entries a deleted policy left "not in use" are taken up
     * again rather than rebuilt ([0213]). Returns what it created and what it re-activated, for the compensation.
     */
    async saveDatasetMap(input: {
      policyId: string;
      layout: ShareLayout;
    }): Promise<{ createdIds: string[]; reactivatedIds: string[] }> {
      const ps = await db.policyShare.findUnique({
        where: { policyId_sourceShare: { policyId: input.policyId, sourceShare: input.layout.sourceShare } },
        include: { policy: { select: { sourceFileServerId: true, destFileServerId: true } } },
      });
      if (!ps) throw new NotFoundError(`policy share '${input.layout.sourceShare}' is not recorded`);
      const pair = {
        sourceFileServerId: ps.policy.sourceFileServerId,
        sourceShare: ps.sourceShare,
        destFileServerId: ps.policy.destFileServerId,
        targetShare: ps.targetShare,
      };
      const createdIds: string[] = [];
      const reactivatedIds: string[] = [];
      // One transaction: a failure leaves no half-written map for the compensation to miss.
      await db.$transaction(async (tx) => {
        for (const p of input.layout.placements) {
          for (const reverse of [false, true]) {
            const data = {
              sourceNodeId: reverse ? p.destNode : p.sourceNode,
              destNodeId: reverse ? p.sourceNode : p.destNode,
            };
            const key = {
              sourceFileServerId_sourceShare_destFileServerId_targetShare_portion_reverse: {
                ...pair,
                portion: p.portion,
                reverse,
              },
            };
            const before = await tx.datasetMapEntry.findUnique({ where: key });
            if (!before) {
              const row = await tx.datasetMapEntry.create({
                data: { ...pair, policyShareId: ps.id, portion: p.portion, reverse, inUse: true, ...data },
              });
              createdIds.push(row.id);
            } else if (!before.inUse || before.policyShareId !== ps.id) {
              // A map kept "not in use" by a deleted policy of the same pair: taken up again ([0213]).
              await tx.datasetMapEntry.update({
                where: { id: before.id },
                data: { inUse: true, policyShareId: ps.id, ...data },
              });
              reactivatedIds.push(before.id);
            }
          }
        }
      });
      return { createdIds, reactivatedIds };
    },

    async dropDatasetMap(input: { createdIds: string[]; reactivatedIds: string[] }) {
      await db.datasetMapEntry.deleteMany({ where: { id: { in: input.createdIds } } });
      await db.datasetMapEntry.updateMany({
        where: { id: { in: input.reactivatedIds } },
        data: { inUse: false, policyShareId: null },
      });
    },

    /** Marks a share's map "not in use" when it leaves the policy, kept for a later re-creation ([0213]). */
    async retireDatasetMap(input: { policyId: string; sourceShare: string }) {
      await db.datasetMapEntry.updateMany({
        where: { policyShare: { policyId: input.policyId, sourceShare: input.sourceShare } },
        data: { inUse: false },
      });
    },

    /**
     * One Temporal Schedule per share, timed by scheduleTiming(RPO). BUFFER_ONE is exactly [0217]: a triggered job
     * waits for the running one and a newer trigger replaces the waiting one. Catch-up is one RPO: after an outage
     * only the newest missed run is worth making. `created: false` when the schedule already existed for this policy.
     */
    async createReplicationSchedule(input: {
      policyId: string;
      policyName: string;
      source: string;
      destination: string;
      sourceShare: string;
      targetShare: string;
      rpoSeconds: number;
    }): Promise<{ scheduleId: string; created: boolean }> {
      const id = scheduleIdOf(input.policyName, input.sourceShare);
      const args: ReplicateShareInput = { policyId: input.policyId, share: input.sourceShare, trigger: 'schedule' };
      const handle = temporal.schedule.getHandle(id);
      let created = true;
      try {
        const existing = await handle.describe();
        if (existing.memo?.policyId !== input.policyId) {
          throw new ConflictError(`schedule '${id}' exists and belongs to another policy`);
        }
        created = false;
        await handle.update((prev) => ({ ...prev, spec: specFor(input.rpoSeconds, id) }));
      } catch (err) {
        if (!(err instanceof Error) || err.name !== 'ScheduleNotFoundError') throw err;
        await temporal.schedule.create({
          scheduleId: id,
          spec: specFor(input.rpoSeconds, id),
          action: {
            type: 'startWorkflow',
            workflowType: REPLICATE_WORKFLOW_TYPE,
            workflowId: replicateWorkflowId(input.policyName, input.sourceShare),
            taskQueue: deps.taskQueue,
            args: [args],
            typedSearchAttributes: [
              { key: POLICY, value: input.policyName },
              { key: SHARE, value: input.sourceShare },
              { key: FILE_SERVERS, value: [input.source, input.destination] },
            ],
            memo: { policy: input.policyName, share: input.sourceShare, target: input.targetShare },
          },
          policies: {
            overlap: ScheduleOverlapPolicy.BUFFER_ONE,
            catchupWindow: Math.max(input.rpoSeconds * 1000, 60_000),
          },
          memo: { policyId: input.policyId, policy: input.policyName, share: input.sourceShare },
        });
      }
      await db.policyShare.updateMany({
        where: { policyId: input.policyId, sourceShare: input.sourceShare },
        data: { scheduleId: id },
      });
      return { scheduleId: id, created };
    },

    /** Deletes a schedule; with `policyId`, only if that policy made it (a compensation never deletes another's). */
    async deleteReplicationSchedule(input: { scheduleId: string; policyId?: string }) {
      try {
        const handle = temporal.schedule.getHandle(input.scheduleId);
        if (input.policyId !== undefined && (await handle.describe()).memo?.policyId !== input.policyId) return;
        await handle.delete();
      } catch (err) {
        if (!(err instanceof Error) || err.name !== 'ScheduleNotFoundError') throw err;
      }
    },

    async setScheduleInterval(input: { scheduleId: string; rpoSeconds: number }) {
      await temporal.schedule
        .getHandle(input.scheduleId)
        .update((prev) => ({ ...prev, spec: specFor(input.rpoSeconds, input.scheduleId) }));
    },

    /** Starts a run now, queued behind a running one like any scheduled run (the trigger's default would overlap). */
    async triggerReplication(input: { scheduleId: string }) {
      await temporal.schedule.getHandle(input.scheduleId).trigger(ScheduleOverlapPolicy.BUFFER_ONE);
    },

    /** Cancels the replication runs of the given schedules that are running or queued ([0212], [0213]). */
    async cancelPendingJobs(input: { policyName: string; shares: string[] }): Promise<{ cancelled: number }> {
      let cancelled = 0;
      for (const share of input.shares) {
        const query = `WorkflowType = '${REPLICATE_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' AND DrPolicy = '${input.policyName.replace(/'/g, '')}' AND DrShare = '${share.replace(/'/g, '')}'`;
        for await (const wf of temporal.workflow.list({ query })) {
          await temporal.workflow.getHandle(wf.workflowId, wf.runId).cancel();
          cancelled++;
        }
      }
      return { cancelled };
    },

    async setPolicyStatus(input: {
      policyId: string;
      status: 'creating' | 'active' | 'failed' | 'deleting' | 'disabled';
      reason?: string | null;
    }) {
      await db.replicationPolicy.updateMany({
        where: { id: input.policyId },
        data: { status: input.status, statusReason: input.reason ?? null },
      });
    },

    /** Restores the settings of the previous version after a failed update ([0206]: roll back to previous policies). */
    async restorePolicySettings(input: {
      policyId: string;
      version: number;
      rpoSeconds: number;
      retentionCount: number;
      shares: { sourceShare: string; targetShare: string }[];
      reason: string;
    }) {
      await db.$transaction(async (tx) => {
        await tx.policyShare.deleteMany({
          where: { policyId: input.policyId, sourceShare: { notIn: input.shares.map((s) => s.sourceShare) } },
        });
        for (const s of input.shares) {
          await tx.policyShare.upsert({
            where: { policyId_sourceShare: { policyId: input.policyId, sourceShare: s.sourceShare } },
            update: { targetShare: s.targetShare },
            create: { policyId: input.policyId, sourceShare: s.sourceShare, targetShare: s.targetShare },
          });
        }
        await tx.replicationPolicy.update({
          where: { id: input.policyId },
          data: {
            rpoSeconds: input.rpoSeconds,
            retentionCount: input.retentionCount,
            version: input.version,
            status: 'active',
            statusReason: `update failed and was rolled back: ${input.reason}`,
          },
        });
      });
    },

    /** The last step of a delete: the policy row goes; its dataset maps stay "not in use" ([0213]). */
    async removePolicyShares(input: { policyId: string; sourceShares: string[] }) {
      await db.policyShare.deleteMany({ where: { policyId: input.policyId, sourceShare: { in: input.sourceShares } } });
    },

    async removePolicy(input: { policyId: string }) {
      // Dataset map rows belong to PolicyShare rows (cascade); keep them by detaching nothing: a re-created policy
      // finds the placements through planPolicyLayout of its own shares on the same FSVMs.
      await db.replicationPolicy.deleteMany({ where: { id: input.policyId } });
    },
  };
}

export type PolicyActivities = ReturnType<typeof createPolicyActivities>;
