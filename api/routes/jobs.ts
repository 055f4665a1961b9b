// /jobs: replication job history with filters and keyset (cursor) pagination, details with sub-jobs, and pruning of
// old history. The list is served from the Job indexes (startedAt desc, id desc) with one row of look-ahead.
import { z } from 'zod';
import type { Db } from '../../infra/database';
import type { Prisma } from '../../prisma/generated/client';
import { NotFoundError, ValidationError } from '../../domain/errors';
import { FileServerName, PolicyName, ShareName, Uuid } from '../../domain/names';
import type { ApiRoutes } from '../http';
import { getJob, getSubJobs, listJobs } from '../services/job-queries';
import { fetchSize, keysetPage } from '../pagination';
import { Cursor, IsoDate, iso, Limit, num } from '../views';

const JobState = z.enum(['pending', 'running', 'succeeded', 'failed', 'cancelled']);

export const JobSummary = z
  .object({
    id: z.string(),
    policy: z.string().nullable(),
    kind: z.enum(['scheduled', 'on_demand', 'final_delta', 'reverse']),
    state: JobState,
    percent: z.number(),
    share: z.string(),
    targetShare: z.string(),
    source: z.string(),
    destination: z.string(),
    incremental: z.boolean(),
    bytesSynced: z.number(),
    startedAt: IsoDate,
    endedAt: IsoDate.nullable(),
    rpoCompliant: z.boolean().nullable(),
    operationId: z.string().nullable().describe('The operation whose final delta this job is'),
  })
  .meta({ id: 'JobSummary' });

type JobRow = Omit<Prisma.JobGetPayload<object>, 'policyId'> & {
  policy?: { name: string } | null;
  policyName?: string | null;
};

export function jobSummary(j: JobRow): z.infer<typeof JobSummary> {
  return {
    id: j.id,
    policy: j.policyName ?? j.policy?.name ?? null,
    kind: j.kind,
    state: j.state,
    percent: j.percent,
    share: j.share,
    targetShare: j.targetShare,
    source: j.sourceFileServer,
    destination: j.destFileServer,
    incremental: j.incremental,
    bytesSynced: Number(j.bytesSynced),
    startedAt: j.startedAt.toISOString(),
    endedAt: iso(j.endedAt),
    rpoCompliant: j.rpoCompliant,
    operationId: j.operationId,
  };
}

export const JobDetails = JobSummary.extend({
  snapshotSetId: z.string().nullable(),
  baseSnapshotId: z.string().nullable(),
  bytesTotal: z.number(),
  averageThroughputBps: z.number().nullable().describe('bytes synced / elapsed time (or as reported)'),
  durationSeconds: z.number().nullable(),
  error: z.string().nullable(),
  workflowId: z.string().nullable(),
  subJobs: z.array(
    z.object({
      id: z.string(),
      portion: z.string(),
      sourceNodeId: z.string(),
      destNodeId: z.string(),
      state: JobState,
      bytesTotal: z.number(),
      bytesSynced: z.number(),
      throughputBps: z.number().nullable(),
      error: z.string().nullable(),
      startedAt: IsoDate,
      endedAt: IsoDate.nullable(),
    }),
  ),
}).meta({ id: 'JobDetails' });

const DateParam = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 timestamp, e.g. 2026-01-31T12:00:00Z' });

export const JobListQuery = z
  .strictObject({
    status: z
      .string()
      .max(100)
      .transform((s) => s.split(','))
      .pipe(z.array(JobState).max(5))
      .optional()
      .describe('One or more states, comma-separated'),
    policy: PolicyName.optional(),
    share: ShareName.optional(),
    source: FileServerName.optional(),
    destination: FileServerName.optional(),
    from: DateParam.optional().describe('Started at or after'),
    to: DateParam.optional().describe('Started before'),
    limit: Limit,
    cursor: Cursor.optional().describe('nextCursor of the previous page'),
  })
  .refine((q) => !q.from || !q.to || new Date(q.from) < new Date(q.to), {
    message: 'from must be before to',
    path: ['from'],
  });

export const JobPage = z.object({ items: z.array(JobSummary), nextCursor: z.string().nullable() });

export function jobRoutes(api: ApiRoutes, deps: { db: Db }): void {
  const { db } = deps;

  api.add({
    method: 'get',
    path: '/jobs',
    role: 'viewer',
    tag: 'Jobs',
    summary: 'Replication jobs, newest first, with filters and cursor pagination',
    query: JobListQuery,
    responses: { 200: { description: 'A page of jobs', schema: JobPage } },
    handler: async ({ query }) => {
      let policyId: string | undefined;
      if (query.policy) {
        const p = await db.replicationPolicy.findUnique({ where: { name: query.policy }, select: { id: true } });
        if (!p) return { status: 200, body: { items: [], nextCursor: null } };
        policyId = p.id;
      }
      const rows = await listJobs(db, {
        states: query.status,
        policyId,
        share: query.share,
        source: query.source,
        destination: query.destination,
        from: query.from ? new Date(query.from) : undefined,
        to: query.to ? new Date(query.to) : undefined,
        cursor: query.cursor,
        limit: fetchSize(query.limit),
      });
      const page = keysetPage(rows, query.limit, (j) => ({ at: j.startedAt, id: j.id }));
      return { status: 200, body: { items: page.items.map((j) => jobSummary(j)), nextCursor: page.nextCursor } };
    },
  });

  api.add({
    method: 'get',
    path: '/jobs/:id',
    role: 'viewer',
    tag: 'Jobs',
    summary: 'Job details: state, percent, source, destination, share, times, bytes, throughput, sub-jobs',
    params: z.strictObject({ id: Uuid }),
    responses: { 200: { description: 'The job', schema: JobDetails }, 404: { description: 'Unknown job' } },
    handler: async ({ params }) => {
      const [j, subJobs] = await Promise.all([getJob(db, params.id), getSubJobs(db, params.id)]);
      if (!j) throw new NotFoundError(`job ${params.id} does not exist`);
      const end = j.endedAt ?? (j.state === 'running' ? new Date() : null);
      const seconds = end ? Math.max(0, (end.getTime() - j.startedAt.getTime()) / 1000) : null;
      const average =
        num(j.throughputBps) ?? (seconds && seconds > 0 ? Math.round(Number(j.bytesSynced) / seconds) : null);
      const body: z.infer<typeof JobDetails> = {
        ...jobSummary(j),
        snapshotSetId: j.snapshotSetId,
        baseSnapshotId: j.baseSnapshotId,
        bytesTotal: Number(j.bytesTotal),
        averageThroughputBps: average,
        durationSeconds: seconds === null ? null : Math.round(seconds * 1000) / 1000,
        error: j.error,
        workflowId: j.workflowId,
        subJobs: subJobs.map((s) => ({
          id: s.id,
          portion: s.portion,
          sourceNodeId: s.sourceNodeId,
          destNodeId: s.destNodeId,
          state: s.state,
          bytesTotal: Number(s.bytesTotal),
          bytesSynced: Number(s.bytesSynced),
          throughputBps: num(s.throughputBps),
          error: s.error,
          startedAt: s.startedAt.toISOString(),
          endedAt: iso(s.endedAt),
        })),
      };
      return { status: 200, body };
    },
  });

  api.add({
    method: 'post',
    path: '/jobs/prune',
    role: 'admin',
    tag: 'Jobs',
    summary: 'Delete finished jobs (and their sub-jobs) that ended before the retention window',
    body: z.strictObject({ olderThanDays: z.number().int().min(1).max(3650) }),
    responses: { 200: { description: 'Pruned', schema: z.object({ deleted: z.number() }) } },
    handler: async ({ body }) => {
      const deleted = await pruneJobs(db, new Date(Date.now() - body.olderThanDays * 86_400_000));
      return { status: 200, body: { deleted }, target: `jobs/ended-before/${body.olderThanDays}d` };
    },
  });
}

/** Deletes finished jobs that ended before `before`, in batches so a large history never holds long locks. */
export async function pruneJobs(db: Db, before: Date, batch = 5000): Promise<number> {
  if (Number.isNaN(before.getTime())) throw new ValidationError('invalid retention date');
  let total = 0;
  for (;;) {
    const ids = await db.job.findMany({
      where: { endedAt: { lt: before }, state: { in: ['succeeded', 'failed', 'cancelled'] } },
      select: { id: true },
      take: batch,
    });
    if (!ids.length) return total;
    const r = await db.job.deleteMany({ where: { id: { in: ids.map((i) => i.id) } } });
    total += r.count;
  }
}
