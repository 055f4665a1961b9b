// Commits onto a read-only replica's live tree by applying only the differences between two snapshots, when the
// tree is known to equal the first one. A full rebuild of the tree (a walk, a link or copy per file, a swap) costs
// O(files) for every commit; this costs O(changes). Without that knowledge (the first commit after the share was
// writable: after a failover or a failback), the differences are taken from a walk of the tree (`liveAsBase`), still
// in place: the share's folder is never swapped away under its clients.
//
// What makes "known to equal" true: a marker (<portion's snapshots>/.live.json) naming the snapshot the live tree was
// last brought to by a commit while the share was not writable for clients. It is removed before the tree is changed
// in any other way: before an in-place commit starts (a crash half-way leaves no marker, and the next commit walks
// the tree), by any other rollback, and when the share's access mode becomes read-write.
//
// Each file is replaced atomically (written beside it under a temporary name, then renamed over it), so a client
// never reads a partial file; during the commit a reader can see some files of the new snapshot and some of the
// previous one, as with rsync. A file whose content only moved (a renamed folder) is moved, not copied again.
import { randomBytes } from 'node:crypto';
import fsCb, { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { safeRelative } from '../layout';
import { writeFileAtomic } from '../util';
import { parentOf, passesQuickCheck, utimeOf, type Entry } from './manifest';
import { checkHash } from './object-store';
import { planStream, type StreamRecord } from './portable-stream';
import { AGENT_NAME_PREFIX, BREATHE_EVERY, breathe, modeOf, mtimeUsOf, walk } from './tree-walk';

export interface LiveMarker {
  snapshot: string;
}

export async function readMarker(file: string): Promise<LiveMarker | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as LiveMarker;
  } catch {
    return undefined;
  }
}

export async function writeMarker(file: string, snapshot: string): Promise<void> {
  await writeFileAtomic(file, JSON.stringify({ snapshot } satisfies LiveMarker));
}

/** Removes the marker durably (the directory is synced): a crash must not bring back a marker that was removed. */
export async function removeMarker(file: string): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const dir = await fs.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * The live tree as the base of a commit when no marker says which snapshot it equals: a walk of it, in manifest order.
 * With `quickCheck`, a file whose size, mode and mtime match the snapshot's file at its path counts as that file
 * (rsync's quick check, as a rebuild's reuse of unchanged files does); any other file counts as of unknown content
 * (replaced, or removed if the snapshot has none there). Sockets and fifos are not data: removed like files.
 */
export async function liveAsBase(live: string, snap: Entry[], quickCheck: boolean): Promise<Entry[]> {
  const wanted = new Map(snap.map((e) => [e.p, e]));
  const out: Entry[] = [];
  let n = 0;
  for (const { rel, abs, st } of walk(live, { tolerateVanished: true })) {
    if (++n % BREATHE_EVERY === 0) await breathe();
    const m = modeOf(st);
    const mt = mtimeUsOf(st);
    const size = Number(st.size);
    const e = wanted.get(rel);
    if (st.isDirectory()) out.push({ p: rel, t: 'd', m, mt, s: 0 });
    else if (st.isSymbolicLink()) out.push({ p: rel, t: 'l', m, mt, s: 0, l: fsCb.readlinkSync(abs) });
    else if (quickCheck && st.isFile() && e && passesQuickCheck(e, { s: size, m, mt })) out.push(e);
    else out.push({ p: rel, t: 'f', m, mt, s: size }); // no hash: never taken for the snapshot's content
  }
  return out;
}

function setAttrs(p: string, m: number, mt: number): void {
  fsCb.chmodSync(p, m);
  fsCb.utimesSync(p, utimeOf(mt), utimeOf(mt));
}

/** Files up to this size are copied with a synchronous call (a thread-pool round trip costs more). */
const SYNC_COPY_MAX = 256 * 1024;

/** Puts a new file or symlink at `dst` in one rename. */
async function replaceWith(dst: string, make: (tmp: string) => void | Promise<void>): Promise<void> {
  const tmp = path.join(path.dirname(dst), `${AGENT_NAME_PREFIX}commit-${randomBytes(6).toString('hex')}`);
  try {
    await make(tmp);
    fsCb.renameSync(tmp, dst);
  } catch (err) {
    fsCb.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Moves out of the live tree, into `holding`, the files whose content a `copy` record needs at another path while
 * their own path goes away or gets another content (a renamed folder, a moved file): they are then renamed into
 * place instead of copied from the content store. Returns where each such file (by its base path) now is. A file
 * that cannot be moved (`holding` on another filesystem) is left alone: its content is copied from the store.
 */
function holdMovedFiles(
  live: string,
  plan: StreamRecord[],
  baseMap: Map<string, Entry>,
  snapMap: Map<string, Entry>,
  holding: string,
): Map<string, string> {
  const held = new Map<string, string>();
  for (const r of plan) {
    if (r.op !== 'copy' || r.from === r.p || held.has(r.from)) continue;
    const was = baseMap.get(r.from);
    const stays = snapMap.get(r.from);
    if (!was || (stays?.t === 'f' && stays.h === was.h)) continue; // the source is kept: its content is copied
    const from = safeRelative(live, r.from);
    // only what is plainly the base's file (a cheap check of what the marker promises)
    const st = fsCb.lstatSync(from, { throwIfNoEntry: false });
    if (!st?.isFile() || st.size !== was.s) continue;
    if (held.size === 0) fsCb.mkdirSync(holding, { recursive: true });
    const to = path.join(holding, String(held.size));
    try {
      fsCb.renameSync(from, to);
      held.set(r.from, to);
    } catch {
      // left where it is (EXDEV: `holding` is on another filesystem); its content comes from the store
    }
  }
  return held;
}

/**
 * Changes `live` (equal to `base`) into `snap`. `contentPath` gives the object of a content hash; `holding` is a
 * scratch directory on the live tree's filesystem, outside it (clients never see it). Directories keep their
 * snapshot modes and mtimes: those of every directory whose entries changed are set again at the end.
 */
export async function applyDifferences(
  live: string,
  base: Entry[],
  snap: Entry[],
  contentPath: (h: string) => string,
  holding: string,
): Promise<number> {
  const snapMap = new Map(snap.map((e) => [e.p, e]));
  const plan = planStream(snap, base);
  const touchedDirs = new Set<string>();
  let changed = 0;
  // before the deletions, which would take a renamed folder's files away with the folder
  const held = holdMovedFiles(live, plan, new Map(base.map((e) => [e.p, e])), snapMap, holding);
  try {
    for (const r of plan) {
      if (r.op === 'end') break;
      changed++;
      const dst = safeRelative(live, r.p);
      if (r.p !== '') touchedDirs.add(parentOf(r.p));
      if (r.op === 'del') {
        await fs.rm(dst, { recursive: true, force: true });
      } else if (r.op === 'dir') {
        touchedDirs.add(r.p);
        if (!fsCb.lstatSync(dst, { throwIfNoEntry: false })?.isDirectory()) fsCb.mkdirSync(dst);
      } else if (r.op === 'symlink') {
        await replaceWith(dst, (tmp) => {
          fsCb.symlinkSync(r.l, tmp);
          fsCb.lutimesSync(tmp, utimeOf(r.mt), utimeOf(r.mt));
        });
      } else if (r.op === 'copy' && r.from === r.p) {
        setAttrs(dst, r.m, r.mt); // the same content: only its mode or mtime changed
      } else {
        const e = snapMap.get(r.p)!;
        let moved: string | undefined;
        if (r.op === 'copy') {
          moved = held.get(r.from);
          held.delete(r.from); // a file moves once: another copy of its content comes from the store
        }
        const src = moved ?? contentPath(checkHash(e.h, `manifest entry ${e.p}`));
        await replaceWith(dst, async (tmp) => {
          if (moved) fsCb.renameSync(moved, tmp);
          else if (e.s <= SYNC_COPY_MAX) fsCb.copyFileSync(src, tmp, fsc.COPYFILE_FICLONE);
          else await fs.copyFile(src, tmp, fsc.COPYFILE_FICLONE);
          setAttrs(tmp, r.m, r.mt);
        });
      }
    }
  } finally {
    fsCb.rmSync(holding, { recursive: true, force: true });
  }
  for (const d of [...touchedDirs].sort((a, b) => b.length - a.length)) {
    const e = snapMap.get(d);
    if (e?.t === 'd') setAttrs(safeRelative(live, d), e.m, e.mt);
  }
  return changed;
}
