// Shares through the admin API, as an administrator uses them: create a standard share on a chosen FSVM and a
// distributed share with its folders on both FSVMs, see them in the share list, delete one; the workflows do the
// gateway calls (real agents, real worker). Bad requests are refused naming the field and change nothing.
import request from 'supertest';
import { startLab, waitUntil, type Lab } from '../replication/lab';

jest.setTimeout(120_000);

describe('shares through the admin API', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab();
  });
  afterAll(async () => lab?.close());

  const api = () => request(lab.app);
  async function operation(id: string) {
    return waitUntil(
      `operation ${id} to end`,
      async () => {
        const res = await api().get(`/api/v1/operations/${id}`).set(lab.admin).expect(200);
        return ['succeeded', 'failed'].includes(res.body.state) ? (res.body as Record<string, any>) : undefined;
      },
      60_000,
    );
  }
  async function shares(fileServer: string) {
    const res = await api().get(`/api/v1/file-servers/${fileServer}/shares`).set(lab.admin).expect(200);
    return res.body.shares as { name: string; kind: string; accessMode: string; portions: Record<string, string> }[];
  }

  it('creates a standard share on the chosen FSVM and a distributed one over both', async () => {
    expect(await shares('fs-a')).toEqual([]);
    const std = await api()
      .post('/api/v1/file-servers/fs-a/shares')
      .set(lab.admin)
      .send({ name: 'projects', kind: 'standard', nodeId: 'a2' })
      .expect(202);
    expect(std.body).toMatchObject({ fileServer: 'fs-a', share: 'projects' });
    expect(std.body.workflowId).toMatch(/^share\/fs-a\/projects\/create\//);
    const dist = await api()
      .post('/api/v1/file-servers/fs-a/shares')
      .set(lab.admin)
      .send({
        name: 'home',
        kind: 'distributed',
        portions: [
          { name: 'alice', nodeId: 'a1' },
          { name: 'bob', nodeId: 'a2' },
          { name: 'carol', nodeId: 'a1' },
        ],
      })
      .expect(202);
    const [a, b] = [await operation(std.body.operationId), await operation(dist.body.operationId)];
    expect(a).toMatchObject({ kind: 'share_create', state: 'succeeded', source: 'fs-a' });
    expect((a.steps as { name: string; state: string }[]).map((s) => `${s.name}: ${s.state}`)).toEqual([
      'check FSVMs: succeeded',
      'create share on FSVMs: succeeded',
      'refresh share list: succeeded',
    ]);
    expect(b.state).toBe('succeeded');

    // The list is read from the gateways again: no wait for the cache to expire.
    const list = await shares('fs-a');
    expect(list.map((s) => [s.name, s.kind, s.accessMode, s.portions])).toEqual([
      ['home', 'distributed', 'read_write', { alice: 'a1', bob: 'a2', carol: 'a1' }],
      ['projects', 'standard', 'read_write', { '': 'a2' }],
    ]);
    expect(await lab.agents.a1.client.findShare('projects')).toBeUndefined();
    expect((await lab.agents.a1.client.findShare('home'))?.portions.map((p) => p.name)).toEqual(['alice', 'carol']);
  });

  it('refuses bad requests naming the field, and changes nothing', async () => {
    const before = await lab.database.db.operation.count();
    const unknownNode = await api()
      .post('/api/v1/file-servers/fs-a/shares')
      .set(lab.admin)
      .send({
        name: 'x1',
        kind: 'distributed',
        portions: [
          { name: 'p', nodeId: 'a1' },
          { name: 'q', nodeId: 'b1' },
        ],
      })
      .expect(400);
    expect(unknownNode.body.errors).toEqual([
      { path: 'body.portions.1.nodeId', message: "file server 'fs-a' has no FSVM 'b1' (it has 'a1', 'a2')" },
    ]);
    const badName = await api()
      .post('/api/v1/file-servers/fs-a/shares')
      .set(lab.admin)
      .send({ name: '../etc', kind: 'standard' })
      .expect(400);
    expect(badName.body.errors[0].path).toBe('body.name');
    const twice = await api()
      .post('/api/v1/file-servers/fs-a/shares')
      .set(lab.admin)
      .send({
        name: 'x2',
        kind: 'distributed',
        portions: [
          { name: 'p', nodeId: 'a1' },
          { name: 'p', nodeId: 'a2' },
        ],
      })
      .expect(400);
    expect(twice.body.errors[0]).toEqual({ path: 'body.portions.1.name', message: "folder 'p' is listed twice" });
    const exists = await api()
      .post('/api/v1/file-servers/fs-a/shares')
      .set(lab.admin)
      .send({ name: 'projects', kind: 'standard' })
      .expect(409);
    expect(exists.body.detail).toBe("share 'projects' already exists on file server 'fs-a'");
    await api()
      .post('/api/v1/file-servers/nosuch/shares')
      .set(lab.admin)
      .send({ name: 'x', kind: 'standard' })
      .expect(404);
    const noConfirm = await api()
      .delete('/api/v1/file-servers/fs-a/shares/projects?confirm=home')
      .set(lab.admin)
      .expect(400);
    expect(noConfirm.body.errors).toEqual([{ path: 'query.confirm', message: "must be 'projects'" }]);
    expect(await lab.database.db.operation.count()).toBe(before);
  });

  it('refuses to delete a share a policy uses, deletes an unused one with its data', async () => {
    const db = lab.database.db;
    const [a, b] = await Promise.all(
      ['fs-a', 'fs-b'].map((name) => db.fileServer.findUniqueOrThrow({ where: { name } })),
    );
    await db.replicationPolicy.create({
      data: {
        name: 'uses-home',
        sourceFileServerId: a!.id,
        destFileServerId: b!.id,
        rpoSeconds: 900,
        status: 'active',
        shares: { create: [{ sourceShare: 'home', targetShare: 'home-dr' }] },
      },
    });
    const inUse = await api().delete('/api/v1/file-servers/fs-a/shares/home?confirm=home').set(lab.admin).expect(409);
    expect(inUse.body.detail).toBe(
      "share 'home' on 'fs-a' is used by policy 'uses-home'; remove it from the policy first",
    );

    const del = await api()
      .delete('/api/v1/file-servers/fs-a/shares/projects?confirm=projects')
      .set(lab.admin)
      .expect(202);
    expect(await operation(del.body.operationId)).toMatchObject({ kind: 'share_delete', state: 'succeeded' });
    expect(await lab.agents.a2.client.findShare('projects')).toBeUndefined();
    expect((await shares('fs-a')).map((s) => s.name)).toEqual(['home']);
    await api().delete('/api/v1/file-servers/fs-a/shares/projects?confirm=projects').set(lab.admin).expect(404);
  });

  it('a share that appeared on a gateway behind the API’s back fails the workflow with the reason', async () => {
    await shares('fs-a'); // the cache is fresh and does not know 'rogue'
    await lab.agents.a1.client.createShare('rogue');
    const res = await api()
      .post('/api/v1/file-servers/fs-a/shares')
      .set(lab.admin)
      .send({ name: 'rogue', kind: 'standard', nodeId: 'a2' })
      .expect(202);
    const op = await operation(res.body.operationId);
    expect(op.state).toBe('failed');
    expect(op.error).toBe("share 'rogue' already exists on file server 'fs-a' (FSVM 'a1')");
    expect(op.steps[0]).toMatchObject({ name: 'check FSVMs', state: 'failed' });
    // Nothing was created on a2.
    expect(await lab.agents.a2.client.findShare('rogue')).toBeUndefined();
  });
});
