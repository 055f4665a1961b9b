// The walk of a tree in the manifest's canonical order (pre-order, names sorted per directory), and the two values a
// walk reads from every entry the way the manifest records them (permission bits, mtime in microseconds). Used by the
// portable driver's snapshots and commits and by the tree digest (gateway/tree-digest.ts), so that a manifest and a
// walk of the tree it describes always agree.
import fsCb, { type BigIntStats } from 'node:fs';

/**
 * The files the agent itself keeps inside a live tree (a commit's new file under a temporary name until its rename; one
 * left behind by a crash) have names that start with this. They are never data: the tree digest leaves them out.
 */
export const AGENT_NAME_PREFIX = '.fsdr-';

/** Entries handled between two turns given to the event loop (API requests stay answered during a long walk). */
export const BREATHE_EVERY = 500;

/** Lets the event loop run the callbacks that are due (timers, I/O) before the walk goes on. */
export const breathe = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Permission bits (with setuid, setgid, sticky), as a manifest's `m`. */
export function modeOf(st: BigIntStats): number {
  return Number(st.mode & 0o7777n);
}

/**
 * The mtime in whole microseconds, as a manifest's `mt`: the finest time the portable driver records and its
 * receiver sets exactly (see utimeOf in manifest.ts), so the one precision every copy of a snapshot agrees on.
 */
export function mtimeUsOf(st: BigIntStats): number {
  return Number(st.mtimeNs / 1000n);
}

export interface WalkOptions {
  /** Entries (and the subtrees under them) to leave out, by name and relative path. */
  skip?: (name: string, rel: string) => boolean;
  /** An entry that disappears between its directory's listing and its lstat is left out instead of failing the walk. */
  tolerateVanished?: boolean;
}

const vanished = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

/**
 * Pre-order walk with names sorted per directory (the manifest's canonical order). Synchronous calls: a walk is
 * thousands of lstat/readdir calls of a few microseconds, where a thread-pool round trip each costs several times
 * more; callers yield to the event loop every BREATHE_EVERY entries. What it holds in memory is the names of the
 * directories it is in that are still to be visited, which the order needs.
 */
export function* walk(root: string, opts: WalkOptions = {}): Generator<{ rel: string; abs: string; st: BigIntStats }> {
  // a stack rather than recursion: each level of nested generators would pass every entry along once more
  const stack: { rel: string; abs: string }[] = [{ rel: '', abs: root }];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const { rel, abs } = next;
    let st: BigIntStats;
    let names: string[] | undefined;
    try {
      st = fsCb.lstatSync(abs, { bigint: true });
      if (st.isDirectory()) names = fsCb.readdirSync(abs).sort();
    } catch (err) {
      if (rel !== '' && opts.tolerateVanished && vanished(err)) continue;
      throw err;
    }
    yield { rel, abs, st };
    if (!names) continue;
    for (let i = names.length - 1; i >= 0; i--) {
      const n = names[i]!;
      const childRel = rel ? `${rel}/${n}` : n;
      if (opts.skip?.(n, childRel)) continue;
      stack.push({ rel: childRel, abs: `${abs}/${n}` });
    }
  }
}
