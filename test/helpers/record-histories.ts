import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

/**
 * RECORD_HISTORIES=1 npx jest test/replication: saves one completed and one failed history per workflow type of this
 * lab as replay fixtures (test/replay.test.ts), unless that type already has one of that outcome.
 */
export async function recordHistories(temporal: Client, taskQueue: string): Promise<void> {
  const dir = path.join(__dirname, '..', 'fixtures', 'histories');
  const query = `TaskQueue = '${taskQueue}' AND (ExecutionStatus = 'Completed' OR ExecutionStatus = 'Failed')`;
  for await (const w of temporal.workflow.list({ query })) {
    const typeDir = path.join(dir, w.type);
    const status = (w.status.name ?? 'closed').toLowerCase();
    // One history per type and outcome: the happy path and the failure (compensation) path.
    if (fs.existsSync(typeDir) && fs.readdirSync(typeDir).some((f) => f.startsWith(`${status}-`))) continue;
    fs.mkdirSync(typeDir, { recursive: true });
    const history = await temporal.workflow.getHandle(w.workflowId, w.runId).fetchHistory();
    const file = `${status}-${w.workflowId.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`;
    fs.writeFileSync(path.join(typeDir, file), historyToJSON(history));
  }
}
