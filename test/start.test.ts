// `npm start` as an operator runs it: the embedded default comes up (Temporal with Web UI, PostgreSQL, worker, API),
// Ctrl-C stops everything, a second start reuses the data; a bad setting fails fast, names the variable and leaves
// nothing running; TEMPORAL_ADDRESS / DATABASE_URL switch to external services.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeCluster } from '../infra/embedded-postgres-placement';
import { assertPortFree } from '../infra/temporal-dev-server';
import { connectClient } from '../infra/temporal';
import { diagnosticsWorkflow } from '../workflows';
import { createTestDatabase, testEnvironment, uniqueName } from './helpers/environment';
import { expectAllPortsFree, startEnv, startOrchestrator, startPorts, waitForHealth } from './helpers/start-process';

describe('npm start (embedded default)', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-start-'));
  });
  afterEach(() => {
    removeCluster(path.join(dataDir, 'postgres')); // as root it may live outside dataDir (a 0700 mkdtemp folder)
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('brings up Temporal with its Web UI, PostgreSQL, worker and API; Ctrl-C stops all; a restart reuses the data', async () => {
    const p = await startPorts();
    const first = startOrchestrator(startEnv(p, dataDir));
    const api = `http://127.0.0.1:${p.api}`;
    try {
      const health = await waitForHealth(api, first);
      expect(health).toMatchObject({ status: 'ok', temporal: { status: 'up' }, database: { status: 'up' } });
      expect(health.temporal.workers).toBeGreaterThanOrEqual(1);
      expect(health.temporal.webUi).toBe(`http://127.0.0.1:${p.ui}`);
      expect((await fetch(`http://127.0.0.1:${p.ui}/`)).status).toBe(200);

      // Work done in the first run must survive the restart.
      const client = await connectClient(`127.0.0.1:${p.temporal}`, 'default');
      const workflowId = uniqueName('diag');
      const result = await client.workflow.execute(diagnosticsWorkflow, { taskQueue: 'fs-dr', workflowId });
      expect(result.database.reachable).toBe(true);
      await client.connection.close();
    } finally {
      first.interrupt();
    }
    expect(await first.exited).toBe(0);
    // LOG_FORMAT=json: every line is JSON (the Temporal SDK's native lines included)
    expect(
      first
        .output()
        .split('\n')
        .filter((l) => l.trim() && !l.startsWith('{')),
    ).toEqual([]);
    await expectAllPortsFree(p);
    expect(fs.existsSync(path.join(dataDir, 'temporal.sqlite'))).toBe(true);
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);

    const second = startOrchestrator(startEnv(p, dataDir));
    try {
      await waitForHealth(api, second);
      const client = await connectClient(`127.0.0.1:${p.temporal}`, 'default');
      const list = client.workflow.list({ query: `WorkflowType = 'diagnosticsWorkflow'` });
      const seen: string[] = [];
      for await (const wf of list) seen.push(wf.status.name);
      await client.connection.close();
      expect(seen).toEqual(['COMPLETED']);
      expect(second.output()).not.toMatch(/initdb/);
    } finally {
      second.interrupt();
    }
    expect(await second.exited).toBe(0);
    await expectAllPortsFree(p);
  }, 240_000);

  it('fails fast on bad settings, naming every bad variable, and starts nothing', async () => {
    const p = await startPorts();
    const proc = startOrchestrator({ ...startEnv(p, dataDir), API_PORT: 'eighty', TEMPORAL_ADDRESS: 'not an address' });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toMatch(/API_PORT/);
    expect(proc.output()).toMatch(/TEMPORAL_ADDRESS: must be host:port/);
    expect(fs.existsSync(path.join(dataDir, 'postgres'))).toBe(false);
    await expectAllPortsFree(p);
  });

  it('in production requires external Temporal, database and a secrets key', async () => {
    const p = await startPorts();
    const proc = startOrchestrator({ ...startEnv(p, dataDir), NODE_ENV: 'production' });
    expect(await proc.exited).toBe(1);
    for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'SECRETS_KEY']) expect(proc.output()).toContain(name);
  });

  it('stops what it already started when a later step fails (bad TEMPORAL_CLI_PATH)', async () => {
    const p = await startPorts();
    const proc = startOrchestrator({
      ...startEnv(p, dataDir),
      TEMPORAL_CLI_PATH: path.join(dataDir, 'no-such-temporal'),
    });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toMatch(/TEMPORAL_CLI_PATH: '.*no-such-temporal' is not an executable file/);
    expect(proc.output()).toMatch(/embedded PostgreSQL stopped/);
    await expectAllPortsFree(p);
  });

  it('refuses a port that is already taken, before starting anything', async () => {
    const p = await startPorts();
    const net = await import('node:net');
    const blocker = net.createServer().listen(p.api, '127.0.0.1');
    try {
      const proc = startOrchestrator(startEnv(p, dataDir));
      expect(await proc.exited).toBe(1);
      expect(proc.output()).toMatch(new RegExp(`port ${p.api} \\(API\\) is already in use`));
      expect(fs.existsSync(path.join(dataDir, 'postgres'))).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('uses TEMPORAL_ADDRESS and DATABASE_URL instead of embedded servers when they are set', async () => {
    const p = await startPorts();
    const database = await createTestDatabase();
    const temporalAddress = testEnvironment().temporalAddress;
    const proc = startOrchestrator({
      ...startEnv(p, dataDir),
      TEMPORAL_ADDRESS: temporalAddress,
      DATABASE_URL: database.url,
      TEMPORAL_TASK_QUEUE: uniqueName('tq'),
    });
    try {
      const health = await waitForHealth(`http://127.0.0.1:${p.api}`, proc);
      expect(health.temporal.address).toBe(temporalAddress);
      // Neither embedded server was started.
      await assertPortFree(p.db, 'PostgreSQL');
      await assertPortFree(p.temporal, 'Temporal');
      expect(fs.existsSync(path.join(dataDir, 'postgres'))).toBe(false);
      expect(proc.output()).not.toContain(database.url); // the password in the URL is never logged
    } finally {
      proc.interrupt();
      await proc.exited;
      await database.drop();
    }
  });
});
