// The real worker bootstrap and client against the real dev server and PostgreSQL: a deployment whose worker cannot
// run workflows or reach the admin database is caught here, and /healthz tells an operator which part is down.
import request from 'supertest';
import { createApp } from '../api/app';
import { readMigrations } from '../infra/migrate';
import { createLogger } from '../infra/logger';
import { diagnosticsWorkflow } from '../workflows';
import { createTestDatabase, testEnvironment, uniqueName, type TestDatabase } from './helpers/environment';
import { startTestWorker, type TestWorker } from './helpers/worker';

const logger = createLogger({ log: { level: 'silent', format: 'json' } });

describe('worker bootstrap and client (smoke)', () => {
  let database: TestDatabase;
  let tw: TestWorker;

  beforeAll(async () => {
    database = await createTestDatabase();
    tw = await startTestWorker({ db: database.db });
  });
  afterAll(async () => {
    await tw?.stop();
    await database?.drop();
  });

  it('runs a workflow whose activity reaches the migrated admin database', async () => {
    const result = await tw.client.workflow.execute(diagnosticsWorkflow, {
      taskQueue: tw.taskQueue,
      workflowId: uniqueName('diagnostics'),
    });
    const migrations = readMigrations();
    expect(result.taskQueue).toBe(tw.taskQueue);
    expect(result.database.reachable).toBe(true);
    expect(result.database.latestMigration).toBe(migrations[migrations.length - 1]!.name);
    expect(result.database.serverVersion).toMatch(/^\d+\.\d+/);
  });

  it('GET /healthz is 200 with Temporal, its workers and the database up', async () => {
    const app = createApp({
      db: database.db,
      temporal: tw.client,
      temporalAddress: testEnvironment().temporalAddress,
      taskQueue: tw.taskQueue,
      logger,
    });
    const res = await request(app).get('/healthz').expect(200);
    expect(res.body).toMatchObject({
      status: 'ok',
      temporal: { status: 'up', namespace: 'default' },
      database: { status: 'up' },
    });
    expect(res.body.temporal.workers).toBeGreaterThanOrEqual(1);
  });

  it('GET /healthz is 503 and names the database when it is down', async () => {
    const down = await createTestDatabase();
    await down.drop(); // the client now points at a database that no longer exists
    const app = createApp({
      db: down.db,
      temporal: tw.client,
      temporalAddress: testEnvironment().temporalAddress,
      taskQueue: tw.taskQueue,
      logger,
    });
    const res = await request(app).get('/healthz').expect(503);
    expect(res.body.status).toBe('degraded');
    expect(res.body.temporal.status).toBe('up');
    expect(res.body.database.status).toBe('down');
    await down.db.$disconnect();
  });
});
