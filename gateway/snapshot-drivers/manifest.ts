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

/** Component-wise comparison: parents before children, siblings by name. */
export function comparePaths(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '') return -1;
  if (b === '') return 1;
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

export async function writeManifest(file: string, entries: Iterable<Entry>): Promise<void> {
  const sorted = [...entries].sort((a, b) => comparePaths(a.p, b.p));
  const fh = await fs.open(file, 'w', 0o600);
  try {
    let buf: string[] = [];
    for (const e of sorted) {
      buf.push(JSON.stringify(e));
      if (buf.length >= 2000) {
        await fh.write(buf.join('\n') + '\n');
        buf = [];
      }
    }
    if (buf.length) await fh.write(buf.join('\n') + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function readManifest(file: string): Promise<Entry[]> {
  const text = await fs.readFile(file, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Entry);
}

/**
 * A manifest mtime (µs) as the seconds Node's utimes calls take. At today's dates a double's steps are 0.24 µs, and
 * libuv truncates to nanoseconds: without the half microsecond, a time on a whole millisecond (ext4's coarse clock
 * gives many) could land 1 µs early, and the replica's file was then older than its source.
 */
export function utimeOf(us: number): number {
  return (us + 0.5) / 1e6;
}

export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}
