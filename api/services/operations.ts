// DR operations (planned/unplanned failover, resume replication, failback, readiness check). Admission decides, from
// the state the system keeps (which side of each share is primary, paused, fenced), which protected shares the
// operation acts on and refuses with the reasons when it may not; one operation at a time per pair of file servers
// (checked under the admission lock); an Idempotency-Key returns the first request's operation. Then an Operation row
// with its steps pending, and the workflow started by type name with a deterministic id. A dry run answers the plan
// without changing anything.
import { createHash, randomUUID } from 'node:crypto';
import type { Db } from '../../infra/database';
import type { Prisma } from '../../prisma/generated/client';
import { ConflictError, NotFoundError, ValidationError, type FieldError } from '../../domain/errors';
import { sideOf, type Side } from '../../domain/direction';
import { sharePrecondition, switchoverSides, type ShareState } from '../../domain/operation-rules';
import { estimateDuration } from '../../domain/estimate';
import {
  OPERATION_STEPS,
  OPERATION_WORKFLOW_TYPES,
  PLAN_WORKFLOW_TYPE,
  STEP_DESCRIPTIONS,
  type PlanInput,
  type PlanOutput,
  operationWorkflowId,
  type OperationKindName,
  type OperationRequest,
  type OperationShare,
  type OperationWorkflowInput,
} from '../../domain/operations';
import { recoveryPointAgeSeconds } from '../../domain/recovery-points';
import { FILE_SERVERS, OPERATION_KIND, POLICY } from '../../domain/search-attributes';
import { pointKey, recoveryPoints } from '../../store/recovery-points';
import type { Principal } from '../auth';
import type { WorkflowPort } from '../temporal';
import { ACTIVE_OPERATION_STATES } from './protection';
import { lockAdmission, pendingSteps } from './policies';

type Tx = Prisma.TransactionClient;

/** What admission decided: the shares the operation acts on, and whether (and how) clients are redirected. */
export interface Admission {
  kind: OperationKindName;
  source: string;
  destinations: string[];
  shares: OperationShare[];
  redirect: OperationWorkflowInput['redirect'];
  redirectNote: string | null;
  options: OperationWorkflowInput['options'];
  /** Per share: the recovery point on the side the operation makes primary (or rolls back to), and its age. */
  recoveryPoints: {
    policy: string;
    share: string;
    snapshotSetId: string | null;
    createdAt: Date | null;
    ageSeconds: number | null;
  }[];
  /** Shares in scope the operation leaves out, and why (an unplanned failover's shares without a recovery point). */
  skipped: { policy: string; share: string; reason: string }[];
}

/** The side a kind makes primary (where clients go): the side whose recovery point matters. */
function targetSide(kind: OperationKindName, primary: 'source' | 'destination'): Side {
  if (kind === 'planned_failover' || kind === 'failback') return switchoverSides(kind).to;
  if (kind === 'resume_replication') return primary;
  return 'destination';
}

/** Canonical JSON of a request, for the Idempotency-Key check. */
export function requestHash(kind: string, body: unknown): string {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
          )
        : v;
  return createHash('sha256')
    .update(JSON.stringify([kind, canon(body)]))
    .digest('hex');
}

export function createOperationService(deps: { db: Db; workflows: WorkflowPort; defaultLagRpoMultiple?: number }) {
  const { db, workflows } = deps;
  const lagMultiple = deps.defaultLagRpoMultiple ?? 2;

  /** Reads and checks everything admission needs; writes nothing. */
  async function admit(kind: OperationKindName, req: OperationRequest, tx: Tx | Db = db): Promise<Admission> {
    const [src, dst] = await Promise.all([
      tx.fileServer.findUnique({ where: { name: req.source } }),
      req.destination ? tx.fileServer.findUnique({ where: { name: req.destination } }) : Promise.resolve(null),
    ]);
    const fields: FieldError[] = [];
    if (!src) fields.push({ path: 'body.source', message: `file server '${req.source}' is not registered` });
    if (req.destination && !dst)
      fields.push({ path: 'body.destination', message: `file server '${req.destination}' is not registered` });
    if (!src || fields.length) throw new ValidationError(fields.map((f) => f.message).join('; '), fields);

    const policies = await tx.replicationPolicy.findMany({
      where: { sourceFileServerId: src.id, ...(dst ? { destFileServerId: dst.id } : {}) },
      include: {
        shares: { orderBy: { sourceShare: 'asc' } },
        destination: { select: { name: true } },
      },
      orderBy: { name: 'asc' },
    });
    const pairText = `'${req.source}'${req.destination ? ` to '${req.destination}'` : ''}`;
    let chosen = policies;
    if (req.policies) {
      const unknown = req.policies.flatMap((n, i) =>
        policies.some((p) => p.name === n)
          ? []
          : [{ path: `body.policies.${i}`, message: `policy '${n}' does not replicate ${pairText}` }],
      );
      if (unknown.length) throw new ValidationError(unknown.map((x) => x.message).join('; '), unknown);
      chosen = policies.filter((p) => req.policies!.includes(p.name));
    }
    if (!chosen.length) throw new ConflictError(`no policy replicates ${pairText}`);
    const all: (ShareState & { policyId: string; targetShare: string; rpoSeconds: number; destId: string })[] =
      chosen.flatMap((p) =>
        p.shares.map((s) => ({
          policy: p.name,
          policyId: p.id,
          policyStatus: p.status,
          sourceShare: s.sourceShare,
          targetShare: s.targetShare,
          source: src.name,
          destination: p.destination.name,
          destId: p.destFileServerId,
          rpoSeconds: p.rpoSeconds,
          primary: s.primary,
          paused: s.paused,
        })),
      );
    let inScope = all;
    if (req.shares) {
      const unknown = req.shares.flatMap((n, i) =>
        all.some((s) => s.sourceShare === n)
          ? []
          : [
              {
                path: `body.shares.${i}`,
                message: `share '${n}' is not protected by the chosen policies of ${pairText}`,
              },
            ],
      );
      if (unknown.length) throw new ValidationError(unknown.map((x) => x.message).join('; '), unknown);
      inScope = all.filter((s) => req.shares!.includes(s.sourceShare));
    }
    const ctx = { sourceFenced: src.fencedAt !== null };
    const refusals = inScope.map((s) => sharePrecondition(kind, s, ctx)).filter((r): r is string => r !== null);
    // A chosen policy without shares still says why it cannot take part.
    for (const p of chosen.filter((x) => !x.shares.length)) {
      refusals.push(
        p.status === 'active' || kind === 'dr_readiness'
          ? `policy '${p.name}' protects no share`
          : `a ${kind} needs active policies: policy '${p.name}' is ${p.status}`,
      );
    }
    // A named scope must be eligible as a whole; a whole-server scope acts on the shares it may act on.
    const skipped: { policy: string; share: string; reason: string }[] = [];
    let eligible =
      req.shares || req.policies
        ? refusals.length
          ? []
          : inScope
        : inScope.filter((s) => !sharePrecondition(kind, s, ctx));
    if (!eligible.length) throw new ConflictError([...new Set(refusals)].join('; ') || `nothing to do for ${pairText}`);

    const o = req as Partial<Record<string, unknown>>;
    const options: OperationWorkflowInput['options'] = {
      waitForRunningJobs: (o.waitForRunningJobs as boolean | undefined) ?? true,
      accessAfter: (o.accessAfter as 'read_only' | 'off' | undefined) ?? 'read_only',
      startReverseReplication: (o.startReverseReplication as boolean | undefined) ?? false,
      fenceMode: (o.fenceMode as 'read_only' | 'off' | undefined) ?? 'read_only',
      primary: (o.primary as 'source' | 'destination' | undefined) ?? 'destination',
      startAt: (o.startAt as string | undefined) ?? null,
      requireApproval: (o.requireApproval as boolean | undefined) ?? false,
      maxLagSeconds: (o.maxLagSeconds as number | undefined) ?? null,
    };

    // The recovery point on the side the operation makes primary: what an unplanned failover rolls back to, and how
    // far behind a planned one starts (the final delta's size).
    const side = targetSide(kind, options.primary);
    const keys = eligible.map((s) => sideOf({ sourceFileServerId: src.id, destFileServerId: s.destId }, s, side));
    const points = await recoveryPoints(db, keys);
    const now = new Date();
    let recovery = eligible.map((s, i) => {
      const p = points.get(pointKey(keys[i]!.fileServerId, keys[i]!.share));
      return {
        policy: s.policy,
        share: s.sourceShare,
        snapshotSetId: p?.setId ?? null,
        createdAt: p?.createdAt ?? null,
        ageSeconds: p ? Math.round(recoveryPointAgeSeconds(p.createdAt, now)) : null,
      };
    });
    if (kind !== 'dr_readiness' && kind !== 'resume_replication') {
      const where = side === 'destination' ? 'the destination' : 'the source';
      let missing = recovery.filter((r) => r.snapshotSetId === null);
      // An unplanned failover of a whole file server moves what it can: a share without a complete set at the
      // destination (its base copy still running) stays behind, reported, rather than blocking every other share.
      if (kind === 'unplanned_failover' && !req.shares && !req.policies && missing.length < recovery.length) {
        for (const m of missing)
          skipped.push({ policy: m.policy, share: m.share, reason: 'no complete snapshot set at the destination yet' });
        const keep = recovery.map((r) => r.snapshotSetId !== null);
        eligible = eligible.filter((_, i) => keep[i]);
        recovery = recovery.filter((_, i) => keep[i]);
        missing = [];
      }
      if (missing.length) {
        throw new ConflictError(
          `no complete snapshot set on ${where} yet for ${missing.map((m) => `share '${m.share}' of policy '${m.policy}'`).join(', ')}: nothing to fail over to`,
        );
      }
      if (kind === 'planned_failover' || kind === 'failback') {
        const lagging = eligible.filter((s, i) => {
          const max = options.maxLagSeconds ?? s.rpoSeconds * lagMultiple;
          return (recovery[i]!.ageSeconds ?? 0) > max;
        });
        if (lagging.length) {
          throw new ConflictError(
            `replication lags: ${lagging
              .map((s) => {
                const r = recovery[eligible.indexOf(s)]!;
                return `share '${s.sourceShare}' of policy '${s.policy}' was last replicated ${r.ageSeconds}s ago (allowed ${options.maxLagSeconds ?? s.rpoSeconds * lagMultiple}s)`;
              })
              .join('; ')}; replicate now or pass maxLagSeconds`,
          );
        }
      }
    }

    const destinations = [...new Set(eligible.map((s) => s.destination))].sort();
    const { redirect, note } = await redirectDecision(tx, kind, src, destinations, eligible, options.primary);
    return {
      kind,
      source: src.name,
      destinations,
      shares: eligible.map((s) => ({
        policyId: s.policyId,
        policy: s.policy,
        sourceShare: s.sourceShare,
        targetShare: s.targetShare,
        source: s.source,
        destination: s.destination,
        rpoSeconds: s.rpoSeconds,
      })),
      redirect,
      redirectNote: note,
      options,
      recoveryPoints: recovery,
      skipped,
    };
  }

  /**
   * The source's client-facing name moves only when, after the operation, every share its clients reach by that
   * name is served by one file server: a partial scope or several destinations would cut off the shares left behind.
   */
  async function redirectDecision(
    tx: Tx | Db,
    kind: OperationKindName,
    src: { id: string; name: string },
    destinations: string[],
    shares: { policyId: string; sourceShare: string }[],
    primary: 'source' | 'destination',
  ): Promise<{ redirect: OperationWorkflowInput['redirect']; note: string | null }> {
    if (kind === 'dr_readiness') return { redirect: null, note: null };
    const goesBack = kind === 'failback' || (kind === 'resume_replication' && primary === 'source');
    if (destinations.length !== 1) {
      return {
        redirect: null,
        note: `clients are not redirected: the shares go to ${destinations.length} file servers, and the name '${src.name}' can only resolve to one; clients connect to each destination by its own name`,
      };
    }
    // Every share of the source (as configured) and where clients will write to it after the operation.
    const everyShare = await tx.policyShare.findMany({
      where: { policy: { sourceFileServerId: src.id } },
      select: { policyId: true, sourceShare: true, primary: true },
    });
    const moving = new Set(shares.map((s) => `${s.policyId}/${s.sourceShare}`));
    const after = everyShare.map((s) =>
      moving.has(`${s.policyId}/${s.sourceShare}`) ? (goesBack ? 'source' : 'destination') : s.primary,
    );
    const split = after.some((a) => a !== after[0]);
    if (split) {
      return {
        redirect: null,
        note: `clients are not redirected: after this operation some shares of '${src.name}' are served by '${src.name}' and others by '${destinations[0]}'; clients of the moved shares connect by the destination's name`,
      };
    }
    return {
      redirect: goesBack
        ? { name: src.name, to: src.name, from: destinations[0]! }
        : { name: src.name, to: destinations[0]! },
      note: null,
    };
  }

  function conflictWhere(kind: OperationKindName, source: string, destinations: string[]): Prisma.OperationWhereInput {
    return {
      state: { in: ACTIVE_OPERATION_STATES },
      kind: kind === 'dr_readiness' ? 'dr_readiness' : { not: 'dr_readiness' },
      OR: destinations.map((d) => ({ fileServers: { hasEvery: [source, d] } })),
    };
  }

  /** Durations of this pair's past operations of the kind and its shares' recent incremental runs (the estimate). */
  async function history(kind: OperationKindName, a: Admission) {
    const ops = await db.operation.findMany({
      where: {
        kind,
        state: 'succeeded',
        startedAt: { not: null },
        endedAt: { not: null },
        fileServers: { hasEvery: [a.source, ...a.destinations] },
      },
      orderBy: { createdAt: 'desc' },
      take: 10,
      select: { startedAt: true, endedAt: true, result: true },
    });
    const jobs = await db.job.findMany({
      where: {
        state: 'succeeded',
        incremental: true,
        endedAt: { not: null },
        OR: a.shares.map((s) => ({ policyId: s.policyId, share: { in: [s.sourceShare, s.targetShare] } })),
      },
      orderBy: { startedAt: 'desc' },
      take: Math.min(50 * a.shares.length, 5000),
      select: { policyId: true, share: true, startedAt: true, endedAt: true },
    });
    const jobSeconds = new Map<string, number[]>();
    for (const j of jobs) {
      const key = `${j.policyId}/${j.share}`;
      jobSeconds.set(key, [...(jobSeconds.get(key) ?? []), (j.endedAt!.getTime() - j.startedAt.getTime()) / 1000]);
    }
    return {
      operationSeconds: ops.map((o) => (o.endedAt!.getTime() - o.startedAt!.getTime()) / 1000),
      jobSeconds,
    };
  }

  return {
    admit,

    async start(
      kind: OperationKindName,
      req: OperationRequest,
      principal: Principal,
      idempotencyKey?: string,
    ): Promise<{ operationId: string; workflowId: string; replayed: boolean }> {
      const hash = requestHash(kind, req);
      if (idempotencyKey) {
        const first = await db.operation.findUnique({ where: { idempotencyKey } });
        if (first) {
          if (first.requestHash !== hash) {
            throw new IdempotencyMismatch(
              `Idempotency-Key '${idempotencyKey}' was used for a different request (operation ${first.id}); use a new key`,
            );
          }
          return { operationId: first.id, workflowId: first.workflowId, replayed: true };
        }
      }
      const result = await db.$transaction(async (tx) => {
        await lockAdmission(tx);
        const a = await admit(kind, req, tx);
        const conflicting = await tx.operation.findFirst({
          where: conflictWhere(kind, a.source, a.destinations),
          orderBy: { createdAt: 'asc' },
        });
        if (conflicting) {
          throw new ConflictError(
            `a ${conflicting.kind} operation (${conflicting.id}) is already ${conflicting.state} on file servers ${conflicting.fileServers.map((f) => `'${f}'`).join(', ')}`,
          );
        }
        const policyIds = [...new Set(a.shares.map((s) => s.policyId))];
        const op = await tx.operation.create({
          data: {
            kind,
            state: a.options.requireApproval ? 'awaiting_approval' : a.options.startAt ? 'scheduled' : 'pending',
            sourceFileServer: a.source,
            destFileServer: a.destinations.length === 1 ? a.destinations[0]! : null,
            fileServers: [a.source, ...a.destinations],
            policyId: policyIds.length === 1 ? policyIds[0]! : null,
            steps: pendingSteps(kind),
            workflowId: 'pending',
            requestedBy: principal.name,
            idempotencyKey: idempotencyKey ?? null,
            requestHash: hash,
            startAt: a.options.startAt ? new Date(a.options.startAt) : null,
            requireApproval: a.options.requireApproval,
          },
        });
        const workflowId = operationWorkflowId(kind, op.id);
        const input: OperationWorkflowInput = {
          operationId: op.id,
          kind,
          source: a.source,
          destination: a.destinations.length === 1 ? a.destinations[0]! : null,
          requestedBy: principal.name,
          shares: a.shares,
          redirect: a.redirect,
          redirectNote: a.redirectNote,
          options: a.options,
          skipped: a.skipped,
        };
        await tx.operation.update({
          where: { id: op.id },
          data: { workflowId, input, ...(a.skipped.length ? { result: { skipped: a.skipped } } : {}) },
        });
        return { op, workflowId, input, policyNames: [...new Set(a.shares.map((s) => s.policy))], a };
      });
      try {
        await workflows.start({
          workflowType: OPERATION_WORKFLOW_TYPES[kind],
          workflowId: result.workflowId,
          input: result.input,
          searchAttributes: [
            { key: FILE_SERVERS, value: [result.a.source, ...result.a.destinations] },
            { key: OPERATION_KIND, value: kind },
            ...(result.policyNames.length === 1 ? [{ key: POLICY, value: result.policyNames[0]! }] : []),
          ],
          memo: { operationId: result.op.id, requestedBy: principal.name },
        });
      } catch (err) {
        await db.operation.update({
          where: { id: result.op.id },
          data: {
            state: 'failed',
            endedAt: new Date(),
            error: (err instanceof Error ? err.message : 'could not start').slice(0, 1000),
          },
        });
        throw err;
      }
      return { operationId: result.op.id, workflowId: result.workflowId, replayed: false };
    },

    /**
     * Cancels an operation before it ends: its workflow undoes what it did before its point of no return and records
     * the operation cancelled. One whose workflow is not running is recorded cancelled here.
     */
    async cancel(id: string, principal: Principal) {
      const op = await db.operation.findUnique({ where: { id } });
      if (!op) throw new NotFoundError(`operation ${id} does not exist`);
      if (!ACTIVE_OPERATION_STATES.includes(op.state)) {
        throw new ConflictError(`operation ${id} has already ended (${op.state}); there is nothing to cancel`);
      }
      const running = await workflows.cancel(op.workflowId);
      if (!running) {
        await db.operation.updateMany({
          where: { id, state: { in: ACTIVE_OPERATION_STATES } },
          data: {
            state: 'cancelled',
            endedAt: new Date(),
            error: `cancelled by '${principal.name}' while its workflow was not running`,
          },
        });
      }
      return { workflowRunning: running };
    },

    /** A second admin approves an operation that waits for approval (never the one who asked for it). */
    async approve(id: string, principal: Principal) {
      const op = await db.operation.findUnique({ where: { id } });
      if (!op) throw new NotFoundError(`operation ${id} does not exist`);
      if (op.state !== 'awaiting_approval') {
        throw new ConflictError(`operation ${id} is ${op.state}, not awaiting approval`);
      }
      if (op.requestedBy === principal.name) {
        throw new ConflictError(`operation ${id} was requested by '${principal.name}': a second admin must approve it`);
      }
      await workflows.signal(op.workflowId, 'approve', { by: principal.name });
    },

    /**
     * The dry run: what the operation would do, on which shares, from which recovery points, what readiness finds and
     * what the redirect would change (both through a short workflow: the API calls neither gateways nor the
     * directory), and how long it should take. Changes nothing.
     */
    async plan(kind: OperationKindName, req: OperationRequest) {
      const a = await admit(kind, req);
      const found = await workflows.execute<PlanOutput>(
        {
          workflowType: PLAN_WORKFLOW_TYPE,
          workflowId: `plan/${kind}/${randomUUID()}`,
          input: {
            kind,
            source: a.source,
            shares: a.shares,
            redirect: a.redirect,
            options: { maxLagSeconds: a.options.maxLagSeconds, primary: a.options.primary },
          } satisfies PlanInput,
          searchAttributes: [
            { key: FILE_SERVERS, value: [a.source, ...a.destinations] },
            { key: OPERATION_KIND, value: kind },
          ],
        },
        60_000,
      );
      const h = await history(kind, a);
      const steps = OPERATION_STEPS[kind] ?? [];
      const estimate = estimateDuration({
        kind,
        source: a.source,
        destinations: a.destinations,
        pastOperationSeconds: h.operationSeconds,
        shareRunSeconds: h.jobSeconds,
        shares: a.shares.length,
        steps: steps.length,
      });
      const warnings = [
        ...a.skipped.map((x) => `share '${x.share}' of policy '${x.policy}' stays behind: ${x.reason}`),
        ...(a.redirectNote ? [a.redirectNote] : []),
        ...(found.redirect && !found.redirect.configured ? [found.redirect.summary] : []),
        ...found.readiness.checks
          .filter((c) => !c.ok)
          .map((c) =>
            kind === 'unplanned_failover'
              ? `${c.name}: ${c.message} (an unplanned failover goes on: confirmDataLoss)`
              : `${c.name}: ${c.message} (the operation would stop here)`,
          ),
      ];
      const ages = a.recoveryPoints.flatMap((r) => (r.ageSeconds === null ? [] : [r.ageSeconds]));
      return {
        kind,
        source: a.source,
        destination: a.destinations.length === 1 ? a.destinations[0]! : null,
        destinations: a.destinations,
        steps: steps.map((name) => ({ name, description: STEP_DESCRIPTIONS[name] ?? '' })),
        shares: a.shares.map((s, i) => {
          const r = a.recoveryPoints[i]!;
          return {
            policy: s.policy,
            share: s.sourceShare,
            targetShare: s.targetShare,
            destination: s.destination,
            recoveryPoint: r.snapshotSetId
              ? { snapshotSetId: r.snapshotSetId, createdAt: r.createdAt!.toISOString(), ageSeconds: r.ageSeconds! }
              : null,
          };
        }),
        redirect: {
          summary: found.redirect?.summary ?? a.redirectNote ?? 'clients are not redirected',
          records: (found.redirect?.names ?? []).map((n) => ({ name: n.name, before: n.before, after: n.after })),
          spns: (found.redirect?.spns ?? []).map((x) => ({ spn: x.spn, from: x.before, to: x.after })),
        },
        readiness: found.readiness,
        dataLossWindowSeconds:
          kind === 'unplanned_failover' && ages.length ? Math.max(...ages) : kind === 'unplanned_failover' ? null : 0,
        estimatedSeconds: estimate.seconds,
        estimateBasis: estimate.basis,
        warnings,
      };
    },
  };
}

/** An Idempotency-Key reused with another request: HTTP 422. */
export class IdempotencyMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdempotencyMismatch';
  }
}

export type OperationService = ReturnType<typeof createOperationService>;
