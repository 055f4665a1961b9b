// /policies: create / update / delete start the policy workflows (202 with the operation and workflow ids); list and
// details show the shares covered, RPO and compliance by share, readable while a workflow runs.
import { z } from 'zod';
import type { Db } from '../../infra/database';
import { NotFoundError } from '../../domain/errors';
import { PolicyName, ShareName } from '../../domain/names';
import { CreatePolicyRequest, UpdatePolicyRequest } from '../../domain/policy';
import type { ApiRoutes } from '../http';
import type { PolicyService } from '../services/policies';
import { ACTIVE_OPERATION_STATES } from '../services/protection';
import type { WorkflowPort } from '../temporal';
import { IsoDate, iso, OperationRef } from '../views';
import { COMPLIANCE_STATES, complianceCounts } from '../../domain/compliance';
import { protectedShares, type ProtectedShare } from '../../store/protection';

/** When the newest of these shares' recovery points was taken. */
function newestPoint(shares: ProtectedShare[]): Date | null {
  let last: Date | null = null;
  for (const s of shares)
    if (s.recoveryPoint && (!last || s.recoveryPoint.createdAt > last)) last = s.recoveryPoint.createdAt;
  return last;
}

const PolicyStatus = z.enum(['creating', 'active', 'failed', 'deleting', 'disabled']);
const Compliance = z
  .enum(COMPLIANCE_STATES)
  .describe('compliant: recovery point within the RPO; violated: older; unknown: no complete set yet');

export const PolicySummary = z
  .object({
    name: z.string(),
    source: z.string(),
    destination: z.string(),
    status: PolicyStatus,
    statusReason: z.string().nullable(),
    rpoMinutes: z.number(),
    retentionCount: z.number(),
    version: z.number(),
    shares: z.number(),
    compliance: z.object({ compliant: z.number(), violated: z.number(), unknown: z.number() }),
    lastReplicationAt: IsoDate.nullable(),
  })
  .meta({ id: 'PolicySummary' });

export const PolicyDetails = PolicySummary.omit({ shares: true })
  .extend({
    id: z.string(),
    workflowId: z.string().nullable(),
    workflowUrl: z.string().nullable(),
    currentOperation: z.object({ id: z.string(), kind: z.string(), state: z.string() }).nullable(),
    previousVersion: z.unknown().nullable().describe('Settings of the previous version (kept for rollback)'),
    shares: z.array(
      z.object({
        source: z.string(),
        target: z.string(),
        targetCreated: z.boolean(),
        lastCompleteAt: IsoDate.nullable().describe(
          'When the recovery point was taken (same as recoveryPoint.createdAt)',
        ),
        recoveryPoint: z
          .object({ snapshotSetId: z.string(), createdAt: IsoDate, ageSeconds: z.number(), fileServer: z.string() })
          .nullable()
          .describe('The newest complete snapshot set on the replica: what a failover to it would restore'),
        compliance: Compliance,
        lastJob: z.object({ id: z.string(), state: z.string(), startedAt: IsoDate, percent: z.number() }).nullable(),
      }),
    ),
    createdAt: IsoDate,
    updatedAt: IsoDate,
  })
  .meta({ id: 'PolicyDetails' });

export const Accepted = OperationRef.extend({ policy: z.string() }).meta({ id: 'PolicyAccepted' });

export function policyRoutes(api: ApiRoutes, deps: { db: Db; policies: PolicyService; workflows: WorkflowPort }): void {
  const { db, workflows } = deps;
  const NameParams = z.strictObject({ name: PolicyName });

  const accepted = (r: { policyName: string; operationId: string; workflowId: string }) => ({
    policy: r.policyName,
    operationId: r.operationId,
    workflowId: r.workflowId,
    workflowUrl: workflows.link(r.workflowId),
  });

  api.add({
    method: 'get',
    path: '/policies',
    role: 'viewer',
    tag: 'Policies',
    summary: 'Replication policies with RPO compliance',
    responses: { 200: { description: 'Policies', schema: z.object({ items: z.array(PolicySummary) }) } },
    handler: async () => {
      const [rows, shares] = await Promise.all([
        db.replicationPolicy.findMany({
          orderBy: { name: 'asc' },
          include: { source: { select: { name: true } }, destination: { select: { name: true } } },
        }),
        protectedShares(db),
      ]);
      const byPolicy = new Map<string, ProtectedShare[]>();
      for (const s of shares) byPolicy.set(s.policyId, [...(byPolicy.get(s.policyId) ?? []), s]);
      return {
        status: 200,
        body: {
          items: rows.map((p) => {
            const mine = byPolicy.get(p.id) ?? [];
            return {
              name: p.name,
              source: p.source.name,
              destination: p.destination.name,
              status: p.status,
              statusReason: p.statusReason,
              rpoMinutes: Math.round(p.rpoSeconds / 60),
              retentionCount: p.retentionCount,
              version: p.version,
              shares: mine.length,
              compliance: complianceCounts(mine.map((s) => s.compliance)),
              lastReplicationAt: iso(newestPoint(mine)),
            };
          }),
        },
      };
    },
  });

  api.add({
    method: 'get',
    path: '/policies/:name',
    role: 'viewer',
    tag: 'Policies',
    summary: 'Policy details: shares covered, RPO, compliance by share, current operation',
    params: NameParams,
    responses: { 200: { description: 'The policy', schema: PolicyDetails }, 404: { description: 'Unknown' } },
    handler: async ({ params }) => {
      const p = await db.replicationPolicy.findUnique({
        where: { name: params.name },
        include: {
          source: { select: { name: true } },
          destination: { select: { name: true } },
          shares: { orderBy: { sourceShare: 'asc' } },
        },
      });
      if (!p) throw new NotFoundError(`policy '${params.name}' does not exist`);
      const op = await db.operation.findFirst({
        where: { policyId: p.id, state: { in: ACTIVE_OPERATION_STATES } },
        orderBy: { createdAt: 'desc' },
      });
      const lastJobs = await Promise.all(
        p.shares.map((s) =>
          db.job.findFirst({
            where: { policyId: p.id, share: s.sourceShare },
            orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
            select: { id: true, state: true, startedAt: true, percent: true },
          }),
        ),
      );
      const protectedByPolicy = await protectedShares(db, { policyId: p.id });
      const fileServerName = (id: string) => (id === p.sourceFileServerId ? p.source.name : p.destination.name);
      const shares = p.shares.map((s, i) => {
        const prot = protectedByPolicy.find((x) => x.sourceShare === s.sourceShare);
        const point = prot?.recoveryPoint ?? null;
        const j = lastJobs[i];
        return {
          source: s.sourceShare,
          target: s.targetShare,
          targetCreated: s.targetCreated,
          lastCompleteAt: iso(point?.createdAt),
          recoveryPoint: point
            ? {
                snapshotSetId: point.setId,
                createdAt: point.createdAt.toISOString(),
                ageSeconds: Math.round(prot!.ageSeconds ?? 0),
                fileServer: fileServerName(point.fileServerId),
              }
            : null,
          compliance: prot?.compliance ?? ('unknown' as const),
          lastJob: j ? { id: j.id, state: j.state, startedAt: j.startedAt.toISOString(), percent: j.percent } : null,
        };
      });
      const c = complianceCounts(shares.map((s) => s.compliance));
      const last = newestPoint(protectedByPolicy);
      const body: z.infer<typeof PolicyDetails> = {
        id: p.id,
        name: p.name,
        source: p.source.name,
        destination: p.destination.name,
        status: p.status,
        statusReason: p.statusReason,
        rpoMinutes: Math.round(p.rpoSeconds / 60),
        retentionCount: p.retentionCount,
        version: p.version,
        compliance: c,
        lastReplicationAt: iso(last),
        workflowId: p.workflowId,
        workflowUrl: p.workflowId ? workflows.link(p.workflowId) : null,
        currentOperation: op ? { id: op.id, kind: op.kind, state: op.state } : null,
        previousVersion: p.previousVersion ?? null,
        shares,
        createdAt: p.createdAt.toISOString(),
        updatedAt: p.updatedAt.toISOString(),
      };
      return { status: 200, body };
    },
  });

  api.add({
    method: 'post',
    path: '/policies',
    role: 'admin',
    tag: 'Policies',
    summary: 'Create a replication policy (starts createPolicyWorkflow)',
    body: CreatePolicyRequest,
    responses: {
      202: { description: "Accepted: the policy is 'creating' and its workflow started", schema: Accepted },
      409: { description: 'Name taken, a share already in another policy, or a failover running on the pair' },
      502: { description: "The source's gateways could not list its shares" },
    },
    handler: async ({ body, principal }) => {
      const r = await deps.policies.create(body, principal);
      return { status: 202, body: accepted(r), target: `policy/${body.name}` };
    },
  });

  api.add({
    method: 'patch',
    path: '/policies/:name',
    role: 'admin',
    tag: 'Policies',
    summary: 'Update RPO, retention or shares (new version; starts updatePolicyWorkflow)',
    params: NameParams,
    body: UpdatePolicyRequest,
    responses: {
      202: { description: 'Accepted', schema: Accepted },
      404: { description: 'Unknown' },
      409: { description: 'Busy or share clash' },
    },
    handler: async ({ params, body, principal }) => {
      const r = await deps.policies.update(params.name, body, principal);
      return { status: 202, body: accepted(r), target: `policy/${params.name}` };
    },
  });

  api.add({
    method: 'post',
    path: '/policies/:name/shares/:share/replicate',
    role: 'operator',
    tag: 'Policies',
    summary: 'Replicate one share now (an on-demand run, queued behind a running one)',
    description:
      "Triggers the share's schedule under its overlap rule: if a run is going on, this one waits for it (and replaces " +
      'a run already waiting); it never runs beside it. The run records itself as an on-demand job: watch ' +
      'GET /jobs?policy=&share=.',
    params: z.strictObject({ name: PolicyName, share: ShareName }),
    responses: {
      202: {
        description: 'Requested',
        schema: z
          .object({
            policy: z.string(),
            share: z.string(),
            scheduleId: z.string(),
            requestedAt: IsoDate,
            queuedBehind: z.string().nullable().describe('The running job this run waits for, if any'),
          })
          .meta({ id: 'ReplicateNowAccepted' }),
      },
      404: { description: 'Unknown policy, or the share is not in it' },
      409: { description: 'The policy is not active, or a failover runs on its pair' },
      503: { description: 'Temporal or the worker is unavailable' },
    },
    handler: async ({ params }) => {
      const r = await deps.policies.replicateNow(params.name, params.share);
      return {
        status: 202,
        body: { ...r, requestedAt: r.requestedAt.toISOString() },
        target: `policy/${params.name}/share/${params.share}`,
      };
    },
  });

  api.add({
    method: 'delete',
    path: '/policies/:name',
    role: 'admin',
    tag: 'Policies',
    summary: "Delete a policy (status 'deleting'; starts deletePolicyWorkflow)",
    params: NameParams,
    responses: {
      202: { description: 'Accepted', schema: Accepted },
      404: { description: 'Unknown' },
      409: { description: 'Busy' },
    },
    handler: async ({ params, principal }) => {
      const r = await deps.policies.remove(params.name, principal);
      return { status: 202, body: accepted(r), target: `policy/${params.name}` };
    },
  });
}
