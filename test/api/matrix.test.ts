// The auth matrix (every role x every route, plus no token) and the invalid-input sweep (wrong types, missing
// fields, huge bodies, odd unicode, injection strings on every route): never a 5xx, never a change.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { ROLES, type Role } from '../../api/auth';
import { rows, seedFileServer, seedPolicy, startHarness, type Harness } from './helpers/api-harness';

/** A valid self-signed certificate (the settings route parses every certificate it is given). */
const TEST_CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBkzCCATmgAwIBAgIUWI7s5Lmw/0+cyz5jQ/yFYm9JvqowCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUZnMtZHIgbWF0cml4IHRlc3QgQ0EwHhcNMjYxMjA2MDMwNzQ1
WhcNMzYxMjAzMDMwNzQ1WjAfMR0wGwYDVQQDDBRmcy1kciBtYXRyaXggdGVzdCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABDWWMld6Jm6GlQ0I2kj+KNB4CNJo
lPUwUG2l6NOPhTEHGQzgtX1sAv4IxHp5SvkLLYY4NwNRdqjPr0BDsqvUUXyjUzBR
MB0GA1UdDgQWBBTwYp0zjNGWxjhSNcxtRrc3weFbpjAfBgNVHSMEGDAWgBTwYp0z
jNGWxjhSNcxtRrc3weFbpjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA
MEUCIQCQTV+n5L4RpJ4zgAKnwmhWraIB0CODCaxLFdwlbY++qQIgdzzQmueXfyH+
TuoXgNtNIr2ZykxuJy55FEvdaBr1ybo=
-----END CERTIFICATE-----
`;

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';
const ROUTES: [Method, string, Role][] = [
  ['get', '/api/v1/whoami', 'viewer'],
  ['get', '/api/v1/tokens', 'admin'],
  ['post', '/api/v1/tokens', 'admin'],
  ['delete', '/api/v1/tokens/{id}', 'admin'],
  ['get', '/api/v1/audit', 'admin'],
  ['get', '/api/v1/file-servers', 'viewer'],
  ['post', '/api/v1/file-servers', 'admin'],
  ['get', '/api/v1/file-servers/{name}', 'viewer'],
  ['patch', '/api/v1/file-servers/{name}', 'admin'],
  ['delete', '/api/v1/file-servers/{name}', 'admin'],
  ['get', '/api/v1/file-servers/{name}/shares', 'viewer'],
  ['get', '/api/v1/file-servers/{name}/shares/{share}', 'viewer'],
  ['get', '/api/v1/file-servers/{name}/directory', 'viewer'],
  ['put', '/api/v1/file-servers/{name}/directory', 'admin'],
  ['delete', '/api/v1/file-servers/{name}/directory', 'admin'],
  ['post', '/api/v1/file-servers/{name}/directory/check', 'operator'],
  ['post', '/api/v1/file-servers/{name}/shares', 'admin'],
  ['delete', '/api/v1/file-servers/{name}/shares/{share}', 'admin'],
  ['get', '/api/v1/policies', 'viewer'],
  ['post', '/api/v1/policies', 'admin'],
  ['get', '/api/v1/policies/{name}', 'viewer'],
  ['patch', '/api/v1/policies/{name}', 'admin'],
  ['delete', '/api/v1/policies/{name}', 'admin'],
  ['post', '/api/v1/policies/{name}/shares/{share}/replicate', 'operator'],
  ['get', '/api/v1/jobs', 'viewer'],
  ['get', '/api/v1/jobs/{id}', 'viewer'],
  ['post', '/api/v1/jobs/prune', 'admin'],
  ['post', '/api/v1/operations/planned-failover', 'operator'],
  ['post', '/api/v1/operations/unplanned-failover', 'operator'],
  ['post', '/api/v1/operations/resume-replication', 'operator'],
  ['post', '/api/v1/operations/failback', 'operator'],
  ['post', '/api/v1/operations/dr-readiness', 'operator'],
  ['get', '/api/v1/operations', 'viewer'],
  ['get', '/api/v1/operations/{id}', 'viewer'],
  ['post', '/api/v1/operations/{id}/cancel', 'operator'],
  ['post', '/api/v1/operations/{id}/approve', 'admin'],
  ['get', '/api/v1/alerts', 'viewer'],
  ['get', '/api/v1/metrics', 'viewer'],
  ['get', '/api/v1/events', 'viewer'],
];

/** Routes that answer with a never-ending stream: only their status is read. */
const STREAMS = new Set(['/api/v1/events']);

const concrete = (path: string, values: Record<string, string> = {}) =>
  path.replace(
    /\{(\w+)\}/g,
    (_m, k: string) => values[k] ?? (k === 'id' ? '00000000-0000-4000-8000-000000000000' : 'nosuch'),
  );

const INJECTIONS = [
  '\'; DROP TABLE "Job"; --',
  '../../etc/passwd',
  '$(rm -rf /)',
  '<script>alert(1)</script>',
  '{{7*7}}',
  'a\u0000b',
  'ev\u202eil',
  'zero\u200bwidth',
  '\ud800',
  '😀😀',
  'x'.repeat(5000),
  ' ',
  '',
];

/** encodeURIComponent, or the invalid UTF-8 bytes of a lone surrogate where it cannot encode. */
const enc = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80';
  }
};

const FREE_TEXT = new Set(['site', 'bindUser']);
/** Strings free text must refuse: control and invisible characters, a lone surrogate, too long, blank. */
const BAD_TEXT = new Set(['a\u0000b', 'ev\u202eil', 'zero\u200bwidth', '\ud800', 'x'.repeat(5000), ' ', '']);

const WEIRD_VALUES: unknown[] = [null, true, 42, -1, 1e308, [], {}, [1, 2], { $ne: null }, ...INJECTIONS];

describe('auth matrix and invalid input', () => {
  let h: Harness;
  const call = (method: Method, url: string) => request(h.app)[method](url);
  /** The status of a streaming GET, read from its headers; the connection is then dropped. */
  async function streamStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
    const server = http.createServer(h.app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const { port } = server.address() as AddressInfo;
      return await new Promise<number>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: url, headers }, (res) => {
          resolve(res.statusCode ?? 0);
          req.destroy();
        });
        req.on('error', reject);
      });
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }
  let jobId: string;
  beforeAll(async () => {
    h = await startHarness({ shareCacheTtlMs: 3_600_000 });
    const db = h.database.db;
    const fs1 = await seedFileServer(db, 'fs1', ['eng', 'home']);
    const fs2 = await seedFileServer(db, 'fs2', []);
    await seedPolicy(db, { name: 'gold', sourceId: fs1, destinationId: fs2, shares: ['eng'] });
    jobId = (
      await db.job.create({
        data: { share: 'eng', targetShare: 'eng', sourceFileServer: 'fs1', destFileServer: 'fs2' },
      })
    ).id;
    await db.operation.create({ data: { kind: 'dr_readiness', workflowId: 'operation/x/y', state: 'succeeded' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('the matrix covers every route of the OpenAPI document', async () => {
    const doc = await request(h.app).get('/api/v1/openapi.json').expect(200);
    const documented = Object.entries(doc.body.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m} ${p}`),
    );
    expect(documented.sort()).toEqual(ROUTES.map(([m, p]) => `${m} ${p}`).sort());
  });

  it('401 without a token, 403 below the role, neither (and no 5xx) at or above it: every role x every route', async () => {
    const before = await h.counts();
    const results: string[] = [];
    for (const [method, path, need] of ROUTES) {
      const url = concrete(path);
      if (STREAMS.has(path)) {
        const anon = await streamStatus(url);
        if (anon !== 401) results.push(`${method} ${path} without token: ${anon}`);
        for (const role of ROLES) {
          const status = await streamStatus(url, h.auth(role));
          const allowed = ROLES.indexOf(role) >= ROLES.indexOf(need);
          if (allowed ? status !== 200 : status !== 403) results.push(`${method} ${path} as ${role}: ${status}`);
        }
        continue;
      }
      const anon = await call(method, url).send(method === 'get' || method === 'delete' ? undefined : {});
      if (anon.status !== 401) results.push(`${method} ${path} without token: ${anon.status}`);
      for (const role of ROLES) {
        const req = call(method, url).set(h.auth(role));
        const res = await (method === 'get' || method === 'delete' ? req : req.send({}));
        const allowed = ROLES.indexOf(role) >= ROLES.indexOf(need);
        const ok = allowed ? res.status !== 401 && res.status !== 403 && res.status < 500 : res.status === 403;
        if (!ok) results.push(`${method} ${path} as ${role}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
    expect(results).toEqual([]);
    expect(await h.counts()).toEqual(before);
  });

  it('never a 5xx and never a change for malformed input on every route', async () => {
    const db = h.database.db;
    // make well-formed variants fail on state: the policy is busy, a readiness check runs on the pair
    await db.replicationPolicy.update({ where: { name: 'gold' }, data: { status: 'creating' } });
    await db.operation.create({
      data: { kind: 'dr_readiness', workflowId: 'operation/x/z', sourceFileServer: 'fs1', destFileServer: 'fs2' },
    });
    const before = await h.counts();
    const succeededBefore = await db.auditEntry.count({ where: { result: 'succeeded' } });
    const failures: string[] = [];
    const check = async (label: string, res: request.Response) => {
      if (res.status >= 500 || res.status < 400)
        failures.push(`${label}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      else if (!res.headers['content-type']?.includes('application/problem+json'))
        failures.push(`${label}: not a problem`);
      else if (/\bat .+:\d+:\d+|prisma|SELECT |INSERT /i.test(JSON.stringify(res.body)))
        failures.push(`${label}: leaks internals`);
    };
    const admin = h.auth('admin');
    const valid: Record<string, object> = {
      // Each base body is well-formed but refused for a state reason (name taken, unknown target, policy busy, pair
      // busy), so a variant that is still well-formed gets a 404/409 and changes nothing either.
      '/api/v1/tokens': { name: 'admin-1', role: 'viewer' },
      '/api/v1/file-servers': {
        name: 'fs1',
        site: 'x',
        dnsName: 'fs9.example.com',
        fsvms: [{ gatewayUrl: 'http://127.0.0.1:9', token: 'token-0123456789abcdef' }],
      },
      '/api/v1/file-servers/{name}': { site: 'y' },
      // well-formed, but for a file server that is not registered (404)
      '/api/v1/file-servers/{name}/directory': {
        domain: 'corp.example.com',
        servers: ['ldaps://dc1.corp.example.com'],
        bindUser: 'svc-dr@corp.example.com',
        bindPassword: 'Sup3r-secret-pw',
        caCertificates: TEST_CA_PEM,
        dnsZone: 'corp.example.com',
        computerAccount: 'FS9$',
      },
      // the share exists already on fs1
      '/api/v1/file-servers/{name}/shares': { name: 'eng', kind: 'standard' },
      '/api/v1/policies': {
        name: 'gold',
        source: 'fs1',
        destination: 'fs2',
        rpoMinutes: 15,
        shares: [{ source: 'home' }],
      },
      '/api/v1/policies/{name}': { rpoMinutes: 30 },
      '/api/v1/jobs/prune': { olderThanDays: 30 },
      '/api/v1/operations/planned-failover': { source: 'fs1', destination: 'fs2' },
      '/api/v1/operations/unplanned-failover': { source: 'fs1', destination: 'fs2', confirmDataLoss: true },
      '/api/v1/operations/resume-replication': { source: 'fs1', destination: 'fs2' },
      '/api/v1/operations/failback': { source: 'fs1', destination: 'fs2' },
      '/api/v1/operations/dr-readiness': { source: 'fs1', destination: 'fs2' },
    };
    for (const [method, path] of ROUTES) {
      // path parameters: injection strings and odd unicode
      if (path.includes('{')) {
        for (const bad of INJECTIONS.filter(Boolean)) {
          const url = concrete(path, {
            name: enc(bad),
            share: enc(bad),
            id: enc(bad),
          });
          await check(
            `${method} ${path} param ${JSON.stringify(bad).slice(0, 30)}`,
            await call(method, url).set(admin),
          );
        }
        await check(
          `${method} ${path} bad %`,
          await call(method, concrete(path, { name: '%E0%A4%A', id: '%', share: '%zz' })).set(admin),
        );
      }
      // query strings: unknown keys, repeated keys, injection values
      if (method === 'get') {
        for (const q of [
          'unknown=1',
          'limit=abc',
          'limit=-1',
          'limit=99999999999999999999',
          'limit=1&limit=2',
          `cursor=${enc(INJECTIONS[0]!)}`,
          'status=%00',
          `from=${enc("2026'--")}`,
        ]) {
          await check(
            `GET ${path}?${q}`,
            await request(h.app)
              .get(`${concrete(path, { id: jobId })}?${q}`)
              .set(admin),
          );
        }
        continue;
      }
      const url = concrete(path, {
        name: path.includes('policies') ? 'gold' : path.endsWith('/shares') ? 'fs1' : 'nosuch',
        id: '00000000-0000-4000-8000-000000000000',
      });
      const good = valid[path] ?? {};
      const bodies: unknown[] = [
        [],
        'just a string',
        { ...good, unexpected: 1 },
        Object.assign(JSON.parse('{"__proto__": {"admin": true}}') as object, good),
        { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } },
      ];
      for (const [key, value] of Object.entries(good)) {
        const { [key]: _dropped, ...missing } = good as Record<string, unknown>;
        if (method !== 'patch') bodies.push(missing);
        for (const w of WEIRD_VALUES) {
          if (w === value) continue;
          // free text legitimately holds quotes, slashes and emoji (stored verbatim: see the test below)
          if (FREE_TEXT.has(key) && typeof w === 'string' && !BAD_TEXT.has(w)) continue;
          // any whole number of days is a valid retention
          if (path.endsWith('/prune') && typeof w === 'number' && Number.isInteger(w) && w >= 1 && w <= 3650) continue;
          bodies.push({ ...good, [key]: w });
        }
      }
      for (const body of bodies) {
        const res = await call(method, url)
          .set(admin)
          .set('content-type', 'application/json')
          .send(JSON.stringify(body));
        // the valid body with one field changed may legitimately be accepted only when the value is equivalent
        if (res.status < 400) {
          failures.push(`${method} ${path} accepted ${JSON.stringify(body).slice(0, 120)}: ${res.status}`);
          continue;
        }
        await check(`${method} ${path} body ${JSON.stringify(body).slice(0, 80)}`, res);
      }
      if (method !== 'delete') {
        const huge = await call(method, url)
          .set(admin)
          .send({ ...good, pad: 'x'.repeat(1_000_000) });
        if (huge.status !== 413) failures.push(`${method} ${path} huge body: ${huge.status}`);
        await check(
          `${method} ${path} not JSON`,
          await call(method, url).set(admin).set('content-type', 'application/json').send('{"a":'),
        );
        await check(
          `${method} ${path} text body`,
          await call(method, url).set(admin).set('content-type', 'text/plain').send('name=x'),
        );
      }
    }
    expect(failures).toEqual([]);
    expect(await h.counts()).toEqual(before);
    expect(await db.auditEntry.count({ where: { result: 'succeeded' } })).toBe(succeededBefore);
    const rejected = await db.auditEntry.count({ where: { result: 'rejected' } });
    expect(rejected).toBeGreaterThan(100); // every rejected mutating call is audited
    expect(rows(await db.auditEntry.findMany({ where: { result: 'failed' } }))).toEqual([]);
  });

  it('stores free text with quotes, slashes and emoji verbatim (parameterised SQL) and returns it intact', async () => {
    const db = h.database.db;
    await db.replicationPolicy.update({ where: { name: 'gold' }, data: { status: 'active' } });
    for (const site of ['\'; DROP TABLE "Job"; --', '<script>alert(1)</script>', '😀 Zürich {{7*7}} $(x)']) {
      const res = await request(h.app)
        .patch('/api/v1/file-servers/fs2')
        .set(h.auth('admin'))
        .send({ site })
        .expect(200);
      expect(res.body.site).toBe(site.trim());
    }
    expect(await db.job.count()).toBe(1);
  });
});
