// DR readiness (seed 001) as a workflow: run alone (POST /operations/dr-readiness, its own operation and steps), as
// the first step of every failover (a child workflow whose report decides whether the failover goes on), and for a
// dry run's plan. Each check answers in words; none changes anything.
import type { Side } from '../domain/direction';
import {
  operationWorkflowId,
  type OperationKindName,
  type OperationWorkflowInput,
  type ReadinessCheck,
  type ReadinessReport,
} from '../domain/operations';
import { acts, endFailed, OperationRun, probes, reasonOf, tag } from './operation-kit';

export interface ReadinessInput {
  kind: OperationKindName;
  operationId?: string;
  source: string;
  shares: OperationWorkflowInput['shares'];
  redirect: OperationWorkflowInput['redirect'];
  options: Pick<OperationWorkflowInput['options'], 'maxLagSeconds' | 'primary'>;
}

/** The side a kind makes primary: it must be reachable, have room and have recovery points. */
function takingOver(kind: OperationKindName, primary: 'source' | 'destination'): Side {
  if (kind === 'failback') return 'source';
  if (kind === 'resume_replication') return primary;
  return 'destination';
}

/** Runs every check; a check that cannot run at all is reported as failed with why, never thrown. */
export async function readinessChecks(input: ReadinessInput): Promise<ReadinessReport> {
  const side = takingOver(input.kind, input.options.primary);
  const destinations = [...new Set(input.shares.map((s) => s.destination))];
  const guard = async (name: string, run: () => Promise<ReadinessCheck>): Promise<ReadinessCheck> => {
    try {
      return await run();
    } catch (err) {
      return { name, ok: false, message: `could not check: ${reasonOf(err)}` };
    }
  };
  // An unplanned failover's source may be down: that is reported (and overridden), not waited for.
  const sourceMayBeDown = input.kind === 'unplanned_failover';
  const checks = await Promise.all([
    guard('gateways reachable', async () => ({
      ...(await probes.checkGateways({
        fileServers: sourceMayBeDown ? destinations : [input.source, ...destinations],
        timeoutMs: 3000,
      })),
      name: 'gateways reachable',
    })),
    ...(sourceMayBeDown
      ? [
          guard('source gateways reachable', async () => ({
            ...(await probes.checkGateways({ fileServers: [input.source], timeoutMs: 3000 })),
            name: 'source gateways reachable',
          })),
        ]
      : []),
    guard('capacity', () => probes.checkCapacity({ shares: input.shares, side })),
    guard('recovery points', () =>
      acts.checkRecoveryPoints({
        shares: input.shares,
        side,
        maxLagSeconds:
          input.kind === 'planned_failover' || input.kind === 'failback' ? input.options.maxLagSeconds : 10 ** 9,
      }),
    ),
    guard('no other operation', () =>
      acts.checkNoOtherOperation({
        fileServers: [input.source, ...destinations],
        ...(input.operationId ? { operationId: input.operationId } : {}),
      }),
    ),
    guard('directory', async () => {
      const fileServer = input.redirect?.name ?? input.source;
      const d = await probes.checkDirectory({ fileServer });
      // No directory settings is a fact to report, not a failure: the plan says clients are not redirected.
      return { name: 'directory', ok: d.ok || !d.configured, message: d.summary };
    }),
  ]);
  const named = checks.map((c) => ({ name: c.name, ok: c.ok, message: c.message }));
  return { ok: named.every((c) => c.ok), checks: named };
}

/** The readiness check as an operation of its own, or (without an operation id) as a failover's first step. */
export async function drReadinessWorkflow(input: OperationWorkflowInput | ReadinessInput): Promise<ReadinessReport> {
  const standalone = 'requestedBy' in input && input.kind === 'dr_readiness';
  if (!standalone) return readinessChecks(input);
  tag(input);
  const run = new OperationRun(input.operationId);
  let report: ReadinessReport;
  try {
    report = await run.step(
      'gateways reachable',
      () => readinessChecks(input),
      (r) =>
        r.checks
          .filter((c) => c.name.endsWith('gateways reachable'))
          .map((c) => c.message)
          .join('; '),
    );
    // The report's other checks, each as the step the operator sees.
    const steps: [string, string][] = [
      ['gateways reachable', 'gateways reachable'],
      ['destination capacity', 'capacity'],
      ['recovery points', 'recovery points'],
      ['no other operation', 'no other operation'],
      ['directory', 'directory'],
    ];
    for (const [step, check] of steps) {
      const c = report.checks.find((x) => x.name === check)!;
      if (c.ok) {
        if (step !== 'gateways reachable')
          await acts.setOperationStep({ operationId: input.operationId, step, state: 'succeeded', detail: c.message });
        continue;
      }
      await acts.setOperationStep({ operationId: input.operationId, step, state: 'failed', detail: c.message });
    }
    await acts.recordOperationResult({ operationId: input.operationId, result: { readiness: report } });
  } catch (err) {
    return endFailed(input.operationId, err);
  }
  if (!report.ok) {
    const failing = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.message}`);
    return endFailed(input.operationId, new Error(`not ready: ${failing.join('; ')}`));
  }
  await acts.finishOperation({ operationId: input.operationId, state: 'succeeded' });
  return report;
}

/**
 * The id a failover's readiness child runs under: its parent's id and a suffix, readable in the Web UI. Derived from
 * the operation (the input), not from workflowInfo(), so that a replay with another workflow id sees the same child.
 */
export function readinessChildId(operationId: string, kind: string): string {
  return `${operationWorkflowId(kind, operationId)}/readiness`;
}
