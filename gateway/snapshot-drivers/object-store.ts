// The portable driver's content store: one immutable file per distinct content of a portion's snapshots, named by
// its sha256 (<portion's snapshots>/.objects/ab/ab12…). A snapshot is its manifest: entries point at objects by hash,
// so a snapshot costs what changed (no per-file link or copy of what did not) and a receive writes only the files that
// came over the wire. Dot names cannot be snapshot ids, so the store never shows up as a snapshot.
//
// The rules that keep every listed snapshot whole while snapshots are taken, received and deleted at the same time:
// - new contents are written into the snapshot's own staging directory, and moved into the store only once the
//   snapshot's manifest is on disk (`publish`);
// - deleting a snapshot removes the objects that only its manifest referenced (`collect`): every other manifest on
//   disk and every pinned set (the base of a receive under way, whose entries the new manifest will reference) keeps
//   its objects;
// - publish, collect and migrate run one at a time per portion.
import fsCb from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Layout, PortionRef } from '../layout';
import { KeyedMutex } from '../util';
import { StreamIntegrityError } from './driver';
import { readManifest, type Entry } from './manifest';

const HASH = /^[0-9a-f]{64}$/;
const SHARD = /^[0-9a-f]{2}$/;
const HASH_IN_MANIFEST = /"h":"([0-9a-f]{64})"/g;

/** Refuses a hash that is not 64 hex digits: it becomes a file name. */
export function checkHash(h: string | undefined, what: string): string {
  if (typeof h !== 'string' || !HASH.test(h)) throw new StreamIntegrityError(`${what}: not a sha256 hash`);
  return h;
}

const key = (p: PortionRef): string => `${p.share}\0${p.portion}`;

export class ObjectStore {
  private readonly mutex = new KeyedMutex();
  private readonly pins = new Map<string, Set<Set<string>>>();

  constructor(private readonly layout: Layout) {}

  dir(p: PortionRef): string {
    return path.join(this.layout.portionSnapshots(p), '.objects');
  }

  /** Where the content `h` lives once published. */
  path(p: PortionRef, h: string): string {
    return path.join(this.dir(p), h.slice(0, 2), h);
  }

  /** Where a snapshot being taken or received writes its new contents until they are published. */
  stagingDir(p: PortionRef, id: string): string {
    return path.join(this.layout.snapshotDir(p, id), 'new-objects');
  }

  /** Opens (creates or truncates) the staged file of content `h` for writing; returns its descriptor. */
  openStaged(p: PortionRef, id: string, h: string): number {
    const dst = path.join(this.stagingDir(p, id), h.slice(0, 2), h);
    try {
      return fsCb.openSync(dst, 'w', 0o444);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      fsCb.mkdirSync(path.dirname(dst), { recursive: true });
      return fsCb.openSync(dst, 'w', 0o444);
    }
  }

  /**
   * Moves a complete, checked content (`file`, in the staging directory) to its staged name. Staged contents are
   * sharded as in the store, so that a publish into a store without that shard (a base) moves whole directories.
   */
  stage(p: PortionRef, id: string, file: string, h: string): void {
    const dst = path.join(this.stagingDir(p, id), h.slice(0, 2), h);
    if (fsCb.existsSync(dst)) {
      // The same content twice in one snapshot: keep the first. A rename over it would also make ext4 allocate and
      // start writing back the whole file at once (auto_da_alloc: ~100 ms for 80 MiB here).
      fsCb.rmSync(file, { force: true });
      return;
    }
    try {
      fsCb.renameSync(file, dst);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !fsCb.existsSync(file)) throw err;
      fsCb.mkdirSync(path.dirname(dst), { recursive: true });
      fsCb.renameSync(file, dst);
    }
  }

  /**
   * Moves a snapshot's staged contents into the store (a content already there is dropped). Call it after the
   * snapshot's manifest is on disk. Idempotent: a publish interrupted by a crash is finished by the next one.
   */
  async publish(p: PortionRef, id: string): Promise<void> {
    const staging = this.stagingDir(p, id);
    await this.mutex.run(key(p), async () => {
      let shards: string[];
      try {
        shards = fsCb.readdirSync(staging).filter((n) => SHARD.test(n)); // not a .tmp or .part left by a crash
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      fsCb.mkdirSync(this.dir(p), { recursive: true });
      for (const shard of shards) {
        const from = path.join(staging, shard);
        const to = path.join(this.dir(p), shard);
        if (!fsCb.existsSync(to)) {
          fsCb.renameSync(from, to); // one rename for all its contents (10k files: ~1 s of renames saved)
          continue;
        }
        for (const h of fsCb.readdirSync(from)) {
          const dst = path.join(to, h);
          // an existing object is never replaced (a reader may have it open); publishes never overlap (the mutex)
          if (HASH.test(h) && !fsCb.existsSync(dst)) fsCb.renameSync(path.join(from, h), dst);
        }
      }
      await fs.rm(staging, { recursive: true, force: true });
    });
  }

  /** Keeps the contents of `hashes` while the returned function has not been called (a receive's base). */
  pin(p: PortionRef, hashes: Set<string>): () => void {
    const k = key(p);
    const set = this.pins.get(k) ?? new Set<Set<string>>();
    set.add(hashes);
    this.pins.set(k, set);
    return () => {
      set.delete(hashes);
      if (!set.size) this.pins.delete(k);
    };
  }

  /**
   * Removes the objects among `candidates` that no manifest on disk other than snapshot `except`'s and no pin
   * references. When no snapshot of the portion is left, the whole store goes.
   */
  async collect(p: PortionRef, candidates: Set<string>, except: string): Promise<void> {
    await this.mutex.run(key(p), async () => {
      const dir = this.layout.portionSnapshots(p);
      let names: string[];
      try {
        names = (await fs.readdir(dir)).filter((n) => !n.startsWith('.') && n !== except);
      } catch {
        return;
      }
      if (!names.length && !this.pins.get(key(p))?.size) {
        await fs.rm(this.dir(p), { recursive: true, force: true });
        return;
      }
      if (!candidates.size) return;
      const keep = new Set<string>();
      for (const set of this.pins.get(key(p)) ?? []) for (const h of set) keep.add(h);
      for (const n of names) for (const h of await hashesInManifest(path.join(dir, n, 'manifest.jsonl'))) keep.add(h);
      for (const h of candidates) if (!keep.has(h)) fsCb.rmSync(this.path(p, h), { force: true });
    });
  }

  /**
   * Brings a snapshot taken by an agent before the content store (a tree of files under data/) into the store: its
   * files are hard-linked in as objects, then data/ is removed. Idempotent; a no-op for a snapshot already in it.
   */
  async migrate(p: PortionRef, id: string): Promise<void> {
    const data = this.layout.snapshotData(p, id);
    if (!fsCb.existsSync(data)) return;
    await this.mutex.run(key(p), async () => {
      if (!fsCb.existsSync(data)) return;
      const entries = await readManifest(this.layout.snapshotManifest(p, id));
      for (const e of entries) {
        if (e.t !== 'f') continue;
        const h = checkHash(e.h, `manifest entry ${e.p}`);
        const dst = this.path(p, h);
        if (fsCb.existsSync(dst)) continue;
        fsCb.mkdirSync(path.dirname(dst), { recursive: true });
        const src = path.join(data, ...e.p.split('/'));
        try {
          fsCb.linkSync(src, dst);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EMLINK') throw err;
          fsCb.copyFileSync(src, dst, fsCb.constants.COPYFILE_FICLONE);
        }
      }
      await fs.rm(data, { recursive: true, force: true });
    });
  }
}

/**
 * The content hashes a manifest file names, read from its text rather than parsed: a manifest cut short by a crash
 * (it is synced with its snapshot, not on its own) still gives the hashes of its complete lines. None when missing.
 */
export async function hashesInManifest(file: string): Promise<Set<string>> {
  const text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  return new Set([...text.matchAll(HASH_IN_MANIFEST)].map((m) => m[1]!));
}

/** The hashes of a manifest's regular files. */
export function hashesOf(entries: Entry[]): Set<string> {
  const out = new Set<string>();
  for (const e of entries) if (e.t === 'f' && e.h) out.add(e.h);
  return out;
}
