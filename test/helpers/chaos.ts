// The chaos harness: kill -9 the worker at each activity of a workflow run in turn, restart it, and check that the
// run completes with the expected result. Generic over the workflow: a scenario says how to start the run (an API
// call, a client start), how to check its outcome and invariants, and how to get back to where the next run starts.
//
// Where a kill lands, and how exactly. The worker runs the production entry point (workers/main.ts) as its own
// process, with one preload, test/helpers/chaos-probe.ts, that holds every activity at its start (and again after its
// function returned, before its result goes to the server) until this harness answers over the process's IPC channel.
// To kill at the k-th activity of a run, the harness does not answer the k-th start but sends SIGKILL: the process dies
// while that activity is held, after Temporal dispatched it (it is started on the server) and before any of its code
// ran. With `at: 'end'` it dies after the activity's side effects happened and before the server learns of them, so
// the retry must find its own earlier work. The position is therefore exact; in time the kill lands the IPC round
// trip plus the harness's bookkeeping after the start (`heldMs` in the report: typically 0.2-2 ms; up to ~10 ms
// for the first activity of a workflow the harness has not seen yet, which it describes once to learn whether it
// belongs to the run). `at: 'middle'` releases the activity and kills when a condition of the scenario holds (e.g.
// part of a transfer's bytes arrived): the kill lands within 50 ms of that moment.
//   Why not the workflow history: Temporal writes ActivityTaskStarted only when an activity closes (with a retry
// policy the start is buffered with the outcome), a local activity leaves only a marker after the fact, and polling
// DescribeWorkflowExecution every 50 ms saw 5 of a planned failover's 50 activities pending: most last 2-50 ms. The
// SDK's own "Activity started" debug line is no better: the runtime logger batches lines and they reached the test
// 100-150 ms late, after the activity had completed.
//   "The k-th activity of a run" counts distinct activities (workflow id, run id, activity id) of the run's workflow
// and of its descendants (child workflows, found through their parent links), in the order they start, local
// activities included; retries and re-executions do not count again. k runs from 1 to the count of an undisturbed run
// (`measure`). A run that takes another path and has fewer activities reports the kill as not reached.
//
// A run may be killed at several k (`ks`), by default at all of them (`killAtEveryActivity`): each kill waits until the
// worker that replaced the previous one runs the k-th activity, so one run stands for every cycle of kill, restart
// and recovery, and pays its set-up (before, check, after) once. Only first attempts are killed, so a kill never eats
// the one retry an activity with two attempts has. Activities that run beside the killed one (parallel steps: the
// readiness checks, one transfer per FSVM pair) die with it, in their middle or held at their start; their retry is
// not a target again, and the report says which k died with which (`diedWith`) instead of counting them as missed.
// A later kill may still land while such a retry runs beside it, as two crashes in a row would in production: the
// steps that run side by side have the attempts for that (workflows/operation-kit.ts, probes).
//
// What keeps a cycle short (none of it changes what the workflow sees):
// - spare worker processes are kept ready, started up to the point where they would poll (the probe holds
//   `worker.run()`): two before a run, and one more started at each kill while the run goes on; after a kill one is
//   released at once: "restart the worker" costs milliseconds instead of a ~2.8 s cold start (node, tsx, the
//   migrations check, connections, the workflow bundle: ~1.5 s of CPU, which is what bounds the kills per minute on a
//   2-core machine). The new worker still pays its first database query and its first workflow task (replay from the
//   start);
// - Temporal notices that an activity's attempt died only when its heartbeat or start-to-close timeout expires (30 s
//   for the DR steps, 20 s for a transfer, up to 2 min for some replication steps), and retries after the retry
//   policy's interval (1-2 s). The harness shortens the dead attempt's heartbeat and start-to-close timeouts to 200 ms
//   and the retry interval to 100 ms (UpdateActivityOptions; the server re-arms the running attempt's timer), holds the
//   retry at its start, restores the original options (restoreOriginal, which re-arms the retry's timers with them)
//   and only then lets it run: the workflow sees what a production crash gives it, a timeout and a retry, 30 s sooner;
// - the dead worker's sticky task queues are cleared (ResetStickyTaskQueue) for the workflows it ran, so their next
//   workflow task goes to the normal queue instead of waiting for the dead worker. A workflow task the dead worker had
//   started (a kill at a local activity, which runs inside one) waits for its timeout: the chaos lab's Temporal server
//   sets the default to 2 s instead of 10 (test/failover/chaos-lab.ts, startChaosTemporal).
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import type { WorkerProcess } from '../replication/lab';
import type { HarnessMessage, ProbeMessage, ProbedActivity } from './chaos-probe';

/** What `--import` loads into the worker process (the probe, in its main thread). */
export const PROBE = require.resolve('./chaos-probe-loader.mjs');

/** What a chaos test runs again and again. */
export interface ChaosScenario<R = unknown> {
  name: string;
  /** Brings the system to the state a run starts from (called before every run). */
  before?(): Promise<void>;
  /** Starts the run (e.g. through the API) and returns its workflow's id. */
  start(): Promise<string>;
  /** Checks the run's outcome: the workflow's result (it completed), the end state, the invariants. Throws if wrong. */
  check(result: R): Promise<void>;
  /** Gets back to where `before` expects the system (e.g. a failback after a planned failover). */
  after?(): Promise<void>;
}

/**
 * Where a run is interrupted: at each of the ks-th activities (held at its start, or after its function ran), or in
 * the middle of the first activity of a type, once `when` holds (e.g. part of a transfer's bytes arrived).
 */
export type KillPoint =
  | { ks: number[]; at: 'start' | 'end' }
  | { activityType: string; at: 'middle'; when: () => Promise<boolean> }
  | HoldPoint;

/**
 * Not a kill: the run's k-th activity is held at its start (dispatched, started on the server, none of its code run)
 * while `during` disturbs something else (e.g. restarts the Temporal server or PostgreSQL), then runs.
 */
export interface HoldPoint {
  k: number;
  at: 'hold';
  what: string;
  during(): Promise<void>;
}

export interface StartedActivity extends ProbedActivity {
  /** Its position among the run's distinct activities (1-based). */
  k: number;
}

export interface KillReport {
  k: number | null;
  /** 'workflowType.activityType' of the activity the kill hit. */
  activity: string;
  local: boolean;
  /** From the activity's start (end; the middle's condition) in the worker to the SIGKILL, in ms. */
  heldMs: number;
  /** The killed activity ran again on the new worker (for `at: 'start'` it always must). */
  reexecuted: boolean;
  /** From the kill to the next activity of the run starting on the new worker, in ms. */
  resumedMs: number | null;
}

export interface CycleReport {
  scenario: string;
  point: string;
  kills: KillReport[];
  /**
   * ks of the point that died with the kill of another k: an activity running beside the killed one (a parallel
   * step) died with it, in its middle or held at its start; its retry is not killed again. k -> the k killed.
   */
  diedWith: Record<number, number>;
  /** ks of the point no kill landed at and that did not die with another (the run had fewer activities). */
  missed: number[];
  /** The run, from its start to its end, in ms. */
  runMs: number;
  /** The whole cycle: before, run, check, after. */
  cycleMs: number;
  /** Distinct activities of this run. */
  activities: number;
}

interface ProbedWorker {
  process: WorkerProcess;
  dead: boolean;
  /** Activities this worker started and has not finished (keyed by workflow, run and activity id). */
  inflight: Map<string, ProbedActivity>;
  /** Workflows whose activities it ran (`workflowId|runId`): their sticky queue may be this worker's. */
  workflows: Set<string>;
}

interface Kill {
  activity: StartedActivity;
  eventAt: number;
  killedAt: number;
  resumedAt?: number;
}

interface RunState {
  point: KillPoint | null;
  root?: string;
  rootKnown: Promise<void>;
  order: Map<string, number>;
  starts: StartedActivity[];
  /** Every start of an activity of the run (retries and re-executions too), when the worker reported it. */
  all: { key: string; at: number }[];
  kills: Kill[];
  /** ks that were running on a killed worker beside the k killed (k -> the k killed). */
  diedWith: Map<number, number>;
  /** A kill and its recovery in progress: the next kill waits for it. */
  recovering?: Promise<void>;
  recoveries: Promise<void>[];
  middleArmed?: boolean;
  /** The hold point's activity was held; what its `during` threw. */
  held?: boolean;
  heldError?: Error;
  /** Why the kill in the middle could not land. */
  missedMiddle?: string;
}

/** A dead attempt whose options were shortened: its retry waits at its start until they are restored. */
interface Shortened {
  attempt: number;
  restore(): Promise<void>;
}

/** PendingActivityState (temporal.api.enums.v1): an attempt is running, or running with a cancel requested. */
const STARTED = 2;
const CANCEL_REQUESTED = 3;
/** Worker processes kept ready (each costs ~1.5 s of CPU and ~250 MB to start): two start while a third runs. */
const SPARES = 2;
/** How soon the server notices a killed attempt (its timeouts, shortened). */
const DEAD_ATTEMPT_TIMEOUT = '200ms';
const now = (): number => performance.timeOrigin + performance.now();
const keyOf = (a: ProbedActivity) => `${a.workflowId}|${a.runId}|${a.activityId}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ChaosOptions {
  temporal: Client;
  namespace?: string;
  /** The task queue the workers poll. */
  taskQueue: string;
  /** Starts the worker process with the probe preloaded and an IPC channel (e.g. lab.ts's startWorkerProcess). */
  startWorker(opts: { preload: string; ipc: true }): Promise<WorkerProcess>;
  /** How long a run may take (from its start) before it counts as stuck. Default 6 minutes (a run killed at every activity). */
  runTimeoutMs?: number;
}

export class ChaosHarness {
  private active!: ProbedWorker;
  private spares: Promise<ProbedWorker>[] = [];
  private run: RunState | null = null;
  private readonly parents = new Map<string, Promise<{ workflowId: string; runId: string } | null>>();
  private readonly shortened = new Map<string, Shortened>();
  private readonly ns: string;
  private closed = false;
  private lastStarts: StartedActivity[] = [];

  private constructor(private readonly opts: ChaosOptions) {
    this.ns = opts.namespace ?? 'default';
  }

  /** Starts the first worker (polling). */
  static async start(opts: ChaosOptions): Promise<ChaosHarness> {
    const h = new ChaosHarness(opts);
    h.active = await h.spawn();
    h.release(h.active);
    return h;
  }

  /** An undisturbed run, checked like any: its distinct activities in start order. */
  async measure<R>(scenario: ChaosScenario<R>): Promise<{ activities: StartedActivity[]; report: CycleReport }> {
    const report = await this.cycle(scenario, null);
    return { activities: this.lastStarts, report };
  }

  /** One run of the scenario interrupted at `point`, recovered, checked. */
  async cycle<R>(scenario: ChaosScenario<R>, point: KillPoint | null): Promise<CycleReport> {
    const t0 = now();
    const kills = !point ? 0 : 'ks' in point ? point.ks.length : 'when' in point ? 1 : 0;
    // Spares for the run's first kills, started before it so that they do not compete with it for the CPU; each kill
    // starts the next one while the run goes on.
    this.topUp(Math.min(kills, SPARES));
    await Promise.all(this.spares);
    await scenario.before?.();
    let rootKnown!: () => void;
    const run: RunState = {
      point,
      rootKnown: new Promise<void>((r) => (rootKnown = r)),
      order: new Map(),
      starts: [],
      all: [],
      kills: [],
      diedWith: new Map(),
      recoveries: [],
    };
    this.run = run;
    const started = now();
    let result: R;
    try {
      run.root = await scenario.start();
      rootKnown();
      result = await this.outcome<R>(run.root);
      await Promise.all(run.recoveries);
    } finally {
      this.run = null;
      rootKnown();
    }
    const ended = now();
    this.lastStarts = run.starts;
    if (run.missedMiddle) throw new Error(run.missedMiddle);
    if (point && 'during' in point && !run.held) throw new Error(`the run had no activity k=${point.k} to hold`);
    if (run.heldError) throw run.heldError;
    await scenario.check(result);
    await scenario.after?.();
    return {
      scenario: scenario.name,
      point: !point
        ? 'undisturbed'
        : 'ks' in point
          ? `k=${point.ks.join(',')} at ${point.at}`
          : 'when' in point
            ? `middle of ${point.activityType}`
            : `${point.what} while k=${point.k} is held`,
      kills: run.kills.map((k) => ({
        k: point && 'ks' in point ? k.activity.k : null,
        activity: `${k.activity.workflowType}.${k.activity.activityType}`,
        local: k.activity.isLocal,
        heldMs: Math.round((k.killedAt - k.eventAt) * 100) / 100,
        reexecuted: run.all.some((s) => s.key === keyOf(k.activity) && s.at > k.killedAt),
        resumedMs: k.resumedAt ? Math.round(k.resumedAt - k.killedAt) : null,
      })),
      diedWith: Object.fromEntries(run.diedWith),
      missed: point && 'ks' in point ? point.ks.filter((k) => !this.killedAt(run, k) && !run.diedWith.has(k)) : [],
      runMs: Math.round(ended - started),
      cycleMs: Math.round(now() - t0),
      activities: run.starts.length,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.active?.process.kill9();
    for (const s of this.spares) await (await s.catch(() => undefined))?.process.kill9();
  }

  // ---- workers

  private async spawn(): Promise<ProbedWorker> {
    const process = await this.opts.startWorker({ preload: PROBE, ipc: true });
    let held!: () => void;
    const isHeld = new Promise<void>((r) => (held = r));
    const w: ProbedWorker = { process, dead: false, inflight: new Map(), workflows: new Set() };
    process.proc.on('message', (m: ProbeMessage) => {
      if (w.dead) return;
      if (m.type === 'held') held();
      else void this.onActivity(w, m);
    });
    process.proc.once('exit', (code, signal) => {
      if (w.dead || this.closed) return;
      w.dead = true;
      // Not our kill: the worker crashed. The run times out; its output says why.
      console.error(`[chaos] a worker exited on its own (${code ?? signal}):\n${process.output().slice(-4000)}`);
    });
    await isHeld;
    return w;
  }

  /** Starts spares until `n` are ready or starting. */
  private topUp(n: number): void {
    while (this.spares.length < n) {
      const spare = this.spawn();
      spare.catch(() => undefined);
      this.spares.push(spare);
    }
  }

  private release(w: ProbedWorker): void {
    w.process.proc.send({ type: 'go' } satisfies HarnessMessage);
  }

  private answer(w: ProbedWorker, id: number): void {
    if (!w.dead) w.process.proc.send({ type: 'continue', id } satisfies HarnessMessage);
  }

  // ---- the activity stream

  private async onActivity(w: ProbedWorker, m: Extract<ProbeMessage, { type: 'activity' }>): Promise<void> {
    const a = m.activity;
    const key = keyOf(a);
    w.workflows.add(`${a.workflowId}|${a.runId}`);
    const run = this.run;
    if (m.phase === 'end') {
      const point = run?.point;
      const k = run?.order.get(key);
      if (run && point && 'ks' in point && point.at === 'end' && k && point.ks.includes(k) && !this.killedAt(run, k)) {
        await run.recovering;
        if (w.dead) return; // it died with the previous kill: its retry is not killed again
        if (!this.killedAt(run, k)) return this.kill(w, run, run.starts[k - 1]!, m.at);
      }
      w.inflight.delete(key);
      return this.answer(w, m.id);
    }
    w.inflight.set(key, a);
    // The retry of an attempt the harness shortened runs only with the activity's own options again.
    const s = this.shortened.get(`${a.workflowId}|${a.activityId}`);
    if (s && a.attempt > s.attempt) await s.restore();
    if (!run || !(await this.inRun(run, a))) return this.answer(w, m.id);
    run.all.push({ key, at: m.at });
    const last = run.kills[run.kills.length - 1];
    if (last && !last.resumedAt && m.at > last.killedAt) last.resumedAt = m.at;
    if (!run.order.has(key)) {
      run.order.set(key, run.starts.length + 1);
      run.starts.push({ ...a, k: run.starts.length + 1 });
      // Its first attempt never reached an activity function: it was dispatched to a worker that a kill ended first.
      if (a.attempt > 1 && run.kills.length)
        run.diedWith.set(run.starts.length, run.kills[run.kills.length - 1]!.activity.k);
    }
    const started = run.starts[run.order.get(key)! - 1]!;
    // Its worker was killed while the harness was placing it in the run (another k's kill): it died with that one.
    const latest = run.kills[run.kills.length - 1];
    if (w.dead && latest && !this.killedAt(run, started.k)) run.diedWith.set(started.k, latest.activity.k);
    const point = run.point;
    if (
      point &&
      'ks' in point &&
      point.at === 'start' &&
      a.attempt === 1 &&
      point.ks.includes(started.k) &&
      !run.diedWith.has(started.k)
    ) {
      if (!this.killedAt(run, started.k)) {
        // One kill at a time: the previous one has recovered (a new worker runs) before this one lands.
        await run.recovering;
        if (w.dead) return; // it died with the previous kill: its retry is not killed again
        if (!this.killedAt(run, started.k)) return this.kill(w, run, started, m.at);
      }
    }
    if (point && 'during' in point && started.k === point.k && a.attempt === 1 && !run.held) {
      run.held = true;
      await point
        .during()
        .catch(
          (err: unknown) =>
            (run.heldError = err instanceof Error ? err : new Error(`${point.what}: ${JSON.stringify(err)}`)),
        );
    }
    if (point && 'when' in point && !run.middleArmed && a.activityType === point.activityType) {
      run.middleArmed = true;
      void this.killInTheMiddle(w, run, started, key, point.when);
    }
    this.answer(w, m.id);
  }

  private killedAt(run: RunState, k: number): boolean {
    return run.kills.some((x) => x.activity.k === k);
  }

  private async killInTheMiddle(
    w: ProbedWorker,
    run: RunState,
    activity: StartedActivity,
    key: string,
    when: () => Promise<boolean>,
  ): Promise<void> {
    const missed = `${activity.activityType} ended before its middle was reached: make it longer`;
    for (;;) {
      if (!w.inflight.has(key) || w.dead || this.run !== run) {
        run.missedMiddle = missed;
        return;
      }
      if (await when().catch(() => false)) break;
      await sleep(50);
    }
    if (w.inflight.has(key) && !w.dead) this.kill(w, run, activity, now());
    else run.missedMiddle = missed;
  }

  /** Whether an activity belongs to the run: its workflow is the run's, or a descendant of it. */
  private async inRun(run: RunState, a: { workflowId: string; runId: string }): Promise<boolean> {
    await run.rootKnown;
    for (let wf: { workflowId: string; runId: string } | null = a; wf; wf = await this.parentOf(wf)) {
      if (wf.workflowId === run.root) return true;
    }
    return false;
  }

  private parentOf(wf: { workflowId: string; runId: string }) {
    const k = `${wf.workflowId}|${wf.runId}`;
    let p = this.parents.get(k);
    if (!p) {
      p = this.opts.temporal.workflow
        .getHandle(wf.workflowId, wf.runId)
        .describe()
        .then((d) => {
          const parent = d.raw.workflowExecutionInfo?.parentExecution;
          return parent?.workflowId ? { workflowId: parent.workflowId, runId: parent.runId ?? '' } : null;
        });
      this.parents.set(k, p);
    }
    return p;
  }

  // ---- kill and recovery

  private kill(w: ProbedWorker, run: RunState, activity: StartedActivity, eventAt: number): void {
    w.dead = true;
    w.process.proc.kill('SIGKILL');
    run.kills.push({ activity, eventAt, killedAt: now() });
    for (const key of w.inflight.keys()) {
      const k = run.order.get(key);
      if (k && k !== activity.k && !this.killedAt(run, k)) run.diedWith.set(k, activity.k);
    }
    const recovery = this.recover(w, run);
    run.recovering = recovery.then(
      () => undefined,
      () => undefined,
    );
    run.recoveries.push(recovery);
  }

  private async recover(dead: ProbedWorker, run: RunState): Promise<void> {
    const proc = dead.process.proc;
    if (proc.exitCode === null && proc.signalCode === null) await new Promise((r) => proc.once('exit', r));
    const svc = this.opts.temporal.workflowService;
    const identity = `${proc.pid}@`;
    // Every workflow the dead worker may have had tasks of: the running ones of the task queue (visibility), the
    // run's tree, and those whose activities it reported. Activity tasks it had received but not begun (eagerly
    // dispatched with a workflow task's completion) count as started on the server too, so the probe alone does not
    // know them all: the server does (the attempt's last worker identity).
    const workflows = new Map<string, { workflowId: string; runId?: string }>();
    for await (const wf of this.opts.temporal.workflow.list({
      query: `TaskQueue = '${this.opts.taskQueue}' AND ExecutionStatus = 'Running'`,
    })) {
      workflows.set(wf.workflowId, { workflowId: wf.workflowId, runId: wf.runId });
    }
    for (const id of [...dead.workflows, ...(run.root ? [`${run.root}|`] : [])]) {
      const [workflowId, runId] = id.split('|') as [string, string];
      if (!workflows.has(workflowId)) workflows.set(workflowId, { workflowId, ...(runId ? { runId } : {}) });
    }
    const restored: Promise<void>[] = [];
    const seen = new Set<string>();
    const visit = async (wf: { workflowId: string; runId?: string }): Promise<void> => {
      if (seen.has(wf.workflowId)) return;
      seen.add(wf.workflowId);
      const d = await this.opts.temporal.workflow
        .getHandle(wf.workflowId, wf.runId)
        .describe()
        .catch(() => undefined);
      if (!d || d.status.name !== 'RUNNING') return;
      await svc
        .resetStickyTaskQueue({ namespace: this.ns, execution: { workflowId: wf.workflowId, runId: d.runId } })
        .catch(() => undefined); // closed meanwhile
      for (const p of d.raw.pendingActivities ?? []) {
        const state = Number(p.state);
        if (state !== STARTED && state !== CANCEL_REQUESTED) continue;
        if (!p.lastWorkerIdentity?.startsWith(identity) || !p.activityId) continue;
        restored.push((await this.shorten(wf.workflowId, d.runId, p.activityId, p.attempt ?? 1)).restored);
      }
      await Promise.all(
        (d.raw.pendingChildren ?? []).map((c) =>
          visit({ workflowId: c.workflowId ?? '', runId: c.runId ?? undefined }),
        ),
      );
    };
    await Promise.all([...workflows.values()].map(visit));
    const next = this.spares.shift() ?? this.spawn();
    const point = run.point;
    const ahead = point && 'ks' in point ? point.ks.length - run.kills.length : 0;
    this.topUp(Math.min(ahead, SPARES));
    this.active = await next;
    this.release(this.active);
    await Promise.all(restored);
  }

  /**
   * Shortens a dead attempt's timeouts so the server notices it within a second, and arranges for the retry to run
   * with the activity's own options: restored when the retry starts (held until then), or when the activity ends some
   * other way (`restored`).
   */
  private async shorten(
    workflowId: string,
    runId: string,
    activityId: string,
    attempt: number,
  ): Promise<{ restored: Promise<void> }> {
    const svc = this.opts.temporal.workflowService;
    const key = `${workflowId}|${activityId}`;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    let restoring: Promise<void> | undefined;
    const restore = () =>
      (restoring ??= svc
        .updateActivityOptions({
          namespace: this.ns,
          execution: { workflowId, runId },
          id: activityId,
          restoreOriginal: true,
        })
        .then(
          () => undefined,
          (err: unknown) => {
            if (!/NOT_FOUND/.test(String(err))) throw err;
          },
        )
        .finally(() => {
          this.shortened.delete(key);
          done();
        }));
    this.shortened.set(key, { attempt, restore });
    await svc.updateActivityOptions({
      namespace: this.ns,
      execution: { workflowId, runId },
      id: activityId,
      activityOptions: {
        heartbeatTimeout: msToTs(DEAD_ATTEMPT_TIMEOUT),
        startToCloseTimeout: msToTs(DEAD_ATTEMPT_TIMEOUT),
        retryPolicy: { initialInterval: msToTs('100ms') },
      },
      updateMask: { paths: ['heartbeat_timeout', 'start_to_close_timeout', 'retry_policy.initial_interval'] },
    });
    void this.untilNotRetried(workflowId, runId, activityId).then(restore, restore);
    return { restored: finished };
  }

  private async pendingActivity(workflowId: string, runId: string, activityId: string) {
    const d = await this.opts.temporal.workflow
      .getHandle(workflowId, runId)
      .describe()
      .catch(() => undefined);
    return d?.raw.pendingActivities?.find((x) => x.activityId === activityId);
  }

  /** Resolves when an activity no longer waits for the retry of its dead attempt (it ended some other way). */
  private async untilNotRetried(workflowId: string, runId: string, activityId: string): Promise<void> {
    for (;;) {
      await sleep(500);
      if (!this.shortened.has(`${workflowId}|${activityId}`)) return;
      if (!(await this.pendingActivity(workflowId, runId, activityId))) return;
    }
  }

  /** The run's result, or an error that says where it is stuck. */
  private async outcome<R>(workflowId: string): Promise<R> {
    const handle = this.opts.temporal.workflow.getHandle(workflowId);
    const limit = this.opts.runTimeoutMs ?? 360_000;
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void this.whereStuck(workflowId).then((s) =>
          reject(new Error(`the run of ${workflowId} did not end within ${limit / 1000}s: ${s}`)),
        );
      }, limit);
    });
    try {
      return (await Promise.race([handle.result(), stuck])) as R;
    } catch (err) {
      if (err instanceof Error && /did not end within/.test(err.message)) throw err;
      throw new Error(`the run of ${workflowId} failed: ${describeFailure(err)}; ${await this.whereStuck(workflowId)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Pending activities and workflow tasks of a workflow and its running descendants, in words. */
  async whereStuck(workflowId: string): Promise<string> {
    const parts: string[] = [];
    const walk = async (id: string, runId?: string): Promise<void> => {
      const d = await this.opts.temporal.workflow
        .getHandle(id, runId)
        .describe()
        .catch(() => undefined);
      if (!d) return;
      const acts = (d.raw.pendingActivities ?? []).map(
        (p) =>
          `${p.activityType?.name}#${p.activityId} state ${p.state} attempt ${p.attempt}${p.lastFailure?.message ? ` (${p.lastFailure.message})` : ''}`,
      );
      const task = d.raw.pendingWorkflowTask ? `, workflow task in state ${d.raw.pendingWorkflowTask.state}` : '';
      parts.push(`${id} ${d.status.name}: ${acts.join(', ') || 'no pending activity'}${task}`);
      await Promise.all((d.raw.pendingChildren ?? []).map((c) => walk(c.workflowId ?? '', c.runId ?? undefined)));
    };
    await walk(workflowId);
    return parts.join('; ');
  }
}

function describeFailure(err: unknown): string {
  const out: string[] = [];
  for (let e: unknown = err; e instanceof Error && out.length < 6; e = e.cause) out.push(e.message);
  return out.join(': ') || String(err);
}

/**
 * Kills at every k from 1 to `count` (the activities of an undisturbed run), each once: by default all in one run (a
 * kill costs a restart, ~2 s; a run costs its before, check and after), else `killsPerRun` of them in one run (k,
 * k + stride, k + 2 stride, ...), so the runs are `count / killsPerRun` rounded up.
 */
export async function killAtEveryActivity<R>(
  harness: ChaosHarness,
  scenario: ChaosScenario<R>,
  opts: { at: 'start' | 'end'; count: number; killsPerRun?: number; onCycle?: (r: CycleReport) => void },
): Promise<CycleReport[]> {
  const perRun = Math.max(1, opts.killsPerRun ?? opts.count);
  const runs = Math.ceil(opts.count / perRun);
  const reports: CycleReport[] = [];
  for (let first = 1; first <= runs; first++) {
    const ks: number[] = [];
    for (let k = first; k <= opts.count; k += runs) ks.push(k);
    if (!ks.length) continue;
    const r = await harness.cycle(scenario, { ks, at: opts.at }).catch((err: unknown) => {
      throw new Error(
        `${scenario.name}, kills at k=${ks.join(',')} (${opts.at}): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    });
    opts.onCycle?.(r);
    reports.push(r);
  }
  return reports;
}

/** One line per cycle and a summary of the kills, for the test's output. */
export function summarize(reports: CycleReport[]): string {
  const kills = reports.flatMap((r) => r.kills);
  const held = kills.map((k) => k.heldMs).sort((a, b) => a - b);
  const resumed = kills.flatMap((k) => (k.resumedMs === null ? [] : [k.resumedMs])).sort((a, b) => a - b);
  const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? 0;
  const total = reports.reduce((n, r) => n + r.cycleMs, 0);
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return [
    ...reports.map(
      (r) =>
        `${r.scenario}, ${r.point}: run ${s(r.runMs)}, cycle ${s(r.cycleMs)}${r.missed.length ? `, not reached: ${r.missed.join(',')}` : ''}${
          Object.keys(r.diedWith).length
            ? `, died with another kill: ${Object.entries(r.diedWith)
                .map(([k, by]) => `${k} (with ${by})`)
                .join(', ')}`
            : ''
        }${r.kills
          .map(
            (k) =>
              `\n  ${k.k ?? '-'} ${k.activity}${k.local ? ' (local)' : ''}: held ${k.heldMs} ms${k.reexecuted ? ', re-executed' : ''}${k.resumedMs !== null ? `, resumed after ${s(k.resumedMs)}` : ''}`,
          )
          .join('')}`,
    ),
    `${reports.length} runs, ${kills.length} kills, ${s(total)}; kill after the held point: median ${pct(held, 50)} ms, p95 ${pct(held, 95)} ms, max ${held[held.length - 1] ?? 0} ms; re-executed ${kills.filter((k) => k.reexecuted).length}/${kills.length}; resumed after a kill: median ${s(pct(resumed, 50))}, p95 ${s(pct(resumed, 95))}`,
  ].join('\n');
}
