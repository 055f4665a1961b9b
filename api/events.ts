// Live changes for the web UI (GET /api/v1/events, server-sent events): what the admin database holds, read by ONE
// poller per API process while at least one client listens, and pushed as deltas to every listener.
//   job        a pending or running job whose state, percent or bytes changed, or that just ended (JobLive)
//   operation  an operation whose row changed (state, steps, result) or one of whose final-delta jobs moved, with
//              those jobs' progress (OperationView)
//   changed    {topics}: policies, file servers (and their FSVMs and shares) or alerts changed; clients refetch
// Why polling and not LISTEN/NOTIFY: the writers are the worker's activities (job progress every 2 s per stream, steps)
// and the API; notifications would need triggers outside prisma/schema.prisma (the one source of truth of the schema)
// or a pg_notify call beside every write, plus a dedicated connection per API process. One poll a second costs three
// indexed queries per API process whatever the number of listeners: 5.3 ms p50, 11.9 ms p95 over a history of 100k
// jobs with 100 running (embedded PostgreSQL, 2 cores), i.e. about 0.5 % of a core; and the job figures it shows are
// themselves written at most every 2 s.
import type { Db } from '../infra/database';
import type { Logger } from '../infra/logger';
import { jobSummary, type JobSummary } from './routes/jobs';
import { operationJobs, operationView } from './routes/operations';
import { listLiveJobs, type JobRecord } from './services/job-queries';
import type { WorkflowPort } from './temporal';
import type { z } from 'zod';

export type JobLive = z.infer<typeof JobSummary> & { bytesTotal: number; averageThroughputBps: number | null };
export type ChangeTopic = 'policies' | 'fileServers' | 'alerts';

export type LiveEvent =
  | { type: 'job'; data: JobLive }
  | { type: 'operation'; data: ReturnType<typeof operationView> }
  | { type: 'changed'; data: { topics: ChangeTopic[] } };

export interface EventHub {
  /** Starts the poller with the first listener; the returned function unsubscribes (the last one stops it). */
  subscribe(listener: (e: LiveEvent) => void): () => void;
  readonly intervalMs: number;
  /** Duration of the last poll (ms), for the measurement. */
  lastPollMs(): number | null;
  close(): void;
}

/** How far back an ended job is still shown once more: covers a slow poll. */
const ENDED_WINDOW_MS = 10_000;

export function jobLive(j: JobRecord): JobLive {
  const end = j.endedAt ?? (j.state === 'running' ? new Date() : null);
  const seconds = end ? Math.max(0, (end.getTime() - j.startedAt.getTime()) / 1000) : null;
  const throughput =
    j.throughputBps !== null
      ? Number(j.throughputBps)
      : seconds && seconds > 0
        ? Math.round(Number(j.bytesSynced) / seconds)
        : null;
  return { ...jobSummary(j), bytesTotal: Number(j.bytesTotal), averageThroughputBps: throughput };
}

export function createEventHub(deps: {
  db: Db;
  workflows: Pick<WorkflowPort, 'link'>;
  logger: Logger;
  intervalMs?: number;
}): EventHub {
  const intervalMs = deps.intervalMs ?? 1000;
  const listeners = new Set<(e: LiveEvent) => void>();
  let timer: NodeJS.Timeout | undefined;
  let polling = false;
  let lastPoll: number | null = null;
  const jobSeen = new Map<string, string>();
  let operationsSince = new Date();
  const operationSeen = new Map<string, string>();
  let topicsSeen: Record<ChangeTopic, string> | undefined;

  const emit = (e: LiveEvent) => {
    for (const l of listeners) l(e);
  };

  async function poll(): Promise<void> {
    const started = performance.now();
    const now = new Date();
    const [jobs, operations, marks] = await Promise.all([
      listLiveJobs(deps.db, new Date(now.getTime() - ENDED_WINDOW_MS)),
      deps.db.operation.findMany({
        where: { updatedAt: { gte: operationsSince } },
        orderBy: { updatedAt: 'asc' },
        take: 200,
      }),
      deps.db.$queryRaw<{ policies: string; fileServers: string; alerts: string }[]>`SELECT
        (SELECT count(*) || '|' || COALESCE(max("updatedAt")::text, '') FROM "ReplicationPolicy") AS "policies",
        (SELECT count(*) || '|' || COALESCE(max("updatedAt")::text, '') FROM "FileServer") || '|' ||
        (SELECT COALESCE(max("updatedAt")::text, '') FROM "Fsvm") AS "fileServers",
        (SELECT count(*) || '|' || COALESCE(max("raisedAt")::text, '') FROM "RpoAlert" WHERE "clearedAt" IS NULL) ||
        '|' || (SELECT count(*) FROM "RpoAlert" WHERE "clearedAt" IS NOT NULL) AS "alerts"`,
    ]);
    const current = new Set<string>();
    // An operation is pushed again when one of its final-delta jobs moved (its own row does not change then).
    const moved = new Set<string>();
    for (const j of jobs) {
      current.add(j.id);
      const sig = `${j.state}|${j.percent}|${j.bytesSynced}|${j.bytesTotal}|${j.endedAt?.getTime() ?? ''}`;
      if (jobSeen.get(j.id) === sig) continue;
      jobSeen.set(j.id, sig);
      emit({ type: 'job', data: jobLive(j) });
      if (j.operationId) moved.add(j.operationId);
    }
    for (const id of jobSeen.keys()) if (!current.has(id)) jobSeen.delete(id);
    const updated = operations.filter((o) => operationSeen.get(o.id) !== o.updatedAt.toISOString());
    const missing = [...moved].filter((id) => !updated.some((o) => o.id === id));
    const pushed = missing.length
      ? [...updated, ...(await deps.db.operation.findMany({ where: { id: { in: missing } } }))]
      : updated;
    const jobsOf = await operationJobs(
      deps.db,
      pushed.map((o) => o.id),
    );
    for (const o of pushed) {
      operationSeen.set(o.id, o.updatedAt.toISOString());
      emit({ type: 'operation', data: operationView(o, deps.workflows, jobsOf.get(o.id)) });
    }
    // Rows updated within the same millisecond as the last one seen are read again next time (>=), deduplicated above.
    const newest = operations[operations.length - 1];
    if (newest) operationsSince = newest.updatedAt;
    if (operationSeen.size > 1000) operationSeen.clear();
    const m = marks[0];
    if (m) {
      const changed = (Object.keys(m) as ChangeTopic[]).filter((k) => topicsSeen && topicsSeen[k] !== m[k]);
      topicsSeen = m;
      if (changed.length) emit({ type: 'changed', data: { topics: changed } });
    }
    lastPoll = performance.now() - started;
  }

  /** One timer at most, and never while a poll runs: a slow database delays the next poll instead of piling up. */
  function schedule(delayMs = intervalMs): void {
    if (!listeners.size || timer || polling) return;
    timer = setTimeout(() => {
      timer = undefined;
      polling = true;
      poll()
        .catch((err: unknown) => deps.logger.warn({ err }, 'live events: poll failed'))
        .finally(() => {
          polling = false;
          schedule();
        });
    }, delayMs);
    timer.unref();
  }

  return {
    intervalMs,
    lastPollMs: () => lastPoll,
    subscribe(listener) {
      listeners.add(listener);
      if (listeners.size === 1) {
        // The first poll shows the jobs still moving and the operations changed lately; then only changes.
        jobSeen.clear();
        operationSeen.clear();
        operationsSince = new Date(Date.now() - ENDED_WINDOW_MS);
        schedule(0);
      }
      return () => {
        listeners.delete(listener);
        if (!listeners.size && timer) {
          clearTimeout(timer);
          timer = undefined;
        }
      };
    },
    close() {
      listeners.clear();
      if (timer) clearTimeout(timer);
    },
  };
}
