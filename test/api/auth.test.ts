// Auth, audit, problem format and OpenAPI plumbing against the real app and database.
import request from 'supertest';
import { hashToken } from '../../api/auth';
import { startHarness, type Harness } from './helpers/api-harness';

describe('API auth, audit, problems, OpenAPI', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('401 without, with a malformed or an unknown token; WWW-Authenticate set; problem format', async () => {
    for (const authorization of [undefined, 'Basic abc', 'Bearer nope', `Bearer fsdr_${'A'.repeat(43)}`]) {
      const req = request(h.app).get('/api/v1/file-servers');
      const res = await (authorization ? req.set('authorization', authorization) : req).expect(401);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.body).toMatchObject({
        type: 'urn:fs-dr:problem:unauthenticated',
        status: 401,
        title: expect.any(String),
      });
    }
  });

  it('403 for a role below the route, 200 for one at or above', async () => {
    await request(h.app).get('/api/v1/tokens').set(h.auth('viewer')).expect(403);
    const res = await request(h.app).get('/api/v1/tokens').set(h.auth('operator')).expect(403);
    expect(res.body.detail).toBe("token 'operator-1' has role 'operator'; this call needs 'admin'");
    const ok = await request(h.app).get('/api/v1/tokens').set(h.auth('admin')).expect(200);
    expect((ok.body as { items: { name: string }[] }).items.map((t) => t.name)).toEqual([
      'admin-1',
      'operator-1',
      'viewer-1',
    ]);
    expect(JSON.stringify(ok.body)).not.toMatch(/tokenHash|fsdr_/);
    await request(h.app).get('/api/v1/whoami').set(h.auth('viewer')).expect(200, { name: 'viewer-1', role: 'viewer' });
  });

  it('creates a token shown once (stored hashed), which works until revoked; all audited', async () => {
    const created = await request(h.app)
      .post('/api/v1/tokens')
      .set(h.auth('admin'))
      .send({ name: 'ci-bot', role: 'operator' })
      .expect(201);
    expect(created.body.token).toMatch(/^fsdr_/);
    const row = await h.database.db.apiToken.findUnique({ where: { name: 'ci-bot' } });
    expect(row!.tokenHash).toBe(hashToken(created.body.token));
    const auth = { authorization: `Bearer ${created.body.token}` };
    await request(h.app).get('/api/v1/whoami').set(auth).expect(200, { name: 'ci-bot', role: 'operator' });
    await request(h.app)
      .post('/api/v1/tokens')
      .set(h.auth('admin'))
      .send({ name: 'ci-bot', role: 'viewer' })
      .expect(409);
    await request(h.app).delete(`/api/v1/tokens/${created.body.id}`).set(h.auth('admin')).expect(204);
    const revoked = await request(h.app).get('/api/v1/whoami').set(auth).expect(401);
    expect(revoked.body.detail).toBe("token 'ci-bot' was revoked");
    const audit = await request(h.app).get('/api/v1/audit?limit=10').set(h.auth('admin')).expect(200);
    const entries = (audit.body as { items: { actor: string; action: string; result: string }[] }).items.map((e) => [
      e.actor,
      e.action,
      e.result,
    ]);
    expect(entries).toEqual(
      expect.arrayContaining([
        ['admin-1', 'POST /tokens', 'succeeded'],
        ['admin-1', 'POST /tokens', 'rejected'],
        ['admin-1', 'DELETE /tokens/:id', 'succeeded'],
      ]),
    );
    expect(JSON.stringify(audit.body)).not.toContain(created.body.token);
  });

  it('audits failed mutating calls: unauthenticated and forbidden', async () => {
    await request(h.app).post('/api/v1/tokens').send({ name: 'x', role: 'admin' }).expect(401);
    await request(h.app).post('/api/v1/tokens').set(h.auth('operator')).send({ name: 'x', role: 'admin' }).expect(403);
    const rows = await h.database.db.auditEntry.findMany({ orderBy: { id: 'desc' }, take: 2 });
    expect(rows.map((r) => [r.actor, r.result])).toEqual([
      ['operator-1', 'forbidden'],
      ['anonymous', 'unauthenticated'],
    ]);
  });

  it('problems: malformed JSON 400, huge body 413, unknown field 400, unknown route 404, never a stack trace', async () => {
    const bad = await request(h.app)
      .post('/api/v1/tokens')
      .set(h.auth('admin'))
      .set('content-type', 'application/json')
      .send('{"name": ')
      .expect(400);
    expect(bad.body).toMatchObject({ status: 400, detail: 'the body is not valid JSON' });
    const huge = await request(h.app)
      .post('/api/v1/tokens')
      .set(h.auth('admin'))
      .send({ name: 'x'.repeat(400_000), role: 'admin' })
      .expect(413);
    expect(huge.body.type).toBe('urn:fs-dr:problem:payload-too-large');
    const extra = await request(h.app)
      .post('/api/v1/tokens')
      .set(h.auth('admin'))
      .send({ name: 'y', role: 'admin', isRoot: true })
      .expect(400);
    expect(extra.body.errors).toEqual([{ path: 'body', message: expect.stringMatching(/isRoot/) }]);
    const missing = await request(h.app).get('/api/v1/nope').set(h.auth('viewer')).expect(404);
    expect(missing.body.detail).toBe('no route GET /api/v1/nope');
    for (const res of [bad, huge, extra, missing]) expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+|stack/);
  });

  it('serves the OpenAPI document and a docs page without a token', async () => {
    const res = await request(h.app).get('/api/v1/openapi.json').expect(200);
    expect(res.body.openapi).toMatch(/^3\./);
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/file-servers',
        '/api/v1/policies/{name}',
        '/api/v1/jobs',
        '/api/v1/operations/planned-failover',
      ]),
    );
    expect(res.body.paths['/api/v1/policies'].post.requestBody.content['application/json'].schema).toBeDefined();
    const docs = await request(h.app).get('/api/v1/docs').expect(200);
    expect(docs.text).toContain('/api/v1/file-servers');
  });
});

describe('API auth failure rate limit', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ authFailures: { maxFailures: 3, windowMs: 60_000 } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('answers 429 with Retry-After after too many failures, even with a valid token', async () => {
    for (let i = 0; i < 3; i++)
      await request(h.app).get('/api/v1/whoami').set('authorization', 'Bearer bad').expect(401);
    const res = await request(h.app).get('/api/v1/whoami').set(h.auth('admin')).expect(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.body.type).toBe('urn:fs-dr:problem:rate-limited');
  });
});
