// Policy create / update / delete (seed 000 [0202]-[0213]) as sagas: each step that changes something registers
// the compensation that undoes exactly that change; on any failure the compensations run in reverse, even if the
// workflow itself was cancelled, and the policy is left "failed" (create) or back at its previous version (update).
import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { OperationActivities } from '../activities/operations';
import type { PolicyActivities, PolicyLayout } from '../activities/policy';
import type { CreatePolicyWorkflowInput, DeletePolicyWorkflowInput, UpdatePolicyWorkflowInput } from '../domain/policy';
import { scheduleId as scheduleIdOf } from '../domain/replication';
import { FILE_SERVERS, OPERATION_KIND, POLICY } from '../domain/search-attributes';
import { inBatches, reasonOf, Saga } from './saga';

const acts = proxyActivities<PolicyActivities & OperationActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '20 seconds', maximumAttempts: 8 },
});

function tag(policy: string, source: string, destination: string, kind: string) {
  upsertSearchAttributes([
    { key: POLICY, value: policy },
    { key: FILE_SERVERS, value: [source, destination] },
    { key: OPERATION_KIND, value: kind },
  ]);
}

/**
 * Records the operation's end after its compensations ran: cancelled when an operator cancelled it (the workflow then
 * ends cancelled too), failed with the reason otherwise.
 */
async function fail(operationId: string, err: unknown, compensationErrors: string[]): Promise<never> {
  const reason = reasonOf(err);
  const detail = compensationErrors.length
    ? `${reason} (cleanup incomplete: ${compensationErrors.join('; ')})`
    : reason;
  const cancelled = isCancellation(err);
  await CancellationScope.nonCancellable(() =>
    acts.finishOperation({ operationId, state: cancelled ? 'cancelled' : 'failed', error: detail }),
  );
  if (cancelled) throw err;
  throw ApplicationFailure.nonRetryable(detail, 'POLICY_FAILED');
}

/** Adds shares to a policy: target shares, dataset maps, schedules; used by create and by update. */
async function protectShares(
  saga: Saga,
  input: { policyId: string; name: string; source: string; destination: string; rpoSeconds: number },
  layout: PolicyLayout,
): Promise<string[]> {
  await saga.step('create target shares', async () => {
    await inBatches(layout.shares, 20, async (share) => {
      const before = await acts.findShareNodes({ fileServer: input.destination, share: share.targetShare });
      const wanted = [...new Set(share.placements.map((p) => p.destNode))];
      const creating = wanted.filter((n) => !before.includes(n));
      // Registered before the call: a call that fails half-way has still created shares on some FSVMs.
      if (creating.length) {
        saga.add('create target shares', () =>
          acts.deleteTargetShare({
            policyId: input.policyId,
            destination: input.destination,
            targetShare: share.targetShare,
            sourceShare: share.sourceShare,
            nodes: creating,
          }),
        );
      }
      await acts.ensureTargetShare({
        policyId: input.policyId,
        destination: input.destination,
        layout: share,
        createdByPolicy: before.length === 0,
      });
    });
  });
  await saga.step('map datasets', async () => {
    await inBatches(layout.shares, 20, async (share) => {
      const saved = await acts.saveDatasetMap({ policyId: input.policyId, layout: share }); // one transaction
      saga.add('map datasets', () => acts.dropDatasetMap(saved));
    });
  });
  return saga.step('schedule replication', () =>
    inBatches(layout.shares, 20, async (share) => {
      const id = scheduleIdOf(input.name, share.sourceShare);
      saga.add('schedule replication', () =>
        acts.deleteReplicationSchedule({ scheduleId: id, policyId: input.policyId }),
      );
      const { scheduleId } = await acts.createReplicationSchedule({
        policyId: input.policyId,
        policyName: input.name,
        source: input.source,
        destination: input.destination,
        sourceShare: share.sourceShare,
        targetShare: share.targetShare,
        rpoSeconds: input.rpoSeconds,
      });
      return scheduleId;
    }),
  );
}

export async function createPolicyWorkflow(input: CreatePolicyWorkflowInput): Promise<{ schedules: string[] }> {
  tag(input.name, input.source, input.destination, 'policy_create');
  const saga = new Saga(input.operationId);
  let schedules: string[];
  try {
    const layout = await saga.step('validate shares', () =>
      acts.planPolicyLayout({
        policyId: input.policyId,
        source: input.source,
        destination: input.destination,
        shares: input.shares,
      }),
    );
    schedules = await protectShares(saga, { ...input, rpoSeconds: input.rpoSeconds }, layout);
    await acts.setPolicyStatus({ policyId: input.policyId, status: 'active' });
  } catch (err) {
    const reason = reasonOf(err);
    const leftovers = await saga.compensate();
    await CancellationScope.nonCancellable(() =>
      acts.setPolicyStatus({ policyId: input.policyId, status: 'failed', reason }),
    );
    return fail(input.operationId, err, leftovers);
  }
  // The first (base) copies start now rather than one interval from now. Not part of the saga: the policy is
  // complete and its schedules will start the runs anyway; tearing it down (after a run may have begun) would help
  // nobody.
  await startFirstRuns(input.operationId, schedules);
  await acts.finishOperation({ operationId: input.operationId, state: 'succeeded' });
  return { schedules };
}

async function startFirstRuns(operationId: string, schedules: string[]): Promise<void> {
  const step = 'initial replication';
  await acts.setOperationStep({ operationId, step, state: 'running' });
  try {
    await inBatches(schedules, 20, (scheduleId) => acts.triggerReplication({ scheduleId }));
    await acts.setOperationStep({ operationId, step, state: 'succeeded' });
  } catch (err) {
    await acts.setOperationStep({
      operationId,
      step,
      state: 'failed',
      detail: `${reasonOf(err)}; the schedules start the first runs at their next interval`,
    });
  }
}

export async function updatePolicyWorkflow(input: UpdatePolicyWorkflowInput): Promise<{ schedules: string[] }> {
  tag(input.name, input.source, input.destination, 'policy_update');
  const saga = new Saga(input.operationId);
  const { settings, previous } = input;
  try {
    // [0212]: pending jobs of the policy are cancelled before the change is applied.
    await saga.step('apply settings', async () => {
      await acts.cancelPendingJobs({ policyName: input.name, shares: previous.shares.map((s) => s.sourceShare) });
    });
    const layout = await saga.step('adjust shares', async () => {
      for (const removed of input.removedShares) {
        const scheduleId = scheduleIdOf(input.name, removed.sourceShare);
        await acts.deleteReplicationSchedule({ scheduleId });
        saga.add('adjust shares', () =>
          acts.createReplicationSchedule({
            policyId: input.policyId,
            policyName: input.name,
            source: input.source,
            destination: input.destination,
            sourceShare: removed.sourceShare,
            targetShare: removed.targetShare,
            rpoSeconds: previous.rpoSeconds,
          }),
        );
        await acts.retireDatasetMap({ policyId: input.policyId, sourceShare: removed.sourceShare });
      }
      return acts.planPolicyLayout({
        policyId: input.policyId,
        source: input.source,
        destination: input.destination,
        shares: input.addedShares,
      });
    });
    const added = await protectShares(saga, { ...input, rpoSeconds: settings.rpoSeconds }, layout);
    const kept = await saga.step('reschedule replication', async () => {
      const ids: string[] = [];
      for (const s of settings.shares.filter((x) => !input.addedShares.some((a) => a.sourceShare === x.sourceShare))) {
        const scheduleId = scheduleIdOf(input.name, s.sourceShare);
        if (settings.rpoSeconds !== previous.rpoSeconds) {
          await acts.setScheduleInterval({ scheduleId, rpoSeconds: settings.rpoSeconds });
          saga.add('reschedule replication', () =>
            acts.setScheduleInterval({ scheduleId, rpoSeconds: previous.rpoSeconds }),
          );
        }
        ids.push(scheduleId);
      }
      return ids;
    });
    await acts.removePolicyShares({
      policyId: input.policyId,
      sourceShares: input.removedShares.map((r) => r.sourceShare),
    });
    await acts.setPolicyStatus({ policyId: input.policyId, status: 'active' });
    for (const scheduleId of added) await acts.triggerReplication({ scheduleId });
    await acts.finishOperation({ operationId: input.operationId, state: 'succeeded' });
    return { schedules: [...kept, ...added] };
  } catch (err) {
    const reason = reasonOf(err);
    const leftovers = await saga.compensate();
    await CancellationScope.nonCancellable(() =>
      acts.restorePolicySettings({
        policyId: input.policyId,
        version: input.version - 1,
        rpoSeconds: previous.rpoSeconds,
        retentionCount: previous.retentionCount,
        shares: previous.shares,
        reason,
      }),
    );
    return fail(input.operationId, err, leftovers);
  }
}

export async function deletePolicyWorkflow(input: DeletePolicyWorkflowInput): Promise<void> {
  tag(input.name, input.source, input.destination, 'policy_delete');
  const saga = new Saga(input.operationId);
  try {
    // [0213]: schedules go first so no new job starts, then pending jobs are cancelled.
    await saga.step('stop schedules', async () => {
      for (const s of input.shares) {
        await acts.deleteReplicationSchedule({
          scheduleId: s.scheduleId ?? scheduleIdOf(input.name, s.sourceShare),
        });
      }
      await acts.cancelPendingJobs({ policyName: input.name, shares: input.shares.map((s) => s.sourceShare) });
    });
    await saga.step('remove dataset maps', async () => {
      for (const s of input.shares)
        await acts.retireDatasetMap({ policyId: input.policyId, sourceShare: s.sourceShare });
    });
    await saga.step('remove policy', () => acts.removePolicy({ policyId: input.policyId }));
    await acts.finishOperation({ operationId: input.operationId, state: 'succeeded' });
  } catch (err) {
    // Deleting cannot be rolled back once schedules are gone; the policy is left failed for the operator to retry.
    const reason = reasonOf(err);
    await CancellationScope.nonCancellable(() =>
      acts.setPolicyStatus({ policyId: input.policyId, status: 'failed', reason }),
    );
    return fail(input.operationId, err, []);
  }
}
