// The btrfs driver for real: two agents, each with its data root on its own loop-mounted btrfs image, exchanging a
// base then an incremental snapshot (btrfs send -p | receive through the data plane), a resume after kill -9 (the
// same snapshot pair gives the same stream), rollback; the integrity of btrfs streams (their own checksums, checked
// by `btrfs receive`; the splice of a resumed stream) and a receiver without a spool. Needs root and btrfs-progs;
// without them the test fails.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { PeerClient } from '../../gateway/data-plane/peer';
import { freePort } from '../helpers/ports';
import {
  agentUrl,
  flippingProxy,
  stallingProxy,
  transferEnded,
  runCleanups,
  mountBtrfs,
  randomBytesDeterministic,
  startAgent,
  treeDigest,
  waitFor,
  writeFiles,
  type Agent,
} from './helpers';

const PAIR = 'pair-token-btrfs-a-b-000001';
/** How many proxies in front of b a test may use (each is a peer a pins: node-b.via<i>). */
const VIAS = 4;
/** The next proxy a test puts in front of b, for each sending agent: the node id a pinned it as, and its port. */
const via = new WeakMap<Agent, () => { nodeId: string; port: number }>();

/** The command lines of the processes working for receives whose id starts with `prefix` (a receive's helpers). */
function helpersOf(prefix: string): string {
  return execFileSync('ps', ['-eo', 'args'])
    .toString()
    .split('\n')
    .filter((l) => l.includes(`incoming/${prefix}`))
    .join('\n');
}
const MiB = 1024 * 1024;

const finished = transferEnded;

describe('btrfs driver between two agents', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(() => runCleanups(cleanups));

  /**
   * Starts a transfer into b's share `eng` through a proxy that holds it back after `at` bytes; returns the proxy once
   * the receiver has taken all but the last MiB of them.
   */
  async function stalledTransfer(
    a: Agent,
    b: Agent,
    t: { transferId: string; snapshotId: string; baseSnapshotId?: string },
    at: number,
  ): Promise<Awaited<ReturnType<typeof stallingProxy>>> {
    const { nodeId, port } = via.get(a)!();
    const proxy = await stallingProxy(b.port, at, port);
    cleanups.push(() => proxy.close());
    await a.client.startTransfer({ ...t, share: 'eng', target: { nodeId, share: 'eng' } });
    await waitFor(
      async () =>
        proxy.stalled() && (await b.client.getReceive(t.transferId)).receivedBytes > at - MiB ? true : undefined,
      'stalled relay',
    );
    return proxy;
  }

  /** Starts a transfer into b's share `eng` paced at 4 MiB/s (chunked requests); returns once b has more than `past`. */
  async function pacedTransfer(
    a: Agent,
    b: Agent,
    t: { transferId: string; snapshotId: string; baseSnapshotId?: string },
    past: number,
  ): Promise<void> {
    await a.client.startTransfer({
      ...t,
      share: 'eng',
      target: { nodeId: 'node-b', share: 'eng' },
      bandwidthLimit: 4 * MiB,
    });
    await waitFor(
      async () => ((await b.client.getReceive(t.transferId)).receivedBytes > past ? true : undefined),
      'progress',
    );
  }

  /** Two agents, each with its data root on its own loop-mounted btrfs image; `env` configures the receiver (b). */
  async function pair(env: Record<string, string> = {}): Promise<{ fsB: { mount: string }; a: Agent; b: Agent }> {
    const fsA = mountBtrfs(256);
    cleanups.push(fsA.cleanup);
    const fsB = mountBtrfs(256);
    cleanups.push(fsB.cleanup);
    // b as a pins it, and b behind proxies (each started by the test when it needs it, on the port pinned for it)
    const portB = await freePort();
    const vias: number[] = [];
    for (let i = 0; i < VIAS; i++) vias.push(await freePort());
    const a = await startAgent({
      nodeId: 'node-a',
      dataRoot: path.join(fsA.mount, 'gw'),
      driver: 'btrfs',
      peers: Object.fromEntries([['node-b', PAIR], ...vias.map((_, i) => [`node-b.via${i}`, PAIR])]),
      peerUrls: Object.fromEntries([
        ['node-b', agentUrl(portB)],
        ...vias.map((port, i) => [`node-b.via${i}`, agentUrl(port)]),
      ]),
    });
    cleanups.push(() => a.kill9());
    let next = 0;
    via.set(a, () => {
      if (next >= vias.length) throw new Error('pair(): every proxy port pinned for node-b is used');
      return { nodeId: `node-b.via${next}`, port: vias[next++]! };
    });
    const b = await startAgent({
      nodeId: 'node-b',
      port: portB,
      dataRoot: path.join(fsB.mount, 'gw'),
      driver: 'btrfs',
      peers: { 'node-a': PAIR },
      env,
    });
    cleanups.push(() => b.kill9());
    return { fsB, a, b };
  }

  it('replicates base and incremental, resumes after kill -9, rolls back', async () => {
    const { fsB, a, b } = await pair();
    expect((await a.client.health()).driver).toBe('btrfs');

    await a.client.createShare('eng');
    await b.client.createShare('eng', { accessMode: 'read_only' });
    const live = path.join(a.dataRoot, 'shares/eng');
    // the live data of a portion is a subvolume
    expect(execFileSync('btrfs', ['subvolume', 'show', live]).toString()).toMatch(/Name:\s+eng/);
    const files: Record<string, Buffer | string> = { 'big.bin': randomBytesDeterministic(8 * MiB, 11) };
    for (let i = 0; i < 50; i++) files[`d${i % 5}/f${i}.txt`] = `content ${i}\n`.repeat(i + 1);
    writeFiles(live, files);
    fs.symlinkSync('d1/f1.txt', path.join(live, 'link'));
    fs.chmodSync(path.join(live, 'd1/f1.txt'), 0o600);
    await a.client.createSnapshot('eng', { snapshotId: 's1' });
    // read-only snapshot
    expect(() => fs.writeFileSync(path.join(a.dataRoot, 'snapshots/eng/_root/s1/data/x'), 'x')).toThrow(/read-only/);

    await a.client.startTransfer({
      transferId: 't1',
      share: 'eng',
      snapshotId: 's1',
      target: { nodeId: 'node-b', share: 'eng' },
      bandwidthLimit: 4 * MiB,
    });
    await waitFor(
      async () => ((await b.client.getReceive('t1')).receivedBytes > 3 * MiB ? true : undefined),
      'progress',
    );
    await a.kill9();
    expect(await b.client.listSnapshots('eng')).toEqual([]);
    await a.restart();
    const t1 = await finished(a, 't1');
    expect(t1).toMatchObject({ state: 'succeeded', resumes: 1 });
    expect(t1.resumedFrom).toBeGreaterThan(3 * MiB);
    await b.client.commitReceive('t1');
    // sizes are measured in the background (a walk of the new subvolume); the receiver takes the sender's
    const size = Object.values(files).reduce((n, c) => n + Buffer.byteLength(c), 0);
    const sizeOf = async (agent: typeof a) =>
      (await agent.client.listSnapshots('eng')).find((s) => s.id === 's1')?.sizeBytes ?? undefined;
    expect(await waitFor(() => sizeOf(a), 'size of s1')).toBe(size);
    expect(await waitFor(() => sizeOf(b), 'size of s1 on b')).toBe(size);
    const snapB1 = path.join(b.dataRoot, 'snapshots/eng/_root/s1/data');
    expect(treeDigest(snapB1)).toEqual(treeDigest(path.join(a.dataRoot, 'snapshots/eng/_root/s1/data')));
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(treeDigest(snapB1));

    // incremental
    writeFiles(live, { 'd1/f1.txt': 'edited', 'new.txt': 'new' });
    fs.rmSync(path.join(live, 'd2'), { recursive: true });
    await a.client.createSnapshot('eng', { snapshotId: 's2' });
    await a.client.startTransfer({
      transferId: 't2',
      share: 'eng',
      snapshotId: 's2',
      baseSnapshotId: 's1',
      target: { nodeId: 'node-b', share: 'eng' },
    });
    const t2 = await finished(a, 't2');
    expect(t2.state).toBe('succeeded');
    expect(t2.bytesSent).toBeLessThan(200_000);
    // unpaced and from 0: btrfs send wrote into the upgraded connection itself (t1, paced, went chunked)
    expect(a.output()).toMatch(/"transferId":"t2"[^\n]*stream written by the tool into the connection/);
    expect(a.output()).not.toMatch(/"transferId":"t1"[^\n]*stream written by the tool/);
    await b.client.commitReceive('t2');
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(treeDigest(live));
    expect((await b.client.listSnapshots('eng')).map((s) => s.id)).toEqual(['s1', 's2']);

    // a kill -9 of the receiving agent mid-transfer: its `btrfs receive` goes on (no spool, the default), the
    // restarted agent takes it over and the sender continues where it is, not from 0
    writeFiles(live, { 'big2.bin': randomBytesDeterministic(8 * MiB, 12) });
    await a.client.createSnapshot('eng', { snapshotId: 's3' });
    // past the first checkpoint (every second; 4 MiB/s)
    await pacedTransfer(a, b, { transferId: 't3', snapshotId: 's3', baseSnapshotId: 's2' }, 5 * MiB);
    // what the receiver had before the kill: read after the restart, the sender may already have resumed and sent more
    const kept = (await b.client.getReceive('t3')).receivedBytes;
    await b.kill9();
    await b.restart();
    expect(kept).toBeGreaterThan(MiB);
    const t3 = await finished(a, 't3');
    expect(t3.state).toBe('succeeded');
    expect(t3.resumedFrom).toBeGreaterThanOrEqual(kept);
    expect(fs.existsSync(path.join(b.dataRoot, 'incoming/t3'))).toBe(false); // its records are gone once received
    await b.client.commitReceive('t3');
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(treeDigest(live));
    await b.client.deleteSnapshot('eng', 's3');

    // rollback on the destination, and deleting a snapshot deletes its subvolume
    await b.client.rollback('eng', 's1');
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(treeDigest(snapB1));
    await b.client.deleteSnapshot('eng', 's2');
    const subvols = execFileSync('btrfs', ['subvolume', 'list', fsB.mount]).toString();
    expect(subvols).not.toMatch(/s2\/data/);
    await a.stop();
  });

  it('rejects a corrupted stream and a resumed stream that differs; without a spool a restarted receiver takes over the receive its tool goes on with', async () => {
    const { a, b } = await pair(); // btrfs receives without a spool by default
    await a.client.createShare('eng');
    await b.client.createShare('eng', { accessMode: 'read_only' });
    const live = path.join(a.dataRoot, 'shares/eng');
    writeFiles(live, { 'big.bin': randomBytesDeterministic(8 * MiB, 21), 'small.txt': 'small\n' });
    await a.client.createSnapshot('eng', { snapshotId: 's1' });
    const snapDirB = path.join(b.dataRoot, 'snapshots/eng/_root');
    const target = { nodeId: 'node-b', share: 'eng' };

    // one bit flipped in flight: btrfs receive finds the command's crc32c wrong; nothing is listed or left
    const flipVia = via.get(a)!();
    const proxy = await flippingProxy(b.port, undefined, flipVia.port);
    cleanups.push(() => proxy.close());
    await a.client.startTransfer({
      transferId: 't-flip',
      share: 'eng',
      snapshotId: 's1',
      target: { ...target, nodeId: flipVia.nodeId },
    });
    const flip = await finished(a, 't-flip');
    expect(proxy.flipped()).toBe(true);
    expect(flip.state).toBe('failed');
    expect(flip.error).toMatch(/crc32 mismatch/);
    expect((await b.client.getReceive('t-flip')).state).toBe('failed');
    expect(await b.client.listSnapshots('eng')).toEqual([]);
    expect(fs.existsSync(path.join(snapDirB, 's1'))).toBe(false);

    // a resumed request whose re-sent bytes differ from what the receiver has is refused at the splice
    const stream = execFileSync('btrfs', ['send', '-q', path.join(a.dataRoot, 'snapshots/eng/_root/s1/data')], {
      maxBuffer: 64 * MiB,
    });
    const peer = new PeerClient('node-a', { url: b.url, nodeId: 'node-b', tokens: [PAIR] });
    await peer.json('PUT', '/receives/t-splice', {
      share: 'eng',
      portion: '',
      snapshotId: 's1',
      driver: 'btrfs',
      createdAt: new Date().toISOString(),
    });
    const signal = new AbortController().signal;
    await peer.stream('/receives/t-splice/data?offset=0', Readable.from([stream.subarray(0, 300_000)]), signal);
    expect((await b.client.getReceive('t-splice')).receivedBytes).toBe(300_000);
    const altered = Buffer.from(stream.subarray(290_000, 400_000));
    altered[5_000]! ^= 0x01; // inside the 10,000 re-sent bytes
    // the receiver answers 422 and closes the upload (the client may see the reset before the answer)
    await expect(
      peer.stream('/receives/t-splice/data?offset=290000', Readable.from([altered]), signal),
    ).rejects.toThrow();
    // (the answer may also come before the receive is marked failed, which happens once its data is removed)
    const spliced = await waitFor(async () => {
      const st = await b.client.getReceive('t-splice');
      return st.state === 'receiving' ? undefined : st;
    }, 'receive t-splice failed');
    expect(spliced).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/differs from the bytes already received before offset 300000/),
    });
    expect(fs.existsSync(path.join(snapDirB, 's1'))).toBe(false);

    // a new request of the sender replaces a relayed connection the receiver still holds: dd is interrupted, reports
    // its count, and the receive continues exactly there (a wrong count would break btrfs receive or the tree)
    await peer.json('PUT', '/receives/t-takeover', {
      share: 'eng',
      portion: '',
      snapshotId: 's1',
      driver: 'btrfs',
      createdAt: new Date().toISOString(),
    });
    const held = await peer.upgrade('/receives/t-takeover/data?offset=0', signal);
    expect(held).toBeDefined();
    const cutAt = 3 * MiB + 12_345;
    held!.write(stream.subarray(0, cutAt));
    await waitFor(
      async () => ((await b.client.getReceive('t-takeover')).receivedBytes >= cutAt - 1 ? true : undefined),
      'relayed bytes',
    );
    // the receiver answers where it continues: exactly what went through dd
    await expect(
      peer.stream('/receives/t-takeover/data?offset=0', Readable.from([stream.subarray(0, 10)]), signal),
    ).rejects.toThrow(new RegExp(`continues at offset ${cutAt}, not 0`));
    held!.destroy();
    await peer.stream(`/receives/t-takeover/data?offset=${cutAt}`, Readable.from([stream.subarray(cutAt)]), signal);
    await peer.json('POST', '/receives/t-takeover/complete', { totalBytes: stream.length, digest: 'native' });
    expect((await b.client.getReceive('t-takeover')).state).toBe('received');
    expect(treeDigest(path.join(snapDirB, 's1/data'))).toEqual(
      treeDigest(path.join(a.dataRoot, 'snapshots/eng/_root/s1/data')),
    );
    await peer.json('DELETE', '/receives/t-takeover', undefined, signal);
    expect(fs.existsSync(path.join(snapDirB, 's1'))).toBe(false);

    // an upgraded data request is authenticated and validated like any other: nothing is switched on a refusal
    const tryUpgrade = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(`${b.url}/v1/receives/t-up/data?offset=0`, {
          method: 'PUT',
          headers: { connection: 'upgrade', 'content-length': '0', 'x-gateway-node': 'node-a', ...headers },
        });
        req.on('upgrade', (_res, socket: Socket) => {
          socket.destroy();
          resolve(101);
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await tryUpgrade({ upgrade: 'fsdr-stream/1', authorization: 'Bearer wrong-token-0123456789' })).toBe(401);
    expect(await tryUpgrade({ upgrade: 'websocket', authorization: `Bearer ${PAIR}` })).toBe(400);
    expect(await tryUpgrade({ upgrade: 'fsdr-stream/1', authorization: `Bearer ${PAIR}` })).toBe(404); // no receive t-up

    // an upgraded connection cut mid-stream: the receiving agent never saw its bytes (dd copied them into the
    // tool's input), so it continues at dd's count and cannot check the splice; the tree is still exact
    const cutting = await stalledTransfer(a, b, { transferId: 't-cut', snapshotId: 's1' }, 3 * MiB);
    cutting.cut();
    const cut = await finished(a, 't-cut');
    expect(cut).toMatchObject({ state: 'succeeded', resumes: 1 });
    expect(cut.resumedFrom).toBeGreaterThan(2 * MiB);
    expect(b.output()).toMatch(/"transferId":"t-cut"[^\n]*connection relayed into the tool unread/);
    expect(b.output()).toMatch(/"transferId":"t-cut"[^\n]*splice not checked/);
    await b.client.commitReceive('t-cut');
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(treeDigest(live));

    // the receiving agent killed with -9 during a paced (chunked) request: `btrfs receive` and the request's `dd`
    // outlive it (no spool), the dd copies what the agent had written into its pipe and records its count, and the
    // restarted agent takes the receive over: the sender continues at that count, not from 0
    writeFiles(live, { 'small.txt': 'changed\n' });
    await a.client.createSnapshot('eng', { snapshotId: 's2' });
    await pacedTransfer(a, b, { transferId: 't-nospool', snapshotId: 's2' }, 2 * MiB);
    expect(fs.existsSync(path.join(b.dataRoot, 'incoming/t-nospool/stream'))).toBe(false);
    await b.kill9();
    expect(helpersOf('t-nospool')).toMatch(/btrfs receive/);
    await b.restart();
    const t = await finished(a, 't-nospool');
    expect(t.state).toBe('succeeded');
    expect(t.resumedFrom).toBeGreaterThan(2 * MiB);
    expect(b.output()).toMatch(/"transferId":"t-nospool"[^\n]*receive taken over from the previous run of the agent/);
    await b.client.commitReceive('t-nospool');
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(treeDigest(live));

    // killed with -9 in the middle of a relayed connection: its dd holds the connection and goes on copying after
    // the agent died; the restarted agent takes it over, and when the connection breaks the sender continues at dd's
    // count
    writeFiles(live, { 'big2.bin': randomBytesDeterministic(10 * MiB, 22) });
    await a.client.createSnapshot('eng', { snapshotId: 's3' });
    const holding = await stalledTransfer(
      a,
      b,
      { transferId: 't-adopt', snapshotId: 's3', baseSnapshotId: 's2' },
      4 * MiB,
    );
    await b.kill9();
    expect(helpersOf('t-adopt')).toMatch(/btrfs receive[\s\S]*dd bs=1M|dd bs=1M[\s\S]*btrfs receive/);
    await b.restart();
    expect((await b.client.getReceive('t-adopt')).receivedBytes).toBeGreaterThan(3 * MiB);
    holding.cut();
    const adopted = await finished(a, 't-adopt');
    expect(adopted.state).toBe('succeeded');
    expect(adopted.resumedFrom).toBeGreaterThan(3 * MiB);
    expect(b.output()).toMatch(/"transferId":"t-adopt"[^\n]*receive taken over from the previous run of the agent/);
    await b.client.commitReceive('t-adopt');
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(treeDigest(live));

    // killed with -9 in the instant after the tool started and before the agent recorded it (its tool.json removed
    // here to stand for that): the restarted agent finds the unrecorded tool by its FIFO and kills it, and the
    // receive, whose state nobody knows, starts again from 0
    writeFiles(live, { 'small.txt': 'stray\n', 'big3.bin': randomBytesDeterministic(6 * MiB, 23) });
    await a.client.createSnapshot('eng', { snapshotId: 's4' });
    await pacedTransfer(a, b, { transferId: 't-stray', snapshotId: 's4', baseSnapshotId: 's3' }, 1 * MiB);
    await b.kill9();
    fs.rmSync(path.join(b.dataRoot, 'incoming/t-stray/tool.json'));
    expect(helpersOf('t-stray')).toMatch(/btrfs receive/);
    await b.restart();
    expect(b.output()).toMatch(/"transferIds":\["t-stray"\][^\n]*killed processes of the previous run/);
    const stray = await finished(a, 't-stray');
    expect(stray).toMatchObject({ state: 'succeeded', resumedFrom: 0 });
    await b.client.commitReceive('t-stray');
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(treeDigest(live));
    // nothing of the receives outlives them
    expect(helpersOf('t-')).toBe('');
    await a.stop();
  });

  it('with the spool: relays an upgraded connection unread; a cut one resumes with the splice checked against the spool, and so does a killed receiver', async () => {
    const { a, b } = await pair({ GATEWAY_RECEIVE_SPOOL: 'on' });
    await a.client.createShare('eng');
    await b.client.createShare('eng', { accessMode: 'read_only' });
    const live = path.join(a.dataRoot, 'shares/eng');
    const files: Record<string, Buffer | string> = { 'big.bin': randomBytesDeterministic(12 * MiB, 31) };
    for (let i = 0; i < 40; i++) files[`d${i % 4}/f${i}.txt`] = `relay ${i}\n`.repeat(i + 1);
    writeFiles(live, files);
    await a.client.createSnapshot('eng', { snapshotId: 's1' });

    // cut mid-stream: the sender regenerates the stream, re-sends the bytes before the receiver's offset, and the
    // receiver compares them with the end of its spool
    const cutting = await stalledTransfer(a, b, { transferId: 'r1', snapshotId: 's1' }, 5 * MiB);
    cutting.cut();
    const r1 = await finished(a, 'r1');
    expect(r1).toMatchObject({ state: 'succeeded', resumes: 1 });
    expect(r1.resumedFrom).toBeGreaterThan(4 * MiB);
    expect(b.output()).toMatch(/"transferId":"r1"[^\n]*connection relayed into the tool unread/);
    expect(b.output()).not.toMatch(/splice not checked/);
    await b.client.commitReceive('r1');
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(treeDigest(live));

    // the receiving agent killed with -9 mid-relay: dd, tail and btrfs receive die with it; the restarted agent
    // replays its spool into a fresh receive and the sender continues at the spool's end
    writeFiles(live, { 'big2.bin': randomBytesDeterministic(12 * MiB, 32) });
    await a.client.createSnapshot('eng', { snapshotId: 's2' });
    await stalledTransfer(a, b, { transferId: 'r2', snapshotId: 's2', baseSnapshotId: 's1' }, 5 * MiB);
    await b.kill9();
    await b.restart();
    expect((await b.client.getReceive('r2')).receivedBytes).toBeGreaterThan(4 * MiB);
    const r2 = await finished(a, 'r2');
    expect(r2.state).toBe('succeeded');
    expect(r2.resumedFrom).toBeGreaterThan(4 * MiB);
    expect(b.output()).toMatch(/"transferId":"r2"[^\n]*spooled stream replayed/);
    await b.client.commitReceive('r2');
    expect(treeDigest(path.join(b.dataRoot, 'shares/eng'))).toEqual(treeDigest(live));
    // nothing of the relay outlives the receive
    expect(helpersOf('r')).toBe('');
    await a.stop();
  });
});
