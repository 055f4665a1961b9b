// /operations: start planned/unplanned failover, resume replication, failback and DR readiness checks (operator);
// list and status (viewer): the database row with its steps plus the workflow's status read from Temporal.
import { z } from 'zod';
import type { Db } from '../../infra/database';
import type { Prisma } from '../../prisma/generated/client';
import { NotFoundError } from '../../domain/errors';
import { FileServerName, Uuid } from '../../domain/names';
import { OPERATION_KINDS, OPERATION_REQUESTS, type OperationKindName } from '../../domain/operations';
import type { ApiRoutes } from '../http';
import type { OperationService } from '../services/operations';
import type { WorkflowPort } from '../temporal';
import { Cursor, encodeCursor, IsoDate, Limit, OperationRef } from '../views';

const ALL_KINDS = [
  ...OPERATION_KINDS,
  'policy_create',
  'policy_update',
  'policy_delete',
  'share_create',
  'share_delete',
] as const;
const OperationState = z.enum(['pending', 'running', 'succeeded', 'failed', 'cancelled']);

const Step = z.object({
  name: z.string(),
  state: z.string(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  detail: z.string().nullable(),
});

const OperationView = z
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
    createdAt: IsoDate,
    updatedAt: IsoDate,
  })
  .meta({ id: 'Operation' });

const OperationStatus = OperationView.extend({
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

export function operationView(o: OperationRow, workflows: Pick<WorkflowPort, 'link'>): z.infer<typeof OperationView> {
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
    createdAt: o.createdAt.toISOString(),
    updatedAt: o.updatedAt.toISOString(),
  };
}

export function operationRoutes(
  api: ApiRoutes,
  deps: { db: Db; operations: OperationService; workflows: WorkflowPort },
): void {
  const { db, workflows } = deps;

  const view = (o: OperationRow) => operationView(o, workflows);

  for (const kind of OPERATION_KINDS) {
    api.add({
      method: 'post',
      path: PATHS[kind],
      role: 'operator',
      tag: 'Operations',
      summary: SUMMARIES[kind],
      body: OPERATION_REQUESTS[kind],
      responses: {
        202: { description: 'Accepted: the workflow started', schema: OperationRef },
        409: {
          description: 'A conflicting operation runs on the pair, or the file servers are not in the needed state',
        },
        503: { description: 'Temporal is unavailable' },
      },
      handler: async ({ body, principal }) => {
        const r = await deps.operations.start(kind, body, principal);
        return {
          status: 202,
          body: { operationId: r.operationId, workflowId: r.workflowId, workflowUrl: workflows.link(r.workflowId) },
          target: `operation/${kind}/${r.operationId}`,
        };
      },
    });
  }

  api.add({
    method: 'get',
    path: '/operations',
    role: 'viewer',
    tag: 'Operations',
    summary: 'Operations, newest first',
    query: z.strictObject({
      kind: z.enum(ALL_KINDS).optional(),
      state: OperationState.optional(),
      fileServer: FileServerName.optional().describe('Source or destination'),
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
      if (query.fileServer)
        and.push({ OR: [{ sourceFileServer: query.fileServer }, { destFileServer: query.fileServer }] });
      if (query.cursor) {
        and.push({
          OR: [{ createdAt: { lt: query.cursor.at } }, { createdAt: query.cursor.at, id: { lt: query.cursor.id } }],
        });
      }
      const rows = await db.operation.findMany({
        where: { AND: and },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        status: 200,
        body: {
          items: page.map(view),
          nextCursor: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null,
        },
      };
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
      return { status: 200, body: { ...view(o), workflow } };
    },
  });
}
