// Planned failover and planned failback (seed 000 [0226]-[0230], [0237]-[0241]): clients move from the side they
// write to now to the other side with no data loss. A failback is the same switchover backwards.
//
// No split brain. A share has at most one read-write copy at every moment, whatever crashes, retries or timeouts
// happen, because:
//   1. the side clients leave is made read-only (or off) on every FSVM, confirmed by each gateway, before anything
//      else; an FSVM that does not answer fails the step (it is retried), it is never skipped;
//   2. the side clients move to is made read-write only after that, in a later step of the same workflow: Temporal
//      runs a workflow's steps in order and a retried step repeats only itself;
//   3. until that step starts (the point of no return) a failure undoes, and the undo makes the new side read-only
//      again BEFORE it makes the old side read-write, in case a timed-out attempt of step 2 had reached a gateway;
//   4. from that step on nothing is undone: the remaining steps (redirect, records) retry forward, reporting why they
//      wait, and never touch the access modes again;
//   5. every gateway call sets a mode (idempotent), it never toggles one.
// Replication cannot write into the new side meanwhile: the schedules are paused and the runs stopped first, and the
// gateway refuses to commit a received snapshot into a read-write share.
import { CancellationScope, executeChild } from '@temporalio/workflow';
import type { Side } from '../domain/direction';
import { switchoverSides } from '../domain/operation-rules';
import type { OperationWorkflowInput, ReadinessReport } from '../domain/operations';
import { retainedSetId } from '../domain/recovery-points';
import { acts, endFailed, forward, redirectStep, OperationRun, passGates, reasonOf, tag, waits } from './operation-kit';
import { drReadinessWorkflow, readinessChildId } from './readiness';
import { replicateShareWorkflow, type ReplicationResult } from './replicate-share';

export async function plannedFailoverWorkflow(input: OperationWorkflowInput): Promise<SwitchoverResult> {
  return switchover(input, 'planned_failover');
}

export async function failbackWorkflow(input: OperationWorkflowInput): Promise<SwitchoverResult> {
  return switchover(input, 'failback');
}

export interface SwitchoverResult {
  shares: { policy: string; share: string; finalSet: string; bytes: number; preFailoverSet: string }[];
  redirect: string;
}

const sideName = (side: Side) => (side === 'source' ? 'source' : 'destination');

async function switchover(
  input: OperationWorkflowInput,
  kind: 'planned_failover' | 'failback',
): Promise<SwitchoverResult> {
  tag(input);
  const { from, to } = switchoverSides(kind);
  const run = new OperationRun(input.operationId);
  const { shares, options } = input;
  const opId = input.operationId;
  const steps = {
    pause: 'pause schedules',
    stop: 'stop replication runs',
    readOnly: kind === 'planned_failover' ? 'make source shares read-only' : 'make destination shares read-only',
    delta: 'final delta sync',
    verify: kind === 'planned_failover' ? 'verify destination' : 'verify source',
    snapshots: 'take pre-failover snapshots',
    readWrite: kind === 'planned_failover' ? 'make destination shares read-write' : 'make source shares read-write',
    redirect: 'redirect clients',
    mark: kind === 'planned_failover' ? 'mark destination active' : 'restore forward replication',
  };
  // What to undo, newest first, if a step fails before the point of no return.
  let paused = false;
  let leftSideTouched = false;
  let pastNoReturn = false;
  try {
    await passGates(input);
    const readiness = await run.step(
      'check readiness',
      async () => {
        const report: ReadinessReport = await executeChild(drReadinessWorkflow, {
          workflowId: readinessChildId(input.operationId, kind),
          args: [{ kind, operationId: opId, source: input.source, shares, redirect: input.redirect, options }],
        });
        if (!report.ok) {
          throw new Error(
            `not ready: ${report.checks
              .filter((c) => !c.ok)
              .map((c) => `${c.name}: ${c.message}`)
              .join('; ')}`,
          );
        }
        return report;
      },
      (r) => r.checks.map((c) => `${c.name}: ${c.message}`).join('; '),
    );
    await acts.recordOperationResult({ operationId: opId, result: { readiness } });
    await acts.assertPrimary({ shares, primary: from });

    paused = true;
    await run.step(steps.pause, () =>
      acts.pauseReplication({ shares, paused: true, note: `${kind} ${opId}: no new runs until it ends` }),
    );
    const stopped = await run.step(
      steps.stop,
      () => waits.stopReplicationRuns({ shares, wait: options.waitForRunningJobs, exceptOperationId: opId }),
      (r) =>
        r.waitedFor.length
          ? `waited for ${r.waitedFor.length} running run(s): ${r.waitedFor.join(', ')}`
          : r.cancelled.length
            ? `cancelled ${r.cancelled.length} running run(s): ${r.cancelled.join(', ')}`
            : 'no replication run was going on',
    );
    await acts.recordOperationResult({ operationId: opId, result: { runs: stopped } });

    leftSideTouched = true;
    const cutOff = await run.step(
      steps.readOnly,
      async () => {
        // Who is cut off is reported before it happens (where the FSVMs serve SMB through smbd).
        const open = await acts
          .openFiles({ shares, side: from })
          .catch((err: unknown) => [
            { share: '*', error: reasonOf(err), openFiles: [] as { path: string; client: string; user: string }[] },
          ]);
        await acts.recordOperationResult({ operationId: opId, result: { openFiles: open } });
        await acts.setShareAccess({ shares, side: from, mode: options.accessAfter });
        return open;
      },
      (open) => {
        const n = open.reduce((k, o) => k + o.openFiles.length, 0);
        return `${sideName(from)} shares are ${options.accessAfter === 'off' ? 'off' : 'read-only'}; ${
          n
            ? `${n} open file(s) were cut off: ${open
                .flatMap((o) => o.openFiles.map((f) => `${o.share}/${f.path} (${f.user}@${f.client})`))
                .slice(0, 20)
                .join(', ')}`
            : 'no client had a file open'
        }`;
      },
    );
    void cutOff;

    // The final delta: one replication run per share from a snapshot set taken now that writes have stopped.
    const deltas = await run.step(
      steps.delta,
      () =>
        Promise.all(
          shares.map(async (s) => {
            const r: ReplicationResult = await executeChild(replicateShareWorkflow, {
              workflowId: `operation/${opId}/final-delta/${s.policy}/${s.sourceShare}`,
              args: [{ policyId: s.policyId, share: s.sourceShare, trigger: 'final_delta', operationId: opId }],
            });
            if (r.outcome !== 'replicated' || !r.snapshotSetId) {
              throw new Error(`final delta of share '${s.sourceShare}' did not run: ${r.reason ?? r.outcome}`);
            }
            return { share: s, setId: r.snapshotSetId, bytes: r.bytes ?? 0 };
          }),
        ),
      (d) =>
        `${d.length} share(s), ${d.reduce((n, x) => n + x.bytes, 0)} bytes: ${d.map((x) => `${x.share.sourceShare} ${x.setId}`).join(', ')}`,
    );

    await run.step(
      steps.verify,
      () => waits.verifyShares({ shares: deltas.map((d) => ({ share: d.share, setId: d.setId })), from, to }),
      (v) => `${v.portions} portion(s) equal their final snapshot set (${v.files} files, ${v.bytes} bytes)`,
    );

    const at = new Date();
    const preFailover = await run.step(
      steps.snapshots,
      () =>
        acts.takeRetainedSets({
          shares: shares.map((s) => ({ share: s, setId: retainedSetId('pre-failover', at, `${opId}`) })),
          side: to,
          purpose: 'pre_failover',
          operationId: opId,
          note: `what the share held when it took over (${kind} ${opId})`,
        }),
      (taken) => `kept ${taken.length} snapshot set(s): ${[...new Set(taken.map((t) => t.setId))].join(', ')}`,
    );

    // The point of no return: from here on clients may write to the new side, and nothing is undone.
    pastNoReturn = true;
    await run.step(steps.readWrite, () =>
      run.retryForward(steps.readWrite, async () => {
        await forward.setShareAccess({ shares, side: to, mode: 'read_write' });
        await forward.setPrimary({ shares, primary: to, paused: true });
      }),
    );

    const redirected = await redirectStep(run, input);

    // Replication goes on in the new direction (a failback always; a failover if the request asked for it).
    const resume = kind === 'failback' || options.startReverseReplication;
    await run.step(
      steps.mark,
      () =>
        run.retryForward(steps.mark, async () => {
          await forward.setPrimary({ shares, primary: to, paused: !resume });
          if (resume) {
            await forward.pauseReplication({ shares, paused: false, note: `${kind} ${opId} done` });
            await forward.triggerRuns({ shares });
          }
        }),
      () =>
        resume
          ? `clients write to the ${sideName(to)}; replication runs from it to the ${sideName(from)}`
          : `clients write to the ${sideName(to)}; replication is paused until it is resumed`,
    );
    const result: SwitchoverResult = {
      shares: deltas.map((d) => ({
        policy: d.share.policy,
        share: d.share.sourceShare,
        finalSet: d.setId,
        bytes: d.bytes,
        preFailoverSet: preFailover.find((p) => p.share === d.share.sourceShare)?.setId ?? '',
      })),
      redirect: redirected.summary,
    };
    await acts.recordOperationResult({ operationId: opId, result: { switchover: result } });
    await acts.finishOperation({ operationId: opId, state: 'succeeded' });
    return result;
  } catch (err) {
    if (pastNoReturn) {
      return endFailed(
        opId,
        err,
        `; clients write to the ${sideName(to)} now (the point of no return was passed): fix the cause and redirect or resume by hand`,
      );
    }
    // Before the point of no return everything goes back as it was, new side first (see the header).
    const undone: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      if (leftSideTouched) {
        await acts.setShareAccess({ shares, side: to, mode: 'read_only' });
        await acts.setShareAccess({ shares, side: from, mode: 'read_write' });
        await run.compensated(steps.readOnly, `${sideName(from)} shares are read-write again`);
        undone.push(`${sideName(from)} shares read-write again`);
      }
      if (paused) {
        await acts.pauseReplication({ shares, paused: false, note: `${kind} ${opId} undone` });
        await run.compensated(steps.pause, 'schedules resumed');
        undone.push('schedules resumed');
      }
    }).catch((undoErr: unknown) => {
      undone.push(`undo incomplete: ${reasonOf(undoErr)}`);
    });
    return endFailed(opId, err, undone.length ? ` (undone: ${undone.join(', ')})` : '');
  }
}
