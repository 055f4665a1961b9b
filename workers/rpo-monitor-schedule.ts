// The schedule that runs the RPO monitor. Every worker process ensures it at start: creating it is idempotent, so
// any number of workers (or restarts) leave exactly one.
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';

export const RPO_MONITOR_SCHEDULE_ID = 'schedule/rpo-monitor';

export async function ensureRpoMonitorSchedule(client: Client, taskQueue: string, everyMs = 30_000): Promise<void> {
  try {
    await client.schedule.create({
      scheduleId: RPO_MONITOR_SCHEDULE_ID,
      spec: { intervals: [{ every: everyMs }] },
      action: { type: 'startWorkflow', workflowType: 'rpoMonitorWorkflow', workflowId: 'rpo-monitor', taskQueue },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: everyMs },
      memo: { purpose: 'raises and clears RPO alerts' },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
}
