// Live events as the web UI reads them: a stream over fetch with the bearer header, pushing job progress, operation
// steps and "changed" hints from what the database holds, ended when the token is revoked; no token, no stream.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readEventStream, type SseMessage } from '../../web/src/sse';
import { seedFileServer, startHarness, type Harness } from './helpers/api-harness';
import { waitUntil } from '../replication/lab';

describe('GET /api/v1/events', () => {
  let h: Harness;
  let server: http.Server;
  let base: string;
  beforeAll(async () => {
    h = await startHarness({ events: { intervalMs: 200, recheckMs: 200 } });
    server = http.createServer(h.app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await h?.close();
  });

  function listen(token: string) {
    const messages: SseMessage[] = [];
    const abort = new AbortController();
    const done = fetch(`${base}/api/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal })
      .then(async (res) => {
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
        await readEventStream(res.body!, (m) => messages.push(m), abort.signal);
      })
      .catch((err: unknown) => {
        if (!abort.signal.aborted) throw err;
      });
    type Data = Record<string, any>;
    const parse = (m: SseMessage) => JSON.parse(m.data) as Data;
    const next = (event: string, where: (d: Data) => boolean = () => true): Promise<Data> =>
      waitUntil(
        `a '${event}' event`,
        async () => messages.find((m) => m.event === event && where(parse(m))),
        10_000,
      ).then(parse);
    return { messages, next, done, stop: () => abort.abort() };
  }

  it('refuses a stream without a token, as every call', async () => {
    const res = await fetch(`${base}/api/v1/events`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/bearer token is required/);
  });

  it('pushes job progress, operation steps and list changes as the database changes', async () => {
    const db = h.database.db;
    const s = listen(h.tokens.viewer);
    await s.next('ready');
    const job = await db.job.create({
      data: {
        share: 'eng',
        targetShare: 'eng',
        sourceFileServer: 'fs1',
        destFileServer: 'fs2',
        state: 'running',
        bytesTotal: 1000n,
      },
    });
    expect(await s.next('job', (d) => d.id === job.id)).toMatchObject({ state: 'running', percent: 0 });
    await db.job.update({ where: { id: job.id }, data: { percent: 42, bytesSynced: 420n } });
    expect(await s.next('job', (d) => d.id === job.id && d.percent === 42)).toMatchObject({
      bytesSynced: 420,
      bytesTotal: 1000,
    });
    await db.job.update({ where: { id: job.id }, data: { percent: 100, state: 'succeeded', endedAt: new Date() } });
    await s.next('job', (d) => d.id === job.id && d.state === 'succeeded');

    const op = await db.operation.create({
      data: {
        kind: 'dr_readiness',
        workflowId: 'operation/x/1',
        steps: [{ name: 'gateways reachable', state: 'pending' }],
      },
    });
    await s.next('operation', (d) => d.id === op.id);
    await db.operation.update({
      where: { id: op.id },
      data: { state: 'running', steps: [{ name: 'gateways reachable', state: 'running' }] },
    });
    expect(await s.next('operation', (d) => d.id === op.id && d.state === 'running')).toMatchObject({
      kind: 'dr_readiness',
      steps: [{ name: 'gateways reachable', state: 'running' }],
      jobs: [],
      fileServers: [],
      result: null,
    });

    // A failover's final delta: the operation is pushed with its jobs' progress, and again when a job moves (its own
    // row does not change then).
    const failover = await db.operation.create({
      data: {
        kind: 'planned_failover',
        state: 'running',
        workflowId: 'operation/planned_failover/1',
        sourceFileServer: 'fs1',
        destFileServer: 'fs2',
        fileServers: ['fs1', 'fs2'],
        steps: [{ name: 'final delta sync', state: 'running' }],
        result: { runs: { waitedFor: [], cancelled: ['r1'] } },
      },
    });
    const delta = await db.job.create({
      data: {
        share: 'eng',
        targetShare: 'eng',
        sourceFileServer: 'fs1',
        destFileServer: 'fs2',
        state: 'running',
        kind: 'final_delta',
        operationId: failover.id,
        bytesTotal: 2000n,
      },
    });
    expect(await s.next('operation', (d) => d.id === failover.id && d.jobs.length === 1)).toMatchObject({
      fileServers: ['fs1', 'fs2'],
      result: { runs: { waitedFor: [], cancelled: ['r1'] } },
      jobs: [{ id: delta.id, share: 'eng', state: 'running', percent: 0, bytesSynced: 0, bytesTotal: 2000 }],
    });
    await db.job.update({ where: { id: delta.id }, data: { percent: 55, bytesSynced: 1100n } });
    expect(await s.next('job', (d) => d.id === delta.id && d.percent === 55)).toMatchObject({
      operationId: failover.id,
    });
    expect(await s.next('operation', (d) => d.id === failover.id && d.jobs[0]?.percent === 55)).toMatchObject({
      state: 'running',
      jobs: [{ percent: 55, bytesSynced: 1100 }],
    });

    await seedFileServer(db, 'fs9', []);
    expect((await s.next('changed', (d) => (d.topics as string[]).includes('fileServers'))).topics).toEqual([
      'fileServers',
    ]);
    // Unchanged rows are not sent again.
    const jobEvents = s.messages.filter((m) => m.event === 'job').length;
    await new Promise((r) => setTimeout(r, 1000));
    expect(s.messages.filter((m) => m.event === 'job').length).toBe(jobEvents);
    s.stop();
    await s.done;
  });

  it('ends the stream with `unauthorized` when its token is revoked', async () => {
    const db = h.database.db;
    const { createToken } = await import('../../api/routes/tokens');
    const t = await createToken(db, 'short-lived', 'viewer');
    const s = listen(t.token);
    await s.next('ready');
    await db.apiToken.update({ where: { id: t.id }, data: { revokedAt: new Date() } });
    expect(await s.next('unauthorized')).toEqual({ detail: "token 'short-lived' was revoked" });
    await s.done; // the server ended it
  });
});
