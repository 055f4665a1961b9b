import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { DiagnosticsActivities } from '../activities/diagnostics';

const { probeAdminDatabase } = proxyActivities<DiagnosticsActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export interface DiagnosticsResult {
  taskQueue: string;
  database: Awaited<ReturnType<DiagnosticsActivities['probeAdminDatabase']>>;
}

/** Proves a worker of this deployment runs workflows and its activities reach the admin database. */
export async function diagnosticsWorkflow(): Promise<DiagnosticsResult> {
  const database = await probeAdminDatabase();
  return { taskQueue: workflowInfo().taskQueue, database };
}
