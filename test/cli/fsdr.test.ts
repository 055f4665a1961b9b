// fsdr, the command line, run as an operator's shell runs it (node cli/bin.js, a child process, no terminal unless
// given one through script(1)) against the real API and worker with four real gateway agents (the DR lab): login and
// its profile file, registering file servers, a policy from a YAML file, jobs as JSON and watched to their end, the
// confirmation prompt, a planned failover that completes, and every exit code scripts rely on.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { createApp } from '../../api/app';
import { createToken } from '../../api/routes/tokens';
import { createLogger } from '../../infra/logger';
import { randomBytesDeterministic, REPO, TOKEN as GATEWAY_TOKEN, writeFiles } from '../gateway/helpers';
import { testEnvironment, uniqueName } from '../helpers/environment';
import { freePort } from '../helpers/ports';
import { startLab, waitUntil, type Lab } from '../replication/lab';
import { TEST_SECRETS } from '../helpers/worker';

jest.setTimeout(300_000);

const BIN = path.join(REPO, 'cli', 'bin.js');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

describe('fsdr (the CLI) against the API, a worker and real gateways', () => {
  let lab: Lab;
  let server: Server;
  let url: string;
  let home: string;
  let adminToken: string;
  let viewerToken: string;

  /** Runs fsdr with HOME set to the test's own (its profile file lives there) and no terminal. */
  function fsdr(args: string[], env: Record<string, string> = {}): Promise<Run> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: REPO,
        env: { PATH: process.env.PATH ?? '', HOME: home, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
    });
  }

  /** Runs fsdr on a pseudo-terminal (script from util-linux) and types `typed` once the prompt shows. */
  function fsdrOnTerminal(args: string[], typed: string): Promise<Run> {
    const started = Date.now();
    const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    return new Promise((resolve, reject) => {
      const child = spawn('script', ['-qec', quoted, '/dev/null'], {
        cwd: REPO,
        env: { PATH: process.env.PATH ?? '', HOME: home, TERM: 'xterm' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let typedIt = false;
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (!typedIt && stdout.includes('(anything else cancels): ')) {
          typedIt = true;
          child.stdin.write(`${typed}\n`);
        }
      });
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr: '', ms: Date.now() - started }));
    });
  }

  const json = <T = any>(r: Run): T => {
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    return JSON.parse(r.stdout) as T;
  };

  beforeAll(async () => {
    // The source's link is limited to 2 MiB/s so that a 20 MiB base copy runs for about 10 s: long enough to watch
    // it, even on a loaded machine where starting the CLI takes a few seconds.
    lab = await startLab({ sourceBandwidth: '2M' });
    await lab.agents.a1.client.createShare('eng');
    await lab.agents.a2.client.createShare('ops');
    writeFiles(lab.livePath(lab.agents.a1, 'eng'), { 'big.bin': randomBytesDeterministic(20 << 20, 7) });
    writeFiles(lab.livePath(lab.agents.a2, 'ops'), { 'runbook.txt': 'restart the thing\n' });
    server = await new Promise<Server>((resolve) => {
      const s = lab.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    url = `http://127.0.0.1:${address.port}`;
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-home-'));
    adminToken = lab.admin.authorization.replace(/^Bearer /, '');
    viewerToken = (await createToken(lab.database.db, uniqueName('viewer'), 'viewer')).token;
  });

  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await lab?.close();
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  it('login checks the token, saves it in a 0600 profile file and never prints it', async () => {
    const tokenFile = path.join(home, 'admin-token');
    fs.writeFileSync(tokenFile, `${adminToken}\n`, { mode: 0o600 });
    const r = await fsdr(['login', '--url', url, '--token-file', tokenFile]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^Signed in to http:\/\/127\.0\.0\.1:\d+ as 'admin_\w+' \(admin\); profile 'default' saved/,
    );
    const file = path.join(home, '.config', 'fsdr', 'config.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({
      current: 'default',
      profiles: { default: { url, token: adminToken } },
    });
    const me = await fsdr(['whoami', '--json', '--verbose']);
    expect(json(me)).toEqual({ name: expect.stringMatching(/^admin_/), role: 'admin' });
    expect(me.stderr).toContain('GET /api/v1/whoami -> 200');
    for (const out of [r.stdout, r.stderr, me.stdout, me.stderr]) expect(out).not.toContain(adminToken);

    // A wrong token is refused before anything is saved: exit 3.
    fs.writeFileSync(tokenFile, 'fsdr_not-a-token-of-this-api-0000000000000000000000');
    const bad = await fsdr(['login', '--url', url, '--token-file', tokenFile, '--profile', 'other']);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('Authentication required');
    expect(Object.keys(JSON.parse(fs.readFileSync(file, 'utf8')).profiles)).toEqual(['default']);
  });

  it('bad flags exit 2 with the usage line; --help lists the exit codes', async () => {
    const r = await fsdr(['jobs', 'list', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: unknown option '--bogus'");
    expect(r.stderr).toContain('Usage: fsdr jobs list [options]');
    const rpo = await fsdr(['policies', 'update', 'cli-gold', '--rpo-minutes', 'soon']);
    expect(rpo.code).toBe(2);
    expect(rpo.stderr).toContain("--rpo-minutes must be a whole number from 1 to 10080, not 'soon'");
    expect(rpo.stderr).toContain('Usage: fsdr policies update [options] <name>');
    const missing = await fsdr(['failover', 'planned']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'source'");
    expect(missing.stderr).toContain('Usage: fsdr failover planned [options] <source>');
    const help = await fsdr(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    expect(help.stdout).toMatch(/ 5 {2}conflict: another operation holds the file servers/);
    expect(help.stdout).toMatch(/ 6 {2}server unreachable/);
  });

  it('removes the lab’s registrations and registers two file servers, from flags and from a file', async () => {
    for (const name of ['fs-a', 'fs-b'])
      expect((await fsdr(['file-servers', 'remove', name])).stdout).toContain(`Removed file server '${name}'`);
    expect(json(await fsdr(['file-servers', 'list', '--json']))).toEqual({ items: [] });

    const tokenFile = path.join(home, 'gateway-token');
    fs.writeFileSync(tokenFile, GATEWAY_TOKEN, { mode: 0o600 });
    const { a1, a2, b1, b2 } = lab.agents;
    const fromFlags = await fsdr([
      'file-servers',
      'register',
      'fs-a',
      '--site',
      'site-a',
      '--dns-name',
      'fs-a.corp.example.test',
      '--fsvm',
      `a1=${a1.url}`,
      '--fsvm',
      `a2=${a2.url}`,
      '--gateway-token-file',
      tokenFile,
    ]);
    expect(fromFlags.code).toBe(0);
    expect(fromFlags.stdout).toContain("Registered file server 'fs-a'");
    expect(fromFlags.stdout).toMatch(/a1 +http:\/\/127\.0\.0\.1:\d+ +healthy/);
    const yamlFile = path.join(home, 'fs-b.yaml');
    fs.writeFileSync(
      yamlFile,
      [
        'name: fs-b',
        'site: site-b',
        'dnsName: fs-b.corp.example.test',
        'fsvms:',
        ...[b1, b2].map((b) => `  - { nodeId: ${b.nodeId}, gatewayUrl: '${b.url}', token: '${GATEWAY_TOKEN}' }`),
      ].join('\n'),
    );
    const fromFile = await fsdr(['file-servers', 'register', '-f', yamlFile, '--quiet']);
    expect({ code: fromFile.code, stdout: fromFile.stdout }).toEqual({ code: 0, stdout: 'fs-b\n' });

    const list = json<{ items: { name: string; status: string; fsvms: { healthy: number } }[] }>(
      await fsdr(['file-servers', 'list', '--json']),
    );
    expect(list.items.map((s) => [s.name, s.status, s.fsvms.healthy])).toEqual([
      ['fs-a', 'active', 2],
      ['fs-b', 'active', 2],
    ]);
    const human = await fsdr(['file-servers', 'list']);
    expect(human.stdout).toMatch(/^NAME +SITE +STATUS +FSVMS HEALTHY +SHARES +DNS NAME\nfs-a +site-a +active +2\/2/);
  });

  let firstJob: string;

  it('creates a policy from a YAML file; jobs list --json shows its first run; jobs show --watch ends with the job', async () => {
    const policyFile = path.join(home, 'cli-gold.yaml');
    fs.writeFileSync(
      policyFile,
      [
        'name: cli-gold',
        'source: fs-a',
        'destination: fs-b',
        'rpoMinutes: 30',
        'shares:',
        '  - source: eng',
        '  - { source: ops, target: ops-dr }',
      ].join('\n'),
    );
    const created = await fsdr(['policies', 'create', '-f', policyFile, '--wait']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('[ok] schedule replication');
    expect(created.stdout).toMatch(/Create policy [0-9a-f-]{36} \(fs-a -> fs-b\) succeeded in /);

    // Watch the base copy of eng from as early as possible, and list the jobs while it runs.
    const first = await waitUntil('the first run of eng', () =>
      lab.database.db.job.findFirst({ where: { share: 'eng' }, orderBy: { startedAt: 'asc' } }),
    );
    firstJob = first.id;
    const watching = fsdr(['jobs', 'show', firstJob, '--watch']);
    const page = json<{ items: { id: string; policy: string; share: string; state: string }[] }>(
      await fsdr(['jobs', 'list', '--json', '--policy', 'cli-gold', '--share', 'eng']),
    );
    expect(page.items).toEqual([
      expect.objectContaining({ id: firstJob, policy: 'cli-gold', share: 'eng', incremental: false }),
    ]);
    expect(['pending', 'running']).toContain(page.items[0]!.state);

    const watched = await watching;
    expect(watched.stderr).toBe('');
    expect(watched.code).toBe(0);
    // It followed the job while it ran (one line per 10 % step at most), and ended with it.
    expect(watched.stdout).toMatch(/^eng fs-a -> fs-b: running \d+% \(/m);
    expect(watched.stdout).toMatch(/^eng fs-a -> fs-b: succeeded 100% \(20\.0 MiB of 20\.0 MiB/m);
    expect(watched.stdout).toMatch(/state: +succeeded 100%/);
    const job = await request(lab.app).get(`/api/v1/jobs/${firstJob}`).set(lab.admin).expect(200);
    expect(job.body.state).toBe('succeeded');

    await waitUntil('both base copies', async () => {
      const page = json<{ items: unknown[] }>(
        await fsdr(['jobs', 'list', '--json', '--policy', 'cli-gold', '--status', 'succeeded']),
      );
      return page.items.length >= 2;
    });
    const show = await fsdr(['policies', 'show', 'cli-gold']);
    expect(show.stdout).toMatch(/^eng +eng +compliant +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d on fs-b/m);
    expect(show.stdout).toMatch(/^ops +ops-dr +compliant/m);
  });

  it('an operation shows its plan and refuses without a terminal and without --yes; a wrong name on a terminal starts nothing', async () => {
    const r = await fsdr(['failover', 'planned', 'fs-a', '--destination', 'fs-b']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "fsdr: refusing to start the planned failover of 'fs-a' without a confirmation: there is no terminal to ask on; pass --yes to confirm",
    );
    // The plan, in words: readiness, shares with their recovery points and age, the redirect, steps, the estimate.
    expect(r.stdout).toContain('Planned failover: fs-a -> fs-b');
    expect(r.stdout).toContain('Data-loss window: none');
    expect(r.stdout).toContain('Readiness: ready');
    expect(r.stdout).toMatch(/^ {2}cli-gold +eng +eng +fs-b +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(.+ old\)$/m);
    expect(r.stdout).toMatch(/^ {2}cli-gold +ops +ops-dr +fs-b /m);
    expect(r.stdout).toContain('Clients: clients are not redirected');
    expect(r.stdout).toContain(' 5. final delta sync: ');
    expect(r.stdout).toMatch(/^Estimated time: .+ \(.+\)$/m);

    const tty = await fsdrOnTerminal(['failover', 'planned', 'fs-a', '-d', 'fs-b'], 'fs-b');
    expect(tty.code).toBe(2);
    expect(tty.stdout).toContain("Type 'fs-a' to start the planned failover of 'fs-a' (anything else cancels): ");
    expect(tty.stdout).toContain("not confirmed: you typed 'fs-b', not 'fs-a'; nothing was started");

    const ops = json<{ items: unknown[] }>(await fsdr(['operations', 'list', '--json', '--kind', 'planned_failover']));
    expect(ops.items).toEqual([]);
  });

  it('a second operation on the pair exits 5; the same Idempotency-Key starts nothing twice', async () => {
    const key = `runbook-${Date.now()}`;
    const args = ['failover', 'planned', 'fs-a', '-d', 'fs-b', '--yes', '--require-approval', '--no-wait', '--quiet'];
    const first = await fsdr([...args, '--idempotency-key', key]);
    expect(first.code).toBe(0);
    const id = first.stdout.trim();
    expect(id).toMatch(UUID);
    const again = await fsdr([...args, '--idempotency-key', key]);
    expect({ code: again.code, stdout: again.stdout }).toEqual({ code: 0, stdout: `${id}\n` });

    const second = await fsdr(['failover', 'planned', 'fs-a', '-d', 'fs-b', '--yes', '--verbose']);
    expect(second.code).toBe(5);
    expect(second.stderr).toContain(
      `fsdr: Conflict: a planned_failover operation (${id}) is already awaiting_approval`,
    );
    expect(second.stderr).toMatch(/Idempotency-Key: [0-9a-f-]{36} \(repeat the command with --idempotency-key/);
    expect(second.stderr).not.toContain(adminToken);

    const cancelled = json<{ id: string; state: string }>(
      await fsdr(['operations', 'cancel', id, '--watch', '--json']),
    );
    expect(cancelled).toMatchObject({ id, state: 'cancelled' });
  });

  it("a viewer token's mutating call exits 3, an unknown policy 4, an unreachable API 6", async () => {
    const viewer = await fsdr(['policies', 'delete', 'cli-gold', '--yes'], { FSDR_TOKEN: viewerToken });
    expect(viewer.code).toBe(3);
    expect(viewer.stderr).toMatch(/^fsdr: Forbidden: token 'viewer_\w+' has role 'viewer'; this call needs 'admin'\n$/);
    const viewerOp = await fsdr(['failover', 'planned', 'fs-a', '--yes'], { FSDR_TOKEN: viewerToken });
    expect(viewerOp.code).toBe(3);

    const unknown = await fsdr(['policies', 'show', 'nope']);
    expect({ code: unknown.code, stderr: unknown.stderr }).toEqual({
      code: 4,
      stderr: "fsdr: Not found: policy 'nope' does not exist\n",
    });

    const closed = await freePort();
    const away = await fsdr(['jobs', 'list', '--url', `http://127.0.0.1:${closed}`]);
    expect(away.code).toBe(6);
    expect(away.stderr).toContain(`fsdr: cannot reach the API at http://127.0.0.1:${closed}: `);
    expect(away.stderr).toContain('ECONNREFUSED');
  });

  it('a planned failover with --yes completes; --json prints the ended operation as one document', async () => {
    writeFiles(lab.livePath(lab.agents.a1, 'eng'), { 'late.txt': 'written after the last run\n' });
    const r = await fsdr(['failover', 'planned', 'fs-a', '--destination', 'fs-b', '--yes', '--json']);
    expect(r.code).toBe(0);
    const op = JSON.parse(r.stdout) as { kind: string; state: string; steps: { name: string; state: string }[] };
    expect(op.kind).toBe('planned_failover');
    expect(op.state).toBe('succeeded');
    expect(op.steps.filter((s) => s.state !== 'succeeded')).toEqual([]);
    // With --json, the plan and the progress go to stderr.
    expect(r.stderr).toContain('Planned failover: fs-a -> fs-b');
    expect(r.stderr).toMatch(/\[ok\] final delta sync \(.+\): /);
    expect(r.stderr).toContain('[ok] mark destination active');
    const eng = [lab.agents.b1, lab.agents.b2].map((b) => lab.livePath(b, 'eng')).find((p) => fs.existsSync(p));
    expect(fs.readFileSync(path.join(eng!, 'late.txt'), 'utf8')).toBe('written after the last run\n');
    const list = json<{ items: { name: string; status: string }[] }>(await fsdr(['file-servers', 'list', '--json']));
    expect(Object.fromEntries(list.items.map((s) => [s.name, s.status]))).toEqual({
      'fs-a': 'standby',
      'fs-b': 'active',
    });
  });

  it('on a terminal, the typed name starts the failback and progress bars follow it to its end', async () => {
    const r = await fsdrOnTerminal(['failback', 'fs-a', '-d', 'fs-b'], 'fs-a');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Failback: fs-a -> fs-b');
    expect(r.stdout).toContain("Type 'fs-a' to start the failback of 'fs-a' (anything else cancels): ");
    // Each step is logged above the bars as it ends.
    expect(r.stdout).toMatch(/\[ok\] final delta sync \(.+\): /);
    expect(r.stdout).toContain('[ok] restore forward replication');
    // cli-progress draws the steps bar in place; its last frame has every step done.
    expect(r.stdout).toMatch(/ steps +\|█{20}\| 10\/10 +succeeded/);
    expect(r.stdout).toMatch(/Failback [0-9a-f-]{36} \(fs-a -> fs-b\) succeeded in /);
    const list = json<{ items: { name: string; status: string }[] }>(await fsdr(['file-servers', 'list', '--json']));
    expect(Object.fromEntries(list.items.map((s) => [s.name, s.status]))).toEqual({
      'fs-a': 'active',
      'fs-b': 'standby',
    });
  });

  it('without a worker the plan cannot be computed: fsdr says so, and the refused start exits 6', async () => {
    // A second API process on the same database whose task queue no worker polls.
    const unpolled = createApp({
      db: lab.database.db,
      temporal: lab.temporal,
      temporalAddress: testEnvironment().temporalAddress,
      taskQueue: uniqueName('nobody'),
      temporalUiUrl: 'http://127.0.0.1:8233',
      logger: createLogger({ log: { level: 'silent', format: 'json' } }),
      secrets: TEST_SECRETS,
      gatewayTimeoutMs: 5000,
    });
    const other = await new Promise<Server>((resolve) => {
      const s = unpolled.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const port = (other.address() as { port: number }).port;
      const r = await fsdr(['failover', 'planned', 'fs-a', '-d', 'fs-b', '--yes', '--url', `http://127.0.0.1:${port}`]);
      expect(r.code).toBe(6);
      expect(r.stdout).toContain(
        'The plan could not be computed: No worker available: no worker is polling task queue',
      );
      expect(r.stdout).toContain('You can still start the operation');
      expect(r.stderr).toMatch(/^fsdr: No worker available: no worker is polling task queue 'nobody_\w+'/);
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  it('a failed operation exits 1 with its error and the failed step', async () => {
    await lab.agents.b2.stop();
    const r = await fsdr(['readiness', 'fs-a', '-d', 'fs-b']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^fsdr: Readiness check [0-9a-f-]{36} failed: not ready: /);
    expect(r.stderr).toMatch(/\n {2}step 'gateways reachable' failed: .*b2/);
    expect(r.stdout).toMatch(/\[FAILED\] gateways reachable/);
  });
});
