// The portable snapshot driver: works on any filesystem. A snapshot is a manifest of the portion's tree (path, type,
// mode, mtime, size, sha256, link target) whose file contents are immutable objects of the portion's content store
// (object-store.ts). Files unchanged since the previous snapshot (same inode, ctime, size, mtime, mode) keep their
// entry, so a snapshot costs a walk of the tree plus a copy of what changed. Incremental streams of only what changed
// (new, modified, deleted, renamed files) are planned from two manifests.
import { createHash, randomBytes } from 'node:crypto';
import fsCb, { constants as fsc, createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Layout, PortionRef } from '../layout';
import { exists, run } from '../util';
import {
  type ReadableTree,
  type ReceiveOptions,
  type RollbackOptions,
  type SendStream,
  type SnapshotDriver,
} from './driver';
import { parentOf, passesQuickCheck, readManifest, utimeOf, writeManifest, type Entry } from './manifest';
import { ObjectStore, checkHash, hashesInManifest } from './object-store';
import { PortableApplier } from './portable-apply';
import { applyDifferences, liveAsBase, readMarker, removeMarker, writeMarker } from './portable-live';
import { swapIntoPlace } from './swap';
import { generateStream, planStream, recordsDigest, streamLength } from './portable-stream';
import { BREATHE_EVERY, breathe, modeOf, mtimeUsOf, walk } from './tree-walk';

const SMALL = 1024 * 1024;
/** Files up to this size are copied with synchronous calls. */
const SYNC_MAX = 256 * 1024;
/**
 * Manifests kept parsed in memory: an incremental reads the same few (the previous snapshot's when the next is taken,
 * both when it is sent, the base's when it is received and committed), and parsing 10k entries costs 20-50 ms.
 */
const MANIFESTS_KEPT = 4;
const MANIFEST_KEPT_MAX_ENTRIES = 250_000;

/**
 * Reads a file and returns the sha256 and length of what was read; with `dst`, writes a copy of it there as well.
 * Small files with synchronous calls.
 */
export async function hashFile(src: string, size: number, dst?: string): Promise<{ h: string; s: number }> {
  const hash = createHash('sha256');
  if (size <= SYNC_MAX) {
    const data = fsCb.readFileSync(src);
    if (dst) fsCb.writeFileSync(dst, data, { mode: 0o444 });
    return { h: hash.update(data).digest('hex'), s: data.length };
  }
  const inp = await fs.open(src, 'r');
  const out = dst ? await fs.open(dst, 'w', 0o444) : undefined;
  let s = 0;
  try {
    const buf = Buffer.allocUnsafe(SMALL);
    for (;;) {
      const { bytesRead } = await inp.read(buf, 0, buf.length, s);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      await out?.write(chunk, 0, bytesRead, s);
      s += bytesRead;
    }
  } finally {
    await inp.close();
    await out?.close();
  }
  return { h: hash.digest('hex'), s };
}

/**
 * Clones a file (FICLONE: XFS, btrfs; the clone shares the data, nothing is copied) and returns the sha256 and
 * length of the clone, which no later write to `src` changes. 'unsupported' when the filesystem cannot clone,
 * 'elsewhere' when `src` is on another filesystem than `dst` (a mount inside the share): the caller copies instead.
 */
async function cloneWithHash(
  src: string,
  dst: string,
  size: number,
): Promise<{ h: string; s: number } | 'unsupported' | 'elsewhere'> {
  try {
    await fs.copyFile(src, dst, fsc.COPYFILE_FICLONE_FORCE);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EXDEV') return 'elsewhere';
    if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EINVAL' || code === 'ENOSYS') return 'unsupported';
    throw err;
  }
  fsCb.chmodSync(dst, 0o444);
  return hashFile(dst, size);
}

function setAttrsSync(p: string, m: number, mt: number): void {
  fsCb.chmodSync(p, m);
  fsCb.utimesSync(p, utimeOf(mt), utimeOf(mt));
}

async function removeIfExists(p: string): Promise<void> {
  await fs.rm(p, { recursive: true, force: true });
}

export class PortableDriver implements SnapshotDriver {
  readonly name = 'portable' as const;
  readonly resumableReceive = true;

  readonly objects: ObjectStore;
  /** Whether the data root's filesystem clones files (see cloneWithHash). */
  private clones: boolean | undefined;
  /** Parsed manifests by file, least recently used first. */
  private readonly manifests = new Map<string, Entry[]>();

  constructor(readonly layout: Layout) {
    this.objects = new ObjectStore(layout);
  }

  async init(): Promise<void> {}

  livePath(p: PortionRef): string {
    return this.layout.livePath(p);
  }

  async createPortion(p: PortionRef): Promise<void> {
    await fs.mkdir(this.livePath(p), { recursive: true, mode: 0o755 });
  }

  async deletePortion(p: PortionRef): Promise<void> {
    await removeIfExists(this.livePath(p));
  }

  /** A snapshot's manifest; the last few read or written stay parsed in memory (see MANIFESTS_KEPT). */
  async manifest(p: PortionRef, id: string): Promise<Entry[]> {
    const file = this.layout.snapshotManifest(p, id);
    const kept = this.manifests.get(file);
    if (kept) {
      this.keepManifest(file, kept); // most recently used last
      return kept;
    }
    const entries = await readManifest(file);
    this.keepManifest(file, entries);
    return entries;
  }

  /** Remembers a manifest just written or read (never changed afterwards: entries are shared, not copied). */
  private keepManifest(file: string, entries: Entry[]): void {
    this.manifests.delete(file);
    if (entries.length > MANIFEST_KEPT_MAX_ENTRIES) return;
    this.manifests.set(file, entries);
    while (this.manifests.size > MANIFESTS_KEPT) this.manifests.delete(this.manifests.keys().next().value!);
  }

  private async writeManifest(p: PortionRef, id: string, entries: Entry[]): Promise<void> {
    const file = this.layout.snapshotManifest(p, id);
    this.manifests.delete(file);
    await writeManifest(file, entries);
    this.keepManifest(file, entries);
  }

  async createSnapshot(p: PortionRef, id: string, previousId: string | undefined): Promise<{ sizeBytes: number }> {
    const live = this.livePath(p);
    if (previousId) await this.objects.migrate(p, previousId);
    const prevEntries = previousId ? await this.manifest(p, previousId) : [];
    const prev = new Map(prevEntries.map((e) => [e.p, e]));
    // A renamed directory moves its files without changing their inode or ctime: found by those, a folder renamed
    // with gigabytes in it costs a lookup per file, not a read, hash and copy of its data. Such a file's directory is
    // new (the index is built only when one is met). A renamed file itself gets a new ctime on Linux and is read
    // again; its content is then recognised by hash, and stored once.
    let prevBySrc: Map<string, Entry> | undefined;
    const moved = (rel: string, src: string): Entry | undefined => {
      if (prev.get(parentOf(rel))?.t === 'd') return undefined;
      prevBySrc ??= new Map(prevEntries.filter((e) => e.t === 'f' && e.src).map((e) => [e.src!, e]));
      return prevBySrc.get(src);
    };
    const staging = this.objects.stagingDir(p, id);
    await removeIfExists(staging);
    await fs.mkdir(staging, { recursive: true });
    const entries: Entry[] = [];
    let sizeBytes = 0;
    let n = 0;
    for (const { rel, abs, st } of walk(live)) {
      if (++n % BREATHE_EVERY === 0) await breathe();
      const m = modeOf(st);
      const mt = mtimeUsOf(st);
      if (st.isDirectory()) {
        entries.push({ p: rel, t: 'd', m, mt, s: 0 });
      } else if (st.isSymbolicLink()) {
        entries.push({ p: rel, t: 'l', m, mt, s: 0, l: fsCb.readlinkSync(abs) });
      } else if (st.isFile()) {
        const src = `${st.ino}:${st.ctimeNs}`;
        const size = Number(st.size);
        const unchanged = (e: Entry | undefined): e is Entry =>
          e?.t === 'f' && e.src === src && e.s === size && e.mt === mt && e.m === m;
        const pe = prev.get(rel);
        const me = unchanged(pe) ? undefined : moved(rel, src);
        if (unchanged(pe)) {
          entries.push(pe);
          sizeBytes += pe.s;
        } else if (unchanged(me)) {
          entries.push({ ...me, p: rel });
          sizeBytes += me.s;
        } else {
          const tmp = path.join(staging, `.tmp-${n}`);
          const { h, s } = await this.copyIntoStaging(abs, tmp, size);
          this.objects.stage(p, id, tmp, h);
          entries.push({ p: rel, t: 'f', m, mt, s, h, src });
          sizeBytes += s;
        }
      }
      // sockets, fifos and devices are not file-server data: skipped.
    }
    await this.writeManifest(p, id, entries);
    await this.objects.publish(p, id);
    // one sync of the filesystem for the new contents and the manifest: a listed snapshot survives a crash whole
    await run(['sync', '-f', this.layout.snapshotDir(p, id)]);
    return { sizeBytes };
  }

  /**
   * A changed file's content for the store: a clone where the filesystem can make one (the snapshot then costs no
   * space for data the live tree still has), a copy elsewhere; hashed either way. Whether it can is learnt from the
   * first large file.
   */
  private async copyIntoStaging(src: string, dst: string, size: number): Promise<{ h: string; s: number }> {
    // small files are copied: on btrfs a clone of one costs more time than its copy and saves a few KiB
    if (size > SYNC_MAX && this.clones !== false) {
      const cloned = await cloneWithHash(src, dst, size);
      if (typeof cloned === 'object') {
        this.clones = true;
        return cloned;
      }
      if (cloned === 'unsupported') this.clones = false;
    }
    return hashFile(src, size, dst);
  }

  async readableTree(p: PortionRef, snapshotId: string | null): Promise<ReadableTree> {
    if (snapshotId === null) return { kind: 'dir', root: this.livePath(p) };
    await this.objects.migrate(p, snapshotId); // a snapshot from before the content store: its files become objects
    return {
      kind: 'manifest',
      file: this.layout.snapshotManifest(p, snapshotId),
      contentPath: (h) => this.objects.path(p, checkHash(h, 'manifest entry')),
    };
  }

  /** Removes the snapshot and the contents only it referenced (idempotent, also for a partial snapshot). */
  async deleteSnapshot(p: PortionRef, id: string): Promise<void> {
    const only = await hashesInManifest(this.layout.snapshotManifest(p, id));
    // the objects first: a crash before the directory is gone finds the manifest again at the next start
    await this.objects.collect(p, only, id);
    this.manifests.delete(this.layout.snapshotManifest(p, id));
    await removeIfExists(this.layout.snapshotDir(p, id));
  }

  /** Live files that pass the quick check against a manifest entry (same type, size, mode, mtime). */
  private async reusableLive(live: string): Promise<Map<string, { s: number; m: number; mt: number }>> {
    const out = new Map<string, { s: number; m: number; mt: number }>();
    if (!(await exists(live))) return out;
    let n = 0;
    for (const { rel, st } of walk(live)) {
      if (++n % BREATHE_EVERY === 0) await breathe();
      if (st.isFile()) {
        out.set(rel, { s: Number(st.size), m: modeOf(st), mt: mtimeUsOf(st) });
      }
    }
    return out;
  }

  async rollback(p: PortionRef, id: string, opts: RollbackOptions = {}): Promise<void> {
    await this.objects.migrate(p, id);
    const marker = this.liveMarker(p);
    const liveAt = await readMarker(marker);
    // from here on the live tree is no longer known to equal a snapshot (a crash half-way: the next commit walks it)
    await removeMarker(marker);
    const live = this.livePath(p);
    if (opts.readOnlyReplica && (await exists(live))) {
      // A replica's commit changes its tree in place, file by file: the share's folder itself is never replaced, so
      // a client connecting meanwhile always finds it (a swap of the whole tree leaves a moment without it). Only the
      // differences from the snapshot the marker names, or, without one, from what a walk of the tree finds.
      const snap = await this.manifest(p, id);
      const base = opts.readOnlyReplica.base;
      const from =
        base && liveAt?.snapshot === base
          ? await this.manifest(p, base)
          : await liveAsBase(live, snap, opts.reuseUnchanged ?? false);
      await applyDifferences(
        live,
        from,
        snap,
        (h) => this.objects.path(p, h),
        path.join(this.layout.tmp, `commit-${randomBytes(6).toString('hex')}`),
      );
    } else await this.rebuildLive(p, id, opts.reuseUnchanged ?? false);
    if (opts.readOnlyReplica) {
      // the tree's changes reach the disk before the marker says they are there
      await run(['sync', '-f', live]);
      await writeMarker(marker, id);
    }
  }

  /** The share is about to become writable for clients: its live tree will no longer equal a snapshot. */
  async liveBecomesWritable(p: PortionRef): Promise<void> {
    await removeMarker(this.liveMarker(p));
  }

  private liveMarker(p: PortionRef): string {
    return path.join(this.layout.portionSnapshots(p), '.live.json');
  }

  /** Builds the snapshot's tree beside the live one and swaps them. */
  private async rebuildLive(p: PortionRef, id: string, reuseUnchanged: boolean): Promise<void> {
    const entries = await this.manifest(p, id);
    const liveNow = this.livePath(p);
    const reusable = reuseUnchanged ? await this.reusableLive(liveNow) : new Map<string, never>();
    await fs.mkdir(this.layout.tmp, { recursive: true });
    const work = path.join(this.layout.tmp, `rollback-${randomBytes(6).toString('hex')}`);
    await fs.mkdir(work);
    const fresh = path.join(work, 'new');
    let swapped = false;
    try {
      let n = 0;
      for (const e of entries) {
        if (++n % BREATHE_EVERY === 0) await breathe();
        const dst = e.p ? path.join(fresh, ...e.p.split('/')) : fresh;
        if (e.t === 'd') fsCb.mkdirSync(dst);
        else if (e.t === 'l') {
          fsCb.symlinkSync(e.l ?? '', dst);
          fsCb.lutimesSync(dst, utimeOf(e.mt), utimeOf(e.mt));
        } else {
          const r = reusable.get(e.p);
          if (r && passesQuickCheck(e, r)) {
            // the old live tree is discarded after the swap: sharing its inode is safe
            fsCb.linkSync(path.join(liveNow, ...e.p.split('/')), dst);
            continue;
          }
          const src = this.objects.path(p, checkHash(e.h, `manifest entry ${e.p}`));
          if (e.s <= SYNC_MAX) fsCb.copyFileSync(src, dst, fsc.COPYFILE_FICLONE);
          else await fs.copyFile(src, dst, fsc.COPYFILE_FICLONE);
          setAttrsSync(dst, e.m, e.mt);
        }
      }
      for (const e of [...entries].reverse()) {
        if (e.t === 'd') setAttrsSync(e.p ? path.join(fresh, ...e.p.split('/')) : fresh, e.m, e.mt);
      }
      swapIntoPlace(fresh, this.livePath(p), path.join(work, 'old'));
      swapped = true;
    } finally {
      // After the swap the old tree is removed in the background: clients already see the new one, and the
      // removal (an unlink per file) is not part of bringing the share to the snapshot. tmp/ is emptied at start.
      if (swapped) void removeIfExists(work).catch(() => undefined);
      else await removeIfExists(work);
    }
  }

  async send(p: PortionRef, id: string, baseId: string | undefined, offset = 0): Promise<SendStream> {
    await this.objects.migrate(p, id);
    const snap = await this.manifest(p, id);
    const base = baseId ? await this.manifest(p, baseId) : undefined;
    const recs = planStream(snap, base);
    const totalBytes = streamLength(recs);
    const startsAt = Math.min(offset, totalBytes);
    return {
      stream: generateStream(recs, (h) => this.objects.path(p, h), startsAt),
      totalBytes,
      startsAt,
      digest: recordsDigest(recs),
    };
  }

  /** Applies a stream file (tests, tools); the receiver streams instead (`receiveStream`). */
  async receive(
    p: PortionRef,
    id: string,
    baseId: string | undefined,
    streamFile: string,
  ): Promise<{ sizeBytes: number; digest: string }> {
    return this.receiveStream(p, id, baseId, createReadStream(streamFile, { highWaterMark: 1024 * 1024 }));
  }

  /** Every file is checked against its record's sha256 whatever `streamChecked` says (see portable-apply.ts). */
  async receiveStream(
    p: PortionRef,
    id: string,
    baseId: string | undefined,
    source: Readable,
    opts: ReceiveOptions = {},
  ): Promise<{ sizeBytes: number; digest: string }> {
    const manifests = {
      read: (snapshot: string) => this.manifest(p, snapshot),
      write: (snapshot: string, entries: Entry[]) => this.writeManifest(p, snapshot, entries),
    };
    const applier = new PortableApplier(this.layout, this.objects, manifests, p, id, baseId);
    if (opts.checkpointer) opts.checkpointer.checkpoint = () => applier.checkpoint();
    return applier.run(source, opts.resumeFrom);
  }
}
