import { proxyActivities } from '@temporalio/workflow';
import type { ComplianceActivities, ComplianceReport } from '../activities/compliance';

const { checkRpoCompliance } = proxyActivities<ComplianceActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});

/** One pass of the RPO monitor, started every 30 s by its schedule (workers/rpo-monitor-schedule.ts). */
export async function rpoMonitorWorkflow(): Promise<ComplianceReport> {
  return checkRpoCompliance();
}
