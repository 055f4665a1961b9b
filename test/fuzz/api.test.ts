// schemathesis against the orchestrator's REST API, as a third party would fuzz it: the real API (api/app.ts behind
// its production HTTP server) over this file's own database and the run's Temporal dev server, with the project's
// worker polling the task queue, and two real gateway agent processes behind two registered file servers with a
// policy between them. Every answer must be a non-5xx (but the documented 502 of an unreachable gateway), documented
// for its route, with the documented content type and schema. Every mutating request must leave an audit row.
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import request from 'supertest';
import { createApiServer } from '../../api/server';
import { MUTATING } from '../../api/http';
import { startHarness, type Harness } from '../api/helpers/api-harness';
import { agentUrl, runCleanups, startAgent, tmpDir, type Agent } from '../gateway/helpers';
import { freePort } from '../helpers/ports';
import { TEST_SECRETS } from '../helpers/worker';
import { installLoopbackOnly, type LoopbackGuard } from './loopback-only';
import { FUZZ_TEST_TIMEOUT_MS, fuzzDepth, runSchemathesis, requireSchemathesis, type FuzzRun } from './schemathesis';

const depth = fuzzDepth();
jest.setTimeout(FUZZ_TEST_TIMEOUT_MS[depth]);

describe('fuzzing the REST API with schemathesis', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let h: Harness;
  let guard: LoopbackGuard;
  let base: string;
  let run: FuzzRun;
  let auditedBefore: number;

  beforeAll(async () => {
    requireSchemathesis();
    guard = installLoopbackOnly();
    cleanups.push(() => guard.uninstall());
    const pair = 'pair-secret-abcdefghijkl';
    const roots = [tmpDir('fuzz-a1'), tmpDir('fuzz-b1')];
    cleanups.push(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));
    // Each agent pins the other's address (GATEWAY_PEERS), so their ports are chosen first.
    const [pa, pb] = [await freePort(), await freePort()];
    const [a, b]: Agent[] = await Promise.all([
      startAgent({ nodeId: 'a1', port: pa, dataRoot: roots[0]!, peers: { b1: pair }, peerUrls: { b1: agentUrl(pb) } }),
      startAgent({ nodeId: 'b1', port: pb, dataRoot: roots[1]!, peers: { a1: pair }, peerUrls: { a1: agentUrl(pa) } }),
    ]);
    cleanups.push(
      () => a!.stop(),
      () => b!.stop(),
    );
    await a!.client.createShare('eng', { kind: 'standard' });
    await a!.client.createShare('home', { kind: 'standard' });
    h = await startHarness(
      // Event streams end after a second (a fuzzer reads a response to its end), failed sign-ins are not limited (the
      // fuzzer sends made-up tokens on purpose: rate limiting is tested in test/api/auth.test.ts).
      {
        secrets: TEST_SECRETS,
        events: { maxMs: 1000, heartbeatMs: 200 },
        authFailures: { maxFailures: 1_000_000, windowMs: 60_000 },
      },
      { worker: true },
    );
    cleanups.push(() => h.close());
    const server: Server = createApiServer(h.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((r) => (server.close(() => r()), server.closeAllConnections())));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const admin = h.auth('admin');
    const fsvm = (g: Agent) => ({ nodeId: g.nodeId, gatewayUrl: g.url, token: 'control-token-0123456789' });
    for (const [name, g] of [
      ['fs-a', a!],
      ['fs-b', b!],
    ] as const) {
      await request(base)
        .post('/api/v1/file-servers')
        .set(admin)
        .send({ name, site: `site-${name}`, dnsName: `${name}.corp.example.test`, fsvms: [fsvm(g)] })
        .expect(201);
    }
    await request(base)
      .post('/api/v1/policies')
      .set(admin)
      .send({ name: 'fuzz-gold', source: 'fs-a', destination: 'fs-b', rpoMinutes: 60, shares: [{ source: 'eng' }] })
      .expect(202);
    auditedBefore = await h.database.db.auditEntry.count();
    const reportDir = tmpDir('fuzz-api-report');
    // Kept when schemathesis found something (its NDJSON report has every exchange); removed otherwise.
    cleanups.push(() => {
      if (run?.exitCode === 0 && !process.env.FUZZ_KEEP_REPORTS) fs.rmSync(reportDir, { recursive: true, force: true });
      else console.log(`[fuzz] schemathesis report kept in ${reportDir}`);
    });
    run = await runSchemathesis({
      schemaUrl: `${base}/api/v1/openapi.json`,
      token: h.tokens.admin,
      configFile: path.join(__dirname, 'api.schemathesis.toml'),
      reportDir,
      depth,
      examples: { ci: 12, deep: 400 },
    });
    console.log(
      `[fuzz] REST API: ${run.requests} requests in ${run.seconds.toFixed(1)} s, depth ${depth}; ` +
        `statuses ${JSON.stringify(run.statuses)}; connections refused outside loopback: ${guard.refused.length}`,
    );
  });
  afterAll(() => runCleanups(cleanups));

  it('finds nothing: no server error, every status, content type and body as documented', () => {
    if (run.exitCode !== 0) throw new Error(`schemathesis found problems (exit ${run.exitCode}):\n${run.output}`);
    expect(run.requests).toBeGreaterThan(depth === 'deep' ? 10_000 : 1_000);
  });

  it('answers a 502 only for a gateway it could not reach, as the documented problem', () => {
    const serverErrors = run.exchanges.filter((e) => e.status >= 500);
    for (const e of serverErrors) {
      expect({
        status: e.status,
        url: e.url,
        type: e.contentType,
        body: JSON.parse(e.responseBody) as unknown,
      }).toEqual({
        status: 502,
        url: expect.stringMatching(/\/api\/v1\/file-servers(\/[^/]+)?$/),
        type: 'application/problem+json; charset=utf-8',
        body: expect.objectContaining({ type: 'urn:fs-dr:problem:gateway-unavailable' }),
      });
    }
  });

  it('audits every mutating request it was sent, whatever its outcome', async () => {
    const mutating = run.exchanges.filter((e) => MUTATING.has(e.method)).length;
    const audited = (await h.database.db.auditEntry.count()) - auditedBefore;
    expect(audited).toBe(mutating);
  });
});
