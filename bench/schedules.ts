// `npm run bench -- schedules [--quick] [--shares N] [--minutes M] [--rpo-seconds S]`
// N shares (default 500; quick 100) protected at a 2-minute RPO by one worker process on the embedded default (dev
// server on SQLite, embedded PostgreSQL) with four real gateway agents (2+2 FSVMs). After the base copies, for M
// minutes (default 10; quick 4) it samples every 5 s how many shares have a complete destination set younger than
// the RPO. Yardstick, same run: one share replicated by calling the gateways directly (no Temporal, no database).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import request from 'supertest';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createApp } from '../api/app';
import { createToken } from '../api/routes/tokens';
import { createDb } from '../infra/database';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { createLogger } from '../infra/logger';
import { applyMigrations } from '../infra/migrate';
import { createSecretBox } from '../infra/secrets';
import { connectClient } from '../infra/temporal';
import { startDevServer } from '../infra/temporal-dev-server';
import { buildWorkflowBundle } from '../scripts/build-workflow-bundle';
import { REPO, startAgent, TOKEN, type Agent } from '../test/gateway/helpers';
import { freePort } from '../test/helpers/ports';
import { protectedShares } from '../store/protection';
import type { Benchmark } from './run';

const PAIR = 'pair-token-for-the-benchmark-0123456789';
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces): fields[1] is the parent. */
function statFields(pid: number | string): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds (user+system) and resident memory of a process, from /proc. */
function procStats(pid: number): { cpuSeconds: number; rssMb: number } {
  const fields = statFields(pid);
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssPages = Number(fields[21]);
  return { cpuSeconds: ticks / 100, rssMb: (rssPages * 4096) / 2 ** 20 };
}

/**
 * CPU seconds of a process and all its descendants, including descendants that already ended (PostgreSQL runs one
 * process per connection): user+system time of the live ones plus the time of the children each one reaped.
 */
function treeCpuSeconds(root: number): number {
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

const bench: Benchmark = async ({ quick, args, log, onInterrupt }) => {
  const shares = flag(args, '--shares', quick ? 100 : 500);
  const minutes = flag(args, '--minutes', quick ? 4 : 10);
  const rpoSeconds = flag(args, '--rpo-seconds', 120);
  if (!Number.isInteger(shares) || shares < 1) throw new Error('--shares must be a positive integer');
  if (!(minutes > 0)) throw new Error('--minutes must be a positive number');
  // Policies take whole minutes of RPO.
  if (!Number.isInteger(rpoSeconds / 60) || rpoSeconds < 60) throw new Error('--rpo-seconds must be a multiple of 60');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-bench-sched-'));
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  onInterrupt(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cleanups: (() => Promise<unknown>)[] = [];
  const onCleanup = (c: () => Promise<unknown>) => {
    cleanups.push(c);
    onInterrupt(c);
  };
  try {
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
    const secrets = createSecretBox(key);
    const client = await connectClient(temporal.address, 'default');
    onCleanup(() => client.connection.close());

    const agent = (nodeId: string, fileServer: string, peers: string[]) =>
      startAgent({
        nodeId,
        dataRoot: fs.mkdtempSync(path.join(dir, `${nodeId}-`)),
        peers: Object.fromEntries(peers.map((p) => [p, PAIR])),
        env: { GATEWAY_FILE_SERVER_ID: fileServer, LOG_LEVEL: 'error' },
      });
    const agents: Agent[] = await Promise.all([
      agent('a1', 'fs-a', ['b1', 'b2']),
      agent('a2', 'fs-a', ['b1', 'b2']),
      agent('b1', 'fs-b', ['a1', 'a2']),
      agent('b2', 'fs-b', ['a1', 'a2']),
    ]);
    onCleanup(() => Promise.all(agents.map((a) => a.stop())));
    const [a1, a2, b1] = agents as [Agent, Agent, Agent, Agent];

    // The worker as production runs it: its own process (CPU and memory its own), with a pre-built workflow bundle.
    const bundle = path.join(dir, 'workflow-bundle.js');
    await buildWorkflowBundle(bundle);
    let workerOut = '';
    const worker = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        TEMPORAL_ADDRESS: temporal.address,
        TEMPORAL_TASK_QUEUE: 'bench',
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
      worker.kill('SIGTERM');
      await new Promise((r) => worker.once('exit', r));
    });

    const app = createApp({
      db,
      temporal: client,
      temporalAddress: temporal.address,
      taskQueue: 'bench',
      logger: createLogger({ log: { level: 'error', format: 'json' } }),
      secrets,
    });
    const admin = { authorization: `Bearer ${(await createToken(db, 'bench-admin', 'admin')).token}` };
    for (const [name, nodes] of [
      ['fs-a', agents.slice(0, 2)],
      ['fs-b', agents.slice(2)],
    ] as const) {
      await request(app)
        .post('/api/v1/file-servers')
        .set(admin)
        .send({
          name,
          site: name,
          dnsName: `${name}.corp.example.test`,
          fsvms: nodes.map((n) => ({ nodeId: n.nodeId, gatewayUrl: n.url, token: TOKEN })),
        })
        .expect(201);
    }

    log(`creating ${shares} shares (3 small files each) on fs-a`);
    const names = Array.from({ length: shares }, (_, i) => `s${String(i).padStart(4, '0')}`);
    for (const [i, share] of names.entries()) {
      const node = i % 2 ? a2 : a1;
      await node.client.createShare(share);
      const live = path.join(node.dataRoot, 'shares', share);
      for (let f = 0; f < 3; f++)
        fs.writeFileSync(path.join(live, `f${f}.txt`), `${share} ${f} `.repeat(100 * (f + 1)));
    }

    // Yardstick: one share replicated by direct gateway calls, no orchestration.
    await a1.client.createShare('yardstick');
    fs.writeFileSync(path.join(a1.dataRoot, 'shares', 'yardstick', 'f.txt'), 'x'.repeat(4000));
    await b1.client.createShare('yardstick', { accessMode: 'read_only' });
    const directMs: number[] = [];
    let base: string | undefined;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const id = `fsdr-yard-${i}`;
      await a1.client.createSnapshot('yardstick', { snapshotId: id });
      await a1.client.startTransfer({
        transferId: `${id}.t`,
        share: 'yardstick',
        portion: '',
        snapshotId: id,
        ...(base ? { baseSnapshotId: base } : {}),
        target: { url: b1.url, nodeId: 'b1', share: 'yardstick', portion: '' },
      });
      while ((await a1.client.getTransfer(`${id}.t`)).state !== 'succeeded') await sleep(20);
      await b1.client.commitReceive(`${id}.t`);
      directMs.push(performance.now() - t);
      base = id;
    }
    const directIncrMs = [...directMs.slice(1)].sort((x, y) => x - y)[2]!;
    log(`yardstick: an incremental run by direct gateway calls takes ${round(directIncrMs)} ms (median of 4)`);

    log(`protecting them at a ${rpoSeconds}s RPO (policies of up to 100 shares)`);
    const t0 = Date.now();
    const starts = [];
    for (let p = 0; p * 100 < shares; p++) {
      const res = await request(app)
        .post('/api/v1/policies')
        .set(admin)
        .send({
          name: `bench-${p}`,
          source: 'fs-a',
          destination: 'fs-b',
          rpoMinutes: rpoSeconds / 60,
          retentionCount: 2,
          shares: names.slice(p * 100, (p + 1) * 100).map((s) => ({ source: s })),
        });
      if (res.status !== 202) throw new Error(`policy bench-${p}: ${res.status} ${JSON.stringify(res.body)}`);
      starts.push(client.workflow.getHandle(res.body.workflowId as string).result());
    }
    await Promise.all(starts);
    log(`policies active after ${round((Date.now() - t0) / 1000)} s; waiting for the base copies`);
    const baseDeadline = Date.now() + Math.max(rpoSeconds * 3, 300) * 1000;
    for (;;) {
      const done = (await protectedShares(db)).filter((s) => s.recoveryPoint).length;
      if (done >= shares) break;
      if (Date.now() > baseDeadline) {
        log(`only ${done}/${shares} base copies after the deadline; measuring anyway`);
        break;
      }
      await sleep(2000);
    }
    log(`base copies done after ${round((Date.now() - t0) / 1000)} s; measuring for ${minutes} min`);

    // Where the machine's CPU goes, per component: the worker is ours to tune, the rest is the embedded default's.
    const components = (): Record<string, number> => ({
      worker: procStats(worker.pid!).cpuSeconds,
      temporal: temporal.pid ? treeCpuSeconds(temporal.pid) : NaN,
      postgres: treeCpuSeconds(pg.pid),
      gateways: agents.reduce((n, a) => n + (a.proc.pid ? procStats(a.proc.pid).cpuSeconds : 0), 0),
    });
    const start = Date.now();
    const cpu0 = procStats(worker.pid!).cpuSeconds;
    const components0 = components();
    const jobs0 = await db.job.count({ where: { state: 'succeeded' } });
    let peakRss = 0;
    const samples: number[] = [];
    while (Date.now() - start < minutes * 60_000) {
      if (worker.exitCode !== null) throw new Error(`worker died: ${workerOut}`);
      peakRss = Math.max(peakRss, procStats(worker.pid!).rssMb);
      const compliant = (await protectedShares(db)).filter((s) => s.compliance === 'compliant').length;
      samples.push(compliant / shares);
      if (samples.length % 12 === 0)
        log(`minute ${samples.length / 12}: ${round((compliant / shares) * 100, 1)}% compliant now`);
      await sleep(5000);
    }
    const wall = (Date.now() - start) / 1000;
    const cpuPct = ((procStats(worker.pid!).cpuSeconds - cpu0) / wall) * 100;
    const components1 = components();
    const cpuOf = (k: string) => round(((components1[k]! - components0[k]!) / wall) * 100);
    const jobsCompleted = (await db.job.count({ where: { state: 'succeeded' } })) - jobs0;
    const failed = await db.job.count({ where: { state: 'failed', startedAt: { gte: new Date(start) } } });
    const durations = (
      await db.job.findMany({
        where: { state: 'succeeded', incremental: true, startedAt: { gte: new Date(start) } },
        select: { startedAt: true, endedAt: true },
      })
    )
      .map((j) => j.endedAt!.getTime() - j.startedAt.getTime())
      .sort((x, y) => x - y);
    const p50 = durations[Math.floor(durations.length / 2)] ?? 0;
    const compliantPct = (samples.reduce((a, b) => a + b, 0) / Math.max(samples.length, 1)) * 100;
    log(
      `compliant ${round(compliantPct, 2)}% of samples; ${jobsCompleted} runs (${failed} failed); worker CPU ${round(cpuPct)}%, peak RSS ${round(peakRss)} MiB`,
    );
    log(
      `CPU (% of one core): worker ${cpuOf('worker')}, Temporal dev server ${cpuOf('temporal')}, PostgreSQL ${cpuOf('postgres')}, 4 gateways ${cpuOf('gateways')} (machine: ${os.cpus().length} cores)`,
    );
    log(`an incremental run takes ${p50} ms (p50) under load vs ${round(directIncrMs)} ms by direct gateway calls`);
    return {
      shares,
      rpo_s: rpoSeconds,
      minutes,
      compliant_pct: round(compliantPct, 2),
      worker_cpu_pct: round(cpuPct),
      worker_peak_rss_mb: round(peakRss),
      temporal_cpu_pct: cpuOf('temporal'),
      postgres_cpu_pct: cpuOf('postgres'),
      gateways_cpu_pct: cpuOf('gateways'),
      jobs_completed: jobsCompleted,
      jobs_failed: failed,
      jobs_per_min: round(jobsCompleted / (wall / 60)),
      job_p50_ms: p50,
      direct_run_ms: round(directIncrMs),
      job_vs_direct_ratio: round(p50 / Math.max(directIncrMs, 1)),
      server: 'temporal dev server (SQLite, 1 shard), embedded PostgreSQL 17, 2+2 portable gateways on loopback',
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

export default bench;
