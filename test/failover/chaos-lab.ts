// The DR lab the failover chaos tests share: file server A (a1, a2) protected to B (b1, b2) by one policy with one
// distributed share (a portion on each FSVM, so every access-mode change and every final delta spans two FSVMs on each
// side), the chaos harness's worker processes, and the split-brain watch over the whole test file. The lab has its own
// Temporal server (restartable; a 2 s default workflow task timeout) and, if asked, its own PostgreSQL (restartable).
// The operations and end-state checks below are what the scenarios of the chaos-*.test.ts files are made of.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { randomBytesDeterministic, snapshotDigest, writeFiles, type Agent } from '../gateway/helpers';
import { ChaosHarness, killAtEveryActivity, summarize, type ChaosScenario, type CycleReport } from '../helpers/chaos';
import { createDb } from '../../infra/database';
import { startEmbeddedPostgres } from '../../infra/embedded-postgres';
import { applyMigrations } from '../../infra/migrate';
import { startDevServer, type DevServer } from '../../infra/temporal-dev-server';
import { testEnvironment, type TestDatabase } from '../helpers/environment';
import { freePort } from '../helpers/ports';
import { contentDigest, startLab, startWorkerProcess, waitUntil, type Lab } from '../replication/lab';
import { createSitesNetwork, type SitesNetwork } from '../helpers/sites-network';
import { watchSplitBrain, type SplitBrainWatch } from './split-brain-watch';

export const SHARE = 'home';
/** The share's portions (at the source, alice on a1 and bob on a2; the destination places them on its FSVMs). */
export const PORTIONS = [{ portion: 'alice' }, { portion: 'bob' }] as const;

export type Side = 'a' | 'b';
export type Mode = 'read_write' | 'read_only' | 'off';

export interface Operation {
  id: string;
  state: string;
  error: string | null;
  steps: { name: string; state: string; detail?: string }[];
  result: Record<string, any> | null;
  /** The final delta's jobs (planned failover and failback). */
  jobs?: { state: string; percent: number }[];
}

export interface ChaosLab {
  lab: Lab;
  /** The lab's own Temporal server. */
  temporal: ChaosTemporal;
  /** The lab's own PostgreSQL server (with `ownPostgres`). */
  postgres?: ChaosPostgres;
  harness: ChaosHarness;
  watch: SplitBrainWatch;
  agents(side: Side): Agent[];
  /** The two file servers' names (a: the configured source, b: its destination). */
  fileServers: { a: string; b: string };
  /** The policy that protects the share. */
  policy: string;
  /** The file servers' statuses, by side. */
  /** The live folder of a portion on the side's FSVM that holds it. */
  live(side: Side, portion: string): string;
  /** The FSVM of a side that holds a portion. */
  holder(side: Side, portion: string): Agent;
  /** Writes a uniquely named file into every portion of the share on a side; returns its name. */
  write(side: Side, tag: string, bytes?: number): string;
  /** Starts an operation through the API; returns its workflow id (the harness's root) and operation id. */
  start(kind: string, body?: Record<string, unknown>): Promise<{ workflowId: string; operationId: string }>;
  /** Starts an operation and waits for it; expects it to succeed. */
  runOperation(kind: string, body?: Record<string, unknown>): Promise<Operation>;
  operation(id: string): Promise<Operation>;
  /** The access modes of the share's copy on a side's FSVMs that hold it (each mode once, sorted). */
  modes(side: Side): Promise<Mode[]>;
  primary(): Promise<string[]>;
  statuses(): Promise<{ a: string; b: string }>;
  expectEqualCopies(): void;
  /** Waits for the replication run an operation started after `since` triggered to end, succeeded. */
  replicatedSince(since: Date): Promise<void>;
  /**
   * Only complete snapshot sets are visible: on each side, every portion of the share holds the same sets (no set
   * with a portion missing), and every set the database calls complete is there on every portion.
   */
  expectCompleteSets(): Promise<void>;
  /** Checks the split-brain watch saw no violation so far. */
  expectNoSplitBrain(): void;
  /** With `sitesNetwork`: the network of the two sites, whose link the test may cut. */
  network?: SitesNetwork;
  close(): Promise<void>;
}

export async function startChaosLab(
  opts: {
    sourceBandwidth?: string;
    /** A PostgreSQL server of the lab's own, which the test may restart (`c.postgres`). */
    ownPostgres?: boolean;
    /** Each site's agents in a network namespace of its own, the link between them cuttable (`c.network`). */
    sitesNetwork?: boolean;
    /** More environment for every agent. */
    agentEnv?: Record<string, string>;
  } = {},
): Promise<ChaosLab> {
  // Names of its own: workflow ids derived from them (the fence's, the policy's schedule) are global on the dev server
  // that test files running at the same time share.
  const id = randomBytes(3).toString('hex');
  const temporal = await startChaosTemporal();
  let postgres: ChaosPostgres | undefined;
  let network: SitesNetwork | undefined;
  let lab: Lab;
  try {
    network = opts.sitesNetwork ? createSitesNetwork() : undefined;
    postgres = opts.ownPostgres ? await startChaosPostgres() : undefined;
    lab = await startLab({
      workerProcess: true,
      names: { a: `a-${id}`, b: `b-${id}` },
      temporalAddress: temporal.server.address,
      ...(postgres ? { database: postgres.database } : {}),
      ...(opts.sourceBandwidth ? { sourceBandwidth: opts.sourceBandwidth } : {}),
      ...(network ? { sites: network } : {}),
      ...(opts.agentEnv ? { agentEnv: opts.agentEnv } : {}),
    });
  } catch (err) {
    await postgres?.stop();
    await temporal.stop();
    network?.close();
    throw err;
  }
  const BODY = { source: lab.names.a, destination: lab.names.b };
  let harness: ChaosHarness | undefined;
  try {
    harness = await ChaosHarness.start({
      temporal: lab.temporal,
      taskQueue: lab.taskQueue,
      startWorker: (o) =>
        startWorkerProcess(lab.database.url, lab.taskQueue, { ...o, temporalAddress: temporal.server.address }),
    });
    const { a1, a2 } = lab.agents;
    await a1.client.createShare(SHARE, { kind: 'distributed', portions: ['alice'] });
    await a2.client.createShare(SHARE, { kind: 'distributed', portions: ['bob'] });
    writeFiles(lab.livePath(a1, SHARE, 'alice'), {
      'notes.txt': 'alice\n',
      'data.bin': randomBytesDeterministic(1 << 16, 1),
    });
    writeFiles(lab.livePath(a2, SHARE, 'bob'), { 'todo.txt': 'bob\n' });
    const created = await request(lab.app)
      .post('/api/v1/policies')
      .set(lab.admin)
      .send({ name: `gold-${id}`, ...BODY, rpoMinutes: 30, shares: [{ source: SHARE }] });
    if (created.status !== 202) throw new Error(`policy: ${created.status} ${JSON.stringify(created.body)}`);
    await lab.temporal.workflow.getHandle(created.body.workflowId).result();
    await waitUntil(
      'the base copy',
      async () => (await lab.database.db.job.count({ where: { state: 'succeeded' } })) === 1,
      60_000,
    );
    // The base copy's run ends after its job does (pruning): a run triggered before would wait behind it.
    await waitUntil(
      'the base copy run to end',
      async () => {
        for await (const _ of lab.temporal.workflow.list({
          query: `WorkflowType = 'replicateShareWorkflow' AND ExecutionStatus = 'Running'`,
        }))
          return false;
        return true;
      },
      60_000,
    );
  } catch (err) {
    await harness?.close();
    await lab.close();
    await postgres?.stop();
    await temporal.stop();
    network?.close();
    throw err;
  }
  const agents = (side: Side) => (side === 'a' ? [lab.agents.a1, lab.agents.a2] : [lab.agents.b1, lab.agents.b2]);
  const watch = watchSplitBrain({ source: agents('a'), destination: agents('b') }, [
    { sourceShare: SHARE, targetShare: SHARE },
  ]);
  let files = 0;

  const c: ChaosLab = {
    lab,
    temporal,
    ...(postgres ? { postgres } : {}),
    ...(network ? { network } : {}),
    harness,
    watch,
    agents,
    holder(side, portion) {
      const holder = agents(side).find((a) => fs.existsSync(lab.livePath(a, SHARE, portion)));
      if (!holder) throw new Error(`no FSVM of side ${side} holds ${SHARE}/${portion}`);
      return holder;
    },
    live(side, portion) {
      return lab.livePath(c.holder(side, portion), SHARE, portion);
    },
    write(side, tag, bytes = 64) {
      const name = `${tag}-${++files}.txt`;
      for (const p of PORTIONS) {
        writeFiles(c.live(side, p.portion), { [name]: randomBytesDeterministic(bytes, files) });
      }
      return name;
    },
    fileServers: { a: lab.names.a, b: lab.names.b },
    policy: `gold-${id}`,
    async start(kind, body = {}) {
      const res = await request(lab.app)
        .post(`/api/v1/operations/${kind}`)
        .set(lab.admin)
        .send({ ...BODY, ...body });
      if (res.status !== 202) throw new Error(`${kind}: ${res.status} ${JSON.stringify(res.body)}`);
      return { workflowId: res.body.workflowId as string, operationId: res.body.operationId as string };
    },
    async runOperation(kind, body) {
      const { workflowId, operationId } = await c.start(kind, body);
      await lab.temporal.workflow
        .getHandle(workflowId)
        .result()
        .catch(() => undefined);
      const op = await c.operation(operationId);
      expectSucceeded(op, kind);
      return op;
    },
    async operation(id) {
      const res = await request(lab.app).get(`/api/v1/operations/${id}`).set(lab.admin);
      if (res.status !== 200) throw new Error(`operation ${id}: ${res.status}`);
      return res.body as Operation;
    },
    async modes(side) {
      const modes = await Promise.all(agents(side).map(async (a) => (await a.client.findShare(SHARE))?.accessMode));
      return [...new Set(modes.filter((m): m is Mode => m !== undefined))].sort();
    },
    async primary() {
      return (await lab.database.db.policyShare.findMany()).map((s) => s.primary);
    },
    async statuses() {
      const list = await request(lab.app).get('/api/v1/file-servers').set(lab.admin).expect(200);
      const of = (name: string) => (list.body.items as { name: string; status: string }[]).find((s) => s.name === name);
      return { a: of(lab.names.a)?.status ?? '', b: of(lab.names.b)?.status ?? '' };
    },
    expectEqualCopies() {
      for (const p of PORTIONS) {
        expect({ [p.portion]: contentDigest(c.live('b', p.portion)) }).toEqual({
          [p.portion]: contentDigest(c.live('a', p.portion)),
        });
      }
    },
    async replicatedSince(since) {
      const db = lab.database.db;
      await waitUntil(
        'the triggered replication run to end',
        async () =>
          (await db.job.count({ where: { startedAt: { gte: since }, kind: { not: 'final_delta' } } })) > 0 &&
          (await db.job.count({ where: { state: { in: ['pending', 'running'] } } })) === 0,
        60_000,
      ).catch(async (err: unknown) => {
        const jobs = await db.job.findMany({ orderBy: { startedAt: 'desc' }, take: 5 });
        const shares = await db.policyShare.findMany();
        throw new Error(
          `${String(err)} (since ${since.toISOString()}); last jobs: ${jobs
            .map(
              (j) =>
                `${j.kind} ${j.sourceFileServer}->${j.destFileServer} ${j.state} ${j.startedAt.toISOString()} ${j.error ?? ''}`,
            )
            .join('; ')}; shares: ${JSON.stringify(shares.map((x) => ({ primary: x.primary, paused: x.paused })))}`,
        );
      });
      const failed = await db.job.findMany({ where: { startedAt: { gte: since }, state: { not: 'succeeded' } } });
      expect(failed.map((j) => `${j.kind} ${j.state}: ${j.error}`)).toEqual([]);
    },
    async expectCompleteSets() {
      const db = lab.database.db;
      // A run still taking its set (a schedule's, or one a retried trigger buffered behind the last) has it on some
      // FSVMs and not yet on others for a moment, as any snapshot across several nodes does: look once no run is on.
      const running = async () => {
        const ids: string[] = [];
        for await (const wf of lab.temporal.workflow.list({
          query: `WorkflowType = 'replicateShareWorkflow' AND ExecutionStatus = 'Running'`,
        }))
          ids.push(wf.workflowId);
        return ids;
      };
      await waitUntil('no replication run under way', async () => (await running()).length === 0, 60_000).catch(
        async (err: unknown) => {
          throw new Error(`${String(err)}: ${(await running()).join(', ')}`);
        },
      );
      for (const side of ['a', 'b'] as const) {
        const byPortion = await Promise.all(
          PORTIONS.map(async (p) =>
            (await c.holder(side, p.portion).client.listSnapshots(SHARE, p.portion)).map((x) => x.id).sort(),
          ),
        );
        const label = (ids: string[][]) => Object.fromEntries(PORTIONS.map((p, i) => [p.portion, ids[i]]));
        const odd = [...new Set(byPortion.flat())].filter((id) => !byPortion.every((ids) => ids.includes(id)));
        if (odd.length) {
          // What the database knew of them, for the failure message.
          const rows = await db.snapshotSet.findMany({ where: { setId: { in: odd } } });
          const jobs = await db.job.findMany({ where: { snapshotSetId: { in: odd } } });
          console.log(
            `[chaos] side ${side}: sets not on every portion: ${JSON.stringify({ odd, rows, jobs }, (_k, v: unknown) =>
              typeof v === 'bigint' ? String(v) : v,
            )}`,
          );
        }
        expect({ side, sets: label(byPortion) }).toEqual({ side, sets: label(PORTIONS.map(() => byPortion[0]!)) });
        const complete = await db.snapshotSet.findMany({
          where: { fileServer: { name: c.fileServers[side] }, share: SHARE, complete: true },
        });
        const missing = complete.map((x) => x.setId).filter((id) => !byPortion[0]!.includes(id));
        expect({ side, completeInDatabaseButNotOnTheFsvms: missing }).toEqual({
          side,
          completeInDatabaseButNotOnTheFsvms: [],
        });
      }
    },
    expectNoSplitBrain() {
      // The watch goes on for the whole file; a violation fails the cycle that caused it.
      const seen = watch.seen();
      expect(seen.violations).toEqual([]);
      expect(seen.samples).toBeGreaterThan(0);
    },
    async close() {
      await watch.stop().catch(() => undefined);
      await harness?.close();
      await lab.close();
      await postgres?.stop();
      await temporal.stop();
      network?.close();
    },
  };
  return c;
}

/**
 * The Temporal dev server of a chaos lab: its own, so that the test can restart it, and configured so that a workflow
 * task held by a killed worker times out after 2 s instead of 10 s (`history.defaultWorkflowTaskTimeout`, the
 * server's default for workflows and children started without a workflow task timeout, as all of fs-dr's are). The
 * workflow sees what a production crash gives it, a timed-out workflow task and a new one, sooner: a kill at each of a
 * replication run's local activities (they run inside a workflow task) costs 2 s instead of 10.
 */
export interface ChaosTemporal {
  server: DevServer;
  /** Stops the server and starts it again on the same port and data file (what it knew survives). */
  restart(): Promise<void>;
  /** The server's process id (a restart changes it). */
  pid(): number;
  stop(): Promise<void>;
}

export async function startChaosTemporal(): Promise<ChaosTemporal> {
  const env = testEnvironment();
  const dir = fs.mkdtempSync(path.join(env.root, 'chaos-temporal-'));
  const opts = {
    cliPath: env.temporalCli,
    dbFile: path.join(dir, 'temporal.sqlite'),
    port: await freePort(),
    uiPort: 0,
    ui: false,
    namespace: 'default',
    dynamicConfig: { 'history.defaultWorkflowTaskTimeout': '2s' },
  };
  const t: ChaosTemporal = {
    server: await startDevServer(opts),
    async restart() {
      await t.server.stop();
      t.server = await startDevServer(opts);
    },
    pid: () => t.server.pid ?? -1,
    async stop() {
      await t.server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

/** The operation ended succeeded, every step succeeded (or was skipped), no error. */
export function expectSucceeded(op: Operation, what: string): void {
  expect({ what, state: op.state, error: op.error }).toEqual({ what, state: 'succeeded', error: null });
  expect(op.steps.filter((s) => s.state !== 'succeeded' && s.state !== 'skipped')).toEqual([]);
}

export function exists(root: string, name: string): boolean {
  return fs.existsSync(path.join(root, name));
}

/**
 * One DR operation as the chaos scenarios use it: what to do before it (writes whose fate the operation decides),
 * the end state it guarantees (checked after every run, killed or not), and what it leaves to settle (a replication
 * run it triggered).
 */
export interface OperationSpec {
  name: string;
  kind: string;
  body?: Record<string, unknown>;
  prepare?(): Promise<void>;
  verify(op: Operation): Promise<void>;
  settle?(startedAt: Date): Promise<void>;
}

/** A planned failover: no data loss, the source read-only, the destination read-write and primary. */
export function plannedFailover(c: ChaosLab, deltaBytes = 64): OperationSpec {
  let written = '';
  return {
    name: 'planned failover',
    kind: 'planned-failover',
    async prepare() {
      // Written after the last replication run: only the final delta carries it.
      written = c.write('a', 'before-failover', deltaBytes);
    },
    async verify(op) {
      expectSucceeded(op, 'planned failover');
      // One final delta job for the one share, finished: the progress an operator watches ends at 100 %.
      expect(op.jobs?.map((j) => `${j.state} ${j.percent}%`)).toEqual(['succeeded 100%']);
      expect(await c.modes('a')).toEqual(['read_only']);
      expect(await c.modes('b')).toEqual(['read_write']);
      expect(await c.primary()).toEqual(['destination']);
      expect(await c.statuses()).toEqual({ a: 'standby', b: 'active' });
      c.expectEqualCopies();
      for (const p of PORTIONS)
        expect({ [p.portion]: exists(c.live('b', p.portion), written) }).toEqual({ [p.portion]: true });
    },
  };
}

/** A planned failback: what clients wrote at the destination is at the source, replication runs forward again. */
export function failback(c: ChaosLab): OperationSpec {
  let written = '';
  return {
    name: 'failback',
    kind: 'failback',
    async prepare() {
      written = c.write('b', 'during-failover');
    },
    async verify(op) {
      expectSucceeded(op, 'failback');
      expect(op.jobs?.map((j) => `${j.state} ${j.percent}%`)).toEqual(['succeeded 100%']);
      expect(await c.modes('a')).toEqual(['read_write']);
      expect(await c.modes('b')).toEqual(['read_only']);
      expect(await c.primary()).toEqual(['source']);
      expect(await c.statuses()).toEqual({ a: 'active', b: 'standby' });
      c.expectEqualCopies();
      for (const p of PORTIONS)
        expect({ [p.portion]: exists(c.live('a', p.portion), written) }).toEqual({ [p.portion]: true });
    },
    settle: (since) => c.replicatedSince(since),
  };
}

/**
 * An unplanned failover (the source answers, so its fence lands at once): the destination serves its newest complete
 * set (what it held before: a write at the source since the last run is lost, as the operator confirmed), read-write
 * and primary; the source is fenced read-only.
 */
export function unplannedFailover(c: ChaosLab): OperationSpec {
  let lost = '';
  let before: Record<string, Record<string, string>> = {};
  return {
    name: 'unplanned failover',
    kind: 'unplanned-failover',
    body: { confirmDataLoss: true },
    async prepare() {
      before = Object.fromEntries(PORTIONS.map((p) => [p.portion, contentDigest(c.live('b', p.portion))]));
      lost = c.write('a', 'never-replicated');
    },
    async verify(op) {
      expectSucceeded(op, 'unplanned failover');
      expect(await c.modes('b')).toEqual(['read_write']);
      expect(await c.modes('a')).toEqual(['read_only']);
      expect(await c.primary()).toEqual(['destination']);
      expect(Object.fromEntries(PORTIONS.map((p) => [p.portion, contentDigest(c.live('b', p.portion))]))).toEqual(
        before,
      );
      for (const p of PORTIONS) expect(exists(c.live('b', p.portion), lost)).toBe(false);
      expect((op.result?.unplanned?.shares as unknown[]).length).toBe(1);
      const db = c.lab.database.db;
      expect((await db.fileServer.findUniqueOrThrow({ where: { name: c.fileServers.a } })).fencedAt).not.toBeNull();
    },
    async settle() {
      const db = c.lab.database.db;
      await waitUntil(
        'the fence to be confirmed',
        async () => (await db.fileServer.findUniqueOrThrow({ where: { name: c.fileServers.a } })).fenceEnforcedAt,
        30_000,
      );
      expect(await c.statuses()).toEqual({ a: 'fenced', b: 'active' });
    },
  };
}

/**
 * Resume replication after an unplanned failover with one side as primary: the other side's divergent writes are
 * kept in a safety snapshot that this operation took there, that side is rolled back and read-only, the fence is
 * lifted, and replication runs from the primary (the copies end equal).
 */
export function resumeReplication(c: ChaosLab, primary: 'source' | 'destination'): OperationSpec {
  const other: Side = primary === 'source' ? 'b' : 'a';
  const mine: Side = primary === 'source' ? 'a' : 'b';
  let divergent = '';
  let kept = '';
  return {
    name: `resume replication (primary ${primary})`,
    kind: 'resume-replication',
    body: { primary },
    async prepare() {
      // The destination's clients wrote after the failover; the source's "never-replicated" file (written before it)
      // is the source's divergent write. The side that is not primary keeps its own in a safety snapshot.
      divergent = primary === 'source' ? c.write('b', 'written-at-b') : lastWrite(c, 'a', 'never-replicated');
      kept = primary === 'source' ? lastWrite(c, 'a', 'never-replicated') : c.write('b', 'written-at-b');
    },
    async verify(op) {
      expectSucceeded(op, `resume replication (primary ${primary})`);
      expect(await c.modes(mine)).toEqual(['read_write']);
      expect(await c.modes(other)).toEqual(['read_only']);
      expect(await c.primary()).toEqual([primary]);
      const db = c.lab.database.db;
      expect((await db.fileServer.findUniqueOrThrow({ where: { name: c.fileServers.a } })).fencedAt).toBeNull();
      const safety = await db.snapshotSet.findMany({
        where: { operationId: op.id, purpose: 'safety', retained: true },
        include: { fileServer: true },
      });
      expect(safety.map((x) => `${x.fileServer.name}:${x.share}`)).toEqual([`${c.fileServers[other]}:${SHARE}`]);
      for (const p of PORTIONS) {
        const agent = c.holder(other, p.portion);
        const inSafety = snapshotDigest(agent.dataRoot, SHARE, p.portion, safety[0]!.setId);
        expect({ [p.portion]: divergent in inSafety }).toEqual({ [p.portion]: true });
        expect({ [p.portion]: exists(c.live(mine, p.portion), kept) }).toEqual({ [p.portion]: true });
      }
    },
    async settle(since) {
      await c.replicatedSince(since);
      c.expectEqualCopies();
      for (const p of PORTIONS)
        expect({ [p.portion]: exists(c.live(other, p.portion), divergent) }).toEqual({ [p.portion]: false });
    },
  };
}

/** The newest file of a tag the lab wrote on a side (the same name is in every portion). */
function lastWrite(c: ChaosLab, side: Side, tag: string): string {
  const names = fs
    .readdirSync(c.live(side, PORTIONS[0].portion))
    .filter((n) => n.startsWith(`${tag}-`))
    .sort((x, y) => Number(x.slice(tag.length + 1, -4)) - Number(y.slice(tag.length + 1, -4)));
  if (!names.length) throw new Error(`no '${tag}' file on side ${side}`);
  return names[names.length - 1]!;
}

/** Runs an operation undisturbed, checked, settled. */
export async function runChecked(c: ChaosLab, spec: OperationSpec): Promise<void> {
  await spec.prepare?.();
  const since = new Date();
  const { workflowId, operationId } = await c.start(spec.kind, spec.body);
  await c.lab.temporal.workflow
    .getHandle(workflowId)
    .result()
    .catch(() => undefined);
  await spec.verify(await c.operation(operationId));
  await spec.settle?.(since);
  c.expectNoSplitBrain();
}

/**
 * The chaos scenario of an operation: `before` operations bring the lab to where it starts, the operation is the run
 * the harness interrupts, its end state is verified, and `after` operations bring the lab back to where the next run
 * starts. Every operation, interrupted or not, is verified the same way.
 */
export function operationScenario(
  c: ChaosLab,
  op: OperationSpec,
  around: { before?: OperationSpec[]; after?: OperationSpec[] } = {},
): ChaosScenario & { operationId(): string } {
  let operationId = '';
  let startedAt = new Date();
  return {
    name: op.name,
    operationId: () => operationId,
    async before() {
      for (const spec of around.before ?? []) await runChecked(c, spec);
      await op.prepare?.();
    },
    async start() {
      startedAt = new Date();
      const started = await c.start(op.kind, op.body);
      operationId = started.operationId;
      return started.workflowId;
    },
    async check() {
      await op.verify(await c.operation(operationId));
      await op.settle?.(startedAt);
      await c.expectCompleteSets();
      c.expectNoSplitBrain();
    },
    async after() {
      for (const spec of around.after ?? []) await runChecked(c, spec);
    },
  };
}

/**
 * The sweep of one scenario: an undisturbed run (it counts the activities, and is checked like any), then one run
 * killed at each of its activities in turn; every kill must land. Returns the reports and the activity list.
 */
export async function sweep(
  c: ChaosLab,
  scenario: ChaosScenario,
  atLeast: number,
): Promise<{ reports: CycleReport[]; activities: string }> {
  const measured = await c.harness.measure(scenario);
  const count = measured.activities.length;
  expect(count).toBeGreaterThanOrEqual(atLeast);
  const reports = [measured.report];
  reports.push(
    ...(await killAtEveryActivity(c.harness, scenario, {
      at: 'start',
      count,
      onCycle: (r) => {
        if (process.env.CHAOS_DEBUG) process.stderr.write(`${summarize([r])}\n`);
        expect(r.missed).toEqual([]);
      },
    })),
  );
  const activities = measured.activities
    .map((a) => `${a.k} ${a.workflowType}.${a.activityType}${a.isLocal ? ' (local)' : ''}`)
    .join('\n');
  return { reports, activities };
}

export interface ChaosPostgres {
  database: TestDatabase;
  /** Stops the server (fast shutdown: open transactions roll back) and starts it again on the same port and data. */
  restart(): Promise<void>;
  /** The server's process id (a restart changes it). */
  pid(): number;
  stop(): Promise<void>;
}

/** A PostgreSQL server of a chaos lab's own (the run's shared one cannot be restarted), migrated. */
export async function startChaosPostgres(): Promise<ChaosPostgres> {
  const opts = {
    dataDir: fs.mkdtempSync(path.join(testEnvironment().root, 'chaos-pg-')),
    port: await freePort(),
    database: 'fsdr',
  };
  let server = await startEmbeddedPostgres(opts);
  await applyMigrations(server.url);
  const db = createDb(server.url);
  const p: ChaosPostgres = {
    database: { url: server.url, db, drop: () => db.$disconnect() },
    async restart() {
      await server.stop();
      server = await startEmbeddedPostgres(opts);
    },
    pid: () => server.pid,
    async stop() {
      await db.$disconnect();
      await server.destroy();
    },
  };
  return p;
}
