// One replication run of one share (seed 000 [0214]-[0220]), started by the share's Schedule or on demand:
// snapshot set on the source FSVMs -> one sub-job per FSVM pair, in parallel, each negotiating base vs incremental for
// its portion and following it to a new FSVM after a takeover -> commit the set at the destination only when every
// portion arrived -> record the job -> prune.
import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ReplicationActivities, TransferResult } from '../activities/replication';
import { snapshotSetId, type ReplicateShareInput } from '../domain/replication';
import { FILE_SERVERS, POLICY, SHARE } from '../domain/search-attributes';

const steps = proxyActivities<ReplicationActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
});

// A sub-job retries with backoff while its FSVM is down or restarting; the run's deadline bounds it.
const subJobs = proxyActivities<ReplicationActivities>({
  startToCloseTimeout: '24 hours',
  // A worker that dies is noticed within this; the transfer itself keeps running at the gateway meanwhile.
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const housekeeping = proxyActivities<ReplicationActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3 },
});

// The bounded steps of an incremental run (database rows, snapshot of what changed, commit, pruning) run as local
// activities: executed by the worker inside the workflow task and recorded as markers, they cost the server no task
// dispatch of their own. That cuts a run from about sixteen server tasks to three (two workflow tasks, one activity
// task per portion), which is what lets one worker and the embedded server keep hundreds of shares on a 2-minute RPO.
// Steps whose length grows with the data (a base copy's snapshot and commit) stay ordinary activities, with their own
// timeouts and retries.
const localSteps = proxyLocalActivities<ReplicationActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
});

const localHousekeeping = proxyLocalActivities<ReplicationActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3 },
});

/** Patch marker of the local-activity steps; runs recorded before it replay the all-activity path. */
export const LOCAL_STEPS_PATCH = 'replicate-share-local-steps';

/** Patch marker of the set id taken from the run's start time; runs recorded before it used the task's clock. */
export const STABLE_SET_ID_PATCH = 'replicate-share-stable-set-id';

export type ReplicationPhase =
  'preparing' | 'snapshotting' | 'transferring' | 'committing' | 'pruning' | 'done' | 'failed';

export interface ReplicationProgress {
  phase: ReplicationPhase;
  snapshotSetId?: string;
  incremental?: boolean;
  portions: { portion: string; sourceNode: string; destNode: string; state: 'pending' | 'done'; bytes?: number }[];
}

export interface ReplicationResult {
  outcome: 'replicated' | 'skipped';
  reason?: string;
  snapshotSetId?: string;
  incremental?: boolean;
  bytes?: number;
  seconds?: number;
}

export const progressQuery = defineQuery<ReplicationProgress>('progress');

/** A base copy may take as long as it takes; an incremental run must end before the next one is due. */
function deadlineMs(rpoSeconds: number, incremental: boolean): number {
  return incremental ? Math.max(rpoSeconds, 60) * 1000 : 24 * 3600 * 1000;
}

export async function replicateShareWorkflow(input: ReplicateShareInput): Promise<ReplicationResult> {
  const progress: ReplicationProgress = { phase: 'preparing', portions: [] };
  setHandler(progressQuery, () => progress);
  const local = patched(LOCAL_STEPS_PATCH);
  const quick = local ? localSteps : steps;

  const plan = await quick.prepareReplication({ policyId: input.policyId, share: input.share, trigger: input.trigger });
  upsertSearchAttributes([
    { key: POLICY, value: plan.policyName },
    { key: SHARE, value: plan.sourceShare },
    { key: FILE_SERVERS, value: [plan.source, plan.destination] },
  ]);
  if (!plan.portions.length) {
    progress.phase = 'done';
    return { outcome: 'skipped', reason: `policy '${plan.policyName}' is ${plan.policyStatus}` };
  }

  // The snapshot is taken when the run starts, so a run that waited behind another still copies the newest data.
  // The set id must not change when a workflow task is executed again (a worker that died inside it): the local
  // activities that ran in the lost task are not recorded, and a new id would leave the snapshots some FSVMs already
  // took under the old one as an incomplete set. The run's start time is in its history; the task's clock is not.
  const takenAt = patched(STABLE_SET_ID_PATCH) ? workflowInfo().runStartTime : new Date();
  const setId = snapshotSetId(takenAt, workflowInfo().runId);
  // Expected kind of run, for its deadline; each sub-job negotiates its own base.
  const incremental = plan.hasCompleteSet;
  Object.assign(progress, {
    phase: 'snapshotting',
    snapshotSetId: setId,
    incremental,
    portions: plan.portions.map((p) => ({
      portion: p.portion,
      sourceNode: p.sourceNode,
      destNode: p.destNode,
      state: 'pending',
    })),
  });
  const kind = input.trigger === 'schedule' ? 'scheduled' : input.trigger;
  const { jobId } = await quick.startJob({
    policyId: input.policyId,
    plan,
    snapshotSetId: setId,
    kind,
    workflowId: workflowInfo().workflowId,
    ...(input.operationId ? { operationId: input.operationId } : {}),
  });

  try {
    // Keep enough sets for the retention count, and each at least a few RPOs so the base of the next run survives.
    const expiresAt = new Date(
      takenAt.getTime() + Math.max(plan.retentionCount + 2, 4) * plan.rpoSeconds * 1000,
    ).toISOString();
    const { unreachable } = await (incremental ? quick : steps).takeSnapshotSet({
      source: plan.source,
      share: plan.sourceShare,
      snapshotSetId: setId,
      nodes: [...new Set(plan.portions.map((p) => p.sourceNode))],
      expiresAt,
    });
    if (unreachable.length) log.warn('source FSVMs down; their sub-jobs wait for them', { unreachable });

    progress.phase = 'transferring';
    const results: TransferResult[] = await CancellationScope.withTimeout(
      // A final delta has no next run to catch up: clients wait for it, however long it takes.
      deadlineMs(plan.rpoSeconds, incremental && input.trigger !== 'final_delta'),
      () =>
        Promise.all(
          plan.portions.map(async (portion, i) => {
            const r = await subJobs.transferPortion({
              jobId,
              source: plan.source,
              destination: plan.destination,
              share: plan.sourceShare,
              targetShare: plan.targetShare,
              snapshotSetId: setId,
              expiresAt,
              portion,
            });
            progress.portions[i] = { ...progress.portions[i]!, state: 'done', bytes: r.bytes };
            return r;
          }),
        ),
    ).catch((err: unknown) => {
      if (isCancellation(err) && !CancellationScope.current().consideredCancelled) {
        throw ApplicationFailure.nonRetryable(
          `run did not finish within its deadline (${incremental ? `RPO ${plan.rpoSeconds}s` : '24h base copy'}); the next run catches up`,
          'DEADLINE',
        );
      }
      throw err;
    });

    progress.phase = 'committing';
    const allIncremental = results.every((r) => r.baseSnapshotId !== null);
    await (allIncremental ? quick : steps).commitSnapshotSet({
      destination: plan.destination,
      transfers: plan.portions.map((p, i) => ({ destNode: p.destNode, transferId: results[i]!.transferId })),
    });
    const stats = await quick.completeJob({
      jobId,
      policyId: input.policyId,
      share: plan.sourceShare,
      destination: plan.destination,
      targetShare: plan.targetShare,
      snapshotSetId: setId,
      snapshotTakenAt: takenAt.toISOString(),
      rpoSeconds: plan.rpoSeconds,
      portions: plan.portions.map((p) => p.portion),
      results,
    });

    progress.phase = 'pruning';
    // Pruning is housekeeping: a failure is logged and retried by the next run, it never fails a replicated set.
    const prune = local ? localHousekeeping : housekeeping;
    await Promise.all([
      prune.pruneShareSnapshots({
        fileServer: plan.source,
        share: plan.sourceShare,
        keep: plan.retentionCount,
        protect: [setId],
        origin: 'local',
      }),
      prune.pruneShareSnapshots({
        fileServer: plan.destination,
        share: plan.targetShare,
        keep: plan.retentionCount,
        protect: [setId],
        origin: 'received',
      }),
    ]).catch((err: unknown) => log.warn('pruning failed; the next run retries it', { error: String(err) }));
    progress.phase = 'done';
    return {
      outcome: 'replicated',
      snapshotSetId: setId,
      incremental: allIncremental,
      bytes: stats.bytes,
      seconds: stats.seconds,
    };
  } catch (err) {
    progress.phase = 'failed';
    const cancelled = isCancellation(err);
    const message =
      err instanceof Error
        ? err.cause instanceof Error
          ? `${err.message}: ${err.cause.message}`
          : err.message
        : String(err);
    await CancellationScope.nonCancellable(() => quick.failJob({ jobId, error: message, cancelled }));
    throw err;
  }
}
