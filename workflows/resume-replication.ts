// Resume replication after an unplanned failover, once the source answers again (seed 000 [0231]-[0236]). The
// operator chooses which side's data wins (the primary):
// - destination (the default): clients stay where the failover put them. The source's writes after the last common
//   set (made before it went down) are kept in a safety snapshot, the source is rolled back to that set and stays
//   read-only, and replication runs from the destination back to the source, incrementally from that set.
// - source: the destination's writes since the failover are kept in a safety snapshot, the destination is made
//   read-only and rolled back to the last common set, the source becomes read-write again, clients are redirected
//   back, and replication runs forward again, incrementally from that set.
// Safety snapshots are retained sets: pruning never deletes them; an operator does.
//
// No split brain: the side that is not chosen is made read-only (the fence, or the destination) before the chosen
// side is made read-write, and nothing is made read-write before the other side is confirmed read-only on every FSVM.
import { executeChild } from '@temporalio/workflow';
import type { Side } from '../domain/direction';
import type { OperationWorkflowInput, ReadinessReport } from '../domain/operations';
import { retainedSetId } from '../domain/recovery-points';
import { acts, endFailed, forward, redirectStep, OperationRun, passGates, tag, waits } from './operation-kit';
import { drReadinessWorkflow, readinessChildId } from './readiness';

export interface ResumeResult {
  primary: Side;
  shares: { policy: string; share: string; commonSet: string; safetySet: string }[];
  redirect: string;
}

export async function resumeReplicationWorkflow(input: OperationWorkflowInput): Promise<ResumeResult> {
  tag(input);
  const run = new OperationRun(input.operationId);
  const { shares, options } = input;
  const opId = input.operationId;
  const primary: Side = options.primary;
  const other: Side = primary === 'destination' ? 'source' : 'destination';
  try {
    await passGates(input);
    await run.step(
      'check readiness',
      async () => {
        const report: ReadinessReport = await executeChild(drReadinessWorkflow, {
          workflowId: readinessChildId(input.operationId, input.kind),
          args: [
            {
              kind: 'resume_replication' as const,
              operationId: opId,
              source: input.source,
              shares,
              redirect: input.redirect,
              options,
            },
          ],
        });
        // Both sides must answer: resuming writes to both.
        const blocking = report.checks.filter((c) => !c.ok && c.name !== 'recovery points');
        if (blocking.length) throw new Error(`not ready: ${blocking.map((c) => `${c.name}: ${c.message}`).join('; ')}`);
        return report;
      },
      () => 'both sides answer',
    );
    await acts.assertPrimary({ shares, primary: 'destination' });

    // Every FSVM of the source answers (readiness): the fence completes now if it had not yet.
    await run.step(
      'enforce the fence',
      async () => {
        const r = await acts.enforceFence({ fileServer: input.source });
        if (!r.done) throw new Error(`FSVMs ${r.waitingFor.join(', ')} of '${input.source}' do not answer yet`);
        await acts.setShareAccess({ shares, side: 'source', mode: 'read_only' });
        return r;
      },
      () => `the source's copies are read-only on every FSVM`,
    );

    const common = await run.step(
      'find last common snapshot sets',
      async () => {
        const c = await acts.commonSets({ shares });
        const none = c.filter((x) => !x.setId);
        if (none.length) {
          throw new Error(
            `no snapshot set common to both sides for ${none.map((n) => `'${n.share}'`).join(', ')}: replication cannot resume incrementally`,
          );
        }
        return c;
      },
      (c) => c.map((x) => `${x.share}: ${x.setId}`).join('; '),
    );
    const commonOf = (s: { sourceShare: string }) => common.find((c) => c.share === s.sourceShare)!.setId!;

    const at = new Date();
    const safety = await run.step(
      'keep divergent changes in safety snapshots',
      () =>
        acts.takeRetainedSets({
          shares: shares.map((s) => ({ share: s, setId: retainedSetId('safety', at, opId) })),
          side: other,
          purpose: 'safety',
          operationId: opId,
          note: `writes on the ${other} after ${'the last common set'}, kept when replication resumed with the ${primary} as primary (operation ${opId})`,
        }),
      (t) =>
        `kept ${t.length} safety snapshot set(s) on the ${other}: ${[...new Set(t.map((x) => x.setId))].join(', ')}`,
    );
    await acts.recordOperationResult({ operationId: opId, result: { safety, common } });

    await run.step(
      'make the other side read-only and roll it back',
      async () => {
        await acts.setShareAccess({ shares, side: other, mode: 'read_only' });
        await waits.rollbackShares({ shares: shares.map((s) => ({ share: s, setId: commonOf(s) })), side: other });
      },
      () => `the ${other}'s copies are read-only, at their last common set`,
    );

    await run.step(
      'make the primary read-write',
      () =>
        run.retryForward('make the primary read-write', async () => {
          await forward.setShareAccess({ shares, side: primary, mode: 'read_write' });
          await forward.setPrimary({ shares, primary, paused: true });
        }),
      () => `clients write to the ${primary}`,
    );

    const redirected = await redirectStep(run, input);

    await run.step(
      'resume replication',
      () =>
        run.retryForward('resume replication', async () => {
          await forward.setPrimary({ shares, primary, paused: false });
          await forward.pauseReplication({ shares, paused: false, note: `resumed by ${opId}` });
          await forward.clearFence({ fileServer: input.source, whenAllResumed: true });
          await forward.triggerRuns({ shares });
        }),
      () => `replication runs from the ${primary} to the ${other}, incrementally from the common sets`,
    );
    const result: ResumeResult = {
      primary,
      shares: shares.map((s) => ({
        policy: s.policy,
        share: s.sourceShare,
        commonSet: commonOf(s),
        safetySet: safety.find((x) => x.share === s.sourceShare)?.setId ?? '',
      })),
      redirect: redirected.summary,
    };
    await acts.recordOperationResult({ operationId: opId, result: { resume: result } });
    await acts.finishOperation({ operationId: opId, state: 'succeeded' });
    return result;
  } catch (err) {
    // Nothing before "make the primary read-write" harms the state: the fence stands, replication stays paused, the
    // safety snapshots are kept. The operation can be asked again.
    return endFailed(opId, err);
  }
}
