// Saves the event history of a finished workflow as a replay fixture: test/replay.test.ts replays every fixture
// against the current workflow code, so a change that breaks running workflows (non-determinism) fails the tests.
// Usage: npm run record-history -- <workflowId> [runId]   (TEMPORAL_ADDRESS, default 127.0.0.1:7233)
import fs from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { connectClient } from '../infra/temporal';

async function main(): Promise<void> {
  const [workflowId, runId] = process.argv.slice(2);
  if (!workflowId) {
    console.error('usage: npm run record-history -- <workflowId> [runId]');
    process.exit(2);
  }
  const address = process.env.TEMPORAL_ADDRESS || '127.0.0.1:7233';
  const client = await connectClient(address, process.env.TEMPORAL_NAMESPACE || 'default');
  const handle = client.workflow.getHandle(workflowId, runId);
  const description = await handle.describe();
  if (description.status.name === 'RUNNING')
    throw new Error(`workflow '${workflowId}' is still running: record it once it has closed`);
  const history = await handle.fetchHistory();
  const dir = path.join(__dirname, '..', 'test', 'fixtures', 'histories', description.type);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${workflowId.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  fs.writeFileSync(file, historyToJSON(history));
  console.log(`wrote ${path.relative(process.cwd(), file)} (${history.events?.length ?? 0} events)`);
  await client.connection.close();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
