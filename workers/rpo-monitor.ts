// The monitor loop (workflows/rpo-monitor.ts). Every worker process ensures it runs at start: starting it is
// idempotent (one workflow id, "use the existing run"), so any number of workers (or restarts) leave exactly one.
import { WorkflowIdConflictPolicy, type Client } from '@temporalio/client';
import { RPO_MONITOR_WORKFLOW_TYPE } from '../domain/workflow-types';

export const RPO_MONITOR_WORKFLOW_ID = 'rpo-monitor';
/** The schedule that started one single-pass monitor run every 30 s before the loop; removed where it still exists. */
const OLD_SCHEDULE_ID = 'schedule/rpo-monitor';

export async function ensureRpoMonitor(client: Client, taskQueue: string, everyMs = 30_000): Promise<void> {
  try {
    await client.schedule.getHandle(OLD_SCHEDULE_ID).delete();
  } catch (err) {
    if (!(err instanceof Error) || err.name !== 'ScheduleNotFoundError') throw err;
  }
  await client.workflow.start(RPO_MONITOR_WORKFLOW_TYPE, {
    workflowId: RPO_MONITOR_WORKFLOW_ID,
    taskQueue,
    args: [{ everyMs }],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    memo: { purpose: 'raises and clears RPO alerts, ends operations whose workflow is gone' },
  });
}
