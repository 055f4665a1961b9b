// Scale-out: two worker processes and two API processes against the same Temporal and the same database, as a
// production deployment runs them behind a load balancer. A policy created through one API replicates on both
// workers; a planned failover started through one API is followed and refused-as-duplicate through the other; the
// failback completes; no byte is lost; and what each API process keeps to itself (the token cache) has the bounded
// effect the README documents.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TOKEN_CACHE_MS } from '../api/auth';
import { randomBytesDeterministic, writeFiles } from './gateway/helpers';
import { testEnvironment } from './helpers/environment';
import { freePort } from './helpers/ports';
import { TEST_SECRETS_KEY } from './helpers/worker';
import {
  contentDigest,
  startLab,
  startWorkerProcess,
  waitUntil,
  type Lab,
  type WorkerProcess,
} from './replication/lab';

jest.setTimeout(600_000);

const REPO = path.resolve(__dirname, '..');

interface ApiProcess {
  url: string;
  proc: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** The production API entry point (api/main.ts) as its own process on a free loopback port. */
async function startApiProcess(lab: Lab): Promise<ApiProcess> {
  const port = await freePort();
  let out = '';
  const proc = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TEMPORAL_ADDRESS: testEnvironment().temporalAddress,
      TEMPORAL_TASK_QUEUE: lab.taskQueue,
      DATABASE_URL: lab.database.url,
      SECRETS_KEY: TEST_SECRETS_KEY.toString('base64'),
      API_HOST: '127.0.0.1',
      API_PORT: String(port),
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    'the API process to answer /healthz',
    async () => {
      if (proc.exitCode !== null) throw new Error(`API exited: ${out}`);
      return (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200;
    },
    90_000,
  );
  return {
    url,
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

describe('scale-out: two worker processes and two API processes on one Temporal and one database', () => {
  let lab: Lab;
  let workers: WorkerProcess[] = [];
  let apis: ApiProcess[] = [];

  async function call(api: ApiProcess, method: string, route: string, body?: object, token?: string) {
    const res = await fetch(`${api.url}/api/v1${route}`, {
      method,
      headers: {
        authorization: token ? `Bearer ${token}` : lab.admin.authorization,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, any> };
  }

  /** Waits for an operation's end as an operator would: polling its view, here through the other API process. */
  async function operationEnded(api: ApiProcess, id: string) {
    return waitUntil(
      `operation ${id} to end`,
      async () => {
        const op = (await call(api, 'GET', `/operations/${id}`)).body;
        return ['succeeded', 'failed', 'cancelled'].includes(op.state as string) ? op : undefined;
      },
      180_000,
    );
  }

  beforeAll(async () => {
    lab = await startLab({ workerProcess: true });
    workers = await Promise.all([
      startWorkerProcess(lab.database.url, lab.taskQueue),
      startWorkerProcess(lab.database.url, lab.taskQueue),
    ]);
    apis = await Promise.all([startApiProcess(lab), startApiProcess(lab)]);
    const { a1, a2 } = lab.agents;
    await a1.client.createShare('eng');
    await a2.client.createShare('ops');
    await a1.client.createShare('home', { kind: 'distributed', portions: ['alice'] });
    await a2.client.createShare('home', { kind: 'distributed', portions: ['bob'] });
    writeFiles(lab.livePath(a1, 'eng'), { 'big.bin': randomBytesDeterministic(1 << 20, 7), 'a.txt': 'a\n' });
    writeFiles(lab.livePath(a2, 'ops'), { 'runbook.txt': 'restart the thing\n' });
    writeFiles(lab.livePath(a1, 'home', 'alice'), { 'notes.txt': 'alice\n' });
    writeFiles(lab.livePath(a2, 'home', 'bob'), { 'todo.txt': 'bob\n' });
  });
  afterAll(async () => {
    await Promise.all(apis.map((a) => a.stop()));
    await Promise.all(workers.map((w) => w.kill9()));
    await lab?.close();
  });

  /** The live tree of a share on whichever FSVM of a side holds it. */
  function live(side: 'a' | 'b', share: string, portion = ''): Record<string, string> {
    for (const a of side === 'a' ? [lab.agents.a1, lab.agents.a2] : [lab.agents.b1, lab.agents.b2]) {
      const p = lab.livePath(a, share, portion);
      if (fs.existsSync(p)) return contentDigest(p);
    }
    throw new Error(`no FSVM of side ${side} holds ${share}/${portion}`);
  }
  const everyTree = (side: 'a' | 'b') => ({
    eng: live(side, 'eng'),
    ops: live(side, 'ops'),
    alice: live(side, 'home', 'alice'),
    bob: live(side, 'home', 'bob'),
  });

  it('replicates, fails over and fails back with the work spread over both workers and both APIs', async () => {
    const [api1, api2] = apis as [ApiProcess, ApiProcess];
    const created = await call(api1, 'POST', '/policies', {
      name: 'scale-gold',
      source: 'fs-a',
      destination: 'fs-b',
      rpoMinutes: 30,
      shares: [{ source: 'eng' }, { source: 'ops' }, { source: 'home' }],
    });
    expect(created.status).toBe(202);
    // The other API sees the policy the first one created (one database), and its base copies succeed.
    await waitUntil(
      'three base copies, seen through the second API',
      async () => {
        const jobs = (await call(api2, 'GET', '/jobs?status=succeeded')).body;
        return (jobs.items as unknown[]).length >= 3;
      },
      240_000,
    );
    expect((await call(api2, 'GET', '/policies/scale-gold')).body).toMatchObject({
      name: 'scale-gold',
      status: 'active',
    });

    // Writes after the last run: the planned failover's final delta carries them.
    writeFiles(lab.livePath(lab.agents.a1, 'eng'), { 'late.txt': 'written after the last run\n' });
    const failover = await call(api1, 'POST', '/operations/planned-failover', { source: 'fs-a', destination: 'fs-b' });
    expect(failover.status).toBe(202);
    // A second operation on the pair is refused by the other API process as well: the guard is in the database.
    const duplicate = await call(api2, 'POST', '/operations/planned-failover', { source: 'fs-a', destination: 'fs-b' });
    expect(duplicate.status).toBe(409);
    const done = await operationEnded(api2, failover.body.operationId as string);
    expect(done).toMatchObject({ state: 'succeeded' });
    expect(everyTree('b')).toEqual(everyTree('a'));
    expect(Object.keys(everyTree('b').eng)).toContain('late.txt');

    const failback = await call(api2, 'POST', '/operations/failback', { source: 'fs-a', destination: 'fs-b' });
    expect(failback.status).toBe(202);
    expect(await operationEnded(api1, failback.body.operationId as string)).toMatchObject({ state: 'succeeded' });
    const servers = (await call(api1, 'GET', '/file-servers')).body.items as { name: string; status: string }[];
    expect(servers.map((s) => [s.name, s.status]).sort()).toEqual([
      ['fs-a', 'active'],
      ['fs-b', 'standby'],
    ]);
    expect(everyTree('a')).toEqual(everyTree('b'));

    // Both worker processes took tasks of these workflows: the work is shared, not one worker idle beside the other.
    const identities = new Set<string>();
    for await (const w of lab.temporal.workflow.list({ query: `TaskQueue = '${lab.taskQueue}'` })) {
      const history = await lab.temporal.workflow.getHandle(w.workflowId, w.runId).fetchHistory();
      for (const e of history.events ?? []) {
        const identity =
          e.workflowTaskStartedEventAttributes?.identity ?? e.activityTaskStartedEventAttributes?.identity;
        if (identity) identities.add(identity.split('@')[0]!);
      }
    }
    expect([...identities].sort()).toEqual(workers.map((w) => String(w.proc.pid)).sort());
  });

  it('a token revoked through one API process is refused by the other within the token cache time', async () => {
    const [api1, api2] = apis as [ApiProcess, ApiProcess];
    const created = await call(api1, 'POST', '/tokens', { name: 'ops-viewer', role: 'viewer' });
    expect(created.status).toBe(201);
    const token = created.body.token as string;
    expect((await call(api2, 'GET', '/whoami', undefined, token)).status).toBe(200); // cached by api2 now
    const revokedAt = Date.now();
    expect((await call(api1, 'DELETE', `/tokens/${created.body.id}`)).status).toBe(204);
    expect((await call(api1, 'GET', '/whoami', undefined, token)).status).toBe(401); // at once where revoked
    await waitUntil(
      'the other API process to refuse the revoked token',
      async () => (await call(api2, 'GET', '/whoami', undefined, token)).status === 401,
      TOKEN_CACHE_MS + 5_000,
    );
    expect(Date.now() - revokedAt).toBeLessThan(TOKEN_CACHE_MS + 2_000);
  });
});
