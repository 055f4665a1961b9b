// The portable snapshot driver: works on any filesystem. A snapshot is a read-only copy of the portion's tree; files
// unchanged since the previous snapshot (same inode, ctime, size, mtime, mode) are hard links to that snapshot's copy,
// so a snapshot costs only what changed (reflinks are used for copies where the filesystem has them). Snapshot
// files are never written after creation. Each snapshot has a manifest (path, type, mode, mtime, size, sha256, link
// target) from which incremental streams of only what changed are planned (new, modified, deleted, renamed files).
import { createHash, randomBytes } from 'node:crypto';
import fsCb, { constants as fsc, createReadStream, type BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Layout, PortionRef } from '../layout';
import { exists } from '../util';
import { type ReceiveOptions, type SendStream, type SnapshotDriver } from './driver';
import { readManifest, utimeOf, writeManifest, type Entry } from './manifest';
import { PortableApplier } from './portable-apply';
import { generateStream, planStream, recordsDigest, streamLength } from './portable-stream';

const SMALL = 1024 * 1024;
/** Files up to this size are copied with synchronous calls. */
const SYNC_MAX = 256 * 1024;
const BREATHE_EVERY = 500;

/** Copies a file and returns the sha256 and length of what was copied. Small files with synchronous calls. */
async function copyWithHash(src: string, dst: string, mode: number, size: number): Promise<{ h: string; s: number }> {
  const hash = createHash('sha256');
  if (size <= SYNC_MAX) {
    const data = fsCb.readFileSync(src);
    fsCb.writeFileSync(dst, data, { mode: mode & 0o777 });
    return { h: hash.update(data).digest('hex'), s: data.length };
  }
  const inp = await fs.open(src, 'r');
  const out = await fs.open(dst, 'w', mode & 0o777);
  let s = 0;
  try {
    const buf = Buffer.allocUnsafe(SMALL);
    for (;;) {
      const { bytesRead } = await inp.read(buf, 0, buf.length, s);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      await out.write(chunk, 0, bytesRead, s);
      s += bytesRead;
    }
  } finally {
    await inp.close();
    await out.close();
  }
  return { h: hash.digest('hex'), s };
}

function setAttrsSync(p: string, m: number, mt: number): void {
  fsCb.chmodSync(p, m);
  fsCb.utimesSync(p, utimeOf(mt), utimeOf(mt));
}

/** Lets the event loop breathe every so many synchronous calls (API requests stay answered during a long walk). */
const breathe = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Pre-order walk with names sorted per directory (the manifest's canonical order). Synchronous calls: a walk is
 * thousands of lstat/readdir calls of a few microseconds, where a thread-pool round trip each costs several times
 * more; callers yield to the event loop every few hundred entries.
 */
function* walk(root: string, rel = ''): Generator<{ rel: string; abs: string; st: BigIntStats }> {
  const abs = rel ? path.join(root, ...rel.split('/')) : root;
  const st = fsCb.lstatSync(abs, { bigint: true });
  yield { rel, abs, st };
  if (!st.isDirectory()) return;
  const names = fsCb.readdirSync(abs).sort();
  for (const n of names) yield* walk(root, rel ? `${rel}/${n}` : n);
}

function linkOrCopySync(from: string, to: string): void {
  try {
    fsCb.linkSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EMLINK') throw err;
    fsCb.copyFileSync(from, to, fsc.COPYFILE_FICLONE);
  }
}

async function removeIfExists(p: string): Promise<void> {
  await fs.rm(p, { recursive: true, force: true });
}

export class PortableDriver implements SnapshotDriver {
  readonly name = 'portable' as const;
  readonly resumableReceive = true;

  constructor(readonly layout: Layout) {}

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

  async manifest(p: PortionRef, id: string): Promise<Entry[]> {
    return readManifest(this.layout.snapshotManifest(p, id));
  }

  async createSnapshot(p: PortionRef, id: string, previousId: string | undefined): Promise<{ sizeBytes: number }> {
    const live = this.livePath(p);
    const data = this.layout.snapshotData(p, id);
    const prevData = previousId ? this.layout.snapshotData(p, previousId) : '';
    const prev = previousId ? new Map((await this.manifest(p, previousId)).map((e) => [e.p, e])) : undefined;
    await removeIfExists(data);
    const entries: Entry[] = [];
    let sizeBytes = 0;
    let n = 0;
    for (const { rel, abs, st } of walk(live)) {
      if (++n % BREATHE_EVERY === 0) await breathe();
      const dst = rel ? path.join(data, ...rel.split('/')) : data;
      const m = Number(st.mode & 0o7777n);
      const mt = Number(st.mtimeNs / 1000n);
      if (st.isDirectory()) {
        fsCb.mkdirSync(dst);
        entries.push({ p: rel, t: 'd', m, mt, s: 0 });
      } else if (st.isSymbolicLink()) {
        const l = fsCb.readlinkSync(abs);
        fsCb.symlinkSync(l, dst);
        fsCb.lutimesSync(dst, utimeOf(mt), utimeOf(mt));
        entries.push({ p: rel, t: 'l', m, mt, s: 0, l });
      } else if (st.isFile()) {
        const src = `${st.ino}:${st.ctimeNs}`;
        const pe = prev?.get(rel);
        if (pe && pe.t === 'f' && pe.src === src && pe.s === Number(st.size) && pe.mt === mt && pe.m === m) {
          linkOrCopySync(path.join(prevData, ...rel.split('/')), dst);
          entries.push(pe);
          sizeBytes += pe.s;
        } else {
          const { h, s } = await copyWithHash(abs, dst, m, Number(st.size));
          setAttrsSync(dst, m, mt);
          entries.push({ p: rel, t: 'f', m, mt, s, h, src });
          sizeBytes += s;
        }
      }
      // sockets, fifos and devices are not file-server data: skipped.
    }
    for (const e of [...entries].reverse()) {
      if (e.t === 'd') setAttrsSync(e.p ? path.join(data, ...e.p.split('/')) : data, e.m, e.mt);
    }
    await writeManifest(this.layout.snapshotManifest(p, id), entries);
    return { sizeBytes };
  }

  async deleteSnapshot(p: PortionRef, id: string): Promise<void> {
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
        out.set(rel, { s: Number(st.size), m: Number(st.mode & 0o7777n), mt: Number(st.mtimeNs / 1000n) });
      }
    }
    return out;
  }

  async rollback(p: PortionRef, id: string, opts: { reuseUnchanged?: boolean } = {}): Promise<void> {
    const entries = await this.manifest(p, id);
    const data = this.layout.snapshotData(p, id);
    const liveNow = this.livePath(p);
    const reusable = opts.reuseUnchanged ? await this.reusableLive(liveNow) : new Map<string, never>();
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
        const src = e.p ? path.join(data, ...e.p.split('/')) : data;
        if (e.t === 'd') fsCb.mkdirSync(dst);
        else if (e.t === 'l') {
          fsCb.symlinkSync(e.l ?? '', dst);
          fsCb.lutimesSync(dst, utimeOf(e.mt), utimeOf(e.mt));
        } else {
          const r = reusable.get(e.p);
          if (r && r.s === e.s && r.m === e.m && Math.abs(r.mt - e.mt) <= 2) {
            // the old live tree is discarded after the swap: sharing its inode is safe
            fsCb.linkSync(path.join(liveNow, ...e.p.split('/')), dst);
            continue;
          }
          if (e.s <= SYNC_MAX) fsCb.copyFileSync(src, dst, fsc.COPYFILE_FICLONE);
          else await fs.copyFile(src, dst, fsc.COPYFILE_FICLONE);
          setAttrsSync(dst, e.m, e.mt);
        }
      }
      for (const e of [...entries].reverse()) {
        if (e.t === 'd') setAttrsSync(e.p ? path.join(fresh, ...e.p.split('/')) : fresh, e.m, e.mt);
      }
      const live = this.livePath(p);
      const old = path.join(work, 'old');
      if (await exists(live)) await fs.rename(live, old);
      await fs.mkdir(path.dirname(live), { recursive: true });
      await fs.rename(fresh, live);
      swapped = true;
    } finally {
      // After the swap the old tree is removed in the background: clients already see the new one, and the
      // removal (an unlink per file) is not part of bringing the share to the snapshot. tmp/ is emptied at start.
      if (swapped) void removeIfExists(work).catch(() => undefined);
      else await removeIfExists(work);
    }
  }

  async send(p: PortionRef, id: string, baseId: string | undefined, offset = 0): Promise<SendStream> {
    const snap = await this.manifest(p, id);
    const base = baseId ? await this.manifest(p, baseId) : undefined;
    const recs = planStream(snap, base);
    const totalBytes = streamLength(recs);
    const startsAt = Math.min(offset, totalBytes);
    return {
      stream: generateStream(recs, this.layout.snapshotData(p, id), startsAt),
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
    const applier = new PortableApplier(this.layout, p, id, baseId);
    if (opts.checkpointer) opts.checkpointer.checkpoint = () => applier.checkpoint();
    return applier.run(source, opts.resumeFrom);
  }
}
