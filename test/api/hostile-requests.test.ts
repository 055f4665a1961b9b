// What the API answers to requests a fuzzer (or an attacker) sends: each case below was found by schemathesis against
// the API (issue 20) and is pinned here against the real API behind its production HTTP server (api/server.ts), the
// test's own database and a real gateway agent. Every refusal has the problem body, changes nothing and is audited.
import net, { type AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import request from 'supertest';
import { createApiServer } from '../../api/server';
import { freePort } from '../helpers/ports';
import { rawRequest } from '../helpers/raw-http';
import { startHarness, type Harness } from './helpers/api-harness';
import { startRealGateway, type RealGateway } from './helpers/real-gateway';

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: object }> }>> };

describe('hostile requests to the REST API', () => {
  let h: Harness;
  let gw: RealGateway;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    [h, gw] = await Promise.all([startHarness(), startRealGateway('node-a')]);
    server = createApiServer(h.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await request(base)
      .post('/api/v1/file-servers')
      .set(h.auth('admin'))
      .send({
        name: 'fs-a',
        site: 'site-a',
        dnsName: 'fs-a.corp.example.test',
        fsvms: [{ gatewayUrl: gw.url, token: gw.token }],
      })
      .expect(201);
  });
  afterAll(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await Promise.all([h?.close(), gw?.close()]);
  });

  const problemOf = (status: number, type: string): unknown =>
    expect.objectContaining({ type: `urn:fs-dr:problem:${type}`, status, title: expect.any(String) });

  it('PATCH of a file server with an unreachable gateway: the documented 502, nothing changed', async () => {
    const before = await h.database.db.fsvm.findMany({ select: { gatewayUrl: true } });
    const closed = `http://127.0.0.1:${await freePort()}`;
    const res = await request(base)
      .patch('/api/v1/file-servers/fs-a')
      .set(h.auth('admin'))
      .send({ fsvms: [{ gatewayUrl: closed, token: 'control-token-0123456789' }] })
      .expect(502);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.body).toEqual(problemOf(502, 'gateway-unavailable'));
    expect(res.body.detail).toContain(`gateway ${closed} unreachable`);
    expect(await h.database.db.fsvm.findMany({ select: { gatewayUrl: true } })).toEqual(before);
    const doc = (await request(base).get('/api/v1/openapi.json').expect(200)).body as Doc;
    expect(Object.keys(doc.paths['/api/v1/file-servers/{name}']!.patch!.responses)).toContain('502');
  });

  it('a gateway token that cannot travel in a header is a 400 on the field, not a down gateway', async () => {
    const res = await request(base)
      .patch('/api/v1/file-servers/fs-a')
      .set(h.auth('admin'))
      .send({ fsvms: [{ gatewayUrl: gw.url, token: 'control-token-\u0000\u00e9-0123456789' }] })
      .expect(400);
    expect(res.body.errors).toEqual([
      { path: 'body.fsvms.0.token', message: 'must be printable ASCII without spaces' },
    ]);
  });

  it('a path name with surrounding spaces is refused (400 naming it), not trimmed into another resource', async () => {
    for (const path of [
      '/api/v1/file-servers/fs-a%20',
      '/api/v1/file-servers/%20fs-a',
      '/api/v1/file-servers/fs-a%09',
    ]) {
      const res = await rawRequest(`${base}${path}`, { headers: h.auth('viewer') });
      expect(res.status).toBe(400);
      expect(res.json).toEqual(problemOf(400, 'validation'));
      expect((res.json as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(['params.name']);
    }
    const del = await rawRequest(`${base}/api/v1/file-servers/fs-a%20`, { method: 'DELETE', headers: h.auth('admin') });
    expect(del.status).toBe(400);
    expect(await h.database.db.fileServer.count({ where: { name: 'fs-a' } })).toBe(1);
    await request(base).get('/api/v1/file-servers/fs-a').set(h.auth('viewer')).expect(200);
  });

  it('a body that is not JSON is refused with 415, not read as no body', async () => {
    const before = await h.counts();
    const sent = JSON.stringify({ name: 'ci', role: 'admin' });
    for (const [type, body] of [
      ['text/plain', sent],
      ['application/x-www-form-urlencoded', 'name=ci&role=admin'],
      [undefined, sent],
    ] as const) {
      const res = await rawRequest(`${base}/api/v1/tokens`, {
        method: 'POST',
        headers: { ...h.auth('admin'), ...(type ? { 'content-type': type } : {}) },
        body,
      });
      expect(res.status).toBe(415);
      expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      expect(res.json).toEqual(problemOf(415, 'unsupported-media-type'));
      expect((res.json as { detail: string }).detail).toMatch(/^the body must be application\/json; /);
    }
    // A call without a body parameter is refused too, instead of ignoring what was sent.
    const cancel = await rawRequest(`${base}/api/v1/operations/00000000-0000-4000-8000-000000000000/cancel`, {
      method: 'POST',
      headers: { ...h.auth('operator'), 'content-type': 'text/plain' },
      body: 'please',
    });
    expect(cancel.status).toBe(415);
    expect(await h.counts()).toEqual(before);
  });

  it('an unknown content-encoding is a 415 problem; a malformed percent-encoding a 400 problem', async () => {
    const enc = await rawRequest(`${base}/api/v1/tokens`, {
      method: 'POST',
      headers: { ...h.auth('admin'), 'content-type': 'application/json', 'content-encoding': 'x-fancy' },
      body: '{"name":"ci","role":"admin"}',
    });
    expect(enc.status).toBe(415);
    expect(enc.json).toEqual(problemOf(415, 'unsupported-media-type'));
    const url = await rawRequest(`${base}/api/v1/file-servers/fs%zz`, { headers: h.auth('viewer') });
    expect(url.status).toBe(400);
    expect(url.json).toEqual({
      type: 'urn:fs-dr:problem:validation',
      title: 'Invalid request',
      status: 400,
      detail: 'the request URL is malformed',
    });
  });

  it('whatever layer refuses (static files, routing, URL decoding, HTTP parser), the answer is the problem body', async () => {
    const answers = [];
    for (const [method, path, headers] of [
      ['GET', '/%zz', {}],
      ['GET', '/assets/%E0%A4%A', {}],
      ['GET', '/api/v1/%zz', h.auth('viewer')],
      ['GET', '/api/v1/no-such-route', h.auth('viewer')],
      ['DELETE', '/api/v1/no-such-route', h.auth('admin')],
      ['GET', '/api/v1/policies/%zz', h.auth('viewer')],
    ] as const) {
      const res = await rawRequest(`${base}${path}`, { method, headers });
      answers.push({ path, status: res.status, type: res.headers['content-type'], problem: res.json });
    }
    expect(answers).toEqual([
      {
        path: '/%zz',
        status: 404,
        type: expect.stringMatching(/^application\/problem\+json/),
        problem: problemOf(404, 'not-found'),
      },
      {
        path: '/assets/%E0%A4%A',
        status: 404,
        type: expect.stringMatching(/^application\/problem\+json/),
        problem: problemOf(404, 'not-found'),
      },
      {
        path: '/api/v1/%zz',
        status: 404,
        type: expect.stringMatching(/^application\/problem\+json/),
        problem: problemOf(404, 'not-found'),
      },
      {
        path: '/api/v1/no-such-route',
        status: 404,
        type: expect.stringMatching(/^application\/problem\+json/),
        problem: problemOf(404, 'not-found'),
      },
      {
        path: '/api/v1/no-such-route',
        status: 404,
        type: expect.stringMatching(/^application\/problem\+json/),
        problem: problemOf(404, 'not-found'),
      },
      {
        path: '/api/v1/policies/%zz',
        status: 400,
        type: expect.stringMatching(/^application\/problem\+json/),
        problem: problemOf(400, 'validation'),
      },
    ]);
    // A request line Node's parser refuses.
    const bad = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(new URL(base).port), '127.0.0.1', () =>
        socket.write('GET /\x01 HTTP/1.1\r\n\r\n'),
      );
      let got = '';
      socket.on('data', (b: Buffer) => (got += b.toString()));
      socket.on('end', () => resolve(got));
      socket.on('error', reject);
    });
    expect(bad).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(bad.slice(bad.indexOf('\r\n\r\n') + 4))).toEqual(problemOf(400, 'validation'));
  });

  it('the token is checked before the body is read: 10 MB without a token get 401, not 413', async () => {
    const res = await rawRequest(`${base}/api/v1/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(10 * 1024 * 1024, 0x20),
    });
    expect(res.status).toBe(401);
    expect(res.json).toEqual(problemOf(401, 'unauthenticated'));
    // With a token, the limit applies: 413 with the problem body.
    const big = await rawRequest(`${base}/api/v1/tokens`, {
      method: 'POST',
      headers: { ...h.auth('admin'), 'content-type': 'application/json' },
      body: Buffer.alloc(1024 * 1024, 0x20),
    });
    expect(big.status).toBe(413);
    expect(big.json).toEqual(problemOf(413, 'payload-too-large'));
  });

  it('an oversized header gets the 431 problem body, not a bare status line', async () => {
    const res = await rawRequest(`${base}/api/v1/whoami`, {
      headers: { ...h.auth('viewer'), 'x-big': 'a'.repeat(20_000) },
    });
    expect(res.status).toBe(431);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json).toEqual({
      type: 'urn:fs-dr:problem:headers-too-large',
      title: 'Request header fields too large',
      status: 431,
      detail: 'the request line and headers exceed 16384 bytes',
    });
  });

  it('audits a refusal whose detail holds a NUL character or a lone surrogate: stored escaped', async () => {
    const res = await request(base)
      .post('/api/v1/tokens')
      .set(h.auth('admin'))
      .set('content-type', 'application/json')
      .send('{"name":"ci","role":"admin","\\u0000":1,"\\ud800":2}')
      .expect(400);
    expect(res.body.detail).toContain('\u0000');
    const row = await h.database.db.auditEntry.findFirstOrThrow({ orderBy: { id: 'desc' } });
    expect(row).toMatchObject({ actor: 'admin-1', action: 'POST /tokens', result: 'rejected' });
    const detail = (row.detail as { detail: string }).detail;
    expect(detail).toContain('"\\u0000"');
    expect(detail).toContain('"\\ud800"');
    expect(detail).not.toContain('\u0000');
  });

  it('documents the problem body for every error and 413/415 for every call that takes a body', async () => {
    const doc = (await request(base).get('/api/v1/openapi.json').expect(200)).body as Doc;
    const missing: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        for (const [code, r] of Object.entries(op.responses)) {
          if (Number(code) >= 400 && !(r.content && Object.hasOwn(r.content, 'application/problem+json')))
            missing.push(`${method} ${path} ${code}`);
        }
        if (['post', 'put', 'patch', 'delete'].includes(method)) {
          for (const code of ['413', '415']) if (!op.responses[code]) missing.push(`${method} ${path} ${code}`);
        }
      }
    }
    expect(missing).toEqual([]);
    expect(doc.paths['/api/v1/events']!.get!.responses['200']!.content).toHaveProperty('text/event-stream');
    expect(doc.paths['/api/v1/metrics']!.get!.responses['200']!.content).toHaveProperty('text/plain');
  });
});

describe('audit of rate-limited clients', () => {
  const WINDOW_MS = 3000;
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ authFailures: { maxFailures: 2, windowMs: WINDOW_MS } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('one entry per blocked window counts the rejections, instead of one row per request', async () => {
    const started = Date.now();
    for (let i = 0; i < 2; i++)
      await request(h.app).delete('/api/v1/tokens/x').set('authorization', 'Bearer nope').expect(401);
    for (let i = 0; i < 30; i++) await request(h.app).delete('/api/v1/tokens/x').expect(429);
    // The window ends (Retry-After is whole seconds): its count is written.
    await new Promise((r) => setTimeout(r, started + WINDOW_MS + 1500 - Date.now()));
    const rows = await h.database.db.auditEntry.findMany({ orderBy: { id: 'asc' } });
    expect(rows.map((r) => r.result)).toEqual(['unauthenticated', 'unauthenticated', 'rate_limited']);
    expect(rows[2]).toMatchObject({ actor: 'anonymous', action: 'DELETE /tokens/x' });
    expect(rows[2]!.detail).toMatchObject({ status: 429, rejected: 30, actions: ['DELETE /tokens/x'] });
    // The next window starts afresh: a new failure is its own entry again.
    await request(h.app).delete('/api/v1/tokens/x').expect(401);
    expect(await h.database.db.auditEntry.count()).toBe(4);
  });
});
