// The demo on the embedded default (`npm start`; DEMO=off turns it off, NODE_ENV=production never runs it): two local
// file servers with two FSVM gateway agents each (demo/sites.ts), registered with the API with their client-facing
// addresses, sample shares created through the API (one distributed over both FSVMs), one policy protecting one share
// at a 1-minute RPO, so that replication jobs appear at once, and, where it can run, a demo Active Directory DC
// (demo/directory.ts) with both file servers' directory settings, so that a failover moves a DNS name and its SPNs.
// It talks to the API over HTTP like any client, with a token of its own. Each part is a step of DEMO_STEPS.
import fs from 'node:fs';
import path from 'node:path';
import { createToken } from '../api/routes/tokens';
import type { Db } from '../infra/database';
import type { Logger } from '../infra/logger';
import { demoDirectorySettings, ensureDemoObjects, type DemoDirectory } from './directory';
import { writeHome, writeMedia, writeProjects } from './sample-data';
import { DEMO_FILE_SERVERS, type RunningSites } from './sites';

export const DEMO_POLICY = 'demo';

export interface DemoContext {
  apiUrl: string;
  db: Db;
  sites: RunningSites;
  directory: DemoDirectory;
  logger: Logger;
  /** Set by the first step: the demo's own admin token. */
  token?: string;
}

export interface DemoStep {
  name: string;
  run(ctx: DemoContext): Promise<void>;
}

interface DemoShare {
  name: string;
  body: Record<string, unknown>;
  fill(sites: RunningSites): number;
}

const SHARES: DemoShare[] = [
  {
    name: 'projects',
    body: { kind: 'standard', nodeId: 'site-a-1' },
    fill: (s) => writeProjects(s.livePath('site-a-1', 'projects')),
  },
  {
    name: 'home',
    body: {
      kind: 'distributed',
      portions: [
        { name: 'alice', nodeId: 'site-a-1' },
        { name: 'bob', nodeId: 'site-a-2' },
      ],
    },
    fill: (s) =>
      writeHome(s.livePath('site-a-1', 'home', 'alice'), 'alice') +
      writeHome(s.livePath('site-a-2', 'home', 'bob'), 'bob'),
  },
  {
    name: 'media',
    body: { kind: 'standard', nodeId: 'site-a-2' },
    fill: (s) => writeMedia(s.livePath('site-a-2', 'media'), 48),
  },
];

class ApiCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(ctx: DemoContext, method: string, url: string, body?: unknown): Promise<T> {
  const res = await fetch(`${ctx.apiUrl}/api/v1${url}`, {
    method,
    headers: { authorization: `Bearer ${ctx.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) {
    const detail = (() => {
      try {
        return (JSON.parse(text) as { detail?: string }).detail;
      } catch {
        return undefined;
      }
    })();
    throw new ApiCallError(res.status, `${method} ${url}: ${res.status} ${detail ?? text.slice(0, 200)}`);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function operationDone(ctx: DemoContext, id: string): Promise<void> {
  const op = await until(
    `operation ${id}`,
    async () => {
      const o = await call<{ state: string; error: string | null }>(ctx, 'GET', `/operations/${id}`);
      return o.state === 'succeeded' || o.state === 'failed' ? o : undefined;
    },
    60_000,
  );
  if (op.state !== 'succeeded') throw new Error(`operation ${id} failed: ${op.error}`);
}

/** The demo's own admin token (DATA_DIR/demo/api-token, 0600), made again if it was revoked or lost. */
const token: DemoStep = {
  name: 'a token for the demo',
  async run(ctx) {
    const file = path.join(ctx.sites.dir, 'api-token');
    if (fs.existsSync(file)) {
      ctx.token = fs.readFileSync(file, 'utf8').trim();
      try {
        await call(ctx, 'GET', '/whoami');
        return;
      } catch {
        // revoked or from another database: make a new one
      }
    }
    const made = await createToken(ctx.db, `demo-setup-${Date.now().toString(36)}`, 'admin');
    fs.writeFileSync(file, made.token, { mode: 0o600 });
    ctx.token = made.token;
  },
};

const register: DemoStep = {
  name: 'register the file servers',
  async run(ctx) {
    const { items } = await call<{ items: { name: string }[] }>(ctx, 'GET', '/file-servers');
    for (const server of DEMO_FILE_SERVERS) {
      const fsvms = server.nodes.map((n) => ({
        nodeId: n,
        gatewayUrl: ctx.sites.urlOf(n),
        token: ctx.sites.tokenOf(n),
      }));
      const addresses = [ctx.directory.addressOf(server.name)];
      if (!items.some((i) => i.name === server.name)) {
        // No status: which side is active is kept by the system (from the policies and the failovers).
        await call(ctx, 'POST', '/file-servers', {
          name: server.name,
          site: server.site,
          dnsName: server.dnsName,
          addresses,
          fsvms,
        });
        continue;
      }
      const current = await call<{ addresses: string[]; fsvms: { nodeId: string; gatewayUrl: string }[] }>(
        ctx,
        'GET',
        `/file-servers/${server.name}`,
      );
      const same = fsvms.every((f) =>
        current.fsvms.some((c) => c.nodeId === f.nodeId && c.gatewayUrl === f.gatewayUrl),
      );
      const sameAddresses = current.addresses.join(',') === addresses.join(',');
      // A port taken at this restart got a new one: the gateways are registered again (each is checked).
      if (!same || !sameAddresses) {
        await call(ctx, 'PATCH', `/file-servers/${server.name}`, {
          ...(same ? {} : { fsvms }),
          ...(sameAddresses ? {} : { addresses }),
        });
      } else await call(ctx, 'GET', `/file-servers/${server.name}?refresh=true`);
    }
  },
};

const shares: DemoStep = {
  name: 'create the sample shares',
  async run(ctx) {
    const list = await call<{ shares: { name: string }[] }>(ctx, 'GET', '/file-servers/site-a/shares?refresh=true');
    for (const share of SHARES.filter((s) => !list.shares.some((l) => l.name === s.name))) {
      const r = await call<{ operationId: string }>(ctx, 'POST', '/file-servers/site-a/shares', {
        name: share.name,
        ...share.body,
      });
      await operationDone(ctx, r.operationId);
      const written = share.fill(ctx.sites);
      ctx.logger.info(
        `demo: share '${share.name}' created on site-a with ${(written / 1048576).toFixed(1)} MiB of sample data`,
      );
    }
  },
};

const protect: DemoStep = {
  name: 'protect a share',
  async run(ctx) {
    try {
      await call(ctx, 'GET', `/policies/${DEMO_POLICY}`);
      return;
    } catch (err) {
      if (!(err instanceof ApiCallError) || err.status !== 404) throw err;
    }
    await call(ctx, 'POST', '/policies', {
      name: DEMO_POLICY,
      source: 'site-a',
      destination: 'site-b',
      rpoMinutes: 1,
      retentionCount: 3,
      shares: [{ source: 'projects' }],
    });
    ctx.logger.info(`demo: policy '${DEMO_POLICY}' protects site-a/projects on site-b at a 1-minute RPO`);
  },
};

const firstReplication: DemoStep = {
  name: 'wait for the first replication',
  async run(ctx) {
    const started = Date.now();
    const job = await until(
      'the first replication of the demo policy',
      async () => {
        const page = await call<{ items: { id: string; state: string; error?: string }[] }>(
          ctx,
          'GET',
          `/jobs?policy=${DEMO_POLICY}&status=succeeded,failed&limit=1`,
        );
        return page.items[0];
      },
      120_000,
    );
    if (job.state !== 'succeeded') throw new Error(`the first replication of the demo policy failed (job ${job.id})`);
    ctx.logger.info(
      `demo: site-a/projects is replicated to site-b (job ${job.id}, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
  },
};

/**
 * The demo DC (provisioned once, started beside the rest by `npm start`): the file servers' AD objects once, and
 * their directory settings through the API. Without a DC the demo says why in one line and runs without one (and
 * without directory settings, so that a failover is not held up by a directory that is not there).
 */
const directory: DemoStep = {
  name: 'client redirection through Active Directory',
  async run(ctx) {
    let why = ctx.directory.unavailable;
    let dc: Awaited<ReturnType<DemoDirectory['start']>> | undefined;
    if (!why) {
      try {
        dc = await ctx.directory.start();
      } catch (err) {
        why = `the demo Active Directory DC did not start (${err instanceof Error ? err.message : String(err)}); failovers do not redirect clients`;
      }
    }
    if (!dc) {
      ctx.logger.info(`demo: ${why}`);
      for (const s of DEMO_FILE_SERVERS) {
        await call(ctx, 'DELETE', `/file-servers/${s.name}/directory`).catch((err: unknown) => {
          if (!(err instanceof ApiCallError) || err.status !== 404) throw err;
        });
      }
      return;
    }
    await ensureDemoObjects(dc, ctx.directory.addressOf);
    for (const s of DEMO_FILE_SERVERS) {
      await call(ctx, 'PUT', `/file-servers/${s.name}/directory`, demoDirectorySettings(dc, s.computerAccount));
    }
    const names = DEMO_FILE_SERVERS.map(
      (s) => `${s.dnsName} (${s.name}'s clients; ${s.name} is ${ctx.directory.addressOf(s.name)})`,
    );
    ctx.logger.info(
      `demo: the demo DC's DNS resolves ${names.join(', ')}: watch a failover move a name with dig @${dc.address} ${DEMO_FILE_SERVERS[0]!.dnsName} +short`,
    );
  },
};

export const DEMO_STEPS: DemoStep[] = [token, register, shares, protect, directory, firstReplication];

export async function setupDemo(ctx: DemoContext): Promise<void> {
  for (const step of DEMO_STEPS) {
    try {
      await step.run(ctx);
    } catch (err) {
      throw new Error(`demo step '${step.name}' failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** What `npm start` prints about the demo's SMB service. */
export function smbSummary(sites: RunningSites): string {
  const served = sites.fsvms.filter((f) => sites.smb.get(f.nodeId));
  if (!served.length) return 'demo: shares are not served over SMB (no smbd)';
  return `demo: shares over SMB: ${served.map((f) => `${f.nodeId} smb://${f.smbAddress}:${f.smbPort}`).join(', ')}`;
}
