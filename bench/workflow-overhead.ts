// What a durable step costs: the same database probe run as a direct function call (yardstick) and as a Temporal
// workflow with one activity, on the embedded default (dev server with SQLite, embedded PostgreSQL, one worker).
// The dev server has one history shard on SQLite: production Temporal clusters are far faster; figures here are
// the floor an operator sees on the embedded default.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createDiagnosticsActivities } from '../activities/diagnostics';
import { createDb } from '../infra/database';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { applyMigrations } from '../infra/migrate';
import { createSecretBox } from '../infra/secrets';
import { connectClient } from '../infra/temporal';
import { startDevServer } from '../infra/temporal-dev-server';
import { freePort } from '../test/helpers/ports';
import { createWorker } from '../workers/worker';
import { diagnosticsWorkflow } from '../workflows';
import type { Benchmark } from './run';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

const bench: Benchmark = async ({ quick, log }) => {
  const sequential = quick ? 30 : 200;
  const concurrent = quick ? 60 : 400;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-bench-'));
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort(), database: 'fsdr' });
  const temporal = await startDevServer({
    dbFile: path.join(dir, 'temporal.sqlite'),
    port: await freePort(),
    uiPort: 0,
    ui: false,
    namespace: 'default',
  });
  try {
    await applyMigrations(pg.url);
    const db = createDb(pg.url);
    const direct = createDiagnosticsActivities({ db });
    const connection = await NativeConnection.connect({ address: temporal.address });
    const client = await connectClient(temporal.address, 'default');
    const secrets = createSecretBox(randomBytes(32));
    const worker = await createWorker({
      connection,
      namespace: 'default',
      taskQueue: 'bench',
      db,
      secrets,
      temporal: client,
    });
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
    const running = worker.run();

    await direct.probeAdminDatabase(); // warm the pool
    const directTimes: number[] = [];
    for (let i = 0; i < sequential; i++) {
      const t = performance.now();
      await direct.probeAdminDatabase();
      directTimes.push(performance.now() - t);
    }
    directTimes.sort((a, b) => a - b);
    log(
      `direct call: p50 ${round(percentile(directTimes, 50))} ms, p95 ${round(percentile(directTimes, 95))} ms (${sequential} calls)`,
    );

    await client.workflow.execute(diagnosticsWorkflow, { taskQueue: 'bench', workflowId: 'warm-up' });
    const wfTimes: number[] = [];
    for (let i = 0; i < sequential; i++) {
      const t = performance.now();
      await client.workflow.execute(diagnosticsWorkflow, { taskQueue: 'bench', workflowId: `seq-${i}` });
      wfTimes.push(performance.now() - t);
    }
    wfTimes.sort((a, b) => a - b);
    log(
      `workflow:    p50 ${round(percentile(wfTimes, 50))} ms, p95 ${round(percentile(wfTimes, 95))} ms (${sequential} runs, one at a time)`,
    );

    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrent }, (_, i) =>
        client.workflow.execute(diagnosticsWorkflow, { taskQueue: 'bench', workflowId: `par-${i}` }),
      ),
    );
    const perSecond = concurrent / ((performance.now() - t0) / 1000);
    log(`throughput:  ${round(perSecond, 1)} workflows/s (${concurrent} started together, one worker, dev server)`);

    clearInterval(sampler);
    worker.shutdown();
    await running;
    await connection.close();
    await client.connection.close();
    await db.$disconnect();
    return {
      direct_p50_ms: round(percentile(directTimes, 50)),
      workflow_p50_ms: round(percentile(wfTimes, 50)),
      workflow_p95_ms: round(percentile(wfTimes, 95)),
      overhead_ratio: round(percentile(wfTimes, 50) / percentile(directTimes, 50), 1),
      workflows_per_s: round(perSecond, 1),
      process_peak_rss_mb: Math.round(peakRss / 2 ** 20),
      server: 'temporal dev server (SQLite), embedded PostgreSQL 17',
    };
  } finally {
    await temporal.stop();
    await pg.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

export default bench;
