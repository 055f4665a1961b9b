// What the end-to-end benchmarks share: the embedded default's servers (a Temporal dev server on SQLite, an embedded
// PostgreSQL) of the benchmark's own, the production worker as its own process with a pre-built workflow bundle, the
// admin API in-process, real gateway agents, and the CPU figures of each process. (Not a benchmark: bench/run.ts
// skips files whose name starts with `_`.)
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import request from 'supertest';
import type { Express } from 'express';
import type { Client } from '@temporalio/client';
import { createApp } from '../api/app';
import { createToken } from '../api/routes/tokens';
import { createDb, type Db } from '../infra/database';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { createLogger } from '../infra/logger';
import { applyMigrations } from '../infra/migrate';
import { createSecretBox } from '../infra/secrets';
import { connectClient } from '../infra/temporal';
import { startDevServer } from '../infra/temporal-dev-server';
import { buildWorkflowBundle } from '../scripts/build-workflow-bundle';
import { REPO, startAgent, TOKEN, type Agent } from '../test/gateway/helpers';
import { freePort } from '../test/helpers/ports';

export const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces): fields[1] is the parent. */
function statFields(pid: number | string): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds (user+system) and resident memory of a process, from /proc. */
export function procStats(pid: number): { cpuSeconds: number; rssMb: number } {
  const fields = statFields(pid);
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssPages = Number(fields[21]);
  return { cpuSeconds: ticks / 100, rssMb: (rssPages * 4096) / 2 ** 20 };
}

/**
 * CPU seconds of a process and all its descendants, including descendants that already ended (PostgreSQL runs one
 * process per connection): user+system time of the live ones plus the time of the children each one reaped.
 */
export function treeCpuSeconds(root: number): number {
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = statFields(entry);
      parent.set(Number(entry), Number(fields[1]));
      const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]));
      cpu.set(Number(entry), (utime! + stime! + cutime! + cstime!) / 100);
    } catch {
      // the process ended while we looked
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid; p && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  let total = 0;
  for (const [pid, seconds] of cpu) if (inTree(pid)) total += seconds;
  return total;
}

export interface BenchLab {
  db: Db;
  client: Client;
  app: Express;
  admin: { authorization: string };
  temporalAddress: string;
  pids: { temporal: number | undefined; postgres: number; worker: number | undefined };
  worker: ChildProcess;
  /** The worker's last output (for the error when it dies). */
  workerOutput: () => string;
  /** Starts a gateway agent (portable driver) with a data root under the benchmark's folder. */
  agent(nodeId: string, fileServer: string, peers: string[]): Promise<Agent>;
  /** Registers a file server with its FSVMs through the API. */
  registerFileServer(name: string, nodes: Agent[], extra?: { addresses?: string[]; dnsName?: string }): Promise<void>;
}

export const TASK_QUEUE = 'bench';
const PAIR = 'pair-token-for-the-benchmark-0123456789';

/**
 * The servers of the embedded default (its own dev server and PostgreSQL under `dir`), the production worker process
 * (workers/main.ts, its CPU and memory its own), and the API in-process. Every process goes through `onCleanup`.
 */
export async function startBenchLab(dir: string, onCleanup: (c: () => Promise<unknown>) => void): Promise<BenchLab> {
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort(), database: 'fsdr' });
  onCleanup(pg.destroy);
  const temporal = await startDevServer({
    dbFile: path.join(dir, 'temporal.sqlite'),
    port: await freePort(),
    uiPort: 0,
    ui: false,
    namespace: 'default',
  });
  onCleanup(temporal.stop);
  await applyMigrations(pg.url);
  const db = createDb(pg.url);
  onCleanup(() => db.$disconnect());
  const key = Buffer.alloc(32, 3);
  const client = await connectClient(temporal.address, 'default');
  onCleanup(() => client.connection.close());

  const bundle = path.join(dir, 'workflow-bundle.js');
  await buildWorkflowBundle(bundle);
  let workerOut = '';
  const worker = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      DATABASE_URL: pg.url,
      SECRETS_KEY: key.toString('base64'),
      WORKFLOW_BUNDLE_PATH: bundle,
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  worker.stdout.on('data', (d: Buffer) => (workerOut = (workerOut + d.toString()).slice(-4000)));
  worker.stderr.on('data', (d: Buffer) => (workerOut = (workerOut + d.toString()).slice(-4000)));
  onCleanup(async () => {
    if (worker.exitCode !== null || worker.signalCode !== null) return;
    worker.kill('SIGTERM');
    await new Promise((r) => worker.once('exit', r));
  });

  const app = createApp({
    db,
    temporal: client,
    temporalAddress: temporal.address,
    taskQueue: TASK_QUEUE,
    logger: createLogger({ log: { level: 'error', format: 'json' } }),
    secrets: createSecretBox(key),
  });
  const admin = { authorization: `Bearer ${(await createToken(db, 'bench-admin', 'admin')).token}` };
  return {
    db,
    client,
    app,
    admin,
    temporalAddress: temporal.address,
    pids: { temporal: temporal.pid, postgres: pg.pid, worker: worker.pid },
    worker,
    workerOutput: () => workerOut,
    async agent(nodeId, fileServer, peers) {
      const a = await startAgent({
        nodeId,
        dataRoot: fs.mkdtempSync(path.join(dir, `${nodeId}-`)),
        peers: Object.fromEntries(peers.map((p) => [p, PAIR])),
        env: { GATEWAY_FILE_SERVER_ID: fileServer, LOG_LEVEL: 'error' },
      });
      onCleanup(() => a.stop());
      return a;
    },
    async registerFileServer(name, nodes, extra = {}) {
      const res = await request(app)
        .post('/api/v1/file-servers')
        .set(admin)
        .send({
          name,
          site: name,
          dnsName: extra.dnsName ?? `${name}.corp.example.test`,
          ...(extra.addresses ? { addresses: extra.addresses } : {}),
          fsvms: nodes.map((n) => ({ nodeId: n.nodeId, gatewayUrl: n.url, token: TOKEN })),
        });
      if (res.status !== 201) throw new Error(`registering ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    },
  };
}
