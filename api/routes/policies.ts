// /policies: create / update / delete start the policy workflows (202 with the operation and workflow ids); list and
// details show the shares covered, RPO and compliance by share, readable while a workflow runs.
import { z } from 'zod';
import type { Db } from '../../infra/database';
import { NotFoundError } from '../../domain/errors';
import { PolicyName } from '../../domain/names';
import { CreatePolicyRequest, UpdatePolicyRequest } from '../../domain/policy';
import type { ApiRoutes } from '../http';
import type { PolicyService } from '../services/policies';
import { ACTIVE_OPERATION_STATES } from '../services/protection';
import type { WorkflowPort } from '../temporal';
import { IsoDate, iso, OperationRef } from '../views';

const PolicyStatus = z.enum(['creating', 'active', 'failed', 'deleting', 'disabled']);
const Compliance = z.enum(['compliant', 'violated', 'unknown']);

const PolicySummary = z
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

const PolicyDetails = PolicySummary.omit({ shares: true })
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
        lastCompleteAt: IsoDate.nullable(),
        compliance: Compliance,
        lastJob: z.object({ id: z.string(), state: z.string(), startedAt: IsoDate, percent: z.number() }).nullable(),
      }),
    ),
    createdAt: IsoDate,
    updatedAt: IsoDate,
  })
  .meta({ id: 'PolicyDetails' });

const Accepted = OperationRef.extend({ policy: z.string() }).meta({ id: 'PolicyAccepted' });

export function complianceOf(
  lastCompleteAt: Date | null,
  rpoSeconds: number,
  now = Date.now(),
): z.infer<typeof Compliance> {
  if (!lastCompleteAt) return 'unknown';
  return now - lastCompleteAt.getTime() <= rpoSeconds * 1000 ? 'compliant' : 'violated';
}

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
      const rows = await db.replicationPolicy.findMany({
        orderBy: { name: 'asc' },
        include: {
          source: { select: { name: true } },
          destination: { select: { name: true } },
          shares: { select: { lastCompleteAt: true } },
        },
      });
      const now = Date.now();
      return {
        status: 200,
        body: {
          items: rows.map((p) => {
            const c = { compliant: 0, violated: 0, unknown: 0 };
            let last: Date | null = null;
            for (const s of p.shares) {
              c[complianceOf(s.lastCompleteAt, p.rpoSeconds, now)]++;
              if (s.lastCompleteAt && (!last || s.lastCompleteAt > last)) last = s.lastCompleteAt;
            }
            return {
              name: p.name,
              source: p.source.name,
              destination: p.destination.name,
              status: p.status,
              statusReason: p.statusReason,
              rpoMinutes: Math.round(p.rpoSeconds / 60),
              retentionCount: p.retentionCount,
              version: p.version,
              shares: p.shares.length,
              compliance: c,
              lastReplicationAt: iso(last),
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
      const now = Date.now();
      const c = { compliant: 0, violated: 0, unknown: 0 };
      const shares = p.shares.map((s, i) => {
        const compliance = complianceOf(s.lastCompleteAt, p.rpoSeconds, now);
        c[compliance]++;
        const j = lastJobs[i];
        return {
          source: s.sourceShare,
          target: s.targetShare,
          targetCreated: s.targetCreated,
          lastCompleteAt: iso(s.lastCompleteAt),
          compliance,
          lastJob: j ? { id: j.id, state: j.state, startedAt: j.startedAt.toISOString(), percent: j.percent } : null,
        };
      });
      const last = p.shares.reduce<Date | null>(
        (m, s) => (s.lastCompleteAt && (!m || s.lastCompleteAt > m) ? s.lastCompleteAt : m),
        null,
      );
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
