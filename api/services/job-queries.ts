// The job history's hot paths (list page, details) as hand-written SQL through Prisma's raw query API: one indexed
// query per page, no ORM row mapping. Enum and uuid columns are cast to text (the driver adapter cannot deserialise
// every PostgreSQL type in raw results); every value is a bound parameter (Prisma.sql), never interpolated.
import type { Db } from '../../infra/database';
import { Prisma } from '../../prisma/generated/client';

export interface JobFilter {
  states?: string[];
  policyId?: string;
  share?: string;
  source?: string;
  destination?: string;
  from?: Date;
  to?: Date;
  cursor?: { at: Date; id: string };
  limit: number;
}

export interface JobRecord {
  id: string;
  policyId: string | null;
  policyName: string | null;
  kind: 'scheduled' | 'on_demand' | 'final_delta' | 'reverse';
  state: 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  share: string;
  targetShare: string;
  sourceFileServer: string;
  destFileServer: string;
  snapshotSetId: string | null;
  incremental: boolean;
  baseSnapshotId: string | null;
  bytesTotal: bigint;
  bytesSynced: bigint;
  percent: number;
  throughputBps: bigint | null;
  rpoCompliant: boolean | null;
  error: string | null;
  workflowId: string | null;
  operationId: string | null;
  startedAt: Date;
  endedAt: Date | null;
}

const COLUMNS = Prisma.sql`j.id::text AS "id", j."policyId"::text AS "policyId", p.name AS "policyName",
  j.kind::text AS "kind", j.state::text AS "state", j.share, j."targetShare", j."sourceFileServer", j."destFileServer",
  j."snapshotSetId", j.incremental, j."baseSnapshotId", j."bytesTotal", j."bytesSynced", j.percent, j."throughputBps",
  j."rpoCompliant", j.error, j."workflowId", j."operationId"::text AS "operationId", j."startedAt", j."endedAt"`;

const FROM = Prisma.sql`FROM "Job" j LEFT JOIN "ReplicationPolicy" p ON p.id = j."policyId"`;

export async function listJobs(db: Db, f: JobFilter): Promise<JobRecord[]> {
  const where: Prisma.Sql[] = [];
  if (f.states?.length) {
    where.push(Prisma.sql`j.state IN (${Prisma.join(f.states.map((s) => Prisma.sql`${s}::"JobState"`))})`);
  }
  if (f.policyId) where.push(Prisma.sql`j."policyId" = ${f.policyId}::uuid`);
  if (f.share) where.push(Prisma.sql`j.share = ${f.share}`);
  if (f.source) where.push(Prisma.sql`j."sourceFileServer" = ${f.source}`);
  if (f.destination) where.push(Prisma.sql`j."destFileServer" = ${f.destination}`);
  if (f.from) where.push(Prisma.sql`j."startedAt" >= ${f.from}`);
  if (f.to) where.push(Prisma.sql`j."startedAt" < ${f.to}`);
  if (f.cursor) where.push(Prisma.sql`(j."startedAt", j.id) < (${f.cursor.at}, ${f.cursor.id}::uuid)`);
  const clause = where.length ? Prisma.sql`WHERE ${Prisma.join(where, ' AND ')}` : Prisma.empty;
  return db.$queryRaw<JobRecord[]>`SELECT ${COLUMNS} ${FROM} ${clause}
    ORDER BY j."startedAt" DESC, j.id DESC LIMIT ${f.limit}`;
}

export async function getJob(db: Db, id: string): Promise<JobRecord | null> {
  const rows = await db.$queryRaw<JobRecord[]>`SELECT ${COLUMNS} ${FROM} WHERE j.id = ${id}::uuid`;
  return rows[0] ?? null;
}

export interface SubJobRecord {
  id: string;
  portion: string;
  sourceNodeId: string;
  destNodeId: string;
  state: JobRecord['state'];
  bytesTotal: bigint;
  bytesSynced: bigint;
  throughputBps: bigint | null;
  error: string | null;
  startedAt: Date;
  endedAt: Date | null;
}

export async function getSubJobs(db: Db, jobId: string): Promise<SubJobRecord[]> {
  return db.$queryRaw<
    SubJobRecord[]
  >`SELECT id::text AS "id", portion, "sourceNodeId", "destNodeId", state::text AS "state",
    "bytesTotal", "bytesSynced", "throughputBps", error, "startedAt", "endedAt"
    FROM "SubJob" WHERE "jobId" = ${jobId}::uuid ORDER BY portion`;
}

/**
 * The jobs whose figures can still move: pending or running, or ended at or after `endedSince` (so a job's last
 * change, its end, is seen once more). Served by the (state, startedAt, id) and (endedAt) indexes.
 */
export async function listLiveJobs(db: Db, endedSince: Date, limit = 500): Promise<JobRecord[]> {
  return db.$queryRaw<JobRecord[]>`SELECT ${COLUMNS} ${FROM}
    WHERE j.state IN ('pending'::"JobState", 'running'::"JobState") OR j."endedAt" >= ${endedSince}
    ORDER BY j."startedAt" DESC, j.id DESC LIMIT ${limit}`;
}
