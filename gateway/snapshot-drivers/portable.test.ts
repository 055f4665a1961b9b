// The portable driver on temp dirs: real snapshots, full and incremental streams (new, modified, deleted, renamed
// files, modes, mtimes, symlinks), only changed bytes on the wire, corrupt or hostile streams refused; renamed
// folders neither read again nor copied on the replica; on a loop-mounted btrfs, large files cloned, not copied.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  mountBtrfs,
  randomBytesDeterministic,
  snapshotDigest,
  tmpDir,
  treeDigest,
  writeFiles,
} from '../../test/gateway/helpers';
import { Layout } from '../layout';
import { StreamIntegrityError, type ApplyCheckpoint } from './driver';
import { PortableDriver } from './portable';
import { utimeOf } from './manifest';
import { MAGIC } from './portable-stream';

const P = { share: 'eng', portion: '' };
const MiB = 1024 * 1024;

async function snapshot(d: PortableDriver, id: string, prev?: string): Promise<void> {
  fs.mkdirSync(d.layout.snapshotDir(P, id), { recursive: true });
  await d.createSnapshot(P, id, prev);
}

async function sendToFile(d: PortableDriver, id: string, base: string | undefined, file: string): Promise<number> {
  const { stream, totalBytes } = await d.send(P, id, base);
  await pipeline(stream, fs.createWriteStream(file));
  expect(fs.statSync(file).size).toBe(totalBytes);
  return totalBytes!;
}

/** The snapshot's tree, read back from its manifest and the content store. */
const snapDigest = (d: PortableDriver, id: string): Record<string, string> =>
  snapshotDigest(d.layout.root, P.share, P.portion, id);

/** The number of contents in the portion's store. */
function objectCount(d: PortableDriver): number {
  const dir = d.objects.dir(P);
  if (!fs.existsSync(dir)) return 0;
  return fs.readdirSync(dir).reduce((n, sub) => n + fs.readdirSync(path.join(dir, sub)).length, 0);
}

async function receive(d: PortableDriver, id: string, base: string | undefined, file: string): Promise<void> {
  fs.mkdirSync(d.layout.snapshotDir(P, id), { recursive: true });
  await d.receive(P, id, base, file);
}

describe('portable snapshot driver', () => {
  let dir: string;
  let src: PortableDriver;
  let dst: PortableDriver;
  beforeEach(async () => {
    dir = tmpDir('portable');
    src = new PortableDriver(new Layout(path.join(dir, 'a')));
    dst = new PortableDriver(new Layout(path.join(dir, 'b')));
    await src.createPortion(P);
    await dst.createPortion(P);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('replicates a base and an incremental with exactly the changes, byte-identical with modes, mtimes and links', async () => {
    const live = src.livePath(P);
    const big = randomBytesDeterministic(2 * 1024 * 1024, 1);
    writeFiles(live, {
      'docs/a.txt': 'alpha',
      'docs/b.txt': 'bravo',
      'docs/old/x.txt': 'x',
      'big.bin': big,
      'exec.sh': '#!/bin/sh\n',
      'keep.txt': 'same',
    });
    fs.chmodSync(path.join(live, 'exec.sh'), 0o755);
    fs.symlinkSync('docs/a.txt', path.join(live, 'ln'));
    fs.utimesSync(path.join(live, 'keep.txt'), 1_600_000_000, 1_600_000_000.123456);
    await snapshot(src, 's1');
    const f1 = path.join(dir, 's1.stream');
    const baseBytes = await sendToFile(src, 's1', undefined, f1);
    expect(baseBytes).toBeGreaterThan(big.length);
    await receive(dst, 's1', undefined, f1);
    expect(snapDigest(dst, 's1')).toEqual(snapDigest(src, 's1'));
    expect(snapDigest(src, 's1')).toEqual(treeDigest(live));

    // the changes: modified, new, deleted dir, renamed big file, chmod only, retargeted symlink
    writeFiles(live, { 'docs/a.txt': 'alpha, edited', 'new/n.txt': 'fresh' });
    fs.rmSync(path.join(live, 'docs/old'), { recursive: true });
    fs.renameSync(path.join(live, 'big.bin'), path.join(live, 'docs/big-renamed.bin'));
    fs.chmodSync(path.join(live, 'exec.sh'), 0o700);
    fs.rmSync(path.join(live, 'ln'));
    fs.symlinkSync('docs/b.txt', path.join(live, 'ln'));
    await snapshot(src, 's2', 's1');
    // unchanged, renamed and chmod-ed files are not copied again: the store holds each content once
    expect(snapDigest(src, 's2')).toEqual(treeDigest(live));
    expect(objectCount(src)).toBe(8); // s1: a, b, x, big, exec, keep; s2 adds the edited a and n
    const f2 = path.join(dir, 's2.stream');
    const incr = await sendToFile(src, 's2', 's1', f2);
    expect(incr).toBeLessThan(4096); // the 2 MiB rename costs a record, not its content
    await receive(dst, 's2', 's1', f2);
    expect(snapDigest(dst, 's2')).toEqual(treeDigest(live));
    // the receiver's base is untouched
    expect(snapDigest(dst, 's1')).toEqual(snapDigest(src, 's1'));
    // rollback brings the live tree back, and is atomic for clients (a swap)
    await dst.rollback(P, 's1');
    expect(treeDigest(dst.livePath(P))).toEqual(snapDigest(src, 's1'));
  });

  it('sends from an offset, and resumes an application from its checkpoint (inside small and large files)', async () => {
    const live = src.livePath(P);
    const files: Record<string, Buffer | string> = { 'big/one.bin': randomBytesDeterministic(3 * 1024 * 1024, 21) };
    for (let i = 0; i < 300; i++) files[`d${i % 9}/f${i}.txt`] = `small ${i} `.repeat(40 + i);
    writeFiles(live, files);
    await snapshot(src, 's1');
    const f1 = path.join(dir, 's1.stream');
    const total = await sendToFile(src, 's1', undefined, f1);
    const whole = fs.readFileSync(f1);
    // the stream from any offset is the tail of the whole stream, without reading what comes before
    for (const at of [0, 1, 8, 5000, Math.floor(total / 2), total - 1, total]) {
      const { stream, startsAt, digest } = await src.send(P, 's1', undefined, at);
      expect(startsAt).toBe(at);
      expect(digest).toMatch(/^[0-9a-f]{64}$/);
      const got = Buffer.concat(await stream.toArray());
      expect(got.equals(whole.subarray(at))).toBe(true);
    }
    // apply in pieces, each time from a fresh applier (a restarted agent) resumed at the last checkpoint
    const { digest } = await src.send(P, 's1', undefined);
    fs.mkdirSync(dst.layout.snapshotDir(P, 's1'), { recursive: true });
    let cp: ApplyCheckpoint | undefined;
    const cuts = [200_000, 1_500_000, 2_600_000, 3_300_000];
    for (const cut of cuts) {
      const feed = new PassThrough();
      const checkpointer: { checkpoint?: () => Promise<ApplyCheckpoint> } = {};
      const run = dst.receiveStream(P, 's1', undefined, feed, { ...(cp ? { resumeFrom: cp } : {}), checkpointer });
      const from = cp?.offset ?? 0;
      feed.write(whole.subarray(from, cut));
      // The applier works through what it was fed at its own pace (slower on a busy machine): wait until a
      // checkpoint shows progress, as a receiver's periodic checkpoints would.
      let next = await checkpointer.checkpoint!();
      for (let i = 0; i < 200 && next.offset <= from; i++) {
        await new Promise((r) => setTimeout(r, 50));
        next = await checkpointer.checkpoint!();
      }
      expect(next.offset).toBeGreaterThan(from);
      expect(next.offset).toBeLessThanOrEqual(cut);
      cp = next;
      feed.destroy(new Error('agent killed'));
      await expect(run).rejects.toThrow();
    }
    const res = await dst.receiveStream(P, 's1', undefined, Readable.from([whole.subarray(cp!.offset)]), {
      resumeFrom: cp!,
    });
    expect(res.digest).toBe(digest);
    expect(snapDigest(dst, 's1')).toEqual(treeDigest(live));
    expect(fs.existsSync(path.join(dst.layout.snapshotDir(P, 's1'), 'receive.journal'))).toBe(false);
  });

  it('takes and commits a renamed folder without reading or copying its data (moves on the replica)', async () => {
    const live = src.livePath(P);
    writeFiles(live, {
      'projects/big.bin': randomBytesDeterministic(3 * 1024 * 1024, 31),
      'projects/sub/note.txt': 'note',
      'a.txt': 'alpha',
      'b.txt': 'bravo',
    });
    await snapshot(src, 's1');
    const f1 = path.join(dir, 's1.stream');
    await sendToFile(src, 's1', undefined, f1);
    await receive(dst, 's1', undefined, f1);
    await dst.rollback(P, 's1', { readOnlyReplica: { base: null } });
    const replica = dst.livePath(P);
    const inode = (rel: string): number => fs.statSync(path.join(replica, rel)).ino;
    const [bigIno, aIno, bIno] = [inode('projects/big.bin'), inode('a.txt'), inode('b.txt')];

    // a folder renamed, two files swapped, a copy of a file that stays
    fs.renameSync(path.join(live, 'projects'), path.join(live, 'projects-2026'));
    fs.renameSync(path.join(live, 'a.txt'), path.join(live, 'tmp.txt'));
    fs.renameSync(path.join(live, 'b.txt'), path.join(live, 'a.txt'));
    fs.renameSync(path.join(live, 'tmp.txt'), path.join(live, 'b.txt'));
    fs.copyFileSync(path.join(live, 'a.txt'), path.join(live, 'copy-of-a.txt'));
    // the files the snapshot reads (a spy calls through): small ones with readFileSync, large ones with open
    const fsp = jest.requireActual<typeof import('node:fs/promises')>('node:fs/promises');
    const spies = [jest.spyOn(fs, 'readFileSync'), jest.spyOn(fsp, 'open')];
    let opened: string[];
    try {
      await snapshot(src, 's2', 's1');
    } finally {
      opened = spies.flatMap((s) => s.mock.calls.map((c) => String(c[0])));
      for (const s of spies) s.mockRestore();
    }
    expect(opened.some((f) => f.endsWith('copy-of-a.txt'))).toBe(true); // a new path is read: the spy sees reads
    // the renamed folder's files were recognised by inode, not read again
    expect(opened.filter((f) => f.includes('projects-2026'))).toEqual([]);
    expect(snapDigest(src, 's2')).toEqual(treeDigest(live));

    const f2 = path.join(dir, 's2.stream');
    expect(await sendToFile(src, 's2', 's1', f2)).toBeLessThan(4096);
    await receive(dst, 's2', 's1', f2);
    await dst.rollback(P, 's2', { readOnlyReplica: { base: 's1' }, reuseUnchanged: true });
    expect(treeDigest(replica)).toEqual(treeDigest(live));
    // moved within the replica's tree, not copied from the content store: the same inodes at their new paths
    expect(inode('projects-2026/big.bin')).toBe(bigIno);
    expect([inode('a.txt'), inode('b.txt')]).toEqual([bIno, aIno]);
    expect(inode('copy-of-a.txt')).not.toBe(inode('a.txt'));
    // nothing left in the scratch directory
    expect(fs.readdirSync(dst.layout.tmp).filter((n) => n.startsWith('commit-'))).toEqual([]);
  });

  it('commits onto a replica whose tree clients changed (no marker: after a failback) in place, never swapping the share folder away', async () => {
    const live = src.livePath(P);
    writeFiles(live, { 'keep.txt': 'same', 'edit.txt': 'v1', 'docs/a.txt': 'alpha', 'gone.txt': 'bye' });
    await snapshot(src, 's1');
    const f1 = path.join(dir, 's1.stream');
    await sendToFile(src, 's1', undefined, f1);
    await receive(dst, 's1', undefined, f1);
    await dst.rollback(P, 's1', { readOnlyReplica: { base: null }, reuseUnchanged: true });
    const replica = dst.livePath(P);
    expect(treeDigest(replica)).toEqual(treeDigest(live));

    // the replica was writable for a while (a failover): clients changed it, and that removed the marker
    await dst.liveBecomesWritable(P);
    writeFiles(replica, { 'edit.txt': 'v1 changed at the other site', 'extra/new.txt': 'written there' });
    fs.rmSync(path.join(replica, 'docs'), { recursive: true });
    writeFiles(replica, { docs: 'a file where a folder was' });
    fs.rmSync(path.join(replica, 'gone.txt'));
    // the source moves on; the replica is read-only again and gets the next snapshot
    writeFiles(live, { 'later.txt': 'later' });
    await snapshot(src, 's2', 's1');
    const f2 = path.join(dir, 's2.stream');
    await sendToFile(src, 's2', 's1', f2);
    await receive(dst, 's2', 's1', f2);
    const rootIno = fs.statSync(replica).ino;
    const keepIno = fs.statSync(path.join(replica, 'keep.txt')).ino;
    await dst.rollback(P, 's2', { readOnlyReplica: { base: 's1' }, reuseUnchanged: true });
    expect(treeDigest(replica)).toEqual(treeDigest(live));
    // the share's folder is the same directory (clients never found it missing); an unchanged file was not copied
    expect(fs.statSync(replica).ino).toBe(rootIno);
    expect(fs.statSync(path.join(replica, 'keep.txt')).ino).toBe(keepIno);
    // and the marker is back: the next commit applies only the differences
    writeFiles(live, { 'later.txt': 'later, edited' });
    await snapshot(src, 's3', 's2');
    const f3 = path.join(dir, 's3.stream');
    await sendToFile(src, 's3', 's2', f3);
    await receive(dst, 's3', 's2', f3);
    await dst.rollback(P, 's3', { readOnlyReplica: { base: 's2' }, reuseUnchanged: true });
    expect(treeDigest(replica)).toEqual(treeDigest(live));
    expect(fs.statSync(replica).ino).toBe(rootIno);
  });

  it('on a filesystem that clones (btrfs here, XFS alike), a snapshot shares the live data instead of copying it', async () => {
    const fsys = mountBtrfs(300);
    try {
      const d = new PortableDriver(new Layout(path.join(fsys.mount, 'root')));
      await d.createPortion(P);
      const live = d.livePath(P);
      writeFiles(live, {
        'big.bin': randomBytesDeterministic(48 * MiB, 41),
        'small.txt': 'small',
        'empty.txt': '',
      });
      const free = (): number => {
        execFileSync('btrfs', ['filesystem', 'sync', fsys.mount]);
        const st = fs.statfsSync(fsys.mount);
        return st.bavail * st.bsize;
      };
      const taken = treeDigest(live);
      const before = free();
      fs.mkdirSync(d.layout.snapshotDir(P, 's1'), { recursive: true });
      await d.createSnapshot(P, 's1', undefined);
      // a copy of the 48 MiB would take 48 MiB; the clone only metadata
      expect(before - free()).toBeLessThan(8 * MiB);
      expect(snapshotDigest(d.layout.root, P.share, P.portion, 's1')).toEqual(taken);
      // the snapshot keeps its content when the live file is then written in place (the clone's data is its own)
      const fd = fs.openSync(path.join(live, 'big.bin'), 'r+');
      fs.writeSync(fd, Buffer.alloc(MiB, 7), 0, MiB, 5 * MiB);
      fs.closeSync(fd);
      expect(treeDigest(live)['big.bin']).not.toEqual(taken['big.bin']);
      expect(snapshotDigest(d.layout.root, P.share, P.portion, 's1')).toEqual(taken);
    } finally {
      fsys.cleanup();
    }
  });

  it('refuses a stream with a flipped content byte', async () => {
    writeFiles(src.livePath(P), { 'a.bin': randomBytesDeterministic(100_000, 2) });
    await snapshot(src, 's1');
    const f1 = path.join(dir, 's1.stream');
    await sendToFile(src, 's1', undefined, f1);
    const buf = fs.readFileSync(f1);
    buf[buf.length - 5000]! ^= 0xff;
    fs.writeFileSync(f1, buf);
    await expect(receive(dst, 's1', undefined, f1)).rejects.toThrow(/checksum mismatch/);
  });

  it('refuses stream entries that would escape the snapshot or follow a symlink', async () => {
    const hostile = (recs: object[]): string => {
      const parts = [MAGIC];
      for (const r of recs) {
        const j = Buffer.from(JSON.stringify(r));
        const len = Buffer.alloc(4);
        len.writeUInt32BE(j.length);
        parts.push(len, j);
      }
      const f = path.join(dir, `hostile-${Math.random()}`);
      fs.writeFileSync(f, Buffer.concat(parts));
      return f;
    };
    const root = { op: 'dir', p: '', m: 0o755, mt: 0 };
    const cases = [
      [root, { op: 'file', p: '../escape', s: 0, h: '', m: 0o644, mt: 0 }],
      [root, { op: 'symlink', p: 'l', l: '/etc', mt: 0 }, { op: 'file', p: 'l/passwd', s: 0, h: '', m: 0o644, mt: 0 }],
      [root, { op: 'dir', p: 'a/../../b', m: 0o755, mt: 0 }],
      [root, { op: 'file', p: '/abs', s: 0, h: '', m: 0o644, mt: 0 }],
      [root, { op: 'file', p: 'f', s: 0, h: '../../../../escape', m: 0o644, mt: 0 }],
    ];
    for (const [i, c] of cases.entries()) {
      const id = `h${i}`;
      await expect(receive(dst, id, undefined, hostile([...c, { op: 'end', records: c.length }]))).rejects.toThrow();
    }
    expect(fs.existsSync(path.join(dir, 'b/escape'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'escape'))).toBe(false);
    await expect(receive(dst, 'x', undefined, hostile([root]))).rejects.toBeInstanceOf(StreamIntegrityError);
  });
});

describe('portable content store', () => {
  let dir: string;
  let src: PortableDriver;
  let dst: PortableDriver;
  beforeEach(async () => {
    dir = tmpDir('portable-store');
    src = new PortableDriver(new Layout(path.join(dir, 'a')));
    dst = new PortableDriver(new Layout(path.join(dir, 'b')));
    await src.createPortion(P);
    await dst.createPortion(P);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('deletes the contents only a deleted snapshot had, keeps those others still use, and ends empty', async () => {
    const live = src.livePath(P);
    writeFiles(live, { 'keep.txt': 'kept', 'gone.txt': 'only in s1', 'edit.txt': 'v1' });
    await snapshot(src, 's1');
    const v1 = treeDigest(live);
    fs.rmSync(path.join(live, 'gone.txt'));
    writeFiles(live, { 'edit.txt': 'v2', 'copy.txt': 'only in s1' });
    await snapshot(src, 's2', 's1');
    const v2 = treeDigest(live);
    expect(objectCount(src)).toBe(4);
    await src.deleteSnapshot(P, 's1');
    // 'v1' went; 'only in s1' stays (copy.txt has it now), and s2 reads whole
    expect(objectCount(src)).toBe(3);
    expect(snapDigest(src, 's2')).toEqual(v2);
    // a partial snapshot whose manifest a crash cut short is removed all the same, and s2 keeps its contents
    const partial = src.layout.snapshotDir(P, 's3');
    fs.mkdirSync(partial);
    const text = fs.readFileSync(src.layout.snapshotManifest(P, 's2'), 'utf8');
    fs.writeFileSync(path.join(partial, 'manifest.jsonl'), text.slice(0, text.length - 30));
    await src.deleteSnapshot(P, 's3');
    expect(fs.existsSync(partial)).toBe(false);
    expect(snapDigest(src, 's2')).toEqual(v2);
    await src.deleteSnapshot(P, 's2');
    expect(fs.readdirSync(src.layout.portionSnapshots(P))).toEqual([]);
    expect(v1).not.toEqual(v2);
  });

  it('keeps the base contents a receive under way relies on when the base is deleted meanwhile', async () => {
    const live = src.livePath(P);
    const files: Record<string, string> = {};
    for (let i = 0; i < 50; i++) files[`f${i}.txt`] = `content ${i}`;
    writeFiles(live, files);
    await snapshot(src, 's1');
    const f1 = path.join(dir, 's1.stream');
    await sendToFile(src, 's1', undefined, f1);
    await receive(dst, 's1', undefined, f1);
    writeFiles(live, { 'f0.txt': 'changed' });
    await snapshot(src, 's2', 's1');
    const f2 = path.join(dir, 's2.stream');
    await sendToFile(src, 's2', 's1', f2);
    const whole = fs.readFileSync(f2);
    fs.mkdirSync(dst.layout.snapshotDir(P, 's2'), { recursive: true });
    const feed = new PassThrough();
    const run = dst.receiveStream(P, 's2', 's1', feed);
    feed.write(whole.subarray(0, 20));
    await new Promise((r) => setTimeout(r, 50));
    await dst.deleteSnapshot(P, 's1');
    feed.end(whole.subarray(20));
    await run;
    expect(snapDigest(dst, 's2')).toEqual(treeDigest(live));
  });

  it('takes over snapshots of the earlier format (a tree of files under data/) on first use', async () => {
    const live = src.livePath(P);
    writeFiles(live, { 'a.txt': 'alpha', 'd/b.txt': 'bravo', 'same.txt': 'same' });
    await snapshot(src, 's1');
    const v1 = snapDigest(src, 's1');
    // rewrite s1 as the earlier format had it: its files under data/, no content store
    const data = src.layout.snapshotData(P, 's1');
    fs.mkdirSync(path.join(data, 'd'), { recursive: true });
    for (const [rel, text] of Object.entries({ 'a.txt': 'alpha', 'd/b.txt': 'bravo', 'same.txt': 'same' }))
      fs.writeFileSync(path.join(data, rel), text);
    fs.rmSync(src.objects.dir(P), { recursive: true });
    expect(objectCount(src)).toBe(0);
    writeFiles(live, { 'a.txt': 'alpha, edited' });
    await snapshot(src, 's2', 's1');
    expect(fs.existsSync(data)).toBe(false);
    expect(snapDigest(src, 's1')).toEqual(v1);
    expect(snapDigest(src, 's2')).toEqual(treeDigest(live));
    await src.rollback(P, 's1');
    expect(treeDigest(live)).toEqual(v1);
  });
});

describe('mtimes', () => {
  it('are set to the exact microsecond, whole milliseconds included', () => {
    const f = path.join(tmpDir('mtime'), 'f');
    fs.writeFileSync(f, 'x');
    const base = Math.floor(Date.now() / 1000) * 1_000_000;
    for (let i = 0; i < 2000; i++) {
      const us = base + i * 1000; // whole milliseconds, as ext4's coarse clock gives
      fs.utimesSync(f, utimeOf(us), utimeOf(us));
      expect(fs.statSync(f, { bigint: true }).mtimeNs / 1000n).toBe(BigInt(us));
    }
  });
});
