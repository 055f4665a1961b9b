// One real app per test file: its own migrated database, the run's Temporal dev server, a token per role, and helpers
// to count rows (to prove a rejected call changed nothing). With `worker: true` the project's real worker polls the
// file's task queue and runs what the API starts; without, the queue stays unpolled so that a test can read what the
// API started exactly as it was started (admission tests) — the API's check that a worker polls the queue is then
// answered "one" by the harness (test/api/operations.test.ts tests the real check).
import { randomBytes } from 'node:crypto';
import type { Express } from 'express';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { createApp, type AppDeps } from '../../../api/app';
import type { Db } from '../../../infra/database';
import { createToken } from '../../../api/routes/tokens';
import { connectClient } from '../../../infra/temporal';
import { createLogger } from '../../../infra/logger';
import { createSecretBox, type SecretBox } from '../../../infra/secrets';
import { createTestDatabase, testEnvironment, uniqueName, type TestDatabase } from '../../helpers/environment';
import { recordHistories } from '../../helpers/record-histories';
import { startTestWorker, type TestWorker } from '../../helpers/worker';

export interface Counts {
  fileServers: number;
  fsvms: number;
  shares: number;
  policies: number;
  policyShares: number;
  jobs: number;
  operations: number;
  tokens: number;
  directorySettings: number;
}

export interface Harness {
  app: Express;
  database: TestDatabase;
  temporal: Client;
  taskQueue: string;
  /** The real worker polling taskQueue (with `worker: true`). */
  worker?: TestWorker;
  secrets: SecretBox;
  tokens: { viewer: string; operator: string; admin: string };
  auth(role: 'viewer' | 'operator' | 'admin'): { authorization: string };
  counts(): Promise<Counts>;
  /** Workflow ids started by this file (terminated in close()). */
  close(): Promise<void>;
}

export const UI_URL = 'http://127.0.0.1:8233';

export interface HarnessOptions {
  /** Run the project's real worker on the file's task queue (default: unpolled). */
  worker?: boolean;
}

export async function startHarness(overrides: Partial<AppDeps> = {}, opts: HarnessOptions = {}): Promise<Harness> {
  const database = await createTestDatabase();
  const temporal = await connectClient(testEnvironment().temporalAddress, 'default');
  const taskQueue = uniqueName(opts.worker ? 'api' : 'api-unpolled');
  const worker = opts.worker ? await startTestWorker({ db: database.db, taskQueue }) : undefined;
  const secrets = overrides.secrets ?? createSecretBox(randomBytes(32));
  const app = createApp({
    db: database.db,
    temporal,
    temporalAddress: testEnvironment().temporalAddress,
    taskQueue,
    temporalUiUrl: UI_URL,
    logger: createLogger({ log: { level: 'silent', format: 'json' } }),
    secrets,
    authFailures: { maxFailures: 10_000, windowMs: 60_000 },
    gatewayTimeoutMs: 2000,
    ...(opts.worker ? {} : { workersPolling: () => Promise.resolve(1) }),
    ...overrides,
  });
  const tokens = {
    viewer: (await createToken(database.db, 'viewer-1', 'viewer')).token,
    operator: (await createToken(database.db, 'operator-1', 'operator')).token,
    admin: (await createToken(database.db, 'admin-1', 'admin')).token,
  };
  const db = database.db;
  return {
    app,
    database,
    temporal,
    taskQueue,
    worker,
    secrets,
    tokens,
    auth: (role) => ({ authorization: `Bearer ${tokens[role]}` }),
    async counts() {
      const [fileServers, fsvms, shares, policies, policyShares, jobs, operations, tokensN, directorySettings] =
        await Promise.all([
          db.fileServer.count(),
          db.fsvm.count(),
          db.share.count(),
          db.replicationPolicy.count(),
          db.policyShare.count(),
          db.job.count(),
          db.operation.count(),
          db.apiToken.count({ where: { revokedAt: null } }),
          db.directorySettings.count(),
        ]);
      return {
        fileServers,
        fsvms,
        shares,
        policies,
        policyShares,
        jobs,
        operations,
        tokens: tokensN,
        directorySettings,
      };
    },
    async close() {
      if (process.env.RECORD_HISTORIES && worker) await recordHistories(temporal, taskQueue);
      await worker?.stop();
      // Terminate every workflow this file started that still runs.
      const ids: string[] = [];
      for await (const w of temporal.workflow.list({
        query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
      })) {
        ids.push(w.workflowId);
      }
      await Promise.all(
        ids.map((id) =>
          temporal.workflow
            .getHandle(id)
            .terminate('test done')
            .catch(() => undefined),
        ),
      );
      await temporal.connection.close();
      await database.drop();
    },
  };
}

/** A response body array, typed for the tests' map/find calls. */
export function rows(v: unknown): Record<string, unknown>[] {
  return v as Record<string, unknown>[];
}

/** What Temporal recorded for a started workflow: type, task queue, search attributes, memo and the input. */
export async function startedWorkflow(temporal: Client, workflowId: string) {
  const handle = temporal.workflow.getHandle(workflowId);
  const d = await handle.describe();
  const history = await handle.fetchHistory();
  const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
  const input: unknown = payloads[0] ? defaultPayloadConverter.fromPayload(payloads[0]) : undefined;
  return {
    type: d.type,
    taskQueue: d.taskQueue,
    status: d.status.name,
    searchAttributes: Object.fromEntries(d.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value])),
    memo: d.memo,
    input,
  };
}

/** File servers with a fresh share cache (no gateway is called while the cache is fresh). */
export async function seedFileServer(db: Db, name: string, shares: string[]): Promise<string> {
  const fs = await db.fileServer.create({
    data: {
      name,
      site: `site-${name}`,
      dnsName: `${name}.corp.example.com`,
      sharesRefreshedAt: new Date(Date.now() + 3_600_000),
      shares: { create: shares.map((s) => ({ name: s, portions: { '': 'node-1' } })) },
    },
  });
  return fs.id;
}

/** An active policy from `source` to `destination` over these shares (same names on both sides). */
export async function seedPolicy(
  db: Db,
  p: { name: string; sourceId: string; destinationId: string; shares: string[]; status?: 'active' | 'creating' },
): Promise<string> {
  const row = await db.replicationPolicy.create({
    data: {
      name: p.name,
      sourceFileServerId: p.sourceId,
      destFileServerId: p.destinationId,
      rpoSeconds: 900,
      status: p.status ?? 'active',
      shares: { create: p.shares.map((s) => ({ sourceShare: s, targetShare: s })) },
    },
  });
  return row.id;
}
