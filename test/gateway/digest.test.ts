// GET /v1/shares/:share/digest between real agent processes, for the portable driver (temp dirs) and btrfs (loop-mounted
// images; needs root and btrfs-progs, fails without them): the digest of a source snapshot equals that of the
// destination's live tree once the snapshot is replicated and committed, after a base and after each kind of change
// (a byte appended, a mode, a rename, a new empty directory, a symlink retargeted), and every change gives a new one;
// the agent's own files do not count and a change on the replica shows. Also: a large tree's digest leaves the agent
// answering, and bad requests are refused naming the field.
import fs from 'node:fs';
import path from 'node:path';
import type { PortionDigest } from '../../domain/gateway-contract';
import { freePort } from '../helpers/ports';
import {
  TOKEN,
  agentUrl,
  mountBtrfs,
  randomBytesDeterministic,
  runCleanups,
  startAgent,
  tmpDir,
  transferEnded,
  writeFiles,
  type Agent,
} from './helpers';

const PAIR = 'pair-token-digest-a-b-0001';
const MiB = 1024 * 1024;

/** What two digests of the same tree share (everything but where they were taken). */
const tree = (d: PortionDigest) => ({
  algorithm: d.algorithm,
  digest: d.digest,
  files: d.files,
  directories: d.directories,
  symlinks: d.symlinks,
  bytes: d.bytes,
});

describe('tree digest between agents', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(() => runCleanups(cleanups));

  async function pair(driver: 'portable' | 'btrfs'): Promise<{ a: Agent; b: Agent }> {
    const roots: string[] = [];
    for (let i = 0; i < 2; i++) {
      if (driver === 'btrfs') {
        const m = mountBtrfs(256);
        cleanups.push(m.cleanup);
        roots.push(path.join(m.mount, 'gw'));
      } else {
        const d = tmpDir('digest');
        cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
        roots.push(d);
      }
    }
    const portB = await freePort();
    const a = await startAgent({
      nodeId: 'node-a',
      dataRoot: roots[0]!,
      driver,
      peers: { 'node-b': PAIR },
      peerUrls: { 'node-b': agentUrl(portB) },
    });
    cleanups.push(() => a.kill9());
    const b = await startAgent({
      nodeId: 'node-b',
      port: portB,
      dataRoot: roots[1]!,
      driver,
      peers: { 'node-a': PAIR },
    });
    cleanups.push(() => b.kill9());
    await a.client.createShare('eng');
    await b.client.createShare('eng', { accessMode: 'read_only' });
    return { a, b };
  }

  /** Snapshot `id` on a, sent to b (incremental from `base`) and committed there. */
  async function replicate(a: Agent, b: Agent, id: string, base?: string): Promise<void> {
    await a.client.createSnapshot('eng', { snapshotId: id });
    await a.client.startTransfer({
      transferId: `t-${id}`,
      share: 'eng',
      snapshotId: id,
      ...(base ? { baseSnapshotId: base } : {}),
      target: { nodeId: 'node-b', share: 'eng' },
    });
    expect(await transferEnded(a, `t-${id}`)).toMatchObject({ state: 'succeeded', error: null });
    await b.client.commitReceive(`t-${id}`);
  }

  for (const driver of ['portable', 'btrfs'] as const) {
    it(`${driver}: a source snapshot and the replica's live tree have one digest, and every change makes a new one`, async () => {
      const { a, b } = await pair(driver);
      const live = path.join(a.dataRoot, 'shares/eng');
      const replica = path.join(b.dataRoot, 'shares/eng');
      const files: Record<string, Buffer | string> = { 'big.bin': randomBytesDeterministic(3 * MiB, 21) };
      for (let i = 0; i < 40; i++) files[`d${i % 4}/sub/f${i}.txt`] = `file ${i}\n`.repeat(i + 1);
      writeFiles(live, files);
      fs.mkdirSync(path.join(live, 'empty'));
      fs.symlinkSync('d1/sub/f1.txt', path.join(live, 'link'));
      fs.chmodSync(path.join(live, 'd1/sub/f1.txt'), 0o600);
      fs.chmodSync(path.join(live, 'd2'), 0o750);
      // a time with nanoseconds: a replica keeps the microsecond (portable) or all of it (btrfs)
      fs.utimesSync(path.join(live, 'd3/sub/f3.txt'), 1_600_000_000, 1_600_000_000.123456);
      await replicate(a, b, 's1');

      const s1 = await a.client.digest('eng', { snapshotId: 's1' });
      expect(s1).toMatchObject({ share: 'eng', portion: '', snapshotId: 's1', algorithm: 'fsdr-tree-v1' });
      expect(s1).toMatchObject({ files: 41, directories: 9, symlinks: 1 });
      expect(s1.bytes).toBe(Object.values(files).reduce((n, c) => n + Buffer.byteLength(c), 0));
      expect(s1.digest).toMatch(/^[0-9a-f]{64}$/);
      const replicaLive = await b.client.digest('eng');
      expect(replicaLive.snapshotId).toBeNull();
      expect(tree(replicaLive)).toEqual(tree(s1));
      expect(tree(await a.client.digest('eng'))).toEqual(tree(s1)); // nothing changed since s1
      expect(tree(await b.client.digest('eng', { snapshotId: 's1' }))).toEqual(tree(s1));
      // the deep check reads every byte on both sides: equal too, and another algorithm
      const deep = await a.client.digest('eng', { snapshotId: 's1', content: true });
      expect(deep.algorithm).toBe('fsdr-tree-v1+sha256');
      expect(deep.digest).not.toBe(s1.digest);
      expect(tree(await b.client.digest('eng', { content: true }))).toEqual(tree(deep));

      const seen = new Set([s1.digest]);
      const changes: [string, () => void][] = [
        ['a byte appended', () => fs.appendFileSync(path.join(live, 'd0/sub/f0.txt'), '!')],
        ['a mode', () => fs.chmodSync(path.join(live, 'd1/sub/f5.txt'), 0o700)],
        ['a rename', () => fs.renameSync(path.join(live, 'd2/sub/f2.txt'), path.join(live, 'd2/sub/f2-renamed.txt'))],
        ['a new empty directory', () => fs.mkdirSync(path.join(live, 'd3/new-empty'))],
        [
          'a symlink retargeted',
          () => {
            fs.unlinkSync(path.join(live, 'link'));
            fs.symlinkSync('d0/sub/f4.txt', path.join(live, 'link'));
          },
        ],
      ];
      let base = 's1';
      for (const [i, [what, change]] of changes.entries()) {
        change();
        const id = `s${i + 2}`;
        await replicate(a, b, id, base);
        base = id;
        const src = await a.client.digest('eng', { snapshotId: id });
        expect({ what, new: !seen.has(src.digest) }).toEqual({ what, new: true });
        seen.add(src.digest);
        expect({ what, replica: tree(await b.client.digest('eng')) }).toEqual({ what, replica: tree(src) });
      }
      const last = await a.client.digest('eng', { snapshotId: base });

      // the agent's own files (a commit's file under its temporary name, left by a crash) are not data
      fs.writeFileSync(path.join(replica, 'd0/.fsdr-commit-0123456789ab'), 'half a file');
      expect(tree(await b.client.digest('eng'))).toEqual(tree(last));
      // a change on the replica shows (a directory's mtime alone would not: receivers set those last)
      fs.utimesSync(path.join(replica, 'd0'), 1_500_000_000, 1_500_000_000);
      expect((await b.client.digest('eng')).digest).toBe(last.digest);
      fs.chmodSync(path.join(replica, 'big.bin'), 0o600);
      expect((await b.client.digest('eng')).digest).not.toBe(last.digest);
    });
  }

  it('a large tree: the agent keeps answering while it walks; bad requests are refused naming the field', async () => {
    const dir = tmpDir('digest-big');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const a = await startAgent({ nodeId: 'node-a', dataRoot: dir, peers: {} });
    cleanups.push(() => a.kill9());
    await a.client.createShare('eng');
    const live = path.join(dir, 'shares/eng');
    const page = Buffer.alloc(4096, 1);
    for (let d = 0; d < 100; d++) {
      fs.mkdirSync(path.join(live, `d${d}`));
      for (let f = 0; f < 200; f++) fs.writeFileSync(path.join(live, `d${d}`, `f${f}`), page);
    }
    // health asked one after another all along the walk of 20,100 entries (80 MiB read), each answer timed
    let walking = true;
    const latencies: number[] = [];
    const poll = (async () => {
      while (walking) {
        const t0 = performance.now();
        await a.client.health();
        latencies.push(performance.now() - t0);
      }
    })();
    const t0 = performance.now();
    const d = await a.client.digest('eng', { content: true });
    const took = performance.now() - t0;
    walking = false;
    await poll;
    expect(d).toMatchObject({ files: 20_000, directories: 100, symlinks: 0, bytes: 20_000 * 4096 });
    // answered all along, each promptly (a walk holding the event loop would leave one late answer)
    expect(latencies.length).toBeGreaterThan(5);
    expect(Math.max(...latencies)).toBeLessThan(took / 2);
    const get = async (q: string, token = TOKEN) => {
      const res = await fetch(`${a.url}/v1/shares/${q}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as { detail?: string; errors?: { path: string }[] } };
    };
    expect((await get('eng/digest?snapshot=nope')).status).toBe(404);
    expect((await get('missing/digest')).status).toBe(404);
    expect((await get('eng/digest?portion=p9')).status).toBe(404);
    const bad = await get('eng/digest?snapshot=..%2Fx');
    expect(bad.status).toBe(400);
    expect(bad.body.errors?.[0]?.path).toBe('query.snapshot');
    const content = await get('eng/digest?content=yes');
    expect(content.status).toBe(400);
    expect(content.body.errors?.[0]?.path).toBe('query.content');
    const unknown = await get('eng/digest?snapshotId=s1');
    expect(unknown.status).toBe(400);
    expect(unknown.body.detail).toMatch(/snapshotId/);
    expect((await get('eng/digest', 'wrong-token-0123456789')).status).toBe(401);
    await a.client.createShare('dist', { kind: 'distributed', portions: ['p1', 'p2'] });
    const noPortion = await get('dist/digest');
    expect(noPortion.status).toBe(400);
    expect(noPortion.body.errors?.[0]?.path).toBe('portion');
    writeFiles(path.join(dir, 'shares/dist/p2'), { 'x.txt': 'x' });
    expect(await a.client.digest('dist', { portion: 'p2' })).toMatchObject({ portion: 'p2', files: 1, bytes: 1 });
    // both endpoints are in the OpenAPI document, with the digest's query
    const doc = (await (await fetch(`${a.url}/v1/openapi.json`)).json()) as {
      paths: Record<string, { get?: { parameters?: { name: string; in: string }[] } }>;
    };
    expect(doc.paths['/v1/shares/{share}/digest']?.get?.parameters?.map((p) => `${p.in}:${p.name}`)).toEqual([
      'path:share',
      'query:portion',
      'query:snapshot',
      'query:content',
    ]);
    expect(doc.paths['/v1/shares/{share}/open-files']?.get).toBeDefined();
  });
});
