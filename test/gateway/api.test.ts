// The control API of one agent in-process (portable driver on a temp dir): auth, shares, access, snapshots, prune,
// rollback, negotiation, validation that refuses bad input without changing anything.
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { Gateway, createGatewayApp } from '../../gateway/app';
import { TOKEN, quietLog, testConfig, tmpDir, snapshotDigest, treeDigest, writeFiles } from './helpers';

const auth = { authorization: `Bearer ${TOKEN}` };
const pluck = (items: unknown, key: string): unknown[] => (items as Record<string, unknown>[]).map((i) => i[key]);

describe('gateway control API', () => {
  let root: string;
  let gw: Gateway;
  let app: ReturnType<typeof createGatewayApp>;

  beforeEach(async () => {
    root = tmpDir('api');
    gw = new Gateway(testConfig(root), quietLog);
    await gw.start();
    app = createGatewayApp(gw);
  });
  afterEach(async () => {
    await gw.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('answers 401 without a token, with a wrong one, and to a peer token on the control API', async () => {
    await request(app).get('/v1/health').expect(401);
    await request(app).get('/v1/health').set({ authorization: 'Bearer nope-nope-nope-nope' }).expect(401);
    await request(app)
      .get('/v1/shares')
      .set({ authorization: 'Bearer pair-token-abcdefghijkl', 'x-gateway-node': 'node-b' })
      .expect(401);
    // and the control token is no peer token on the data plane
    await request(app).put('/v1/receives/t1').set(auth).send({}).expect(401);
    const h = await request(app).get('/v1/health').set(auth).expect(200);
    expect(h.body).toMatchObject({ status: 'ok', nodeId: 'node-a', driver: 'portable', activeTransfers: 0 });
    expect(h.body.capacity.freeBytes).toBeGreaterThan(0);
    const doc = await request(app).get('/v1/openapi.json').expect(200);
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/transfers', '/v1/receives/{id}/data']));
    // a commit that would overwrite a read-write share is refused unless forced: the flag is documented
    const commit = doc.body.paths['/v1/receives/{id}/commit'].post;
    expect(commit.requestBody.content['application/json'].schema.properties.force).toMatchObject({ type: 'boolean' });
    expect(commit.responses['409']).toBeDefined();
  });

  it('creates shares idempotently, standard and distributed, and refuses bad names without touching the disk', async () => {
    const a = await request(app).put('/v1/shares/eng').set(auth).send({}).expect(200);
    expect(a.body).toEqual({
      name: 'eng',
      kind: 'standard',
      accessMode: 'read_write',
      portions: [{ name: '', sizeBytes: 0 }],
    });
    await request(app).put('/v1/shares/eng').set(auth).send({}).expect(200);
    await request(app)
      .put('/v1/shares/eng')
      .set(auth)
      .send({ kind: 'distributed', portions: ['x'] })
      .expect(409);
    const d = await request(app)
      .put('/v1/shares/home')
      .set(auth)
      .send({ kind: 'distributed', portions: ['alice', 'bob'] })
      .expect(200);
    expect(pluck(d.body.portions, 'name')).toEqual(['alice', 'bob']);
    expect(fs.statSync(path.join(root, 'shares/home/alice')).isDirectory()).toBe(true);

    const before = fs.readdirSync(path.join(root, 'shares')).sort();
    for (const bad of ['..', '.hidden', 'a b', 'x%2F..%2F..%2Fetc', '%2E%2E', 'a;rm', 'é']) {
      await request(app).put(`/v1/shares/${bad}`).set(auth).send({}).expect(400);
    }
    await request(app)
      .put('/v1/shares/ok')
      .set(auth)
      .send({ kind: 'distributed', portions: ['../up'] })
      .expect(400);
    await request(app).put('/v1/shares/ok').set(auth).send({ unknown: 1 }).expect(400);
    await request(app).put('/v1/shares/ok').set(auth).set('content-type', 'application/json').send('{bad').expect(400);
    expect(fs.readdirSync(path.join(root, 'shares')).sort()).toEqual(before);

    const list = await request(app).get('/v1/shares').set(auth).expect(200);
    expect(pluck(list.body.shares, 'name')).toEqual(['eng', 'home']);
  });
  it('answers one share without sizes, 404 for a share it does not hold, 400 for a bad name', async () => {
    await request(app)
      .put('/v1/shares/projects')
      .set(auth)
      .send({ kind: 'distributed', portions: ['p1', 'p2'] })
      .expect(200);
    const one = await request(app).get('/v1/shares/projects').set(auth).expect(200);
    expect(one.body).toEqual({
      name: 'projects',
      kind: 'distributed',
      accessMode: 'read_write',
      portions: [{ name: 'p1' }, { name: 'p2' }],
    });
    await request(app).get('/v1/shares/nowhere').set(auth).expect(404);
    await request(app).get('/v1/shares/..').set(auth).expect(400);
    await request(app).get('/v1/shares/projects').expect(401);
  });

  it('sets access modes and deletes a share only when the name is confirmed', async () => {
    await request(app).put('/v1/shares/eng').set(auth).send({}).expect(200);
    const r = await request(app).put('/v1/shares/eng/access').set(auth).send({ mode: 'read_only' }).expect(200);
    expect(r.body.accessMode).toBe('read_only');
    await request(app).put('/v1/shares/eng/access').set(auth).send({ mode: 'sideways' }).expect(400);
    await request(app).put('/v1/shares/nope/access').set(auth).send({ mode: 'off' }).expect(404);
    writeFiles(path.join(root, 'shares/eng'), { 'a.txt': 'keep me' });
    await request(app).delete('/v1/shares/eng').set(auth).expect(400);
    await request(app).delete('/v1/shares/eng?confirm=other').set(auth).expect(400);
    expect(fs.readFileSync(path.join(root, 'shares/eng/a.txt'), 'utf8')).toBe('keep me');
    await request(app).delete('/v1/shares/eng?confirm=eng').set(auth).expect(204);
    await request(app).delete('/v1/shares/eng?confirm=eng').set(auth).expect(204);
    expect(fs.existsSync(path.join(root, 'shares/eng'))).toBe(false);
  });

  it('takes snapshot sets, keeps them unchanged, lists, rolls back, prunes expired and deletes', async () => {
    await request(app)
      .put('/v1/shares/home')
      .set(auth)
      .send({ kind: 'distributed', portions: ['alice', 'bob'] })
      .expect(200);
    const alice = path.join(root, 'shares/home/alice');
    writeFiles(alice, { 'doc.txt': 'v1', 'sub/deep.bin': Buffer.alloc(3000, 7) });
    fs.symlinkSync('doc.txt', path.join(alice, 'link'));
    fs.chmodSync(path.join(alice, 'doc.txt'), 0o640);
    const v1 = treeDigest(alice);
    const s1 = await request(app)
      .post('/v1/shares/home/snapshots')
      .set(auth)
      .send({ snapshotId: 'set-1', expiresAt: '2020-01-01T00:00:00Z' })
      .expect(201);
    expect(pluck(s1.body.snapshots, 'portion')).toEqual(['alice', 'bob']);
    await request(app).post('/v1/shares/home/snapshots').set(auth).send({ snapshotId: 'set-1' }).expect(201); // idempotent
    writeFiles(alice, { 'doc.txt': 'v2 changed', 'new.txt': 'n' });
    fs.rmSync(path.join(alice, 'sub'), { recursive: true });
    await request(app).post('/v1/shares/home/snapshots').set(auth).send({ snapshotId: 'set-2' }).expect(201);
    const v2 = treeDigest(alice);

    // the snapshot did not change with the live data
    expect(snapshotDigest(root, 'home', 'alice', 'set-1')).toEqual(v1);
    const list = await request(app).get('/v1/shares/home/snapshots?portion=alice').set(auth).expect(200);
    expect(pluck(list.body.snapshots, 'id')).toEqual(['set-1', 'set-2']);
    const neg = await request(app).get('/v1/negotiation/home?portion=alice').set(auth).expect(200);
    expect(pluck(neg.body.snapshots, 'id')).toEqual(['set-1', 'set-2']);
    await request(app).get('/v1/negotiation/home?portion=carol').set(auth).expect(404);

    await request(app).post('/v1/shares/home/rollback').set(auth).send({ snapshotId: 'nope' }).expect(404);
    expect(treeDigest(alice)).toEqual(v2); // nothing changed by the bad request
    await request(app).post('/v1/shares/home/rollback').set(auth).send({ snapshotId: 'set-1' }).expect(200);
    expect(treeDigest(alice)).toEqual(v1);

    const pruned = await request(app).post('/v1/snapshots/prune').set(auth).send({}).expect(200);
    expect(pruned.body.deleted).toEqual([
      { share: 'home', portion: 'alice', id: 'set-1' },
      { share: 'home', portion: 'bob', id: 'set-1' },
    ]);
    await request(app).delete('/v1/shares/home/snapshots/set-2').set(auth).expect(204);
    await request(app).delete('/v1/shares/home/snapshots/set-2').set(auth).expect(204);
    await request(app).delete('/v1/shares/home/snapshots/..%2Fx').set(auth).expect(400);
    const after = await request(app).get('/v1/shares/home/snapshots').set(auth).expect(200);
    expect(after.body.snapshots).toEqual([]);
    expect(fs.readdirSync(path.join(root, 'snapshots/home/alice'))).toEqual([]);
  });

  it('refuses transfers with an unknown snapshot or base, a base newer than the snapshot, or an unknown peer', async () => {
    await request(app).put('/v1/shares/eng').set(auth).send({}).expect(200);
    await request(app).post('/v1/shares/eng/snapshots').set(auth).send({ snapshotId: 's1' }).expect(201);
    await new Promise((r) => setTimeout(r, 5));
    await request(app).post('/v1/shares/eng/snapshots').set(auth).send({ snapshotId: 's2' }).expect(201);
    const base = {
      transferId: 't1',
      share: 'eng',
      snapshotId: 's2',
      target: { url: 'http://127.0.0.1:9', nodeId: 'node-b', share: 'eng' },
    };
    await request(app)
      .post('/v1/transfers')
      .set(auth)
      .send({ ...base, snapshotId: 'nope' })
      .expect(404);
    await request(app)
      .post('/v1/transfers')
      .set(auth)
      .send({ ...base, baseSnapshotId: 'nope' })
      .expect(404);
    const newer = await request(app)
      .post('/v1/transfers')
      .set(auth)
      .send({ ...base, snapshotId: 's1', baseSnapshotId: 's2' })
      .expect(400);
    expect(newer.body.errors[0].path).toBe('baseSnapshotId');
    await request(app)
      .post('/v1/transfers')
      .set(auth)
      .send({ ...base, target: { ...base.target, nodeId: 'stranger' } })
      .expect(400);
    await request(app)
      .post('/v1/transfers')
      .set(auth)
      .send({ ...base, transferId: '../../x' })
      .expect(400);
    expect((await request(app).get('/v1/transfers').set(auth).expect(200)).body.transfers).toEqual([]);
  });
});
