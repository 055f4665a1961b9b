// The admin web UI end to end, in a real browser (Debian's chromium driven by playwright-core) against `npm start`
// itself with its demo (real API, worker, gateway agents, smbd and, as root, the demo's Samba AD DC; the run's
// Temporal dev server and a PostgreSQL database of its own): sign in, a bad policy form shows the API's message beside
// the field, a new policy's replication job reaches 100 % with its progress bar moving and no reload, its details; a
// planned failover from the file servers view (its confirmation with the dry-run plan and the request's choices, one
// operation however many clicks) whose steps turn succeeded one after another without a reload, whose final delta's
// progress moves, after which the file servers have swapped their states and the DC's DNS name points at site-b; then
// a failback that brings everything back (with what clients wrote at site-b); an operation waiting for approval that
// only another admin may approve, cancelled by its requester; a viewer sees no action and a direct call is refused; a
// revoked token returns to sign-in; without the event stream the UI polls and still shows changes without a reload.
// Screenshots of the main views are saved under test-artifacts/screenshots/.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
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

/**
 * Records in the page every rendering of an operation's steps (their states) and of its final-delta jobs' percent:
 * what the operator saw, between two polls of the test.
 */
const RECORDER = `(() => {
  window.stepLog = [];
  window.jobLog = [];
  const record = () => {
    const states = [...document.querySelectorAll('ol.steps li[data-step]')].map((li) => li.getAttribute('data-state'));
    const k = states.join(',');
    if (states.length && window.stepLog[window.stepLog.length - 1] !== k) window.stepLog.push(k);
    for (const row of document.querySelectorAll('tr[data-job]')) {
      const p = Number(row.querySelector('progress')?.getAttribute('data-percent'));
      const last = window.jobLog.filter((j) => j[0] === row.dataset.share).pop();
      if (!last || last[1] !== p) window.jobLog.push([row.dataset.share, p]);
    }
  };
  window.stepObserver?.disconnect();
  window.stepObserver = new MutationObserver(record);
  window.stepObserver.observe(document.body, { subtree: true, childList: true, attributes: true });
})()`;

/** The A records the demo DC's DNS server answers for a name. */
function digA(server: string, name: string): string[] {
  return execFileSync('dig', [`@${server}`, name, 'A', '+short', '+norecurse', '+time=3', '+tries=1'], {
    encoding: 'utf8',
  })
    .split('\n')
    .filter(Boolean);
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
  /** The demo's DC and the file servers' addresses, when it runs one (root, Samba's AD DC installed). */
  let demoDc: { dc: string; siteA: string; siteB: string } | undefined;
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
    const network = path.join(dataDir, 'demo', 'network.json');
    if (fs.existsSync(network)) {
      const n = JSON.parse(fs.readFileSync(network, 'utf8')) as { dc: string; fileServers: Record<string, string> };
      demoDc = { dc: n.dc, siteA: n.fileServers['site-a']!, siteB: n.fileServers['site-b']! };
    }
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

  /** Exactly the DR actions the API lists as available for the pair, as buttons (an operator's or admin's view). */
  async function expectActionsAsApiLists(page: Page): Promise<void> {
    const listed = await api<{ items: { name: string; protection: { role: string; availableActions: string[] }[] }[] }>(
      'GET',
      '/file-servers',
      adminToken,
    );
    const actions = listed.body.items
      .find((s) => s.name === 'site-a')!
      .protection.find((p) => p.role === 'source')!.availableActions;
    const labels: Record<string, string> = {
      planned_failover: 'Planned failover',
      unplanned_failover: 'Unplanned failover',
      resume_replication: 'Resume replication',
      failback: 'Failback',
      dr_readiness: 'Readiness check',
    };
    expect(
      (await page.locator('tr[data-pair="site-a->site-b"] td.actions button').allTextContents()).map((t) => t.trim()),
    ).toEqual(actions.map((a) => labels[a]));
  }

  /**
   * Starts an operation from the file servers view (its confirmation, the name typed) and watches its page until it
   * succeeded: every rendering of its steps is recorded in the page (a MutationObserver), and must show them turning
   * succeeded in order, at least two intermediate states seen, all without a reload.
   */
  async function runOperation(
    page: Page,
    button: string,
    opts: { kind: keyof typeof OPERATION_STEPS; before: () => Promise<void>; double?: boolean },
  ): Promise<{ id: string; jobPercents: Map<string, number[]> }> {
    await page.evaluate(RECORDER);
    await page.click(`tr[data-pair="site-a->site-b"] button:has-text("${button}")`);
    await page.waitForSelector('dialog[open]');
    await page.waitForSelector('dialog [aria-busy=false]');
    expect(await page.$('dialog [data-plan=refused], dialog [data-plan=unavailable]')).toBeNull();
    await opts.before();
    const confirm = 'dialog button[type=submit]';
    expect(await page.isDisabled(confirm)).toBe(true);
    await page.fill('#confirm-name', 'site-b');
    expect(await page.isDisabled(confirm)).toBe(true);
    await page.fill('#confirm-name', 'site-a');
    if (opts.double) await page.dblclick(confirm);
    else await page.click(confirm);
    await page.waitForURL(/#\/operations\/[0-9a-f-]{36}$/);
    const id = page.url().split('/').pop()!;
    await page.waitForSelector(`h1:has-text("${button}")`);
    await page.waitForSelector('h1 .status[data-status=succeeded]', { timeout: 120_000 });
    const steps = OPERATION_STEPS[opts.kind]!;
    const names: (string | null)[] = [];
    for (const li of await page.locator('ol.steps li[data-step]').all()) names.push(await li.getAttribute('data-step'));
    expect(names).toEqual(steps);
    const log = await page.evaluate<string[]>('window.stepLog');
    const seen = log.map((k) => k.split(','));
    // Always in order: succeeded steps, at most one running, the rest pending.
    for (const states of seen) expect(`${states.join(',')},`).toMatch(/^(succeeded,)*(running,)?(pending,)*$/);
    expect(seen[seen.length - 1]).toEqual(steps.map(() => 'succeeded'));
    const done = seen.map((states) => states.filter((x) => x === 'succeeded').length);
    for (let i = 1; i < done.length; i++) expect(done[i]).toBeGreaterThanOrEqual(done[i - 1]!);
    const intermediate = new Set(done.filter((n) => n > 0 && n < steps.length));
    expect(intermediate.size).toBeGreaterThanOrEqual(2);
    const jobs = await page.evaluate<[string, number][]>('window.jobLog');
    const jobPercents = new Map<string, number[]>();
    for (const [share, percent] of jobs) jobPercents.set(share, [...(jobPercents.get(share) ?? []), percent]);
    return { id, jobPercents };
  }

  it('an administrator creates a policy, watches its replication live, fails site-a over to site-b and back', async () => {
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

    // A planned failover from the file servers view, to its end: the confirmation shows the dry-run plan and the
    // request's choices, needs the file server's name typed, and sends an Idempotency-Key (a double click starts one
    // operation); the operation's steps then turn succeeded one after another without a reload, its final delta's
    // progress moves, the two file servers swap their states, and the demo DC's DNS name moves to site-b.
    // Writes since the last runs, so that the final delta has something to carry (the demo link: 4 MiB/s a stream).
    fs.writeFileSync(
      path.join(dataDir, 'demo', 'site-a-2', 'data', 'shares', 'media', 'videos', 'late-cut.bin'),
      crypto.randomBytes(24 << 20),
    );
    const operationPosts: { url: string; key: string | undefined }[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && /\/api\/v1\/operations\/[a-z-]+$/.test(r.url()))
        operationPosts.push({ url: r.url(), key: r.headers()['idempotency-key'] });
    });
    const pairRow = 'tr[data-pair="site-a->site-b"]';
    await page.click('nav >> text=File servers');
    await page.waitForSelector(`${pairRow} button:has-text("Planned failover")`);
    await page.evaluate("window.marker = 'same page'"); // gone if the page reloads
    expect(await page.getAttribute(`${pairRow} [data-side=source] .status`, 'data-status')).toBe('active');
    expect(await page.getAttribute(`${pairRow} [data-side=destination] .status`, 'data-status')).toBe('standby');
    expect(await page.textContent(`${pairRow} li[data-share=projects]`)).toBe(
      'projects: clients write to site-a; replicated to site-b',
    );
    await expectActionsAsApiLists(page);

    const planned = await runOperation(page, 'Planned failover', {
      kind: 'planned_failover',
      before: async () => {
        // The plan: the steps of a planned failover, the shares with their recovery points, what moves.
        const planText = (await page.textContent('dialog [data-plan=ready]'))!;
        expect(planText).toMatch(/Clients: move from site-a to site-b/);
        expect(planText).toMatch(/Data-loss window: none/);
        expect(planText).toMatch(/Readiness: ✓ ready/);
        expect(await page.locator('dialog .plan-steps li strong').allTextContents()).toEqual(
          OPERATION_STEPS.planned_failover,
        );
        expect(planText).toMatch(/demo\s*projects\s*site-b\/projects\s*.+ old\)/);
        expect(planText).toMatch(/media-dr\s*media\s*site-b\/media\s*.+ old\)/);
        if (demoDc) {
          expect(planText).toContain(`DNS files-a.demo.fsdr.test: ${demoDc.siteA} → ${demoDc.siteB}`);
          expect(planText).toContain('SPN cifs/files-a.demo.fsdr.test: FILES-A$ → FILES-B$');
        }
        for (const choice of ['waitForRunningJobs', 'accessAfter']) {
          expect(await page.$(`dialog [data-choice=${choice}]`)).not.toBeNull();
        }
        expect(await page.$('dialog #reverse-replication')).not.toBeNull();
        expect(await page.$('dialog #start-at')).not.toBeNull();
        expect(await page.$('dialog #require-approval')).not.toBeNull();
        // Tall enough to show the whole confirmation (a dialog scrolls within the viewport).
        await page.setViewportSize({ width: 1360, height: 1900 });
        await page.screenshot({ path: path.join(SHOTS, 'failover-confirmation.png') });
        await page.setViewportSize({ width: 1360, height: 860 });
      },
      double: true,
    });
    // One operation, however many clicks: every request of the dialog carried the same key.
    const starts = operationPosts.filter((r) => r.url.endsWith('/operations/planned-failover'));
    expect(starts.length).toBeGreaterThanOrEqual(1);
    expect(new Set(starts.map((r) => r.key)).size).toBe(1);
    expect(starts[0]!.key).toMatch(/^ui-[0-9a-f]{32}$/);
    const all = await api<{ items: { id: string }[] }>('GET', '/operations?kind=planned_failover', adminToken);
    expect(all.body.items.map((o) => o.id)).toEqual([planned.id]);
    // The final delta's progress moved on the operation's own page.
    expect(planned.jobPercents.get('media')!.some((x) => x > 0 && x < 100)).toBe(true);
    const switched = (await page.textContent('[data-result-part=switchover]'))!;
    expect(switched).toMatch(/media\s*fsdr-\S+?24(\.0)? MiBfsdr-pre-failover-/);
    expect(switched).toMatch(/projects\s*fsdr-\S+?\d+ Bfsdr-pre-failover-/);
    expect(await page.textContent('[data-result-part=open-files]')).toMatch(/No client had a file open/);
    const redirectStep = (await page.textContent('li[data-step="redirect clients"] .step-detail'))!;
    if (demoDc) {
      expect(redirectStep).toContain(
        `clients of file server 'site-a' redirected to file server 'site-b': files-a.demo.fsdr.test: ${demoDc.siteA} -> ${demoDc.siteB}`,
      );
      expect(digA(demoDc.dc, 'files-a.demo.fsdr.test')).toEqual([demoDc.siteB]);
    } else {
      expect(redirectStep).toMatch(/clients are not redirected/);
    }
    await shot(page, 'operation');

    // The two file servers swapped their states; the actions are those the API lists now (failback among them).
    await page.click('nav >> text=File servers');
    await page.waitForSelector(`${pairRow} [data-side=source] .status[data-status=standby]`);
    expect(await page.getAttribute(`${pairRow} [data-side=destination] .status`, 'data-status')).toBe('active');
    expect(await page.textContent(`${pairRow} li[data-share=projects]`)).toMatch(
      /projects: clients write to site-b; ‖ replication paused/,
    );
    await expectActionsAsApiLists(page);
    await shot(page, 'file-servers-failed-over');

    // Clients write at site-b now; a failback carries their writes back to site-a with its final delta.
    const mediaAt = (side: 'a' | 'b') =>
      [1, 2]
        .map((n) => path.join(dataDir, 'demo', `site-${side}-${n}`, 'data', 'shares', 'media', 'videos'))
        .find((p) => fs.existsSync(p))!;
    const writtenAtB = crypto.randomBytes(12 << 20);
    fs.writeFileSync(path.join(mediaAt('b'), 'written-at-b.bin'), writtenAtB);
    await runOperation(page, 'Failback', {
      kind: 'failback',
      before: async () => {
        expect(await page.textContent('dialog [data-plan=ready]')).toMatch(/Clients: move from site-b back to site-a/);
        expect(await page.locator('dialog .plan-steps li strong').allTextContents()).toEqual(OPERATION_STEPS.failback);
      },
    });
    expect(fs.readFileSync(path.join(mediaAt('a'), 'written-at-b.bin')).equals(writtenAtB)).toBe(true);
    if (demoDc) expect(digA(demoDc.dc, 'files-a.demo.fsdr.test')).toEqual([demoDc.siteA]);
    await page.click('nav >> text=File servers');
    await page.waitForSelector(`${pairRow} [data-side=source] .status[data-status=active]`);
    expect(await page.getAttribute(`${pairRow} [data-side=destination] .status`, 'data-status')).toBe('standby');
    expect(await page.textContent(`${pairRow} li[data-share=projects]`)).toBe(
      'projects: clients write to site-a; replicated to site-b',
    );
    expect(await page.evaluate('window.marker')).toBe('same page');
    expect(pageErrors).toEqual([]);
  });

  it('an operation that needs approval waits: the requester may cancel it, only another admin may approve it', async () => {
    const second = await api<{ token: string }>('POST', '/tokens', adminToken, { name: 'second-admin', role: 'admin' });
    expect(second.status).toBe(201);
    const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
    const page = await context.newPage();
    await signIn(page, adminToken);
    const pairRow = 'tr[data-pair="site-a->site-b"]';
    await page.waitForSelector(`${pairRow} button:has-text("Planned failover")`);
    await page.click(`${pairRow} button:has-text("Planned failover")`);
    await page.waitForSelector('dialog [aria-busy=false]');
    await page.check('dialog #require-approval');
    await page.fill('#confirm-name', 'site-a');
    expect(await page.textContent('dialog button[type=submit]')).toBe('Request planned failover');
    await page.click('dialog button[type=submit]');
    await page.waitForURL(/#\/operations\/[0-9a-f-]{36}$/);
    const id = page.url().split('/').pop()!;
    await page.waitForSelector('[data-waiting=approval]');
    expect(await page.textContent('h1')).toMatch(/Planned failover ‖ awaiting approval/);
    expect(await page.textContent('[data-waiting=approval]')).toMatch(/You requested it, so another admin/);
    // The requester: Cancel, no Approve.
    expect(await page.locator('[data-controls] button').allTextContents()).toEqual(['Cancel operation']);
    // Another admin: Approve and Cancel (a viewer would see neither: see the next test).
    const other = await (await browser.newContext({ viewport: { width: 1360, height: 860 } })).newPage();
    await signIn(other, second.body.token);
    await other.goto(`${base}/#/operations/${id}`);
    await other.waitForSelector('[data-controls]');
    expect(await other.locator('[data-controls] button').allTextContents()).toEqual(['Approve', 'Cancel operation']);
    await shot(other, 'operation-awaiting-approval');
    await other.context().close();
    // Cancelled before it started: nothing changed, and the pair is free again.
    await page.click('[data-controls] button:has-text("Cancel operation")');
    await page.click('[data-controls] button:has-text("Yes, cancel it")');
    await page.waitForSelector('h1 .status[data-status=cancelled]', { timeout: 30_000 });
    const servers = await api<{ items: { name: string; status: string }[] }>('GET', '/file-servers', adminToken);
    expect(servers.body.items.map((s) => [s.name, s.status])).toEqual([
      ['site-a', 'active'],
      ['site-b', 'standby'],
    ]);
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
      ['#/operations', 'tr[data-operation]'],
    ];
    // An operation that waits for approval: a viewer sees it, without Cancel or Approve.
    const waiting = await api<{ operationId: string }>('POST', '/operations/planned-failover', adminToken, {
      source: 'site-a',
      destination: 'site-b',
      requireApproval: true,
    });
    expect(waiting.status).toBe(202);
    loaded.push([`#/operations/${waiting.body.operationId}`, '[data-waiting=approval]']);
    for (const [view, ready] of loaded) {
      await page.goto(`${base}/${view}`);
      await page.waitForSelector(ready);
      const actions = (await page.locator('main button, main a.button').allTextContents())
        .map((t) => t.trim())
        .filter((t) => t !== 'Check FSVM health now');
      expect([view, actions]).toEqual([view, []]);
    }
    expect(await page.$('th:has-text("Actions")')).toBeNull();
    expect((await api('POST', `/operations/${waiting.body.operationId}/cancel`, made.body.token)).status).toBe(403);
    expect((await api('POST', `/operations/${waiting.body.operationId}/cancel`, adminToken)).status).toBe(202);
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
