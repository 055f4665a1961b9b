// /operations: start planned/unplanned failover, resume replication, failback and DR readiness checks (operator);
// list and status (viewer): the database row with its steps plus the workflow's status read from Temporal.
import { z } from 'zod';
import type { Db } from '../../infra/database';
import type { Prisma } from '../../prisma/generated/client';
import { NotFoundError, ValidationError } from '../../domain/errors';
import { FileServerName, Uuid } from '../../domain/names';
import { OPERATION_KINDS, OPERATION_REQUESTS, type OperationKindName } from '../../domain/operations';
import type { ApiRoutes } from '../http';
import type { OperationService } from '../services/operations';
import type { WorkflowPort } from '../temporal';
import { afterCursor, fetchSize, keysetPage } from '../pagination';
import { Cursor, IsoDate, iso, Limit, OperationRef } from '../views';

/** The Idempotency-Key header, if any, checked (400 naming the header when malformed). */
function idempotencyKeyOf(raw: string | string[] | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const r = IdempotencyKey.safeParse(Array.isArray(raw) ? raw.join(',') : raw);
  if (!r.success) {
    const message = r.error.issues[0]?.message ?? 'invalid';
    throw new ValidationError(`invalid header Idempotency-Key: ${message}`, [
      { path: 'headers.idempotency-key', message },
    ]);
  }
  return r.data;
}

const ALL_KINDS = [
  ...OPERATION_KINDS,
  'policy_create',
  'policy_update',
  'policy_delete',
  'share_create',
  'share_delete',
] as const;
const OperationState = z.enum([
  'pending',
  'awaiting_approval',
  'scheduled',
  'running',
  'succeeded',
  'failed',
  'cancelled',
]);

const IdempotencyKey = z
  .string()
  .regex(/^[\x21-\x7e]{1,200}$/, 'must be 1 to 200 printable ASCII characters without spaces');

const DryRun = z.strictObject({
  dryRun: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => v === 'true')
    .describe('true: answer the plan (steps, shares, recovery points, readiness, redirect, estimate); change nothing'),
});

export const Plan = z
  .object({
    kind: z.enum(OPERATION_KINDS),
    source: z.string(),
    destination: z.string().nullable(),
    destinations: z.array(z.string()),
    steps: z.array(z.object({ name: z.string(), description: z.string() })),
    shares: z.array(
      z.object({
        policy: z.string(),
        share: z.string(),
        targetShare: z.string(),
        destination: z.string(),
        recoveryPoint: z
          .object({ snapshotSetId: z.string(), createdAt: IsoDate, ageSeconds: z.number() })
          .nullable()
          .describe('The newest complete set on the side clients move to (what an unplanned failover restores)'),
      }),
    ),
    redirect: z.object({
      summary: z.string(),
      records: z.array(z.object({ name: z.string(), before: z.array(z.string()), after: z.array(z.string()) })),
      spns: z.array(z.object({ spn: z.string(), from: z.string().nullable(), to: z.string() })),
    }),
    readiness: z.object({
      ok: z.boolean(),
      checks: z.array(z.object({ name: z.string(), ok: z.boolean(), message: z.string() })),
    }),
    dataLossWindowSeconds: z
      .number()
      .nullable()
      .describe('Unplanned failover: the age of the oldest recovery point used (writes after it are lost); else 0'),
    estimatedSeconds: z.number().nullable(),
    estimateBasis: z.string().describe('How the estimate was computed, from which past runs'),
    warnings: z.array(z.string()),
  })
  .meta({ id: 'OperationPlan' });

const Step = z.object({
  name: z.string(),
  state: z.string(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  detail: z.string().nullable(),
});

export const OperationView = z
  .object({
    id: z.string(),
    kind: z.enum(ALL_KINDS),
    state: OperationState,
    source: z.string().nullable(),
    destination: z.string().nullable(),
    policyId: z.string().nullable(),
    steps: z.array(Step),
    workflowId: z.string(),
    workflowUrl: z.string().nullable(),
    requestedBy: z.string().nullable(),
    error: z.string().nullable(),
    fileServers: z.array(z.string()).describe('Every file server the operation acts on'),
    result: z
      .unknown()
      .nullable()
      .describe('What it did per share: sets used and their age, runs, open files, snapshots'),
    startAt: IsoDate.nullable(),
    requireApproval: z.boolean(),
    approvedBy: z.string().nullable(),
    approvedAt: IsoDate.nullable(),
    startedAt: IsoDate.nullable(),
    endedAt: IsoDate.nullable(),
    jobs: z
      .array(
        z.object({
          id: z.string(),
          share: z.string(),
          state: z.string(),
          percent: z.number(),
          bytesSynced: z.number(),
          bytesTotal: z.number(),
        }),
      )
      .describe("The final delta's replication jobs with their live progress"),
    createdAt: IsoDate,
    updatedAt: IsoDate,
  })
  .meta({ id: 'Operation' });

export const OperationStatus = OperationView.extend({
  workflow: z
    .object({
      status: z
        .string()
        .describe('RUNNING, COMPLETED, FAILED, ... ; NOT_FOUND; UNAVAILABLE when Temporal did not answer'),
      runId: z.string().optional(),
      startTime: z.string().optional(),
      closeTime: z.string().optional(),
    })
    .describe("The workflow's status as Temporal reports it"),
}).meta({ id: 'OperationStatus' });

const PATHS: Record<OperationKindName, string> = {
  planned_failover: '/operations/planned-failover',
  unplanned_failover: '/operations/unplanned-failover',
  resume_replication: '/operations/resume-replication',
  failback: '/operations/failback',
  dr_readiness: '/operations/dr-readiness',
};

const SUMMARIES: Record<OperationKindName, string> = {
  planned_failover: 'Planned failover: final sync, then move clients to the destination without data loss',
  unplanned_failover: 'Unplanned failover: bring the destination up from the last complete snapshot sets',
  resume_replication: 'Resume replication after a failover (destination -> source)',
  failback: 'Fail back to the source after a failover',
  dr_readiness: 'DR readiness check of a file server pair',
};

export type OperationRow = Prisma.OperationGetPayload<object>;
type OperationJobs = z.infer<typeof OperationView>['jobs'];

/** An operation as the API shows it (also pushed by the live events stream). */
export function operationView(
  o: OperationRow,
  workflows: Pick<WorkflowPort, 'link'>,
  jobs: OperationJobs = [],
): z.infer<typeof OperationView> {
  return {
    id: o.id,
    kind: o.kind,
    state: o.state,
    source: o.sourceFileServer,
    destination: o.destFileServer,
    policyId: o.policyId,
    steps: (Array.isArray(o.steps) ? o.steps : []) as z.infer<typeof Step>[],
    workflowId: o.workflowId,
    workflowUrl: workflows.link(o.workflowId),
    requestedBy: o.requestedBy,
    error: o.error,
    fileServers: o.fileServers,
    result: o.result ?? null,
    startAt: iso(o.startAt),
    requireApproval: o.requireApproval,
    approvedBy: o.approvedBy,
    approvedAt: iso(o.approvedAt),
    startedAt: iso(o.startedAt),
    endedAt: iso(o.endedAt),
    jobs,
    createdAt: o.createdAt.toISOString(),
    updatedAt: o.updatedAt.toISOString(),
  };
}

/** The final-delta jobs of these operations with their live progress, by operation id (one query). */
export async function operationJobs(db: Db, ids: string[]): Promise<Map<string, OperationJobs>> {
  const rows = ids.length
    ? await db.job.findMany({
        where: { operationId: { in: ids } },
        select: {
          id: true,
          operationId: true,
          share: true,
          state: true,
          percent: true,
          bytesSynced: true,
          bytesTotal: true,
        },
        orderBy: { share: 'asc' },
      })
    : [];
  const out = new Map<string, OperationJobs>();
  for (const j of rows) {
    const list = out.get(j.operationId!) ?? [];
    list.push({
      id: j.id,
      share: j.share,
      state: j.state,
      percent: j.percent,
      bytesSynced: Number(j.bytesSynced),
      bytesTotal: Number(j.bytesTotal),
    });
    out.set(j.operationId!, list);
  }
  return out;
}

export function operationRoutes(
  api: ApiRoutes,
  deps: { db: Db; operations: OperationService; workflows: WorkflowPort },
): void {
  const { db, workflows } = deps;

  const jobsOf = (ids: string[]) => operationJobs(db, ids);

  const view = (o: OperationRow, jobs: OperationJobs = []) => operationView(o, workflows, jobs);

  for (const kind of OPERATION_KINDS) {
    api.add({
      method: 'post',
      path: PATHS[kind],
      role: 'operator',
      tag: 'Operations',
      summary: SUMMARIES[kind],
      description:
        'With `?dryRun=true` the answer is the plan (200) and nothing changes. An `Idempotency-Key` header makes ' +
        "the request safe to repeat: the same key with the same body answers the first request's operation, with " +
        'another body 422.',
      query: DryRun,
      body: OPERATION_REQUESTS[kind],
      responses: {
        200: { description: 'The plan (dryRun=true)', schema: Plan },
        202: { description: 'Accepted: the workflow started', schema: OperationRef },
        409: {
          description: 'Another operation holds the pair, or the shares are not in a state this operation applies to',
        },
        422: { description: 'The Idempotency-Key was used for another request' },
        502: { description: 'The dry run could not read the gateways or the directory' },
        503: { description: 'Temporal or the worker is unavailable' },
      },
      handler: async ({ body, query, principal, req }) => {
        if (query.dryRun) return { status: 200, body: await deps.operations.plan(kind, body) };
        const key = idempotencyKeyOf(req.headers['idempotency-key']);
        const r = await deps.operations.start(kind, body, principal, key);
        return {
          status: 202,
          body: { operationId: r.operationId, workflowId: r.workflowId, workflowUrl: workflows.link(r.workflowId) },
          target: `operation/${kind}/${r.operationId}`,
        };
      },
    });
  }

  api.add({
    method: 'post',
    path: '/operations/:id/approve',
    role: 'admin',
    tag: 'Operations',
    summary: 'Approve an operation that waits for approval (a second admin, not the requester)',
    params: z.strictObject({ id: Uuid }),
    responses: {
      202: { description: 'Approved: the operation goes on', schema: OperationView },
      404: { description: 'Unknown operation' },
      409: { description: 'Not awaiting approval, or the approver is the requester' },
    },
    handler: async ({ params, principal }) => {
      await deps.operations.approve(params.id, principal);
      const o = await db.operation.findUniqueOrThrow({ where: { id: params.id } });
      return { status: 202, body: view(o, (await jobsOf([o.id])).get(o.id)), target: `operation/${o.kind}/${o.id}` };
    },
  });

  api.add({
    method: 'get',
    path: '/operations',
    role: 'viewer',
    tag: 'Operations',
    summary: 'Operations, newest first',
    query: z.strictObject({
      kind: z.enum(ALL_KINDS).optional(),
      state: OperationState.optional(),
      fileServer: FileServerName.optional().describe('Any file server the operation acts on'),
      limit: Limit,
      cursor: Cursor.optional(),
    }),
    responses: {
      200: {
        description: 'A page',
        schema: z.object({ items: z.array(OperationView), nextCursor: z.string().nullable() }),
      },
    },
    handler: async ({ query }) => {
      const and: Prisma.OperationWhereInput[] = [];
      if (query.kind) and.push({ kind: query.kind });
      if (query.state) and.push({ state: query.state });
      if (query.fileServer) and.push({ fileServers: { has: query.fileServer } });
      if (query.cursor) and.push(afterCursor(query.cursor, 'createdAt', 'id'));
      const rows = await db.operation.findMany({
        where: { AND: and },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: fetchSize(query.limit),
      });
      const page = keysetPage(rows, query.limit, (o) => ({ at: o.createdAt, id: o.id }));
      const jobs = await jobsOf(page.items.map((o) => o.id));
      return {
        status: 200,
        body: { items: page.items.map((o) => view(o, jobs.get(o.id))), nextCursor: page.nextCursor },
      };
    },
  });

  api.add({
    method: 'post',
    path: '/operations/:id/cancel',
    role: 'operator',
    tag: 'Operations',
    summary: 'Cancel a pending or running operation',
    description:
      'The workflow undoes what it did before its point of no return (for a failover: before the destination was made ' +
      'read-write), then records the operation cancelled; after that point it finishes. The answer is the ' +
      'operation as it is now: watch it until its state is cancelled (or, past that point, succeeded or failed).',
    params: z.strictObject({ id: Uuid }),
    responses: {
      202: { description: 'Cancellation requested', schema: OperationView },
      404: { description: 'Unknown operation' },
      409: { description: 'The operation has already ended' },
    },
    handler: async ({ params, principal }) => {
      await deps.operations.cancel(params.id, principal);
      const o = await db.operation.findUniqueOrThrow({ where: { id: params.id } });
      return { status: 202, body: view(o, (await jobsOf([o.id])).get(o.id)), target: `operation/${o.kind}/${o.id}` };
    },
  });

  api.add({
    method: 'get',
    path: '/operations/:id',
    role: 'viewer',
    tag: 'Operations',
    summary: "An operation's step-by-step status and its workflow's status",
    params: z.strictObject({ id: Uuid }),
    responses: { 200: { description: 'Status', schema: OperationStatus }, 404: { description: 'Unknown' } },
    handler: async ({ params }) => {
      const o = await db.operation.findUnique({ where: { id: params.id } });
      if (!o) throw new NotFoundError(`operation ${params.id} does not exist`);
      let workflow: z.infer<typeof OperationStatus>['workflow'];
      try {
        workflow = (await workflows.describe(o.workflowId)) ?? { status: 'NOT_FOUND' };
      } catch {
        workflow = { status: 'UNAVAILABLE' };
      }
      return { status: 200, body: { ...view(o, (await jobsOf([o.id])).get(o.id)), workflow } };
    },
  });
}
