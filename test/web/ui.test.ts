// The admin web UI end to end, in a real browser (Debian's chromium driven by playwright-core) against `npm start`
// itself with its demo (real API, worker, gateway agents, smbd; the run's Temporal dev server and a PostgreSQL
// database of its own): sign in, a bad policy form shows the API's message beside the field, a new policy's
// replication job reaches 100 % with its progress bar moving and no reload, its details, a planned failover from the
// file servers view (confirmation with the dry-run plan, or the API's reason when there is none) showing its steps;
// a viewer sees no action and a direct call is refused; a revoked token returns to sign-in; without the event stream
// the UI polls and still shows changes without a reload. Screenshots of the main views are saved under test-artifacts/screenshots/.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { OPERATION_STEPS } from '../../domain/operations';
import { connectClient } from '../../infra/temporal';
import { createTestDatabase, testEnvironment, uniqueName, type TestDatabase } from '../helpers/environment';
import { freePort } from '../helpers/ports';

jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '..', '..');
const SHOTS = path.join(ROOT, 'test-artifacts', 'screenshots');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

interface Started {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startNpmStart(env: Record<string, string>): Started {
  const proc = spawn(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/start.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, output: () => out, exited };
}

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe('admin web UI in a real browser', () => {
  let database: TestDatabase;
  let dataDir: string;
  let started: Started;
  let browser: Browser;
  let base: string;
  let adminToken: string;
  const taskQueue = uniqueName('ui');

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    database = await createTestDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-ui-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    started = startNpmStart({
      DATA_DIR: dataDir,
      API_PORT: String(port),
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: testEnvironment().temporalAddress,
      TEMPORAL_TASK_QUEUE: taskQueue,
      TEMPORAL_UI_URL: 'http://127.0.0.1:8233',
      WORKFLOW_BUNDLE_PATH: testEnvironment().workflowBundlePath,
      DEMO: 'on',
    });
    await until(
      'npm start to be ready with its demo',
      async () => {
        if (started.proc.exitCode !== null) throw new Error(`npm start exited:\n${started.output()}`);
        return /"msg":"ready: open /.test(started.output());
      },
      150_000,
    );
    expect(started.output()).not.toMatch(/"level":50/); // no error (the demo set itself up)
    adminToken = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  // A failed test must not leave its page (and its event stream) open for the next.
  afterEach(async () => {
    for (const c of browser?.contexts() ?? []) await c.close();
  });

  afterAll(async () => {
    await browser?.close();
    if (started && started.proc.exitCode === null) {
      started.proc.kill('SIGINT');
      await started.exited;
    }
    const temporal = await connectClient(testEnvironment().temporalAddress, 'default');
    try {
      for await (const w of temporal.workflow.list({
        query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
      })) {
        await temporal.workflow
          .getHandle(w.workflowId)
          .terminate('test done')
          .catch(() => undefined);
      }
      // The dev server is shared: delete only the schedules of this database's policies.
      const ids = new Set((await database.db.replicationPolicy.findMany({ select: { id: true } })).map((p) => p.id));
      for await (const s of temporal.schedule.list()) {
        const handle = temporal.schedule.getHandle(s.scheduleId);
        const memo = (await handle.describe().catch(() => undefined))?.memo;
        if (typeof memo?.policyId === 'string' && ids.has(memo.policyId)) await handle.delete().catch(() => undefined);
      }
    } finally {
      await temporal.connection.close();
      await database?.drop();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  async function api<T>(
    method: string,
    url: string,
    token: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const res = await fetch(`${base}/api/v1${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  async function signIn(page: Page, token: string): Promise<void> {
    await page.goto(`${base}/`);
    await page.fill('#token', token);
    await page.click('button[type=submit]');
    await page.waitForSelector('header.top');
    await page.waitForSelector('[data-live=live]');
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

  it('an administrator creates a policy, watches its replication live, and starts a planned failover', async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      // The browser reports each refused call itself; the test checks that the UI shows them in words.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
    });

    // A wrong token is refused in words.
    await page.goto(`${base}/`);
    await page.fill('#token', 'fsdr_not-a-real-token');
    await page.click('button[type=submit]');
    expect(await page.textContent('.sign-in [role=alert]')).toBe(
      'Authentication required: the bearer token is malformed',
    );

    await signIn(page, adminToken);
    await page.waitForSelector('tr[data-pair="site-a->site-b"]');
    expect(await page.textContent('tr[data-pair="site-a->site-b"]')).toMatch(/site-a.*active.*site-b.*standby.*demo/);
    await shot(page, 'file-servers');

    // A bad form: the API's own message for the field appears beside it.
    await page.click('nav >> text=Policies');
    await page.click('text=New policy');
    await page.fill('#policy-name', 'media-dr');
    await page.selectOption('#policy-source', 'site-a');
    await page.selectOption('#policy-destination', 'site-b');
    await page.check('.share-row[data-share=media] input[type=checkbox]');
    await page.fill('#policy-rpo', '0');
    await page.click('button:has-text("Create policy")');
    const rpoError = await page.waitForSelector('#policy-rpo-error');
    const direct = await api<{ errors: { path: string; message: string }[] }>('POST', '/policies', adminToken, {
      name: 'media-dr',
      source: 'site-a',
      destination: 'site-b',
      rpoMinutes: 0,
      retentionCount: 3,
      shares: [{ source: 'media' }],
    });
    expect(direct.status).toBe(400);
    const apiMessage = direct.body.errors.find((e) => e.path === 'body.rpoMinutes')!.message;
    expect(await rpoError.textContent()).toBe(apiMessage);
    expect(await page.getAttribute('#policy-rpo', 'aria-invalid')).toBe('true');
    await shot(page, 'policy-form-error');

    // Fixed, the policy is created and its first (base) copy starts.
    await page.fill('#policy-rpo', '30');
    await page.click('button:has-text("Create policy")');
    await page.waitForURL(/#\/policies\/media-dr$/);

    // The jobs view: the new job's progress bar moves without a reload, to 100 %.
    await page.click('nav >> text=Jobs');
    await page.evaluate("window.marker = 'same page'"); // gone if the page reloads
    const row = 'tr[data-share=media]';
    await page.waitForSelector(row, { timeout: 60_000 });
    const seen = new Set<number>();
    let midShot = false;
    await until(
      'the media job to finish',
      async () => {
        const r = {
          state: await page.getAttribute(row, 'data-state'),
          percent: Number(await page.getAttribute(`${row} progress`, 'data-percent')),
        };
        if (r.percent > 0 && r.percent < 100) {
          seen.add(r.percent);
          if (!midShot && r.percent >= 20) {
            midShot = true;
            await shot(page, 'jobs');
          }
        }
        return r.state === 'succeeded' && r.percent === 100;
      },
      120_000,
    );
    expect(seen.size).toBeGreaterThanOrEqual(2);
    expect(await page.evaluate('window.marker')).toBe('same page');
    expect(await page.textContent(`${row} .status`)).toContain('succeeded');

    // Its details.
    await page.click(`${row} a`);
    await page.waitForSelector('h1:has-text("Replication job")');
    const facts = (await page.textContent('.facts'))!;
    expect(facts).toMatch(/State✓ succeeded/);
    expect(facts).toMatch(/Percent complete100 %/);
    expect(facts).toMatch(/Primary \(source\)site-a/);
    expect(facts).toMatch(/Recovery \(destination\)site-b/);
    expect(facts).toMatch(/Data synced48(\.0)? MiB of 48(\.0)? MiB/);
    expect(facts).toMatch(/Average throughput[\d.]+ (KiB|MiB)\/s/);
    expect(facts).toMatch(/Started.+Ended.+Duration/);
    await shot(page, 'job-details');

    // The policy's page: the share's last recovery point and its history.
    await page.goto(`${base}/#/policies/media-dr`);
    await page.waitForSelector('tr[data-share=media] .history .mark');
    expect(await page.textContent('tr[data-share=media]')).toMatch(/compliant/);
    await shot(page, 'policy');

    // A planned failover from the file servers view: the confirmation shows the plan (or, on an API without dry
    // runs, its reason in words) and needs the file server's name typed.
    await page.click('nav >> text=File servers');
    await page.click('tr[data-pair="site-a->site-b"] button:has-text("Planned failover")');
    await page.waitForSelector('dialog[open]');
    await page.waitForSelector('dialog [aria-busy=false]');
    const plan = (await page.textContent('dialog .plan'))!;
    if (await page.$('dialog [data-plan=unavailable]')) {
      expect(plan).toMatch(/The plan could not be computed, so it cannot be shown: Invalid request: /);
      expect(plan).toContain('dryRun');
    } else {
      expect(plan).toMatch(/Steps/);
    }
    const confirm = 'dialog button[type=submit]';
    expect(await page.isDisabled(confirm)).toBe(true);
    await page.fill('#confirm-name', 'site-b');
    expect(await page.isDisabled(confirm)).toBe(true);
    await page.fill('#confirm-name', 'site-a');
    await shot(page, 'failover-confirmation');
    await page.click(confirm);
    await page.waitForURL(/#\/operations\/[0-9a-f-]{36}$/);
    await page.waitForSelector('h1:has-text("Planned failover")');
    await page.waitForSelector('ol.steps li[data-step]');
    const stepItems = page.locator('ol.steps li[data-step]');
    const steps: (string | null)[] = [];
    for (let i = 0; i < (await stepItems.count()); i++) steps.push(await stepItems.nth(i).getAttribute('data-step'));
    expect(steps).toEqual(OPERATION_STEPS.planned_failover);
    expect(await page.textContent('.facts')).toMatch(
      /Workflowoperation\/planned_failover\/[0-9a-f-]+ in the Temporal Web UI/,
    );
    await shot(page, 'operation');
    expect(pageErrors).toEqual([]);
  });

  it('a viewer sees no action, a direct call is refused, and a revoked token returns to sign-in', async () => {
    const made = await api<{ id: string; token: string; name: string }>('POST', '/tokens', adminToken, {
      name: 'watcher',
      role: 'viewer',
    });
    expect(made.status).toBe(201);
    const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
    const page = await context.newPage();
    await signIn(page, made.body.token);
    await page.waitForSelector('tr[data-pair="site-a->site-b"]');
    const loaded: [string, string][] = [
      ['#/file-servers', 'tr[data-pair]'],
      ['#/policies', 'tr[data-policy=demo]'],
      ['#/policies/demo', 'tr[data-share=projects] .history'],
      ['#/file-servers/site-a', 'tr[data-share=projects]'],
    ];
    for (const [view, ready] of loaded) {
      await page.goto(`${base}/${view}`);
      await page.waitForSelector(ready);
      const actions = (await page.locator('main button, main a.button').allTextContents())
        .map((t) => t.trim())
        .filter((t) => t !== 'Check FSVM health now');
      expect([view, actions]).toEqual([view, []]);
    }
    expect(await page.$('th:has-text("Actions")')).toBeNull();
    const refused = await api<{ detail: string }>('POST', '/operations/planned-failover', made.body.token, {
      source: 'site-a',
      destination: 'site-b',
    });
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toBe("token 'watcher' has role 'viewer'; this call needs 'operator'");

    // Revoked while signed in: the live stream ends and the UI returns to sign-in, saying why.
    expect((await api('DELETE', `/tokens/${made.body.id}`, adminToken)).status).toBe(204);
    await page.waitForSelector('.sign-in .notice', { timeout: 30_000 });
    expect(await page.textContent('.sign-in .notice')).toMatch(/Signed out: token 'watcher' was revoked/);
    expect(await page.evaluate("sessionStorage.getItem('fsdr.token')")).toBeNull();
  });

  it('falls back to polling when the event stream cannot be had, and still shows changes without a reload', async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
    const page = await context.newPage();
    await page.route('**/api/v1/events', (route) => route.abort());
    await page.goto(`${base}/`);
    await page.fill('#token', adminToken);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-live=polling]');
    expect(await page.textContent('[data-live]')).toBe('◌ Polling every 3 s');
    await page.goto(`${base}/#/file-servers/site-a`);
    await page.waitForSelector('tr[data-share=projects]');
    await page.evaluate("window.marker = 'same page'");
    const made = await api<{ operationId: string }>('POST', '/file-servers/site-a/shares', adminToken, {
      name: 'scratch',
      kind: 'standard',
    });
    expect(made.status).toBe(202);
    await page.waitForSelector('tr[data-share=scratch]', { timeout: 30_000 });
    expect(await page.evaluate('window.marker')).toBe('same page');
  });
});
