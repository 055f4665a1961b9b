// Replication policies: synchronous validation (400 with field errors, 409 with the reason), the state recorded in the
// database (policy 'creating' / 'deleting', version bump with the previous settings kept for rollback, an Operation
// row with its steps 'pending'), then the policy workflow started by type name. Checks and writes run in one
// transaction under an advisory lock, so two concurrent requests cannot both claim a share; gateway calls (share
// existence) happen before it, never inside.
import { randomUUID } from 'node:crypto';
import type { Db } from '../../infra/database';
import type { Prisma } from '../../prisma/generated/client';
import {
  ConflictError,
  GatewayUnavailable,
  NotFoundError,
  ValidationError,
  type FieldError,
} from '../../domain/errors';
import { OPERATION_STEPS } from '../../domain/operations';
import {
  POLICY_WORKFLOW_TYPES,
  policyWorkflowId,
  type CreatePolicyRequest,
  type CreatePolicyWorkflowInput,
  type DeletePolicyWorkflowInput,
  type PolicySettings,
  type UpdatePolicyRequest,
  type UpdatePolicyWorkflowInput,
} from '../../domain/policy';
import { FILE_SERVERS, OPERATION_KIND, POLICY } from '../../domain/search-attributes';
import type { Principal } from '../auth';
import type { WorkflowPort } from '../temporal';
import type { ShareService } from './shares';
import { ACTIVE_OPERATION_STATES } from './protection';

/** Serialises policy and operation admission (pg_advisory_xact_lock key). */
export const ADMISSION_LOCK = 0x66736470;
export const FAILOVER_KINDS = ['planned_failover', 'unplanned_failover', 'resume_replication', 'failback'] as const;

export function pendingSteps(kind: string): Prisma.InputJsonValue {
  return (OPERATION_STEPS[kind] ?? []).map((name) => ({
    name,
    state: 'pending',
    startedAt: null,
    endedAt: null,
    detail: null,
  }));
}

type Tx = Prisma.TransactionClient;

export async function lockAdmission(tx: Tx): Promise<void> {
  await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${ADMISSION_LOCK})`);
}

/** 409 while a failover, resume or failback holds the pair (either direction). */
export async function assertNoFailoverRunning(tx: Tx, a: string, b: string): Promise<void> {
  const op = await tx.operation.findFirst({
    where: {
      state: { in: ACTIVE_OPERATION_STATES },
      kind: { in: [...FAILOVER_KINDS] },
      fileServers: { hasEvery: [a, b] },
    },
  });
  if (op) {
    throw new ConflictError(
      `a ${op.kind} operation (${op.id}) is ${op.state} on file servers ${op.fileServers.map((f) => `'${f}'`).join(', ')}`,
    );
  }
}

/** 409 while a share of the policy is failed over (its direction is reversed): fail back first. */
function assertNotFailedOver(p: { name: string; shares: { sourceShare: string; primary: string; paused: boolean }[] }) {
  const moved = p.shares.filter((s) => s.primary !== 'source' || s.paused);
  if (moved.length) {
    throw new ConflictError(
      `policy '${p.name}' has shares failed over or paused (${moved.map((s) => `'${s.sourceShare}'`).join(', ')}); ` +
        'fail back (or resume replication) before changing it',
    );
  }
}

export interface PolicyServiceDeps {
  db: Db;
  workflows: WorkflowPort;
  shares: ShareService;
}

interface SharePair {
  sourceShare: string;
  targetShare: string;
}

export function createPolicyService(deps: PolicyServiceDeps) {
  const { db, workflows } = deps;

  async function fileServer(name: string, field: string) {
    const fs = await db.fileServer.findUnique({ where: { name }, select: { id: true, name: true } });
    if (!fs) {
      throw new ValidationError(`file server '${name}' is not registered`, [
        { path: field, message: `file server '${name}' is not registered` },
      ]);
    }
    return fs;
  }

  /** Every listed source share must exist on the source file server (gateway list, cached). */
  async function assertSharesExist(source: string, shares: { source: string }[], indexOf: (s: string) => number) {
    const listing = await deps.shares.list(source);
    if (listing.refreshedAt === null) {
      throw new GatewayUnavailable(
        `cannot list the shares of file server '${source}': ${listing.errors.map((e) => e.message).join('; ') || 'no FSVM answered'}`,
      );
    }
    const have = new Set(listing.shares.map((s) => s.name));
    const fields: FieldError[] = shares
      .filter((s) => !have.has(s.source))
      .map((s) => ({
        path: `body.shares.${indexOf(s.source)}.source`,
        message: `share '${s.source}' does not exist on file server '${source}'`,
      }));
    if (fields.length) throw new ValidationError(fields.map((f) => f.message).join('; '), fields);
  }

  /**
   * 409 when a share would have two writers or replicate in a loop: a source share that another policy already
   * protects, or a target share that another policy already writes ([0204]). A target of one policy may be the source
   * of another (cascade A -> B -> C), except back towards its own source (A -> B -> A of the same data).
   */
  async function assertNoShareClaims(
    tx: Tx,
    src: { id: string; name: string },
    dst: { id: string; name: string },
    pairs: SharePair[],
    exceptPolicyId?: string,
  ) {
    const sources = pairs.map((p) => p.sourceShare);
    const targets = pairs.map((p) => p.targetShare);
    const clashes = await tx.policyShare.findMany({
      where: {
        ...(exceptPolicyId ? { policyId: { not: exceptPolicyId } } : {}),
        OR: [
          { sourceShare: { in: sources }, policy: { sourceFileServerId: src.id } },
          { targetShare: { in: sources }, policy: { destFileServerId: src.id } },
          { targetShare: { in: targets }, policy: { destFileServerId: dst.id } },
          { sourceShare: { in: targets }, policy: { sourceFileServerId: dst.id } },
        ],
      },
      include: { policy: { select: { name: true, sourceFileServerId: true, destFileServerId: true } } },
      orderBy: [{ sourceShare: 'asc' }],
    });
    if (!clashes.length) return;
    const reasons = new Set<string>();
    for (const c of clashes) {
      const p = c.policy;
      if (p.sourceFileServerId === src.id && sources.includes(c.sourceShare))
        reasons.add(`share '${c.sourceShare}' on '${src.name}' is already protected by policy '${p.name}'`);
      if (p.destFileServerId === src.id && sources.includes(c.targetShare) && p.sourceFileServerId === dst.id)
        reasons.add(
          `share '${c.targetShare}' on '${src.name}' is the target of policy '${p.name}' from '${dst.name}': replicating it back would loop`,
        );
      if (p.destFileServerId === dst.id && targets.includes(c.targetShare))
        reasons.add(`share '${c.targetShare}' on '${dst.name}' is already the target of policy '${p.name}'`);
      if (p.sourceFileServerId === dst.id && targets.includes(c.sourceShare) && p.destFileServerId === src.id)
        reasons.add(
          `share '${c.sourceShare}' on '${dst.name}' is replicated to '${src.name}' by policy '${p.name}': replicating into it would loop`,
        );
    }
    if (reasons.size) throw new ConflictError([...reasons].join('; '));
  }

  async function start(
    operationId: string,
    policyId: string,
    workflowType: string,
    workflowId: string,
    input: unknown,
    kind: string,
    names: { policy: string; source: string; destination: string },
    onFailure: (tx: Tx) => Promise<unknown>,
  ) {
    try {
      await workflows.start({
        workflowType,
        workflowId,
        input,
        searchAttributes: [
          { key: FILE_SERVERS, value: [names.source, names.destination] },
          { key: POLICY, value: names.policy },
          { key: OPERATION_KIND, value: kind },
        ],
        memo: { operationId, policyId },
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : 'could not start the workflow';
      await db.$transaction(async (tx) => {
        await tx.operation.update({
          where: { id: operationId },
          data: { state: 'failed', error: message.slice(0, 1000) },
        });
        await onFailure(tx);
      });
      throw err;
    }
  }

  function settingsOf(p: { rpoSeconds: number; retentionCount: number }, shares: SharePair[]): PolicySettings {
    return { rpoSeconds: p.rpoSeconds, retentionCount: p.retentionCount, shares };
  }

  return {
    async create(req: CreatePolicyRequest, principal: Principal) {
      const src = await fileServer(req.source, 'body.source');
      const dst = await fileServer(req.destination, 'body.destination');
      const pairs = req.shares.map((s) => ({ sourceShare: s.source, targetShare: s.target ?? s.source }));
      await assertSharesExist(req.source, req.shares, (name) => req.shares.findIndex((s) => s.source === name));
      const policyId = randomUUID();
      const workflowId = policyWorkflowId(req.name, policyId, 'create', 1);
      const { policy, operation } = await db.$transaction(async (tx) => {
        await lockAdmission(tx);
        const existing = await tx.replicationPolicy.findUnique({ where: { name: req.name }, select: { status: true } });
        if (existing) throw new ConflictError(`policy '${req.name}' already exists (${existing.status})`);
        await assertNoShareClaims(tx, src, dst, pairs);
        await assertNoFailoverRunning(tx, src.name, dst.name);
        const policy = await tx.replicationPolicy.create({
          data: {
            id: policyId,
            name: req.name,
            sourceFileServerId: src.id,
            destFileServerId: dst.id,
            rpoSeconds: req.rpoMinutes * 60,
            retentionCount: req.retentionCount,
            status: 'creating',
            workflowId,
            shares: { create: pairs },
          },
        });
        const operation = await tx.operation.create({
          data: {
            kind: 'policy_create',
            sourceFileServer: src.name,
            destFileServer: dst.name,
            fileServers: [src.name, dst.name],
            policyId: policy.id,
            steps: pendingSteps('policy_create'),
            workflowId,
            requestedBy: principal.name,
          },
        });
        return { policy, operation };
      });
      const input: CreatePolicyWorkflowInput = {
        operationId: operation.id,
        policyId: policy.id,
        name: policy.name,
        version: policy.version,
        source: src.name,
        destination: dst.name,
        requestedBy: principal.name,
        ...settingsOf(policy, pairs),
      };
      await db.operation.update({ where: { id: operation.id }, data: { input } });
      await start(
        operation.id,
        policy.id,
        POLICY_WORKFLOW_TYPES.create,
        workflowId,
        input,
        'policy_create',
        { policy: policy.name, source: src.name, destination: dst.name },
        (tx) =>
          tx.replicationPolicy.update({
            where: { id: policy.id },
            data: { status: 'failed', statusReason: 'the create workflow could not be started' },
          }),
      );
      return { policyName: policy.name, operationId: operation.id, workflowId };
    },

    async update(name: string, req: UpdatePolicyRequest, principal: Principal) {
      const current = await db.replicationPolicy.findUnique({
        where: { name },
        include: { shares: true, source: true, destination: true },
      });
      if (!current) throw new NotFoundError(`policy '${name}' does not exist`);
      const newPairs = req.shares?.map((s) => ({ sourceShare: s.source, targetShare: s.target ?? s.source }));
      if (req.shares) {
        const added = req.shares.filter((s) => !current.shares.some((c) => c.sourceShare === s.source));
        if (added.length) {
          await assertSharesExist(current.source.name, added, (n) => req.shares!.findIndex((s) => s.source === n));
        }
      }
      const result = await db.$transaction(async (tx) => {
        await lockAdmission(tx);
        const p = await tx.replicationPolicy.findUnique({ where: { id: current.id }, include: { shares: true } });
        if (!p) throw new NotFoundError(`policy '${name}' does not exist`);
        if (p.status === 'creating' || p.status === 'deleting') {
          throw new ConflictError(`policy '${name}' is ${p.status}; wait until its workflow has finished`);
        }
        const busy = await tx.operation.findFirst({
          where: { policyId: p.id, state: { in: ACTIVE_OPERATION_STATES } },
        });
        if (busy) throw new ConflictError(`policy '${name}' has a ${busy.kind} operation ${busy.state} (${busy.id})`);
        await assertNoFailoverRunning(tx, current.source.name, current.destination.name);
        assertNotFailedOver({ name, shares: p.shares });
        const oldPairs = p.shares.map((s) => ({ sourceShare: s.sourceShare, targetShare: s.targetShare }));
        const pairs = newPairs ?? oldPairs;
        if (newPairs) await assertNoShareClaims(tx, current.source, current.destination, newPairs, p.id);
        const same = (a: SharePair, b: SharePair) => a.sourceShare === b.sourceShare && a.targetShare === b.targetShare;
        const removed = p.shares.filter((s) => !pairs.some((n) => same(n, s)));
        const added = pairs.filter((n) => !p.shares.some((s) => same(n, s)));
        const version = p.version + 1;
        const workflowId = policyWorkflowId(name, p.id, 'update', version);
        const previous = settingsOf(p, oldPairs);
        const updated = await tx.replicationPolicy.update({
          where: { id: p.id },
          data: {
            rpoSeconds: req.rpoMinutes !== undefined ? req.rpoMinutes * 60 : undefined,
            retentionCount: req.retentionCount,
            version,
            previousVersion: { version: p.version, ...previous },
            workflowId,
            statusReason: null,
          },
        });
        if (removed.length) await tx.policyShare.deleteMany({ where: { id: { in: removed.map((r) => r.id) } } });
        if (added.length) await tx.policyShare.createMany({ data: added.map((a) => ({ policyId: p.id, ...a })) });
        const operation = await tx.operation.create({
          data: {
            kind: 'policy_update',
            sourceFileServer: current.source.name,
            destFileServer: current.destination.name,
            fileServers: [current.source.name, current.destination.name],
            policyId: p.id,
            steps: pendingSteps('policy_update'),
            workflowId,
            requestedBy: principal.name,
          },
        });
        const input: UpdatePolicyWorkflowInput = {
          operationId: operation.id,
          policyId: p.id,
          name,
          version,
          source: current.source.name,
          destination: current.destination.name,
          requestedBy: principal.name,
          settings: settingsOf(updated, pairs),
          previous,
          addedShares: added,
          removedShares: removed.map((r) => ({
            sourceShare: r.sourceShare,
            targetShare: r.targetShare,
            targetCreated: r.targetCreated,
          })),
        };
        await tx.operation.update({ where: { id: operation.id }, data: { input } });
        return { operation, input, workflowId };
      });
      await start(
        result.operation.id,
        current.id,
        POLICY_WORKFLOW_TYPES.update,
        result.workflowId,
        result.input,
        'policy_update',
        { policy: name, source: current.source.name, destination: current.destination.name },
        (tx) =>
          tx.replicationPolicy.update({
            where: { id: current.id },
            data: { statusReason: 'the update workflow could not be started' },
          }),
      );
      return { policyName: name, operationId: result.operation.id, workflowId: result.workflowId };
    },

    /**
     * Replicate now: a run of the share's schedule, queued behind a running one under the schedule's overlap rule
     * (never beside it), recorded as an on-demand job by the run that picks the request up.
     */
    async replicateNow(name: string, share: string) {
      const p = await db.replicationPolicy.findUnique({
        where: { name },
        include: {
          shares: { where: { sourceShare: share } },
          source: { select: { name: true } },
          destination: { select: { name: true } },
        },
      });
      if (!p) throw new NotFoundError(`policy '${name}' does not exist`);
      const ps = p.shares[0];
      if (!ps) throw new NotFoundError(`share '${share}' is not protected by policy '${name}'`);
      if (p.status !== 'active')
        throw new ConflictError(`policy '${name}' is ${p.status}; only an active policy replicates`);
      if (!ps.scheduleId) throw new ConflictError(`share '${share}' of policy '${name}' has no schedule yet`);
      await db.$transaction(async (tx) => assertNoFailoverRunning(tx, p.source.name, p.destination.name));
      const requestedAt = ps.replicateRequestedAt ?? new Date();
      await db.policyShare.update({ where: { id: ps.id }, data: { replicateRequestedAt: requestedAt } });
      try {
        await workflows.triggerSchedule(ps.scheduleId);
      } catch (err) {
        await db.policyShare.update({ where: { id: ps.id }, data: { replicateRequestedAt: ps.replicateRequestedAt } });
        throw err;
      }
      const running = await db.job.findFirst({
        where: { policyId: p.id, share, state: 'running' },
        orderBy: { startedAt: 'desc' },
        select: { id: true },
      });
      return { policy: name, share, scheduleId: ps.scheduleId, requestedAt, queuedBehind: running?.id ?? null };
    },

    async remove(name: string, principal: Principal) {
      const result = await db.$transaction(async (tx) => {
        await lockAdmission(tx);
        const p = await tx.replicationPolicy.findUnique({
          where: { name },
          include: { shares: true, source: { select: { name: true } }, destination: { select: { name: true } } },
        });
        if (!p) throw new NotFoundError(`policy '${name}' does not exist`);
        if (p.status === 'deleting') throw new ConflictError(`policy '${name}' is already being deleted`);
        if (p.status === 'creating')
          throw new ConflictError(`policy '${name}' is being created; delete it once its workflow has finished`);
        const busy = await tx.operation.findFirst({
          where: { policyId: p.id, state: { in: ACTIVE_OPERATION_STATES } },
        });
        if (busy) throw new ConflictError(`policy '${name}' has a ${busy.kind} operation ${busy.state} (${busy.id})`);
        await assertNoFailoverRunning(tx, p.source.name, p.destination.name);
        assertNotFailedOver(p);
        const workflowId = policyWorkflowId(name, p.id, 'delete', p.version);
        await tx.replicationPolicy.update({
          where: { id: p.id },
          data: { status: 'deleting', workflowId, statusReason: null },
        });
        const operation = await tx.operation.create({
          data: {
            kind: 'policy_delete',
            sourceFileServer: p.source.name,
            destFileServer: p.destination.name,
            fileServers: [p.source.name, p.destination.name],
            policyId: p.id,
            steps: pendingSteps('policy_delete'),
            workflowId,
            requestedBy: principal.name,
          },
        });
        const input: DeletePolicyWorkflowInput = {
          operationId: operation.id,
          policyId: p.id,
          name,
          version: p.version,
          source: p.source.name,
          destination: p.destination.name,
          requestedBy: principal.name,
          shares: p.shares.map((s) => ({
            sourceShare: s.sourceShare,
            targetShare: s.targetShare,
            targetCreated: s.targetCreated,
            scheduleId: s.scheduleId,
          })),
        };
        await tx.operation.update({ where: { id: operation.id }, data: { input } });
        return { p, operation, input, workflowId, previousStatus: p.status };
      });
      const { p } = result;
      await start(
        result.operation.id,
        p.id,
        POLICY_WORKFLOW_TYPES.delete,
        result.workflowId,
        result.input,
        'policy_delete',
        { policy: name, source: p.source.name, destination: p.destination.name },
        (tx) =>
          tx.replicationPolicy.update({
            where: { id: p.id },
            data: { status: result.previousStatus, statusReason: 'the delete workflow could not be started' },
          }),
      );
      return { policyName: name, operationId: result.operation.id, workflowId: result.workflowId };
    },
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
