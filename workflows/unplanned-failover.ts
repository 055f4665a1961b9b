// Unplanned failover (seed 000 [0221]-[0225]): the source may be gone. Every call to it is short and never waited on;
// each destination share is restored to its newest COMPLETE snapshot set (a half-received set is never used) and made
// read-write; clients are redirected; the source is fenced. The operation records, per share, the set used and its
// age: the data-loss window.
//
// No split brain, as far as the source lets us: before any destination copy becomes read-write, the source's copies
// are set to the fence's mode on every FSVM that answers within seconds; an FSVM that does not answer is fenced by the
// fence workflow (workflows/fence.ts) the moment it answers again, before replication may resume. Until the point of
// no return (the destination made read-write) a failure undoes what was done: schedules resumed, the fence lifted and
// the source read-write again where it answered.
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { CancellationScope, executeChild, ParentClosePolicy, startChild } from '@temporalio/workflow';
import { fenceWorkflowId, type OperationWorkflowInput, type ReadinessReport } from '../domain/operations';
import { retainedSetId } from '../domain/recovery-points';
import {
  acts,
  endFailed,
  forward,
  redirectStep,
  OperationRun,
  passGates,
  reasonOf,
  tag,
  unreliable,
  waits,
} from './operation-kit';
import { fenceWorkflow } from './fence';
import { drReadinessWorkflow, readinessChildId } from './readiness';

export interface UnplannedResult {
  shares: { policy: string; share: string; snapshotSetId: string; createdAt: string; dataLossWindowSeconds: number }[];
  overridden: string[];
  sourceUnreachable: string[];
  redirect: string;
}

export async function unplannedFailoverWorkflow(input: OperationWorkflowInput): Promise<UnplannedResult> {
  tag(input);
  const run = new OperationRun(input.operationId);
  const { shares, options } = input;
  const opId = input.operationId;
  let paused = false;
  let fenced = false;
  let pastNoReturn = false;
  try {
    await passGates(input);
    // Readiness failures do not stop an unplanned failover (the operator confirmed the data loss); they are recorded.
    const readiness = await run.step(
      'check readiness',
      () =>
        executeChild(drReadinessWorkflow, {
          workflowId: readinessChildId(input.operationId, input.kind),
          args: [
            {
              kind: 'unplanned_failover' as const,
              operationId: opId,
              source: input.source,
              shares,
              redirect: input.redirect,
              options,
            },
          ],
        }),
      (r: ReadinessReport) =>
        r.ok
          ? 'ready'
          : `overridden (confirmDataLoss): ${r.checks
              .filter((c) => !c.ok)
              .map((c) => `${c.name}: ${c.message}`)
              .join('; ')}`,
    );
    const overridden = readiness.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.message}`);
    const blocking = readiness.checks.filter(
      (c) => !c.ok && (c.name === 'gateways reachable' || c.name === 'no other operation'),
    );
    if (blocking.length) {
      // The destination itself must answer: there is nothing to fail over to otherwise.
      throw new Error(`the destination cannot take over: ${blocking.map((c) => c.message).join('; ')}`);
    }
    await acts.recordOperationResult({ operationId: opId, result: { readiness, overridden } });
    await acts.assertPrimary({ shares, primary: 'source' });

    paused = true;
    await run.step(
      'pause schedules',
      async () => {
        await acts.pauseReplication({ shares, paused: true, note: `unplanned failover ${opId}` });
        // Runs in flight stop; their half-received sets are never used (they are not complete).
        return waits.stopReplicationRuns({ shares, wait: false, exceptOperationId: opId });
      },
      (r) =>
        r.cancelled.length ? `schedules paused; cancelled ${r.cancelled.length} run(s) in flight` : 'schedules paused',
    );

    fenced = true;
    const fence = await run.step(
      'fence source',
      async () => {
        await acts.markFenced({
          fileServer: input.source,
          operationId: opId,
          mode: options.fenceMode,
          reason: `unplanned failover ${opId}`,
        });
        const r = await unreliable
          .setShareAccess({ shares, side: 'source', mode: options.fenceMode, bestEffort: true, timeoutMs: 3000 })
          .catch((err: unknown) => ({ unreachable: [`${input.source} (${reasonOf(err)})`], missing: [] as string[] }));
        try {
          await startChild(fenceWorkflow, {
            workflowId: fenceWorkflowId(input.source),
            args: [{ fileServer: input.source }],
            parentClosePolicy: ParentClosePolicy.ABANDON,
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }
        return r;
      },
      (r) =>
        r.unreachable.length
          ? `source unreachable (${r.unreachable.join(', ')}): its shares become ${options.fenceMode === 'off' ? 'off' : 'read-only'} as soon as it answers (fence workflow ${fenceWorkflowId(input.source)})`
          : `source shares are ${options.fenceMode === 'off' ? 'off' : 'read-only'} on every FSVM`,
    );

    const points = await run.step(
      'select last complete snapshot sets',
      () => acts.selectRecoveryPoints({ shares, side: 'destination' }),
      (p) => p.map((x) => `${x.share}: ${x.setId} (${x.ageSeconds}s old)`).join('; '),
    );
    await acts.recordOperationResult({
      operationId: opId,
      result: { recoveryPoints: points, dataLossWindowSeconds: Math.max(0, ...points.map((p) => p.ageSeconds)) },
    });

    await run.step(
      'restore destination shares',
      () =>
        waits.rollbackShares({
          shares: shares.map((s) => ({
            share: s,
            setId: points.find((p) => p.share === s.sourceShare && p.policy === s.policy)!.setId,
          })),
          side: 'destination',
        }),
      () => `${shares.length} share(s) rolled back to their recovery points`,
    );

    const at = new Date();
    await run.step(
      'take pre-failover snapshots',
      () =>
        acts.takeRetainedSets({
          shares: shares.map((s) => ({ share: s, setId: retainedSetId('pre-failover', at, opId) })),
          side: 'destination',
          purpose: 'pre_failover',
          operationId: opId,
          note: `what the share held when it took over (unplanned failover ${opId})`,
        }),
      (t) => `kept ${t.length} snapshot set(s)`,
    );

    // The point of no return: clients may write to the destination from here on.
    pastNoReturn = true;
    await run.step('make destination shares read-write', () =>
      run.retryForward('make destination shares read-write', async () => {
        await forward.setShareAccess({ shares, side: 'destination', mode: 'read_write' });
        await forward.setPrimary({ shares, primary: 'destination', paused: true });
      }),
    );
    const redirected = await redirectStep(run, input);
    await run.step(
      'mark destination active',
      () => Promise.resolve(),
      () => `clients write to the destination; the source is fenced; replication stays paused until it is resumed`,
    );
    const result: UnplannedResult = {
      shares: points.map((p) => ({
        policy: p.policy,
        share: p.share,
        snapshotSetId: p.setId,
        createdAt: p.createdAt,
        dataLossWindowSeconds: p.ageSeconds,
      })),
      overridden,
      sourceUnreachable: fence.unreachable,
      redirect: redirected.summary,
    };
    await acts.recordOperationResult({ operationId: opId, result: { unplanned: result } });
    await acts.finishOperation({ operationId: opId, state: 'succeeded' });
    return result;
  } catch (err) {
    if (pastNoReturn) {
      return endFailed(opId, err, '; clients write to the destination now (the point of no return was passed)');
    }
    const undone: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      if (fenced) {
        await acts.clearFence({ fileServer: input.source });
        await unreliable
          .setShareAccess({ shares, side: 'source', mode: 'read_write', bestEffort: true, timeoutMs: 3000 })
          .catch(() => undefined);
        undone.push('fence lifted');
      }
      if (paused) {
        await acts.pauseReplication({ shares, paused: false, note: `unplanned failover ${opId} undone` });
        undone.push('schedules resumed');
      }
    }).catch((undoErr: unknown) => undone.push(`undo incomplete: ${reasonOf(undoErr)}`));
    return endFailed(opId, err, undone.length ? ` (undone: ${undone.join(', ')})` : '');
  }
}
