// `npm run bench -- schedules [--quick] [--shares N] [--minutes M] [--rpo-seconds S]`
// N shares (default 500; quick 100) protected at a 2-minute RPO by one worker process on the embedded default (dev
// server on SQLite, embedded PostgreSQL) with four real gateway agents (2+2 FSVMs). After the base copies, for M
// minutes (default 10; quick 4) it samples every 5 s how many shares have a complete destination set younger than
// the RPO. Yardstick, same run: one share replicated by calling the gateways directly (no Temporal, no database).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { protectedShares } from '../store/protection';
import type { Agent } from '../test/gateway/helpers';
import { flag, procStats, round, sleep, startBenchLab, treeCpuSeconds } from './_lab';
import type { Benchmark } from './run';

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
    const lab = await startBenchLab(dir, onCleanup);
    const { db, client, app, admin } = lab;
    const agents: Agent[] = await Promise.all([
      lab.agent('a1', 'fs-a', ['b1', 'b2']),
      lab.agent('a2', 'fs-a', ['b1', 'b2']),
      lab.agent('b1', 'fs-b', ['a1', 'a2']),
      lab.agent('b2', 'fs-b', ['a1', 'a2']),
    ]);
    const [a1, a2, b1] = agents as [Agent, Agent, Agent, Agent];
    const { worker } = lab;
    await lab.registerFileServer('fs-a', agents.slice(0, 2));
    await lab.registerFileServer('fs-b', agents.slice(2));

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
      temporal: lab.pids.temporal ? treeCpuSeconds(lab.pids.temporal) : NaN,
      postgres: treeCpuSeconds(lab.pids.postgres),
      gateways: agents.reduce((n, a) => n + (a.proc.pid ? procStats(a.proc.pid).cpuSeconds : 0), 0),
    });
    const start = Date.now();
    const cpu0 = procStats(worker.pid!).cpuSeconds;
    const components0 = components();
    const jobs0 = await db.job.count({ where: { state: 'succeeded' } });
    let peakRss = 0;
    const samples: number[] = [];
    while (Date.now() - start < minutes * 60_000) {
      if (worker.exitCode !== null) throw new Error(`worker died: ${lab.workerOutput()}`);
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
