// File servers and shares against the real app, a real database and FSVM gateways: the real agent (gateway/app.ts)
// for fs1's two nodes, a contract-conformant fake for fs2 (to switch it down).
import request from 'supertest';
import { rows, startHarness, type Harness } from './helpers/api-harness';
import { startFakeGateway, standardShare, type FakeGateway } from './helpers/fake-gateway';
import { startRealGateway, type RealGateway } from './helpers/real-gateway';

describe('file servers and shares', () => {
  let h: Harness;
  let a: RealGateway;
  let b: RealGateway;
  let fake: FakeGateway;

  beforeAll(async () => {
    [h, a, b] = await Promise.all([
      startHarness({ shareCacheTtlMs: 60_000 }),
      startRealGateway('node-a'),
      startRealGateway('node-b'),
    ]);
    fake = await startFakeGateway({
      nodeId: 'dr-1',
      token: 'fake-token-0123456789',
      shares: [standardShare('eng-dr')],
    });
    await a.createShare('eng');
    await a.createShare('home', ['alice']);
    await b.createShare('home', ['bob']);
  });
  afterAll(async () => {
    await Promise.all([h?.close(), a?.close(), b?.close(), fake?.close()]);
  });

  const fs1 = () => ({
    name: 'fs1',
    site: 'Paris',
    dnsName: 'FS1.corp.example.com',
    addresses: ['10.0.0.11', 'fd00::11'],
    fsvms: [
      { nodeId: 'node-a', gatewayUrl: `${a.url}/`, token: a.token },
      { gatewayUrl: b.url, token: b.token },
    ],
  });

  it('registers a file server after checking every gateway; secrets are sealed and never returned', async () => {
    const res = await request(h.app).post('/api/v1/file-servers').set(h.auth('admin')).send(fs1()).expect(201);
    expect(res.body).toMatchObject({
      name: 'fs1',
      site: 'Paris',
      dnsName: 'fs1.corp.example.com',
      status: 'active',
      directory: null,
      fsvms: [
        { nodeId: 'node-a', gatewayUrl: a.url, health: 'healthy' },
        { nodeId: 'node-b', gatewayUrl: b.url, health: 'healthy' },
      ],
    });
    const text = JSON.stringify(res.body);
    expect(text).not.toContain(a.token);
    const row = await h.database.db.fileServer.findUnique({ where: { name: 'fs1' }, include: { fsvms: true } });
    expect(h.secrets.open(row!.fsvms.find((f) => f.nodeId === 'node-a')!.gatewayTokenEnc)).toBe(a.token);
    const details = await request(h.app).get('/api/v1/file-servers/fs1').set(h.auth('viewer')).expect(200);
    expect(JSON.stringify(details.body)).not.toMatch(/control-token|Enc/);
  });

  it('refuses the AD fields of earlier versions: directory settings have their own route', async () => {
    const before = await h.counts();
    const res = await request(h.app)
      .post('/api/v1/file-servers')
      .set(h.auth('admin'))
      .send({ ...fs1(), name: 'fs8', adComputerAccount: 'FS8$', adCredentials: { username: 'u', password: 'p' } })
      .expect(400);
    expect((res.body.errors as { message: string }[]).map((e) => e.message).join(' ')).toMatch(/adComputerAccount/);
    expect(await h.counts()).toEqual(before);
  });

  it('refuses a duplicate (409), a wrong gateway token (400 on the field), a wrong node id, an unreachable gateway (502)', async () => {
    const before = await h.counts();
    const dup = await request(h.app).post('/api/v1/file-servers').set(h.auth('admin')).send(fs1()).expect(409);
    expect(dup.body.detail).toBe("file server 'fs1' is already registered");
    const base = { name: 'fs9', site: 'Lyon', dnsName: 'fs9.corp.example.com' };
    const badToken = await request(h.app)
      .post('/api/v1/file-servers')
      .set(h.auth('admin'))
      .send({ ...base, fsvms: [{ gatewayUrl: a.url, token: 'wrong-token-0123456789' }] })
      .expect(400);
    expect(badToken.body.errors).toEqual([
      { path: 'body.fsvms.0.token', message: expect.stringContaining('rejected our credentials') },
    ]);
    expect(JSON.stringify(badToken.body)).not.toContain('wrong-token');
    const badNode = await request(h.app)
      .post('/api/v1/file-servers')
      .set(h.auth('admin'))
      .send({ ...base, fsvms: [{ nodeId: 'node-z', gatewayUrl: a.url, token: a.token }] })
      .expect(400);
    expect(badNode.body.errors[0]).toEqual({
      path: 'body.fsvms.0.nodeId',
      message: `gateway ${a.url} reports node 'node-a', not 'node-z'`,
    });
    const twice = await request(h.app)
      .post('/api/v1/file-servers')
      .set(h.auth('admin'))
      .send({
        ...base,
        fsvms: [
          { gatewayUrl: a.url, token: a.token },
          { gatewayUrl: a.url.replace('127.0.0.1', 'localhost'), token: a.token },
        ],
      })
      .expect(400);
    expect(twice.body.detail).toMatch(/both node 'node-a'/);
    const notGateway = await request(h.app)
      .post('/api/v1/file-servers')
      .set(h.auth('admin'))
      .send({ ...base, fsvms: [{ gatewayUrl: `${a.url}/x`, token: a.token }] })
      .expect(400);
    expect(notGateway.body.errors[0].path).toBe('body.fsvms.0.gatewayUrl');
    const down = await request(h.app)
      .post('/api/v1/file-servers')
      .set(h.auth('admin'))
      .send({ ...base, fsvms: [{ gatewayUrl: 'http://127.0.0.1:9', token: 'some-token-0123456789' }] })
      .expect(502);
    expect(down.body.detail).toMatch(/gateway http:\/\/127\.0\.0\.1:9 unreachable/);
    expect(await h.counts()).toEqual(before);
  });

  it('lists shares live from every FSVM (distributed portions merged), then from the cache', async () => {
    const res = await request(h.app).get('/api/v1/file-servers/fs1/shares').set(h.auth('viewer')).expect(200);
    expect(res.body).toMatchObject({ fileServer: 'fs1', stale: false, errors: [] });
    expect(res.body.shares).toEqual([
      {
        name: 'eng',
        kind: 'standard',
        accessMode: 'read_write',
        portions: { '': 'node-a' },
        sizeBytes: 0,
        protectedBy: [],
      },
      {
        name: 'home',
        kind: 'distributed',
        accessMode: 'read_write',
        portions: { alice: 'node-a', bob: 'node-b' },
        sizeBytes: 0,
        protectedBy: [],
      },
    ]);
    await a.createShare('new-share');
    const cached = await request(h.app).get('/api/v1/file-servers/fs1/shares').set(h.auth('viewer')).expect(200);
    expect(cached.body.shares).toHaveLength(2);
    expect(cached.body.refreshedAt).toBe(res.body.refreshedAt);
    const fresh = await request(h.app)
      .get('/api/v1/file-servers/fs1/shares?refresh=true')
      .set(h.auth('viewer'))
      .expect(200);
    expect(rows(fresh.body.shares).map((s) => s.name)).toEqual(['eng', 'home', 'new-share']);
  });

  it('serves the last good share list, marked stale, while a gateway is down; FSVM health shows it', async () => {
    await request(h.app)
      .post('/api/v1/file-servers')
      .set(h.auth('admin'))
      .send({
        name: 'fs2',
        site: 'Berlin',
        dnsName: 'fs2.corp.example.com',
        fsvms: [{ gatewayUrl: fake.url, token: fake.token }],
      })
      .expect(201);
    await request(h.app).get('/api/v1/file-servers/fs2/shares').set(h.auth('viewer')).expect(200);
    fake.mode = 'down';
    try {
      const res = await request(h.app)
        .get('/api/v1/file-servers/fs2/shares?refresh=true')
        .set(h.auth('viewer'))
        .expect(200);
      expect(res.body.stale).toBe(true);
      expect(rows(res.body.shares).map((s) => s.name)).toEqual(['eng-dr']);
      expect(res.body.errors).toEqual([
        { nodeId: 'dr-1', gatewayUrl: fake.url, message: expect.stringMatching(/503/) },
      ]);
      const d = await request(h.app).get('/api/v1/file-servers/fs2').set(h.auth('viewer')).expect(200);
      expect(d.body.fsvms[0]).toMatchObject({ health: 'down', lastError: expect.stringMatching(/503/) });
    } finally {
      fake.mode = 'ok';
    }
    fake.mode = 'degraded';
    const degraded = await request(h.app)
      .get('/api/v1/file-servers/fs2?refresh=true')
      .set(h.auth('viewer'))
      .expect(200);
    expect(degraded.body.fsvms[0]).toMatchObject({ health: 'degraded', lastError: null });
    fake.mode = 'ok';
    const healthy = await request(h.app).get('/api/v1/file-servers/fs2?refresh=true').set(h.auth('viewer')).expect(200);
    expect(healthy.body.fsvms[0]).toMatchObject({ health: 'healthy', lastSeenAt: expect.any(String) });
  });

  it('share details show replication history; unknown share/file server is 404', async () => {
    const db = h.database.db;
    await db.job.createMany({
      data: [0, 1, 2].map((i) => ({
        share: 'eng',
        targetShare: 'eng',
        sourceFileServer: 'fs1',
        destFileServer: 'fs2',
        state: 'succeeded' as const,
        bytesSynced: BigInt(1000 * i),
        startedAt: new Date(Date.UTC(2026, 0, 1 + i)),
        endedAt: new Date(Date.UTC(2026, 0, 1 + i, 1)),
      })),
    });
    const res = await request(h.app).get('/api/v1/file-servers/fs1/shares/eng').set(h.auth('viewer')).expect(200);
    expect(res.body).toMatchObject({ name: 'eng', fileServer: 'fs1', kind: 'standard' });
    expect(rows(res.body.history).map((j) => j.startedAt)).toEqual([
      '2026-01-03T00:00:00.000Z',
      '2026-01-02T00:00:00.000Z',
      '2026-01-01T00:00:00.000Z',
    ]);
    const nf = await request(h.app).get('/api/v1/file-servers/fs1/shares/nope').set(h.auth('viewer')).expect(404);
    expect(nf.body.detail).toBe("share 'nope' does not exist on file server 'fs1'");
    await request(h.app).get('/api/v1/file-servers/fsX/shares').set(h.auth('viewer')).expect(404);
  });

  it('updates a file server; the protection overview lists pairs, statuses and available actions', async () => {
    const up = await request(h.app)
      .patch('/api/v1/file-servers/fs1')
      .set(h.auth('admin'))
      .send({ site: 'Paris-2' })
      .expect(200);
    expect(up.body).toMatchObject({ site: 'Paris-2', directory: null });
    const db = h.database.db;
    const [src, dst] = await Promise.all([
      db.fileServer.findUniqueOrThrow({ where: { name: 'fs1' } }),
      db.fileServer.findUniqueOrThrow({ where: { name: 'fs2' } }),
    ]);
    await db.replicationPolicy.create({
      data: {
        name: 'gold',
        sourceFileServerId: src.id,
        destFileServerId: dst.id,
        rpoSeconds: 900,
        status: 'active',
        shares: { create: [{ sourceShare: 'eng', targetShare: 'eng-dr' }] },
      },
    });
    const list = await request(h.app).get('/api/v1/file-servers').set(h.auth('viewer')).expect(200);
    const fs1 = rows(list.body.items).find((s) => s.name === 'fs1');
    expect(fs1).toMatchObject({
      status: 'active',
      fsvms: { total: 2, healthy: 2 },
      protection: [
        {
          role: 'source',
          source: { name: 'fs1', status: 'active' },
          destination: { name: 'fs2', status: 'standby' },
          policies: [{ name: 'gold', status: 'active' }],
          runningOperation: null,
          availableActions: ['planned_failover', 'unplanned_failover', 'dr_readiness'],
        },
      ],
    });
    const shares = await request(h.app).get('/api/v1/file-servers/fs2/shares').set(h.auth('viewer')).expect(200);
    expect(shares.body.shares[0].protectedBy).toEqual([
      { policy: 'gold', role: 'target', peerShare: 'eng', peer: 'fs1' },
    ]);
  });

  it('replaces the FSVM list only when every new gateway checks out', async () => {
    const before = await h.database.db.fsvm.findMany({
      where: { fileServer: { name: 'fs1' } },
      orderBy: { nodeId: 'asc' },
    });
    const bad = await request(h.app)
      .patch('/api/v1/file-servers/fs1')
      .set(h.auth('admin'))
      .send({
        fsvms: [
          { gatewayUrl: a.url, token: a.token },
          { gatewayUrl: b.url, token: 'wrong-token-0123456789' },
        ],
      })
      .expect(400);
    expect(bad.body.errors).toEqual([{ path: 'body.fsvms.1.token', message: expect.stringContaining(b.url) }]);
    const same = await h.database.db.fsvm.findMany({
      where: { fileServer: { name: 'fs1' } },
      orderBy: { nodeId: 'asc' },
    });
    expect(same.map((f) => f.id)).toEqual(before.map((f) => f.id));
    const ok = await request(h.app)
      .patch('/api/v1/file-servers/fs1')
      .set(h.auth('admin'))
      .send({ fsvms: [{ gatewayUrl: a.url, token: a.token }] })
      .expect(200);
    expect(rows(ok.body.fsvms).map((f) => f.nodeId)).toEqual(['node-a']);
    expect(ok.body.sharesRefreshedAt).toBeNull();
  });

  it('refuses to remove a file server a policy uses (409), removes it once free', async () => {
    const res = await request(h.app).delete('/api/v1/file-servers/fs2').set(h.auth('admin')).expect(409);
    expect(res.body.detail).toBe("file server 'fs2' is used by policy 'gold'; delete it first");
    await h.database.db.replicationPolicy.delete({ where: { name: 'gold' } });
    await request(h.app).delete('/api/v1/file-servers/fs2').set(h.auth('admin')).expect(204);
    await request(h.app).get('/api/v1/file-servers/fs2').set(h.auth('viewer')).expect(404);
    expect(await h.database.db.fsvm.count({ where: { nodeId: 'dr-1' } })).toBe(0);
  });
});
