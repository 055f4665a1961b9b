// `npm run bench -- failover [--quick] [--shares N] [--rounds R] [--no-dc]`
// A file server fs-a with N shares (default 100; quick 20; every tenth distributed over two FSVMs) on 4 FSVMs,
// replicated to fs-b with 4 FSVMs (8 real gateway agents, portable driver), on the embedded default of its own (dev
// server on SQLite, embedded PostgreSQL) with the production worker as its own process, and a real Samba AD DC whose
// DNS records and SPNs the redirect steps change (`--no-dc`: no directory; the redirect is then skipped in the measured
// operations and in the yardstick alike, and the JSON says so). Already in sync, a small change on every share before
// each operation; each round measures, through the API to the workflow's end:
//   planned failover fs-a -> fs-b, failback, unplanned failover (source up), resume replication (destination stays
//   primary; reverse runs), failback again (the round ends where it started).
// Yardstick, same run, just before each planned failover: the same gateway, schedule and directory calls issued by the
// benchmark itself on N yardstick shares of the same shape on the same FSVMs, everything within a phase in parallel,
// the phases in the workflow's order (pause schedules | source read-only | per share: snapshot, transfer of each
// portion, commit | verify digests | pre-failover snapshot | destination read-write | redirect). overhead_ratio is the
// planned failover's time over the yardstick's. Figures are medians over the rounds (default 2; quick 1).
// Each operation's steps are logged with their durations (from the operation's step times), the final delta's runs
// with theirs, and the CPU seconds each process spent. BENCH_HISTORIES=<dir> also writes each operation's workflow
// history and its children's there (JSON): which task waited for what.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { defaultSpns } from '../domain/directory';
import { redirect, restore, type Outcome, type RedirectTarget } from '../directory/redirect';
import { withSession, type SessionOptions } from '../directory/session';
import { claimLoopbackAddress, releaseLoopbackAddress } from '../infra/loopback-address';
import { startDomainController, type DomainController } from '../infra/samba-dc';
import { protectedShares } from '../store/protection';
import type { Agent } from '../test/gateway/helpers';
import { flag, median, procStats, round, sleep, startBenchLab, treeCpuSeconds, type BenchLab } from './_lab';
import type { Benchmark } from './run';

const run = promisify(execFile);
const REALM = 'CORP.EXAMPLE.TEST';
const ZONE = 'corp.example.test';
/** Client-facing addresses of the two file servers (what their names resolve to; nothing listens there). */
const ADDRESSES = { 'fs-a': ['10.1.0.11', '10.1.0.12'], 'fs-b': ['10.2.0.21', '10.2.0.22'] };
const FSVMS = 4;

interface Portion {
  portion: string;
  src: Agent;
  /** Yardstick shares only: the benchmark places them itself (the policies' dataset maps place the others). */
  dst?: Agent;
}
interface Share {
  name: string;
  portions: Portion[];
}

const nodesOf = (s: Share, side: 'src' | 'dst') => [...new Set(s.portions.map((p) => p[side]!))];
const livePath = (a: Agent, share: string, portion: string) => path.join(a.dataRoot, 'shares', share, portion);

/** N shares named <prefix>NNN, round-robin over the FSVMs; every tenth distributed over two of them. */
function layout(prefix: string, n: number, src: Agent[], dst: Agent[]): Share[] {
  return Array.from({ length: n }, (_, i) => {
    const name = `${prefix}${String(i).padStart(3, '0')}`;
    const at = (k: number) => ({ src: src[(i + k) % src.length]!, dst: dst[(i + k) % dst.length]! });
    return {
      name,
      portions:
        i % 10 === 9
          ? [
              { portion: 'p1', ...at(0) },
              { portion: 'p2', ...at(1) },
            ]
          : [{ portion: '', ...at(0) }],
    };
  });
}

async function createShares(shares: Share[], withDestination: boolean): Promise<void> {
  const each = async (s: Share, side: 'src' | 'dst') => {
    for (const node of nodesOf(s, side)) {
      const portions = s.portions.filter((p) => p[side] === node).map((p) => p.portion);
      await node.client.createShare(s.name, {
        ...(portions[0] ? { kind: 'distributed' as const, portions } : {}),
        ...(side === 'dst' ? { accessMode: 'read_only' as const } : {}),
      });
    }
  };
  for (let i = 0; i < shares.length; i += 10) {
    await Promise.all(
      shares.slice(i, i + 10).map(async (s) => {
        await each(s, 'src');
        if (withDestination) await each(s, 'dst');
        for (const p of s.portions) {
          const live = livePath(p.src, s.name, p.portion);
          for (let f = 0; f < 3; f++)
            fs.writeFileSync(path.join(live, `f${f}.txt`), `${s.name} ${f} `.repeat(100 * (f + 1)));
        }
      }),
    );
  }
}

/** A small change on every share, on whichever FSVM of `side` holds its first portion: one new file, one rewritten. */
function changeEveryShare(shares: Share[], side: Agent[], tag: string): void {
  for (const s of shares) {
    const portion = s.portions[0]!.portion;
    const holder = side.find((a) => fs.existsSync(livePath(a, s.name, portion)));
    if (!holder) throw new Error(`no FSVM of that side holds ${s.name}/${portion}`);
    const live = livePath(holder, s.name, portion);
    fs.writeFileSync(path.join(live, `change-${tag}.txt`), `${s.name} ${tag}\n`.repeat(20));
    fs.writeFileSync(path.join(live, 'f0.txt'), `${s.name} rewritten ${tag}\n`.repeat(50));
  }
}

interface Measured {
  seconds: number;
  steps: { name: string; seconds: number }[];
  detail: Record<string, string>;
  cpu: Record<string, number>;
}

const bench: Benchmark = async ({ quick, args, log, onInterrupt }) => {
  const n = flag(args, '--shares', quick ? 20 : 100);
  const rounds = flag(args, '--rounds', quick ? 1 : 2);
  const withDc = !args.includes('--no-dc');
  if (!Number.isInteger(n) || n < 1 || n > 500) throw new Error('--shares must be an integer from 1 to 500');
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-bench-failover-'));
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  onInterrupt(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cleanups: (() => Promise<unknown>)[] = [];
  const onCleanup = (c: () => Promise<unknown>) => {
    cleanups.push(c);
    onInterrupt(c);
  };
  try {
    const t0 = Date.now();
    // The DC first: it provisions (about 10 s) while nothing else competes for the CPU yet.
    let dc: DomainController | undefined;
    if (withDc) {
      const address = await claimLoopbackAddress();
      onCleanup(() => releaseLoopbackAddress(address));
      dc = await startDomainController({ dir: path.join(dir, 'dc'), address, realm: REALM });
      onCleanup(() => dc!.stop());
      await Promise.all(
        [
          ['FSA', ADDRESSES['fs-a']],
          ['FSB', ADDRESSES['fs-b']],
          ['YDSRC', ADDRESSES['fs-a']],
          ['YDDST', ADDRESSES['fs-b']],
        ].map(([name, addresses]) =>
          dc!.addComputer(name as string, {
            spns: defaultSpns(`${(name as string).toLowerCase()}.${ZONE}`),
            addresses: addresses as string[],
          }),
        ),
      );
      log(`Samba AD DC at ${address} with the accounts and names of fs-a, fs-b and the yardstick's pair`);
    }
    const lab: BenchLab = await startBenchLab(dir, onCleanup);
    const { db, client, app, admin } = lab;
    const a = Array.from({ length: FSVMS }, (_, i) => `a${i + 1}`);
    const b = Array.from({ length: FSVMS }, (_, i) => `b${i + 1}`);
    const agents = await Promise.all([
      ...a.map((id) => lab.agent(id, 'fs-a', b)),
      ...b.map((id) => lab.agent(id, 'fs-b', a)),
    ]);
    const sideA = agents.slice(0, FSVMS);
    const sideB = agents.slice(FSVMS);
    for (const [name, nodes] of [
      ['fs-a', sideA],
      ['fs-b', sideB],
    ] as const) {
      await lab.registerFileServer(name, nodes, {
        dnsName: `${name.replace('-', '')}.${ZONE}`,
        addresses: ADDRESSES[name],
      });
      if (dc) {
        await request(app)
          .put(`/api/v1/file-servers/${name}/directory`)
          .set(admin)
          .send({
            domain: dc.dnsDomain,
            servers: [dc.ldapsUrl],
            bindUser: dc.adminUser,
            bindPassword: dc.adminPassword,
            caCertificates: dc.caPem,
            dnsZone: ZONE,
            computerAccount: `${name.replace('-', '').toUpperCase()}$`,
          })
          .expect(200);
      }
    }

    const shares = layout('s', n, sideA, sideB);
    const yard = layout('y', n, sideA, sideB);
    log(
      `creating ${n} shares (${shares.filter((s) => s.portions.length > 1).length} distributed) and ${n} yardstick shares on fs-a`,
    );
    await createShares(shares, false);
    await createShares(yard, true);

    // Policies of 25 shares; an RPO of an hour, so that no scheduled run falls into a measurement.
    const policySize = 25;
    const created = [];
    for (let p = 0; p * policySize < n; p++) {
      const res = await request(app)
        .post('/api/v1/policies')
        .set(admin)
        .send({
          name: `bench-${p}`,
          source: 'fs-a',
          destination: 'fs-b',
          rpoMinutes: 60,
          retentionCount: 3,
          shares: shares.slice(p * policySize, (p + 1) * policySize).map((s) => ({ source: s.name })),
        });
      if (res.status !== 202) throw new Error(`policy bench-${p}: ${res.status} ${JSON.stringify(res.body)}`);
      created.push(client.workflow.getHandle(res.body.workflowId as string).result());
    }
    await Promise.all(created);

    // The yardstick's own base copies and schedules (of a workflow type no worker polls, due once a day).
    const yardSet = (tag: string) => `yard-${tag}`;
    let yardBase: string | undefined;
    async function yardDelta(setId: string, base: string | undefined): Promise<void> {
      await Promise.all(
        yard.map(async (s) => {
          await Promise.all(nodesOf(s, 'src').map((node) => node.client.createSnapshot(s.name, { snapshotId: setId })));
          const ids = await Promise.all(
            s.portions.map(async (p) => {
              const transferId = `${setId}.${s.name}.${p.portion || 'root'}`;
              await p.src.client.startTransfer({
                transferId,
                share: s.name,
                portion: p.portion,
                snapshotId: setId,
                ...(base ? { baseSnapshotId: base } : {}),
                target: { url: p.dst!.url, nodeId: p.dst!.nodeId, share: s.name, portion: p.portion },
              });
              for (let delay = 10; ; delay = Math.min(delay * 2, 50)) {
                const st = await p.src.client.getTransfer(transferId);
                if (st.state === 'succeeded') break;
                if (st.state === 'failed' || st.state === 'cancelled')
                  throw new Error(`yardstick transfer ${transferId} ${st.state}: ${st.error}`);
                await sleep(delay);
              }
              return { p, transferId };
            }),
          );
          await Promise.all(ids.map(({ p, transferId }) => p.dst!.client.commitReceive(transferId)));
        }),
      );
    }
    await yardDelta(yardSet('base'), undefined);
    yardBase = yardSet('base');
    const scheduleOf = (s: Share) => `bench-yardstick/${s.name}`;
    await Promise.all(
      yard.map((s) =>
        client.schedule.create({
          scheduleId: scheduleOf(s),
          spec: { intervals: [{ every: '24 hours' }] },
          action: {
            type: 'startWorkflow',
            workflowType: 'benchYardstickNothing',
            workflowId: `bench-yardstick/${s.name}`,
            taskQueue: 'bench-yardstick-unpolled',
            args: [],
          },
        }),
      ),
    );

    const dcSession: SessionOptions | undefined = dc && {
      servers: [dc.ldapsUrl],
      bindUser: dc.adminUser,
      bindPassword: dc.adminPassword,
      caPem: dc.caPem,
      plainLdap: false,
      production: false,
    };
    const yardTarget: RedirectTarget = {
      zone: ZONE,
      names: [{ name: `ydsrc.${ZONE}`, addresses: ADDRESSES['fs-b'] }],
      spns: defaultSpns(`ydsrc.${ZONE}`),
      account: 'YDDST$',
      accounts: ['YDSRC$', 'YDSRC$', 'YDDST$'],
    };

    /** The planned failover's calls by hand, phase by phase; then put back as it was (not timed). */
    async function yardstick(tag: string): Promise<{ seconds: number; phases: { name: string; seconds: number }[] }> {
      const setId = yardSet(tag);
      const phases: { name: string; seconds: number }[] = [];
      const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
        const t = performance.now();
        const out = await fn();
        phases.push({ name, seconds: (performance.now() - t) / 1000 });
        return out;
      };
      const everywhere = (side: 'src' | 'dst', fn: (node: Agent, s: Share) => Promise<unknown>) =>
        Promise.all(yard.flatMap((s) => nodesOf(s, side).map((node) => fn(node, s))));
      await phase('pause schedules', () =>
        Promise.all(yard.map((s) => client.schedule.getHandle(scheduleOf(s)).pause('yardstick'))),
      );
      await phase('source read-only', () => everywhere('src', (node, s) => node.client.setAccess(s.name, 'read_only')));
      await phase('final delta', () => yardDelta(setId, yardBase));
      await phase('verify', () =>
        Promise.all(
          yard.flatMap((s) =>
            s.portions.map(async (p) => {
              const [want, got] = await Promise.all([
                p.src.client.digest(s.name, { portion: p.portion, snapshotId: setId }),
                p.dst!.client.digest(s.name, { portion: p.portion }),
              ]);
              if (want.digest !== got.digest) throw new Error(`yardstick ${s.name}/${p.portion}: copies differ`);
            }),
          ),
        ),
      );
      await phase('pre-failover snapshots', () =>
        everywhere('dst', (node, s) => node.client.createSnapshot(s.name, { snapshotId: `${setId}-pre` })),
      );
      await phase('destination read-write', () =>
        everywhere('dst', (node, s) => node.client.setAccess(s.name, 'read_write')),
      );
      const outcome: Outcome | undefined = await phase('redirect', async () =>
        dcSession ? withSession(dcSession, (sess) => redirect(sess, yardTarget, true)) : undefined,
      );
      const seconds = phases.reduce((t, p) => t + p.seconds, 0);
      // Back as it was: the next round replicates again from this set.
      await everywhere('dst', (node, s) => node.client.setAccess(s.name, 'read_only'));
      await everywhere('src', (node, s) => node.client.setAccess(s.name, 'read_write'));
      await Promise.all(yard.map((s) => client.schedule.getHandle(scheduleOf(s)).unpause('yardstick done')));
      if (dcSession && outcome) await withSession(dcSession, (sess) => restore(sess, outcome.before));
      yardBase = setId;
      return { seconds, phases };
    }

    log('waiting for the base copies');
    const baseDeadline = Date.now() + 600_000;
    for (;;) {
      if (lab.worker.exitCode !== null) throw new Error(`worker died: ${lab.workerOutput()}`);
      const done = (await protectedShares(db)).filter((s) => s.recoveryPoint).length;
      if (done >= n) break;
      if (Date.now() > baseDeadline) throw new Error(`only ${done}/${n} base copies after 10 minutes`);
      await sleep(1000);
    }
    log(`set up in ${round((Date.now() - t0) / 1000)} s: ${n} shares in sync on 4+4 FSVMs`);

    /** Waits until the runs an operation started (a failback, a resume) finished: the next one starts in sync. */
    async function runsSettled(since: Date, expected: number): Promise<void> {
      const deadline = Date.now() + 600_000;
      for (;;) {
        const [done, busy, failed] = await Promise.all([
          db.job.count({ where: { startedAt: { gte: since }, operationId: null, state: 'succeeded' } }),
          db.job.count({ where: { state: { in: ['pending', 'running'] } } }),
          db.job.count({ where: { startedAt: { gte: since }, state: 'failed' } }),
        ]);
        if (failed) throw new Error(`${failed} replication run(s) failed after the operation`);
        if (done >= expected && busy === 0) return;
        if (Date.now() > deadline) throw new Error(`only ${done}/${expected} runs after the operation`);
        await sleep(500);
      }
    }

    const cpuNow = (): Record<string, number> => ({
      worker: lab.pids.worker ? procStats(lab.pids.worker).cpuSeconds : NaN,
      temporal: lab.pids.temporal ? treeCpuSeconds(lab.pids.temporal) : NaN,
      postgres: treeCpuSeconds(lab.pids.postgres),
      gateways: agents.reduce((t, x) => t + (x.proc.pid ? procStats(x.proc.pid).cpuSeconds : 0), 0),
      dc: dc?.pid ? treeCpuSeconds(dc.pid) : 0,
    });

    /** BENCH_HISTORIES=<dir>: each operation's workflow history and its children's, as JSON (where the time went). */
    let dumped = 0;
    async function dumpHistories(workflowId: string, name: string): Promise<void> {
      const parent = await client.workflow.getHandle(workflowId).fetchHistory();
      const children = (parent.events ?? []).flatMap((e) =>
        e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId
          ? [e.childWorkflowExecutionStartedEventAttributes.workflowExecution.workflowId]
          : [],
      );
      const all: Record<string, unknown> = { [workflowId]: JSON.parse(historyToJSON(parent)) };
      for (const id of children)
        all[id] = JSON.parse(historyToJSON(await client.workflow.getHandle(id).fetchHistory()));
      fs.mkdirSync(process.env.BENCH_HISTORIES!, { recursive: true });
      fs.writeFileSync(path.join(process.env.BENCH_HISTORIES!, `${name}.json`), JSON.stringify(all));
    }
    const loads: number[] = [];
    async function operation(kind: string, body: Record<string, unknown>): Promise<Measured> {
      loads.push(os.loadavg()[0]!);
      const cpu0 = cpuNow();
      const t = performance.now();
      const res = await request(app)
        .post(`/api/v1/operations/${kind}`)
        .set(admin)
        .send({ source: 'fs-a', destination: 'fs-b', ...body });
      if (res.status !== 202) throw new Error(`${kind}: ${res.status} ${JSON.stringify(res.body)}`);
      await client.workflow
        .getHandle(res.body.workflowId as string)
        .result()
        .catch(() => undefined);
      const seconds = (performance.now() - t) / 1000;
      const cpu1 = cpuNow();
      if (process.env.BENCH_HISTORIES) await dumpHistories(res.body.workflowId as string, `${kind}-${++dumped}`);
      const op = (await request(app).get(`/api/v1/operations/${res.body.operationId}`).set(admin).expect(200)).body as {
        state: string;
        error: string | null;
        steps: { name: string; state: string; startedAt: string | null; endedAt: string | null; detail?: string }[];
      };
      if (op.state !== 'succeeded') throw new Error(`${kind} ended ${op.state}: ${op.error}`);
      return {
        seconds,
        steps: op.steps.map((s) => ({
          name: s.name,
          seconds: s.startedAt && s.endedAt ? (Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000 : NaN,
        })),
        detail: Object.fromEntries(op.steps.map((s) => [s.name, s.detail ?? ''])),
        cpu: Object.fromEntries(Object.keys(cpu0).map((k) => [k, round(cpu1[k]! - cpu0[k]!, 2)])),
      };
    }

    /** What the DC's DNS server answers for fs-a's name (dig), to confirm the redirect is real. */
    async function fsaResolvesTo(expected: 'fs-a' | 'fs-b'): Promise<void> {
      if (!dc) return;
      const { stdout } = await run('dig', [`@${dc.address}`, `fsa.${ZONE}`, 'A', '+short', '+time=3', '+tries=1']);
      const got = stdout.trim().split('\n').filter(Boolean).sort();
      if (got.join() !== ADDRESSES[expected].join())
        throw new Error(`fsa.${ZONE} resolves to ${got.join(', ') || 'nothing'}, not ${expected}'s addresses`);
    }

    const stepLine = (m: Measured) => {
      const inSteps = m.steps.reduce((t, s) => t + (Number.isNaN(s.seconds) ? 0 : s.seconds), 0);
      return `${m.steps.map((s) => `${s.name} ${round(s.seconds, 2)}`).join(', ')}; outside the steps ${round(m.seconds - inSteps, 2)}`;
    };
    const cpuLine = (cpu: Record<string, number>) =>
      Object.entries(cpu)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');

    const planned: Measured[] = [];
    const unplanned: Measured[] = [];
    const failback: Measured[] = [];
    const resume: Measured[] = [];
    const yardsticks: Awaited<ReturnType<typeof yardstick>>[] = [];
    let finalDelta = '';
    for (let r = 1; r <= rounds; r++) {
      changeEveryShare(shares, sideA, `r${r}-planned`);
      changeEveryShare(yard, sideA, `r${r}-planned`);
      const y = await yardstick(`r${r}`);
      yardsticks.push(y);
      log(
        `round ${r} yardstick: ${round(y.seconds, 2)} s (${y.phases.map((p) => `${p.name} ${round(p.seconds, 2)}`).join(', ')})`,
      );

      const since = new Date();
      const p = await operation('planned-failover', {});
      await fsaResolvesTo('fs-b');
      planned.push(p);
      const jobs = await db.job.findMany({
        where: { kind: 'final_delta', startedAt: { gte: since } },
        select: { startedAt: true, endedAt: true },
      });
      const runMs = jobs.map((j) => j.endedAt!.getTime() - j.startedAt.getTime());
      const firstStart = Math.min(...jobs.map((j) => j.startedAt.getTime()));
      const lastEnd = Math.max(...jobs.map((j) => j.endedAt!.getTime()));
      finalDelta = `${jobs.length} final-delta runs: each ${round(median(runMs) / 1000, 2)} s (median), ${round(Math.max(...runMs) / 1000, 2)} s (max); first started to last ended ${round((lastEnd - firstStart) / 1000, 2)} s`;
      log(`round ${r} planned failover: ${round(p.seconds, 2)} s (${round(p.seconds / y.seconds, 2)}x the yardstick)`);
      log(`  steps (s): ${stepLine(p)}`);
      log(`  ${finalDelta}`);
      log(`  CPU seconds: ${cpuLine(p.cpu)}; redirect: ${p.detail['redirect clients']?.slice(0, 160)}`);

      changeEveryShare(shares, sideB, `r${r}-failback`);
      const fb1 = await operation('failback', {});
      await fsaResolvesTo('fs-a');
      failback.push(fb1);
      log(`round ${r} failback: ${round(fb1.seconds, 2)} s; steps (s): ${stepLine(fb1)}`);
      await runsSettled(new Date(Date.now() - fb1.seconds * 1000), n);

      changeEveryShare(shares, sideA, `r${r}-unplanned`);
      const u = await operation('unplanned-failover', { confirmDataLoss: true });
      await fsaResolvesTo('fs-b');
      unplanned.push(u);
      log(`round ${r} unplanned failover: ${round(u.seconds, 2)} s; steps (s): ${stepLine(u)}`);
      log(`  CPU seconds: ${cpuLine(u.cpu)}`);

      const rs = await operation('resume-replication', { primary: 'destination' });
      resume.push(rs);
      log(`round ${r} resume replication (destination primary): ${round(rs.seconds, 2)} s; steps (s): ${stepLine(rs)}`);
      await runsSettled(new Date(Date.now() - rs.seconds * 1000), n);

      changeEveryShare(shares, sideB, `r${r}-failback2`);
      const fb2 = await operation('failback', {});
      await fsaResolvesTo('fs-a');
      failback.push(fb2);
      log(`round ${r} failback after the resume: ${round(fb2.seconds, 2)} s; steps (s): ${stepLine(fb2)}`);
      await runsSettled(new Date(Date.now() - fb2.seconds * 1000), n);
    }

    const med = (ms: Measured[]) => round(median(ms.map((m) => m.seconds)), 2);
    const yardMedian = median(yardsticks.map((y) => y.seconds));
    const ratio = round(median(planned.map((p) => p.seconds)) / yardMedian, 2);
    log(
      `planned failover ${med(planned)} s (goal < 10), unplanned ${med(unplanned)} s (goal < 5), failback ${med(failback)} s, resume ${med(resume)} s; yardstick ${round(yardMedian, 2)} s, overhead ${ratio}x (goal <= 2)`,
    );
    const last = planned[planned.length - 1]!;
    return {
      shares: n,
      fsvms: `${FSVMS}+${FSVMS}`,
      rounds,
      directory: dc
        ? 'Samba AD DC: the redirect is real in the operations and the yardstick'
        : 'none (--no-dc): the redirect is skipped in both',
      planned_failover_s: med(planned),
      unplanned_failover_s: med(unplanned),
      failback_s: med(failback),
      resume_s: med(resume),
      yardstick_s: round(yardMedian, 2),
      overhead_ratio: ratio,
      planned_failover_runs_s: planned.map((m) => round(m.seconds, 2)),
      unplanned_failover_runs_s: unplanned.map((m) => round(m.seconds, 2)),
      failback_runs_s: failback.map((m) => round(m.seconds, 2)),
      resume_runs_s: resume.map((m) => round(m.seconds, 2)),
      yardstick_runs_s: yardsticks.map((y) => round(y.seconds, 2)),
      planned_steps_s: stepLine(last),
      yardstick_phases_s: yardsticks[yardsticks.length - 1]!.phases.map((p) => `${p.name} ${round(p.seconds, 2)}`).join(
        ', ',
      ),
      final_delta: finalDelta,
      planned_cpu_s: cpuLine(last.cpu),
      // Other work on the machine: the 1-minute load average when each operation started (2 cores).
      load_avg_1m: loads.map((l) => round(l, 1)),
      unplanned_source: 'up (fenced at once)',
      resume_primary: 'destination',
      server:
        'temporal dev server (SQLite, 1 shard), embedded PostgreSQL 17, 4+4 portable gateways on loopback, worker process',
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

export default bench;
