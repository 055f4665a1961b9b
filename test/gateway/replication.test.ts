// Two (or three) real agent processes exchanging snapshots over the data plane: base then incremental, kill -9 of
// either side mid-transfer and resume, bytes flipped in flight, a full destination disk. Portable driver on temp dirs.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../helpers/ports';
import {
  TOKEN,
  agentUrl,
  flippingProxy,
  randomBytesDeterministic,
  startAgent,
  tmpDir,
  snapshotDigest,
  treeDigest,
  transferEnded,
  waitFor,
  writeFiles,
  type Agent,
} from './helpers';

const PAIR = 'pair-token-for-a-and-b-0001';
const MiB = 1024 * 1024;

const finished = transferEnded;

function transfer(id: string, dst: Agent, snapshotId: string, baseSnapshotId?: string, extra: object = {}) {
  return {
    transferId: id,
    share: 'eng',
    snapshotId,
    ...(baseSnapshotId ? { baseSnapshotId } : {}),
    target: { nodeId: dst.nodeId, share: 'eng' },
    ...extra,
  };
}

describe('data plane between agent processes', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c();
    cleanups.length = 0;
  });

  /**
   * Agents a and b, each the other's pinned peer. a also pins `node-b.flip`: b behind a proxy that flips one bit of
   * the first data request (started here, on the port a has pinned for it), and `node-gone`, where nothing listens.
   */
  async function pair(
    dstRoot?: string,
    aEnv: Record<string, string> = {},
  ): Promise<{ a: Agent; b: Agent; dir: string; proxy: Awaited<ReturnType<typeof flippingProxy>> }> {
    const dir = tmpDir('repl');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const [portA, portB, portProxy, portGone] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const proxy = await flippingProxy(portB, undefined, portProxy);
    cleanups.push(() => proxy.close());
    const a = await startAgent({
      nodeId: 'node-a',
      port: portA,
      dataRoot: path.join(dir, 'a'),
      peers: { 'node-b': PAIR, 'node-b.flip': PAIR, 'node-gone': PAIR },
      peerUrls: { 'node-b': agentUrl(portB), 'node-b.flip': proxy.url, 'node-gone': agentUrl(portGone) },
      env: aEnv,
    });
    cleanups.push(() => a.kill9());
    const b = await startAgent({
      nodeId: 'node-b',
      port: portB,
      dataRoot: dstRoot ?? path.join(dir, 'b'),
      peers: { 'node-a': PAIR },
      peerUrls: { 'node-a': agentUrl(portA) },
    });
    cleanups.push(() => b.kill9());
    await a.client.createShare('eng');
    await b.client.createShare('eng', { accessMode: 'read_only' });
    return { a, b, dir, proxy };
  }

  /**
   * Writes `files` into a's share eng, snapshots them as s1 and sends s1 to b paced at 3 MiB/s as transfer `id`;
   * returns once b has received more than 3 MiB of it, seconds before the end.
   */
  async function pacedPastThreeMiB(a: Agent, b: Agent, id: string, files: Record<string, Buffer>): Promise<void> {
    writeFiles(path.join(a.dataRoot, 'shares/eng'), files);
    await a.client.createSnapshot('eng', { snapshotId: 's1' });
    await a.client.startTransfer(transfer(id, b, 's1', undefined, { bandwidthLimit: 3 * MiB }));
    await waitFor(async () => ((await b.client.getReceive(id)).receivedBytes > 3 * MiB ? true : undefined), 'progress');
  }

  it('replicates a base then an incremental; the destination serves exactly the snapshot', async () => {
    const { a, b } = await pair();
    const live = path.join(a.dataRoot, 'shares/eng');
    const files: Record<string, Buffer | string> = {};
    for (let i = 0; i < 200; i++) files[`dir${i % 7}/f${i}.txt`] = `file ${i} `.repeat(i + 1);
    files['big.bin'] = randomBytesDeterministic(3 * MiB, 3);
    writeFiles(live, files);
    await a.client.createSnapshot('eng', { snapshotId: 's1' });
    await a.client.startTransfer(transfer('t-base', b, 's1'));
    const t1 = await finished(a, 't-base');
    expect(t1).toMatchObject({ state: 'succeeded', error: null });
    // received but not committed: not listed, the live share not changed
    expect(await b.client.listSnapshots('eng')).toEqual([]);
    expect((await b.client.negotiate('eng')).receiving).toEqual(['s1']);
    await b.client.commitReceive('t-base');
    await b.client.commitReceive('t-base'); // idempotent
    expect((await b.client.listSnapshots('eng')).map((s) => [s.id, s.origin])).toEqual([['s1', 'received']]);
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(snapshotDigest(a.dataRoot, 'eng', '', 's1'));

    // incremental: a small change to a large data set costs about the change on the wire
    writeFiles(live, { 'dir1/f1.txt': 'changed', 'new.txt': randomBytesDeterministic(100_000, 4) });
    fs.rmSync(path.join(live, 'dir2'), { recursive: true });
    fs.renameSync(path.join(live, 'big.bin'), path.join(live, 'big-moved.bin'));
    await a.client.createSnapshot('eng', { snapshotId: 's2' });
    const [na, nb] = [await a.client.negotiate('eng'), await b.client.negotiate('eng')];
    const common = na.snapshots.filter((s) => nb.snapshots.some((x) => x.id === s.id)).at(-1);
    expect(common?.id).toBe('s1');
    await a.client.startTransfer(transfer('t-incr', b, 's2', common!.id));
    const t2 = await finished(a, 't-incr');
    expect(t2.state).toBe('succeeded');
    expect(t2.bytesSent).toBeLessThan(120_000);
    const replicaRoot = fs.statSync(path.join(b.dataRoot, 'shares/eng')).ino;
    await b.client.commitReceive('t-incr');
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(treeDigest(live));
    // the read-only replica was changed in place (only the differences), not rebuilt and swapped
    expect(fs.statSync(path.join(b.dataRoot, 'shares/eng')).ino).toBe(replicaRoot);
    expect((await b.client.listSnapshots('eng')).map((s) => s.id)).toEqual(['s1', 's2']);
    // the same transfer id again is the same transfer; the same snapshot under a new id is refused by the receiver
    expect((await a.client.startTransfer(transfer('t-incr', b, 's2', 's1'))).state).toBe('succeeded');
    await a.client.startTransfer(transfer('t-again', b, 's2', 's1'));
    expect((await finished(a, 't-again')).error).toMatch(/already exists/);
    // once the replica has been writable, its live tree is no longer trusted to equal s2: the next commit
    // rebuilds it, and what a client wrote meanwhile is gone
    await b.client.setAccess('eng', 'read_write');
    writeFiles(path.join(b.dataRoot, 'shares/eng'), { 'written-on-replica.txt': 'x', 'dir1/f1.txt': 'changed too' });
    await b.client.setAccess('eng', 'read_only');
    writeFiles(live, { 'dir3/f3.txt': 'changed in s3' });
    await a.client.createSnapshot('eng', { snapshotId: 's3' });
    await a.client.startTransfer(transfer('t-s3', b, 's3', 's2'));
    expect((await finished(a, 't-s3')).state).toBe('succeeded');
    await b.client.commitReceive('t-s3');
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(treeDigest(live));
    // tokens never reach the logs
    for (const agent of [a, b]) {
      expect(agent.output()).toContain('transfer');
      expect(agent.output()).not.toContain(PAIR);
      expect(agent.output()).not.toContain(TOKEN);
    }
  });

  it('resumes after kill -9 of the sender and of the receiver, from the acknowledged offset', async () => {
    const { a, b } = await pair();
    await pacedPastThreeMiB(a, b, 't-kill', {
      'one.bin': randomBytesDeterministic(6 * MiB, 5),
      'two.bin': randomBytesDeterministic(6 * MiB, 6),
    });
    await a.kill9();
    const acked = (await b.client.getReceive('t-kill')).receivedBytes;
    expect(acked).toBeGreaterThan(3 * MiB);
    expect(await b.client.listSnapshots('eng')).toEqual([]);
    await a.restart();
    // The receiver is killed while the sender, paced, still has seconds of stream to send: judged by what the
    // sender has sent, not by what the receiver has applied (which can lag behind by the socket buffers).
    await waitFor(
      async () => ((await a.client.getTransfer('t-kill')).bytesSent > 7 * MiB ? true : undefined),
      'progress',
    );
    await b.kill9();
    expect((await a.client.getTransfer('t-kill')).state).toBe('running');
    await b.restart();
    const t = await finished(a, 't-kill');
    expect(t.state).toBe('succeeded');
    expect(t.resumes).toBeGreaterThanOrEqual(2);
    expect(t.resumedFrom).toBeGreaterThan(3 * MiB);
    await b.client.commitReceive('t-kill');
    expect(snapshotDigest(b.dataRoot, 'eng', '', 's1')).toEqual(snapshotDigest(a.dataRoot, 'eng', '', 's1'));
  });

  it('waits out a receiver away for longer than 20 attempts, then resumes where it was, under the same transfer', async () => {
    // A stall timeout of 1 s keeps the retries a second apart (the backoff never exceeds it): 20 pass in about 20 s.
    // At debug level every attempt is logged (at info, a long outage is logged once a minute).
    const { a, b } = await pair(undefined, { GATEWAY_STALL_TIMEOUT: '1', LOG_LEVEL: 'debug' });
    await pacedPastThreeMiB(a, b, 't-away', { 'large.bin': randomBytesDeterministic(10 * MiB, 8) });
    await b.stop();
    const retries = (level?: number) =>
      a
        .output()
        .split('\n')
        .filter((l) => l.includes('"t-away"') && l.includes('stream interrupted'))
        .filter((l) => level === undefined || l.includes(`"level":${level},`)).length;
    await waitFor(async () => (retries() >= 22 ? true : undefined), '22 attempts while b is away', 60_000);
    // An operator's log (warn) says so at the start of the outage, then once a minute, not at every attempt.
    expect(retries(40)).toBeLessThanOrEqual(4);
    // Still waiting for b: a refused connection is an outage to wait out, not a failure of the receiver.
    expect(await a.client.getTransfer('t-away')).toMatchObject({ state: 'running', error: null });
    await b.restart();
    const t = await finished(a, 't-away');
    expect(t).toMatchObject({ state: 'succeeded', error: null });
    expect(t.resumedFrom).toBeGreaterThan(3 * MiB); // from the receiver's offset, not from byte 0
    await b.client.commitReceive('t-away');
    expect(snapshotDigest(b.dataRoot, 'eng', '', 's1')).toEqual(snapshotDigest(a.dataRoot, 'eng', '', 's1'));
  }, 120_000);

  it('fails a transfer whose peer stays unreachable past GATEWAY_PEER_OUTAGE_LIMIT, saying so', async () => {
    const { a } = await pair(undefined, { GATEWAY_STALL_TIMEOUT: '1', GATEWAY_PEER_OUTAGE_LIMIT: '3' });
    writeFiles(path.join(a.dataRoot, 'shares/eng'), { 'a.txt': 'a\n' });
    await a.client.createSnapshot('eng', { snapshotId: 's1' });
    const started = Date.now();
    await a.client.startTransfer({
      transferId: 't-gone',
      share: 'eng',
      snapshotId: 's1',
      target: { nodeId: 'node-gone', share: 'eng' },
    });
    const t = await finished(a, 't-gone');
    const seconds = (Date.now() - started) / 1000;
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/^peer node-gone unreachable for \d+ s \(\d+ attempts; GATEWAY_PEER_OUTAGE_LIMIT\): /);
    expect(seconds).toBeGreaterThanOrEqual(3);
    expect(seconds).toBeLessThan(15);
  });

  it('runs streams in parallel, reports progress, and cancels one cleanly', async () => {
    const { a, b } = await pair();
    await a.client.createShare('ops');
    await b.client.createShare('ops', { accessMode: 'read_only' });
    for (const share of ['eng', 'ops']) {
      writeFiles(path.join(a.dataRoot, 'shares', share), {
        'data.bin': randomBytesDeterministic(6 * MiB, share.length),
      });
      await a.client.createSnapshot(share, { snapshotId: 's1' });
    }
    const opts = { bandwidthLimit: 2 * MiB };
    await a.client.startTransfer(transfer('t-eng', b, 's1', undefined, opts));
    await a.client.startTransfer({
      ...transfer('t-ops', b, 's1', undefined, opts),
      share: 'ops',
      target: { nodeId: 'node-b', share: 'ops' },
    });
    const both = await waitFor(async () => {
      const ts = await a.client.listTransfers();
      return ts.length === 2 && ts.every((t) => t.state === 'running' && t.bytesSent > MiB && t.rateBytesPerSec > 0)
        ? ts
        : undefined;
    }, 'two running streams');
    for (const t of both) {
      expect(t.bytesTotal).toBeGreaterThan(6 * MiB);
      expect(t.rateBytesPerSec).toBeLessThan(3 * MiB); // the limit holds
    }
    expect((await a.client.health()).activeTransfers).toBe(2);
    const cancelled = await a.client.cancelTransfer('t-ops');
    expect(cancelled.state).toBe('cancelled');
    expect((await a.client.cancelTransfer('t-ops')).state).toBe('cancelled'); // idempotent
    expect((await finished(a, 't-eng')).state).toBe('succeeded');
    const recv = await b.client.getReceive('t-ops');
    expect(recv.state).toBe('failed');
    expect(recv.error).toMatch(/cancelled/);
    expect(fs.readdirSync(path.join(b.dataRoot, 'incoming'))).toEqual([]);
    expect(await b.client.listSnapshots('ops')).toEqual([]);
    await b.client.commitReceive('t-eng');
    expect((await b.client.listSnapshots('eng')).map((x) => x.id)).toEqual(['s1']);
  });

  it('replicates one portion of a distributed share into the matching portion on the peer', async () => {
    const { a, b } = await pair();
    await a.client.createShare('home', { kind: 'distributed', portions: ['alice', 'bob'] });
    await b.client.createShare('home', { kind: 'distributed', portions: ['alice'], accessMode: 'read_only' });
    writeFiles(path.join(a.dataRoot, 'shares/home/alice'), {
      'notes.txt': 'alice',
      'deep/x.bin': randomBytesDeterministic(50_000, 9),
    });
    writeFiles(path.join(a.dataRoot, 'shares/home/bob'), { 'bob.txt': 'bob' });
    const set = await a.client.createSnapshot('home', { snapshotId: 'set-1' });
    expect(set.map((x) => x.portion)).toEqual(['alice', 'bob']);
    const target = { nodeId: 'node-b', share: 'home', portion: 'alice' };
    await a.client.startTransfer({
      transferId: 't-alice',
      share: 'home',
      portion: 'alice',
      snapshotId: 'set-1',
      target,
    });
    expect((await finished(a, 't-alice')).state).toBe('succeeded');
    await b.client.commitReceive('t-alice');
    expect(treeDigest(path.join(b.dataRoot, 'shares/home/alice'))).toEqual(
      treeDigest(path.join(a.dataRoot, 'shares/home/alice')),
    );
    expect((await b.client.listSnapshots('home', 'alice')).map((x) => x.id)).toEqual(['set-1']);
    // a portion the peer does not hold is refused by the receiver, and the transfer says why
    await a.client.startTransfer({
      transferId: 't-bob',
      share: 'home',
      portion: 'bob',
      snapshotId: 'set-1',
      target: { ...target, portion: 'bob' },
    });
    expect((await finished(a, 't-bob')).error).toMatch(/no portion "bob"/);
  });

  it('never commits over a read-write target share unless forced; a read-only one commits as before', async () => {
    const { a, b } = await pair();
    await a.client.createShare('ops');
    await b.client.createShare('ops'); // read_write: clients work in it (as after a failover)
    const source = path.join(a.dataRoot, 'shares/ops');
    const target = path.join(b.dataRoot, 'shares/ops');
    writeFiles(source, { 'plan.txt': 'from the source\n', 'data.bin': randomBytesDeterministic(MiB, 11) });
    writeFiles(target, { 'plan.txt': 'written by a client at the destination\n', 'notes/today.md': 'keep me\n' });
    const clientData = treeDigest(target);
    await a.client.createSnapshot('ops', { snapshotId: 's1' });
    const toOps = (id: string, snapshotId: string, base?: string) => ({
      ...transfer(id, b, snapshotId, base),
      share: 'ops',
      target: { nodeId: b.nodeId, share: 'ops' },
    });
    await a.client.startTransfer(toOps('t-rw1', 's1'));
    expect((await finished(a, 't-rw1')).state).toBe('succeeded');

    // (a) the commit is refused with the reason, and nothing changed: the clients' data byte for byte, no snapshot
    // listed, the receive still `received` (a later commit can still take it)
    const commit = (id: string, body: object = {}) =>
      fetch(`${b.url}/v1/receives/${id}/commit`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const refused = await commit('t-rw1');
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const problem = (await refused.json()) as { status: number; detail: string };
    expect(problem.status).toBe(409);
    expect(problem.detail).toMatch(/share 'ops' is read_write/);
    expect(problem.detail).toMatch(/lose what clients wrote there/);
    expect(problem.detail).toMatch(/force: true/);
    await expect(b.client.commitReceive('t-rw1')).rejects.toThrow(/share 'ops' is read_write/);
    expect(treeDigest(target)).toEqual(clientData);
    expect(await b.client.listSnapshots('ops')).toEqual([]);
    expect((await b.client.getReceive('t-rw1')).state).toBe('received');
    // (b) force: true commits, and the live share becomes the snapshot (the clients' writes are gone, as asked)
    expect((await b.client.commitReceive('t-rw1', { force: true })).state).toBe('committed');
    expect(treeDigest(target)).toEqual(snapshotDigest(a.dataRoot, 'ops', '', 's1'));

    // (c) clients write again; the next incremental is refused too, then committed without force once the share is
    // read-only (the refused receive is still there to commit)
    writeFiles(target, { 'after-force.txt': 'a client wrote this after the forced commit\n' });
    const written = treeDigest(target);
    writeFiles(source, { 'plan.txt': 'second version\n' });
    await a.client.createSnapshot('ops', { snapshotId: 's2' });
    await a.client.startTransfer(toOps('t-rw2', 's2', 's1'));
    expect((await finished(a, 't-rw2')).state).toBe('succeeded');
    expect((await commit('t-rw2')).status).toBe(409);
    expect(treeDigest(target)).toEqual(written);
    await b.client.setAccess('ops', 'read_only');
    expect((await b.client.commitReceive('t-rw2')).state).toBe('committed');
    expect(treeDigest(target)).toEqual(treeDigest(source));
    expect((await b.client.listSnapshots('ops')).map((x) => x.id)).toEqual(['s1', 's2']);
  });

  it('rejects bytes flipped in flight: the transfer fails, nothing is listed or left staged', async () => {
    const { a, b, proxy } = await pair();
    writeFiles(path.join(a.dataRoot, 'shares/eng'), { 'x.bin': randomBytesDeterministic(2 * MiB, 7) });
    await a.client.createSnapshot('eng', { snapshotId: 's1' });
    // node-b.flip: b through a proxy that flips one byte of the first data request's body
    await a.client.startTransfer({
      ...transfer('t-flip', b, 's1'),
      target: { nodeId: 'node-b.flip', share: 'eng' },
    });
    const t = await finished(a, 't-flip');
    expect(proxy.flipped()).toBe(true);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/checksum|sha256/);
    expect((await b.client.getReceive('t-flip')).state).toBe('failed');
    expect(await b.client.listSnapshots('eng')).toEqual([]);
    expect(fs.readdirSync(path.join(b.dataRoot, 'incoming'))).toEqual([]);
    const snaps = path.join(b.dataRoot, 'snapshots/eng/_root');
    expect(fs.existsSync(snaps) ? fs.readdirSync(snaps) : []).toEqual([]);
    await expect(b.client.commitReceive('t-flip')).rejects.toThrow(/failed/);
  });

  it('fails cleanly when the destination disk fills up, and frees the space', async () => {
    const dir = tmpDir('full');
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs', mnt]);
    cleanups.push(() => {
      execFileSync('umount', [mnt]);
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const { a, b } = await pair(path.join(mnt, 'b'));
    writeFiles(path.join(a.dataRoot, 'shares/eng'), { 'huge.bin': randomBytesDeterministic(20 * MiB, 8) });
    await a.client.createSnapshot('eng', { snapshotId: 's1' });
    const free = (await b.client.health()).capacity.freeBytes;
    await a.client.startTransfer(transfer('t-full', b, 's1'));
    const t = await finished(a, 't-full');
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/space|disk full/i);
    expect(await b.client.listSnapshots('eng')).toEqual([]);
    expect((await b.client.negotiate('eng')).receiving).toEqual([]);
    expect(fs.readdirSync(path.join(b.dataRoot, 'incoming'))).toEqual([]);
    expect((await b.client.health()).capacity.freeBytes).toBeGreaterThanOrEqual(free - 256 * 1024);
  });
});
