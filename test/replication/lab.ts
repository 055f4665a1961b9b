// A DR lab for end-to-end tests: the real API and worker on their own database and task queue, and four real gateway
// agent processes: file server fs-a (FSVMs a1, a2) at site A and fs-b (b1, b2) at site B, registered through the API.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import request from 'supertest';
import type { Express } from 'express';
import type { Client } from '@temporalio/client';
import { createApp } from '../../api/app';
import { createToken } from '../../api/routes/tokens';
import type { Activities } from '../../activities';
import { createLogger } from '../../infra/logger';
import { connectClient } from '../../infra/temporal';
import { claimLoopbackAddress, releaseLoopbackAddress } from '../../infra/loopback-address';
import type { DomainController } from '../../infra/samba-dc';
import { REPO, agentUrl, startAgent, TOKEN, tmpDir, treeDigest, type Agent } from '../gateway/helpers';
import { startSmbd, type Smbd } from '../gateway/smbd';
import { createAdFileServer, type DirectoryFileServer } from '../helpers/directory-fixture';
import { ZONE } from '../helpers/domain-controller';
import type { Site, SitesNetwork } from '../helpers/sites-network';
import { freePort } from '../helpers/ports';
import { createTestDatabase, testEnvironment, uniqueName, type TestDatabase } from '../helpers/environment';
import { recordHistories } from '../helpers/record-histories';
import { startTestWorker, TEST_SECRETS, TEST_SECRETS_KEY, type TestWorker } from '../helpers/worker';

export const PAIR_TOKEN = 'pair-token-for-the-lab-0123456789';

export interface LabOptions {
  wrap?: (activities: Activities) => Partial<Activities>;
  /** GATEWAY_BANDWIDTH_LIMIT of the source agents, e.g. '4M' to keep transfers running long enough to interrupt. */
  sourceBandwidth?: string;
  /** More environment for every agent (e.g. GATEWAY_STALL_TIMEOUT). */
  agentEnv?: Record<string, string>;
  /** Run the worker as its own process (workers/main.ts), so a test can kill -9 it; default: in-process. */
  workerProcess?: boolean;
  /** A third site: file server fs-c with one FSVM, c1 (for one-to-many, many-to-one and cascades). */
  thirdSite?: boolean;
  /**
   * Clients as they reach a file server: every FSVM of fs-a and fs-b serves its shares through its own smbd, on a
   * loopback address of its own and one common port; the file servers' names are A records in this domain
   * controller's DNS (their addresses: their FSVMs'), with computer accounts and SPNs, and directory settings
   * registered through the API. Root only (addresses on `lo`).
   */
  clients?: { dc: DomainController };
  /**
   * Names of the file servers (default fs-a, fs-b, fs-c). Workflow ids derived from them (the fence, `fence/<name>`)
   * are global on the dev server every test file shares: labs that may run at the same time need their own.
   */
  names?: { a: string; b: string; c?: string };
  /** A Temporal server of the test's own (default: the one the whole run shares); needs `workerProcess`. */
  temporalAddress?: string;
  /** A database of the test's own (default: a clone of the template on the PostgreSQL server the run shares). */
  database?: TestDatabase;
  /**
   * A network of two sites (test/helpers/sites-network.ts): a1, a2 run in site a's namespace on its address, b1, b2 in
   * site b's, so that the test can cut the link between the sites. Not with a third site or clients.
   */
  sites?: SitesNetwork;
}

export interface LabClients {
  dc: DomainController;
  /** The port every FSVM's smbd listens on, each on its own address. */
  smbPort: number;
  /** Each FSVM's own address. */
  addresses: Record<'a1' | 'a2' | 'b1' | 'b2', string>;
  /** The AD side of fs-a and fs-b: client-facing name, computer account, addresses. */
  names: Record<'fs-a' | 'fs-b', DirectoryFileServer>;
}

export interface WorkerProcess {
  proc: ChildProcess;
  output: () => string;
  kill9(): Promise<void>;
}

export interface Lab {
  app: Express;
  database: TestDatabase;
  temporal: Client;
  /** The in-process worker (undefined with `workerProcess`). */
  worker?: TestWorker;
  /** The worker process (with `workerProcess`). */
  workerProc?: WorkerProcess;
  taskQueue: string;
  agents: Record<'a1' | 'a2' | 'b1' | 'b2', Agent> & { c1?: Agent };
  /** The file servers' names. */
  names: { a: string; b: string; c: string };
  admin: { authorization: string };
  /** With `clients`: how clients reach the file servers. */
  clients?: LabClients;
  restartWorker(): Promise<void>;
  startWorkerProcess(): Promise<WorkerProcess>;
  /** Live data of a share portion on an agent ('' = the share root of a standard share). */
  livePath(agent: Agent, share: string, portion?: string): string;
  close(): Promise<void>;
}

export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const database = opts.database ?? (await createTestDatabase());
  const taskQueue = uniqueName('dr');
  if (opts.temporalAddress && !opts.workerProcess) throw new Error('a Temporal server of its own needs workerProcess');
  const worker = opts.workerProcess
    ? undefined
    : await startTestWorker({ db: database.db, taskQueue, wrap: opts.wrap });
  const temporalAddress = opts.temporalAddress ?? testEnvironment().temporalAddress;
  const temporal = await connectClient(temporalAddress, 'default');
  const app = createApp({
    db: database.db,
    temporal,
    temporalAddress,
    taskQueue,
    temporalUiUrl: 'http://127.0.0.1:8233',
    logger: createLogger({ log: { level: 'silent', format: 'json' } }),
    secrets: TEST_SECRETS,
    gatewayTimeoutMs: 5000,
  });
  const admin = { authorization: `Bearer ${(await createToken(database.db, uniqueName('admin'), 'admin')).token}` };

  // With clients: one smbd per FSVM, each on a loopback address of its own and the same port.
  const smbds = new Map<string, Smbd>();
  const claimed: string[] = [];
  const smbPort = opts.clients ? await freePort() : 0;
  if (opts.clients) {
    for (const node of ['a1', 'a2', 'b1', 'b2']) {
      const address = await claimLoopbackAddress();
      claimed.push(address);
      const dir = tmpDir(`smb-${node}`);
      fs.chmodSync(dir, 0o755); // smbd serves the shares as the guest account
      smbds.set(node, await startSmbd(dir, { address, port: smbPort }));
    }
  }
  // Every agent's port is chosen first: each pins the addresses of its peers (GATEWAY_PEERS) before they start.
  if (opts.sites && (opts.thirdSite || opts.clients)) throw new Error('a sites network has two sites and no clients');
  const ports: Record<string, number> = {};
  const siteOf = (nodeId: string): Site => (nodeId.startsWith('a') ? 'a' : 'b');
  const placement = (nodeId: string) =>
    opts.sites ? { host: opts.sites.hosts[siteOf(nodeId)], netns: opts.sites.namespaces[siteOf(nodeId)] } : {};
  for (const n of ['a1', 'a2', 'b1', 'b2', ...(opts.thirdSite ? ['c1'] : [])]) ports[n] = await freePort();
  const start = (nodeId: string, fileServer: string, peers: string[], bandwidth?: string) =>
    startAgent({
      nodeId,
      port: ports[nodeId],
      ...placement(nodeId),
      dataRoot: tmpDir(nodeId),
      peers: Object.fromEntries(peers.map((p) => [p, PAIR_TOKEN])),
      peerUrls: Object.fromEntries(peers.map((p) => [p, agentUrl(ports[p]!, false, placement(p).host)])),
      env: {
        GATEWAY_FILE_SERVER_ID: fileServer,
        LOG_LEVEL: 'warn',
        ...opts.agentEnv,
        ...(bandwidth ? { GATEWAY_BANDWIDTH_LIMIT: bandwidth } : {}),
        ...(smbds.has(nodeId)
          ? { GATEWAY_SMB_CONF: smbds.get(nodeId)!.include, GATEWAY_SMBD_PID_FILE: smbds.get(nodeId)!.pidFile }
          : {}),
      },
    });
  // Every FSVM may exchange data with every FSVM of the other sites (pair tokens).
  const c = opts.thirdSite ? ['c1'] : [];
  const names = { a: 'fs-a', b: 'fs-b', c: 'fs-c', ...opts.names };
  const [a1, a2, b1, b2, c1] = await Promise.all([
    start('a1', names.a, ['b1', 'b2', ...c], opts.sourceBandwidth),
    start('a2', names.a, ['b1', 'b2', ...c], opts.sourceBandwidth),
    start('b1', names.b, ['a1', 'a2', ...c]),
    start('b2', names.b, ['a1', 'a2', ...c]),
    ...(opts.thirdSite ? [start('c1', names.c, ['a1', 'a2', 'b1', 'b2'])] : []),
  ]);
  const agents = { a1: a1, a2: a2, b1: b1, b2: b2, ...(c1 ? { c1 } : {}) };
  const sites: [string, string, Agent[]][] = [
    [names.a, 'site-a', [a1, a2]],
    [names.b, 'site-b', [b1, b2]],
    ...(c1 ? [[names.c, 'site-c', [c1]] as [string, string, Agent[]]] : []),
  ];
  let clients: LabClients | undefined;
  if (opts.clients) {
    // smbd serves the shares as the guest account, which must traverse the agents' data roots (mkdtemp: 0700).
    for (const a of [a1, a2, b1, b2]) fs.chmodSync(a.dataRoot, 0o755);
    const { dc } = opts.clients;
    const addresses = { a1: claimed[0]!, a2: claimed[1]!, b1: claimed[2]!, b2: claimed[3]! };
    clients = {
      dc,
      smbPort,
      addresses,
      names: {
        'fs-a': await createAdFileServer(dc, 'fsa', [addresses.a1, addresses.a2]),
        'fs-b': await createAdFileServer(dc, 'fsb', [addresses.b1, addresses.b2]),
      },
    };
  }
  for (const [name, site, nodes] of sites) {
    const ad = clients?.names[name as 'fs-a' | 'fs-b'];
    const res = await request(app)
      .post('/api/v1/file-servers')
      .set(admin)
      .send({
        name,
        site,
        dnsName: ad?.fqdn ?? `${name}.corp.example.test`,
        ...(ad ? { addresses: ad.addresses } : {}),
        fsvms: nodes.map((n) => ({ nodeId: n.nodeId, gatewayUrl: n.url, token: TOKEN })),
      });
    if (res.status !== 201) throw new Error(`registering ${name} failed: ${res.status} ${JSON.stringify(res.body)}`);
    if (ad && clients) {
      const dir = await request(app)
        .put(`/api/v1/file-servers/${name}/directory`)
        .set(admin)
        .send({
          domain: clients.dc.dnsDomain,
          servers: [clients.dc.ldapsUrl],
          bindUser: clients.dc.adminUser,
          bindPassword: clients.dc.adminPassword,
          caCertificates: clients.dc.caPem,
          dnsZone: ZONE,
          computerAccount: ad.account,
        });
      if (dir.status !== 200)
        throw new Error(`directory settings of ${name}: ${dir.status} ${JSON.stringify(dir.body)}`);
    }
  }

  const lab: Lab = {
    app,
    database,
    temporal,
    worker,
    taskQueue,
    agents,
    names,
    admin,
    ...(clients ? { clients } : {}),
    async restartWorker() {
      await lab.worker?.stop();
      lab.worker = await startTestWorker({ db: database.db, taskQueue, wrap: opts.wrap });
    },
    async startWorkerProcess() {
      lab.workerProc = await startWorkerProcess(database.url, taskQueue, { temporalAddress });
      return lab.workerProc;
    },
    livePath(agent, share, portion = '') {
      return portion ? path.join(agent.dataRoot, 'shares', share, portion) : path.join(agent.dataRoot, 'shares', share);
    },
    async close() {
      try {
        if (process.env.RECORD_HISTORIES) await recordHistories(temporal, taskQueue);
        for await (const w of temporal.workflow.list({
          query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
        })) {
          await temporal.workflow
            .getHandle(w.workflowId)
            .terminate('test done')
            .catch(() => undefined);
        }
        // The dev server is shared by every test file: delete only the replication schedules of this lab's policies.
        const policyIds = new Set(
          (await database.db.replicationPolicy.findMany({ select: { id: true } })).map((p) => p.id),
        );
        for await (const s of temporal.schedule.list()) {
          if (!s.scheduleId.startsWith('schedule/replicate/')) continue;
          const memo = (
            await temporal.schedule
              .getHandle(s.scheduleId)
              .describe()
              .catch(() => undefined)
          )?.memo;
          if (typeof memo?.policyId === 'string' && policyIds.has(memo.policyId)) {
            await temporal.schedule
              .getHandle(s.scheduleId)
              .delete()
              .catch(() => undefined);
          }
        }
      } finally {
        // Processes and data go even if the Temporal clean-up above failed: a test never leaves agents running.
        await lab.worker?.stop().catch(() => undefined);
        await lab.workerProc?.kill9();
        await Promise.all(Object.values(agents).map((a) => a.stop()));
        await Promise.all([...smbds.values()].map((d) => d.stop()));
        for (const address of claimed) await releaseLoopbackAddress(address);
        for (const a of Object.values(agents)) fs.rmSync(a.dataRoot, { recursive: true, force: true });
        await temporal.connection.close();
        await database.drop();
      }
    },
  };
  return lab;
}

/** Digest of a share portion's live tree, without mtimes of directories (the receiver sets them last). */
export function contentDigest(root: string): Record<string, string> {
  return Object.fromEntries(Object.entries(treeDigest(root)).filter(([rel]) => !rel.startsWith('.fsdr') && rel !== ''));
}

export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface WorkerProcessOptions {
  /** A module loaded with `--import` before the entry point (the chaos harness's probe, test/helpers/chaos.ts). */
  preload?: string;
  /** Open an IPC channel to the process (the probe talks over it). */
  ipc?: boolean;
  /** The Temporal server (default: the one the whole run shares). */
  temporalAddress?: string;
}

/**
 * The production worker entry point (workers/main.ts) as its own process; ready once it polls the task queue (with
 * the chaos probe preloaded: once it would poll, the probe holding it until the harness says go).
 */
export async function startWorkerProcess(
  databaseUrl: string,
  taskQueue: string,
  opts: WorkerProcessOptions = {},
): Promise<WorkerProcess> {
  let out = '';
  const preload = opts.preload ? ['--import', pathToFileURL(opts.preload).href] : [];
  const proc = spawn(process.execPath, ['--import', 'tsx', ...preload, 'workers/main.ts'], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TEMPORAL_ADDRESS: opts.temporalAddress ?? testEnvironment().temporalAddress,
      TEMPORAL_TASK_QUEUE: taskQueue,
      DATABASE_URL: databaseUrl,
      SECRETS_KEY: TEST_SECRETS_KEY.toString('base64'),
      WORKFLOW_BUNDLE_PATH: testEnvironment().workflowBundlePath,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
    },
    stdio: opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitUntil(
    'the worker process to start',
    async () => {
      if (proc.exitCode !== null) throw new Error(`worker exited: ${out}`);
      return out.includes('worker started');
    },
    90_000,
  );
  return {
    proc,
    output: () => out,
    async kill9() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
