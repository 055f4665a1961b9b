// The portable driver's manifest: one JSON line per entry of a snapshot, in canonical order (pre-order, names sorted
// per directory). Paths are relative, "/"-separated, "" is the portion root. mtimes in microseconds.
import fs from 'node:fs/promises';

export interface Entry {
  p: string;
  t: 'd' | 'f' | 'l';
  m: number;
  mt: number;
  s: number;
  /** sha256 of a regular file's content */
  h?: string;
  /** symlink target */
  l?: string;
  /** inode:ctime of the live file it was copied from (lets the next snapshot reuse unchanged files) */
  src?: string;
}

const SLASH = 0x2f;

/**
 * Component-wise comparison: parents before children, siblings by name (UTF-16 code units, as Array.sort orders a
 * directory's names). The same as comparing the strings with "/" ranked below every other character.
 */
export function comparePaths(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === SLASH) return -1;
    if (y === SLASH) return 1;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Writes a manifest in canonical order (a walk's order needs no sort). No fsync: whoever makes the snapshot durable
 * syncs the filesystem once for all its files (the receiver before it records a receive; createSnapshot).
 */
export async function writeManifest(file: string, entries: Entry[]): Promise<void> {
  let sorted = entries;
  for (let i = 1; i < entries.length; i++) {
    if (comparePaths(entries[i - 1]!.p, entries[i]!.p) > 0) {
      sorted = [...entries].sort((a, b) => comparePaths(a.p, b.p));
      break;
    }
  }
  const lines = sorted.map((e) => JSON.stringify(e));
  await fs.writeFile(file, lines.length ? lines.join('\n') + '\n' : '', { mode: 0o600 });
}

export async function readManifest(file: string): Promise<Entry[]> {
  const text = (await fs.readFile(file, 'utf8')).trimEnd();
  // one parse of the whole file: several times faster than a parse per line
  return text ? (JSON.parse(`[${text.replaceAll('\n', ',')}]`) as Entry[]) : [];
}

/**
 * A manifest mtime (µs) as the seconds Node's utimes calls take. At today's dates a double's steps are 0.24 µs, and
 * libuv truncates to nanoseconds: without the half microsecond, a time on a whole millisecond (ext4's coarse clock
 * gives many) could land 1 µs early, and the replica's file was then older than its source.
 */
export function utimeOf(us: number): number {
  return (us + 0.5) / 1e6;
}

/**
 * rsync's quick check: a live file of this size, mode and mtime (µs) counts as the manifest's file without being read.
 * The mtime may differ by 2 µs: a time set through a double can land a microsecond off (see utimeOf).
 */
export function passesQuickCheck(e: Entry, live: { s: number; m: number; mt: number }): boolean {
  return e.t === 'f' && e.s === live.s && e.m === live.m && Math.abs(e.mt - live.mt) <= 2;
}

export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}
