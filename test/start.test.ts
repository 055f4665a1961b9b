// `npm start` as an operator runs it: the embedded default comes up (Temporal with Web UI, PostgreSQL, worker, API and
// web UI, and the demo: two file servers of two gateway agents each, registered, replicating, and its Active
// Directory DC whose DNS serves the file servers' names), Ctrl-C stops everything (gateways, smbd and the DC
// included), a second start reuses the data (the DC too); without Samba's AD DC the demo says so in one line and runs
// without one; a bad setting fails fast, names the variable and leaves nothing running; TEMPORAL_ADDRESS /
// DATABASE_URL switch to external services.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeCluster } from '../infra/embedded-postgres-placement';
import { assertPortFree } from '../infra/temporal-dev-server';
import { connectClient } from '../infra/temporal';
import { diagnosticsWorkflow } from '../workflows';
import { createTestDatabase, testEnvironment, uniqueName } from './helpers/environment';
import {
  expectAllPortsFree,
  startEnv,
  startOrchestrator,
  startPorts,
  waitForHealth,
  waitForLog,
} from './helpers/start-process';

/** Processes whose command line or environment mentions the folder: what a start left running. */
function processesUsing(dir: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (cmd.includes(dir) || env.includes(dir)) found.push(`${pid}: ${cmd.replace(/\0/g, ' ').slice(0, 120)}`);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/**
 * The processes of a process group: the demo DC's (samba names its processes itself, "samba: root process",
 * "samba: task[ldap] ...", over its command line and environment, so it is found by its root pid's group).
 */
function processGroup(pgid: number): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // A zombie has ended (it only waits to be reaped by init).
      if (Number(pgrp) === pgid && state !== 'Z')
        found.push(`${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The demo DC's root pid, as its folder records it. */
function demoDcPid(dataDir: string): number {
  return (JSON.parse(fs.readFileSync(path.join(dataDir, 'demo', 'ad', 'dc.json'), 'utf8')) as { pid: number }).pid;
}

/** Whether this machine can run the demo's DC (root, Samba's AD DC and iproute2 installed). */
function demoDcPossible(): boolean {
  const installed = (b: string) => spawnSync('sh', ['-c', `command -v ${b}`]).status === 0;
  return process.getuid?.() === 0 && ['samba', 'samba-tool', 'ip'].every(installed);
}

/** What the DC's DNS server answers for the A record of `name` (one try, no recursion). */
function dig(server: string, name: string): string[] {
  const out = execFileSync('dig', [`@${server}`, name, 'A', '+short', '+norecurse', '+time=3', '+tries=1'], {
    encoding: 'utf8',
  });
  return out.split('\n').filter(Boolean).sort();
}

function loopbackAddresses(): string {
  return execFileSync('ip', ['-4', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' });
}

describe('npm start (embedded default)', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-start-'));
    // As `.data` in a checkout is: the demo's smbd serves its shares to guests (mapped to nobody), who must reach them.
    fs.chmodSync(dataDir, 0o755);
  });
  afterEach(() => {
    removeCluster(path.join(dataDir, 'postgres')); // as root it may live outside dataDir (a 0700 mkdtemp folder)
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('brings up Temporal with its Web UI, PostgreSQL, worker, API and web UI, and the demo sites replicating with their AD DC; Ctrl-C stops all; a restart reuses the data', async () => {
    // The demo DC needs root (a loopback address of its own) and Samba's AD DC (scripts/system-packages.txt).
    if (!demoDcPossible()) throw new Error('this test needs root and samba-ad-dc, samba-tool and iproute2 installed');
    const p = await startPorts();
    const first = startOrchestrator(startEnv(p, dataDir));
    const api = `http://127.0.0.1:${p.api}`;
    try {
      const health = await waitForHealth(api, first);
      expect(health).toMatchObject({ status: 'ok', temporal: { status: 'up' }, database: { status: 'up' } });
      expect(health.temporal.workers).toBeGreaterThanOrEqual(1);
      expect(health.temporal.webUi).toBe(`http://127.0.0.1:${p.ui}`);
      expect((await fetch(`http://127.0.0.1:${p.ui}/`)).status).toBe(200);

      // The web UI, same-origin only.
      const page = await fetch(`${api}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'; script-src 'self'/);
      expect(await page.text()).toContain('<script type="module" src="/app.js"></script>');

      // The demo: both file servers registered with two healthy FSVMs each, and a first replication done, before
      // the last line says what to open.
      await waitForLog(
        first,
        /"msg":"ready: open http:\/\/127\.0\.0\.1:\d+ \(the web UI; sign in with the admin token in /,
      );
      const auth = { authorization: `Bearer ${fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim()}` };
      const servers = (await (await fetch(`${api}/api/v1/file-servers`, { headers: auth })).json()) as {
        items: { name: string; status: string; fsvms: { total: number; healthy: number }; protection: unknown[] }[];
      };
      expect(servers.items.map((s) => [s.name, s.status, s.fsvms])).toEqual([
        ['site-a', 'active', { total: 2, healthy: 2 }],
        ['site-b', 'standby', { total: 2, healthy: 2 }],
      ]);
      const jobs = (await (await fetch(`${api}/api/v1/jobs?policy=demo`, { headers: auth })).json()) as {
        items: { state: string; share: string; destination: string }[];
      };
      expect(
        jobs.items.some((j) => j.state === 'succeeded' && j.share === 'projects' && j.destination === 'site-b'),
      ).toBe(true);
      const shares = (await (await fetch(`${api}/api/v1/file-servers/site-a/shares`, { headers: auth })).json()) as {
        shares: { name: string; kind: string; portions: Record<string, string> }[];
      };
      expect(shares.shares.map((s) => [s.name, s.kind, s.portions])).toEqual([
        ['home', 'distributed', { alice: 'site-a-1', bob: 'site-a-2' }],
        ['media', 'standard', { '': 'site-a-2' }],
        ['projects', 'standard', { '': 'site-a-1' }],
      ]);
      // Its FSVMs serve SMB on their file server's own address (the one its DNS name resolves to), and the demo's
      // DC serves those names.
      const network = JSON.parse(fs.readFileSync(path.join(dataDir, 'demo', 'network.json'), 'utf8')) as {
        dc: string;
        fileServers: Record<string, string>;
      };
      const siteA = network.fileServers['site-a']!;
      const siteB = network.fileServers['site-b']!;
      const dcLine =
        /demo: Active Directory DC dc1\.demo\.fsdr\.test up on (\S+) \(provisioned and started in ([\d.]+) s\)/.exec(
          first.output(),
        );
      expect(dcLine?.[1]).toBe(network.dc);
      expect(first.output()).toContain(`dig @${network.dc} files-a.demo.fsdr.test +short`);
      expect(dig(network.dc, 'files-a.demo.fsdr.test')).toEqual([siteA]);
      expect(dig(network.dc, 'files-b.demo.fsdr.test')).toEqual([siteB]);
      for (const a of [network.dc, siteA, siteB]) expect(loopbackAddresses()).toContain(`inet ${a}/32`);
      // Both file servers have directory settings through the API, and the directory check (a workflow on the
      // worker, against the DC over verified LDAPS) passes.
      const settings = (await (
        await fetch(`${api}/api/v1/file-servers/site-a/directory`, { headers: auth })
      ).json()) as {
        servers: string[];
        computerAccount: string;
        clientName: string;
        bindPasswordSet: boolean;
      };
      expect(settings).toMatchObject({
        servers: [`ldaps://${network.dc}:636`],
        computerAccount: 'FILES-A$',
        clientName: 'files-a.demo.fsdr.test',
        bindPasswordSet: true,
      });
      const check = (await (
        await fetch(`${api}/api/v1/file-servers/site-b/directory/check`, { method: 'POST', headers: auth })
      ).json()) as { ok: boolean; summary: string };
      expect(check).toMatchObject({ ok: true });
      const dcProcesses = processGroup(demoDcPid(dataDir));
      expect(dcProcesses.length).toBeGreaterThan(3);
      expect(dcProcesses.every((l) => /^\d+: samba: /.test(l))).toBe(true);

      expect(first.output()).toContain(`demo: shares over SMB: site-a-1 smb://${siteA}:`);
      expect(first.output()).toMatch(new RegExp(`site-b-1 smb://${siteB.replace(/\./g, '\\.')}:\\d+`));
      expect(processesUsing(dataDir).some((l) => l.includes('smbd'))).toBe(true);
      // A real SMB client sees the share on its FSVM's own smbd, at the address the name resolves to.
      const smbPort = /site-a-1 smb:\/\/[\d.]+:(\d+)/.exec(first.output())![1]!;
      const listing = spawnSync('smbclient', [`//${siteA}/projects`, '-p', smbPort, '-N', '-c', 'ls'], {
        encoding: 'utf8',
      });
      expect(listing.stdout).toMatch(/project-1\s+D/);

      // Work done in the first run must survive the restart.
      const client = await connectClient(`127.0.0.1:${p.temporal}`, 'default');
      const workflowId = uniqueName('diag');
      const result = await client.workflow.execute(diagnosticsWorkflow, { taskQueue: 'fs-dr', workflowId });
      expect(result.database.reachable).toBe(true);
      await client.connection.close();
    } finally {
      first.interrupt();
    }
    expect(await first.exited).toBe(0);
    // LOG_FORMAT=json: every line is JSON (the Temporal SDK's native lines included)
    expect(
      first
        .output()
        .split('\n')
        .filter((l) => l.trim() && !l.startsWith('{')),
    ).toEqual([]);
    await expectAllPortsFree(p);
    // Nothing left behind: no gateway agent, no smbd, no samba, no server, and the demo's addresses are gone.
    expect(processesUsing(dataDir)).toEqual([]);
    expect(first.output()).toMatch(/demo gateways stopped/);
    expect(first.output()).toMatch(/demo Active Directory DC stopped/);
    const network = JSON.parse(fs.readFileSync(path.join(dataDir, 'demo', 'network.json'), 'utf8')) as {
      dc: string;
      fileServers: Record<string, string>;
    };
    for (const a of [network.dc, ...Object.values(network.fileServers)]) {
      expect(loopbackAddresses()).not.toContain(`inet ${a}/32`);
    }
    const dcPid = demoDcPid(dataDir);
    expect(processGroup(dcPid)).toEqual([]);
    expect(fs.existsSync(path.join(dataDir, 'temporal.sqlite'))).toBe(true);
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
    expect(fs.existsSync(path.join(dataDir, 'demo', 'site-a-1', 'data', 'shares', 'projects'))).toBe(true);

    const second = startOrchestrator(startEnv(p, dataDir));
    try {
      await waitForHealth(api, second);
      await waitForLog(second, /"msg":"ready: open /);
      const client = await connectClient(`127.0.0.1:${p.temporal}`, 'default');
      const list = client.workflow.list({ query: `WorkflowType = 'diagnosticsWorkflow'` });
      const seen: string[] = [];
      for await (const wf of list) seen.push(wf.status.name);
      await client.connection.close();
      expect(seen).toEqual(['COMPLETED']);
      expect(second.output()).not.toMatch(/initdb/);
      // The demo is reused, not made again: same file servers, shares and policy, gateways healthy again, the same
      // DC on the same address, started without provisioning, its names as they were.
      expect(second.output()).not.toMatch(/demo: share '|demo: policy 'demo' protects/);
      expect(second.output()).toMatch(
        new RegExp(
          `demo: Active Directory DC dc1\\.demo\\.fsdr\\.test up on ${network.dc.replace(/\./g, '\\.')} \\(started in`,
        ),
      );
      expect(dig(network.dc, 'files-a.demo.fsdr.test')).toEqual([network.fileServers['site-a']]);
      const auth = { authorization: `Bearer ${fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim()}` };
      const servers = (await (await fetch(`${api}/api/v1/file-servers`, { headers: auth })).json()) as {
        items: { name: string; fsvms: { healthy: number } }[];
      };
      expect(servers.items.map((s) => [s.name, s.fsvms.healthy])).toEqual([
        ['site-a', 2],
        ['site-b', 2],
      ]);
    } finally {
      second.interrupt();
    }
    expect(await second.exited).toBe(0);
    await expectAllPortsFree(p);
    expect(processesUsing(dataDir)).toEqual([]);
    expect(second.output()).toMatch(/demo Active Directory DC stopped/);
    expect(demoDcPid(dataDir)).not.toBe(dcPid); // its own samba, stopped too
    expect(processGroup(demoDcPid(dataDir))).toEqual([]);
  }, 240_000);

  it("without Samba's AD DC the demo says so in one line and runs without it", async () => {
    // PATH as on a machine without the samba-ad-dc package: everything of this one but the `samba` binary.
    const bin = path.join(dataDir, 'bin');
    fs.mkdirSync(bin);
    const dirs = (process.env.PATH ?? '').split(':').filter((d) => d && fs.existsSync(d));
    for (const d of dirs) {
      for (const name of fs.readdirSync(d)) {
        const target = path.join(bin, name);
        if (name !== 'samba' && !fs.existsSync(target)) fs.symlinkSync(path.join(d, name), target);
      }
    }
    const p = await startPorts();
    const proc = startOrchestrator({ ...startEnv(p, dataDir), PATH: bin });
    try {
      await waitForHealth(`http://127.0.0.1:${p.api}`, proc);
      await waitForLog(proc, /"msg":"ready: open /, 150_000);
      const lines = proc
        .output()
        .split('\n')
        .filter((l) => l.includes('Active Directory'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(
        'demo: no demo Active Directory DC: samba not installed (apt-get install samba-ad-dc iproute2); failovers do not redirect clients',
      );
      expect(proc.output()).toMatch(/demo: shares over SMB: site-a-1 smb:\/\/127\.0\.0\.1:\d+/);
      expect(proc.output()).toMatch(/demo: site-a\/projects is replicated to site-b/);
      expect(fs.existsSync(path.join(dataDir, 'demo', 'ad'))).toBe(false);
    } finally {
      proc.interrupt();
    }
    expect(await proc.exited).toBe(0);
    expect(processesUsing(dataDir)).toEqual([]);
  }, 180_000);

  it('runs no demo with DEMO=off', async () => {
    const p = await startPorts();
    const proc = startOrchestrator({ ...startEnv(p, dataDir), DEMO: 'off' });
    try {
      await waitForHealth(`http://127.0.0.1:${p.api}`, proc);
      await waitForLog(proc, /"msg":"ready: open /);
      expect(proc.output()).not.toMatch(/demo:/);
      expect(fs.existsSync(path.join(dataDir, 'demo'))).toBe(false);
    } finally {
      proc.interrupt();
    }
    expect(await proc.exited).toBe(0);
  }, 120_000);

  it('fails fast on bad settings, naming every bad variable, and starts nothing', async () => {
    const p = await startPorts();
    const proc = startOrchestrator({ ...startEnv(p, dataDir), API_PORT: 'eighty', TEMPORAL_ADDRESS: 'not an address' });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toMatch(/API_PORT/);
    expect(proc.output()).toMatch(/TEMPORAL_ADDRESS: must be host:port/);
    expect(fs.existsSync(path.join(dataDir, 'postgres'))).toBe(false);
    await expectAllPortsFree(p);
  });

  it('in production requires external Temporal, database and a secrets key', async () => {
    const p = await startPorts();
    const proc = startOrchestrator({ ...startEnv(p, dataDir), NODE_ENV: 'production' });
    expect(await proc.exited).toBe(1);
    for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'SECRETS_KEY']) expect(proc.output()).toContain(name);
  });

  it('stops what it already started when a later step fails (bad TEMPORAL_CLI_PATH)', async () => {
    const p = await startPorts();
    const proc = startOrchestrator({
      ...startEnv(p, dataDir),
      TEMPORAL_CLI_PATH: path.join(dataDir, 'no-such-temporal'),
    });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toMatch(/TEMPORAL_CLI_PATH: '.*no-such-temporal' is not an executable file/);
    expect(proc.output()).toMatch(/embedded PostgreSQL stopped/);
    await expectAllPortsFree(p);
    expect(processesUsing(dataDir)).toEqual([]); // the demo's gateways, started early, are stopped too
  });

  it('refuses a port that is already taken, before starting anything', async () => {
    const p = await startPorts();
    const net = await import('node:net');
    const blocker = net.createServer().listen(p.api, '127.0.0.1');
    try {
      const proc = startOrchestrator(startEnv(p, dataDir));
      expect(await proc.exited).toBe(1);
      expect(proc.output()).toMatch(new RegExp(`port ${p.api} \\(API\\) is already in use`));
      expect(fs.existsSync(path.join(dataDir, 'postgres'))).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('uses TEMPORAL_ADDRESS and DATABASE_URL instead of embedded servers when they are set', async () => {
    const p = await startPorts();
    const database = await createTestDatabase();
    const temporalAddress = testEnvironment().temporalAddress;
    const proc = startOrchestrator({
      ...startEnv(p, dataDir),
      TEMPORAL_ADDRESS: temporalAddress,
      DATABASE_URL: database.url,
      TEMPORAL_TASK_QUEUE: uniqueName('tq'),
    });
    try {
      const health = await waitForHealth(`http://127.0.0.1:${p.api}`, proc);
      expect(health.temporal.address).toBe(temporalAddress);
      // Neither embedded server was started.
      await assertPortFree(p.db, 'PostgreSQL');
      await assertPortFree(p.temporal, 'Temporal');
      expect(fs.existsSync(path.join(dataDir, 'postgres'))).toBe(false);
      expect(proc.output()).not.toContain(database.url); // the password in the URL is never logged
    } finally {
      proc.interrupt();
      await proc.exited;
      await database.drop();
    }
  });
});
