// Live progress of a running replication job: each sub-job (one FSVM-pair stream) reports its bytes while it runs,
// and the job's bytes, percent and average throughput are recomputed from its sub-jobs in the same statement, so the
// API (and the UI's live view) show a moving figure instead of 0 until the end. Written at most every
// PROGRESS_WRITE_MS per stream: a progress row per chunk would cost the database more than the transfer.
import type { Db } from '../infra/database';

export const PROGRESS_WRITE_MS = 2000;

export interface PortionProgress {
  jobId: string;
  portion: string;
  bytesSent: number;
  /** null while the stream's length is unknown (btrfs streams are measured while sent). */
  bytesTotal: number | null;
  rateBytesPerSec: number;
}

/**
 * Records one stream's progress and brings the job's totals up to date. A job stays below 100 % until completeJob
 * records the set complete: the bytes may all be across while the commit is still to come.
 */
export async function recordPortionProgress(db: Db, p: PortionProgress): Promise<void> {
  await db.$transaction([
    db.subJob.updateMany({
      where: { jobId: p.jobId, portion: p.portion, state: { in: ['pending', 'running'] } },
      data: {
        bytesSynced: BigInt(p.bytesSent),
        bytesTotal: BigInt(Math.max(p.bytesTotal ?? 0, p.bytesSent)),
        throughputBps: BigInt(Math.round(p.rateBytesPerSec)),
      },
    }),
    db.$executeRaw`
      UPDATE "Job" j SET
        "bytesSynced" = s.synced,
        "bytesTotal" = GREATEST(s.total, s.synced),
        percent = CASE WHEN s.total > 0 THEN LEAST(99, FLOOR(100 * s.synced / s.total))::int ELSE j.percent END,
        "throughputBps" = ROUND(s.synced / GREATEST(EXTRACT(EPOCH FROM (now() - j."startedAt")), 0.001))::bigint
      FROM (
        SELECT COALESCE(SUM("bytesSynced"), 0) AS synced, COALESCE(SUM("bytesTotal"), 0) AS total
        FROM "SubJob" WHERE "jobId" = ${p.jobId}::uuid
      ) s
      WHERE j.id = ${p.jobId}::uuid AND j.state = 'running'`,
  ]);
}
