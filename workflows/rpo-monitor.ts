import { continueAsNew, patched, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { ComplianceActivities, ComplianceReport } from '../activities/compliance';
import type { OperationActivities } from '../activities/operations';

const { checkRpoCompliance, reconcileOperations } = proxyActivities<ComplianceActivities & OperationActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});

/** Runs recorded before the monitor became one long-running loop were single passes started by a schedule. */
export const MONITOR_LOOP_PATCH = 'rpo-monitor-loop';

/** A run continues as new after this many passes (or earlier if Temporal suggests it), keeping its history short. */
const PASSES_PER_RUN = 200;

export interface MonitorInput {
  /** Time between passes; default 30 s. */
  everyMs?: number;
  /** Stop after this many passes and return the last report (tests); default: run for ever. */
  passes?: number;
}

/**
 * The monitor: every 30 s, raise or clear RPO alerts (activities/compliance.ts) and end operations whose workflow is
 * gone or stuck (activities/operations.ts). One long-running workflow (id `rpo-monitor`, started by every worker,
 * which finds it running), not one execution per pass: those filled the Web UI with 2,880 runs a day.
 */
export async function rpoMonitorWorkflow(input: MonitorInput = {}): Promise<ComplianceReport> {
  if (!patched(MONITOR_LOOP_PATCH)) return checkRpoCompliance();
  const everyMs = input.everyMs ?? 30_000;
  for (let pass = 1; ; pass++) {
    const report = await checkRpoCompliance();
    await reconcileOperations();
    if (input.passes !== undefined && pass >= input.passes) return report;
    if (input.passes === undefined && (pass >= PASSES_PER_RUN || workflowInfo().continueAsNewSuggested)) {
      await continueAsNew<typeof rpoMonitorWorkflow>({ everyMs });
    }
    await sleep(everyMs);
  }
}
