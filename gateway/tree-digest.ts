// The digest of a share portion's tree (GET /v1/shares/:share/digest): after a planned failover's final delta, the
// destination's live tree must equal the source's final snapshot, and comparing two digests says whether it does
// without moving the trees. One algorithm for every driver and for live trees and snapshots alike:
//
// fsdr-tree-v1 is the sha256 of one line per entry, in the manifest's canonical order (pre-order, names sorted per
// directory by UTF-16 code units; see comparePaths), each line a JSON array followed by "\n":
//   directory  ["d", path, mode]
//   file       ["f", path, mode, size, mtimeUs]            (+ sha256 of the content with fsdr-tree-v1+sha256)
//   symlink    ["l", path, mtimeUs, target]
// path is relative, "/"-separated, "" for the portion's root; mode the permission bits (0o7777) as a number; mtimeUs
// the mtime in whole microseconds (floor of the nanoseconds).
//
// Why these fields: the microsecond is the finest time every copy agrees on. The portable driver records mtimes in
// µs and its receiver sets them exact to the µs (utimeOf), a btrfs stream carries nanoseconds: a portable replica's
// nanoseconds differ from its source's, its microseconds do not. Directory mtimes are left out: receivers set them
// after their entries, and a commit in place changes them again; a symlink's mode is always 0777 on Linux. Sockets,
// fifos and devices are not file-server data (no snapshot keeps them). Entries whose name starts with
// AGENT_NAME_PREFIX are the agent's own (a commit's temporary file) and are left out with everything under them.
// Contents are not read by default: a transfer verifies every byte end to end (see StreamDigestKind), and reading a
// whole share costs its size in I/O; `content` reads and hashes every file for a deep check (for a portable
// snapshot: the bytes of its content store, not the hashes its manifest recorded).
//
// Large trees: entries are hashed as the walk (or the manifest's lines) goes, nothing but the walk's pending names
// is held, and the event loop gets a turn every BREATHE_EVERY entries and every few MiB read synchronously.
import { createHash } from 'node:crypto';
import fsCb, { createReadStream } from 'node:fs';
import readline from 'node:readline';
import { ConflictError } from '../domain/errors';
import type { ReadableTree } from './snapshot-drivers/driver';
import { comparePaths, type Entry } from './snapshot-drivers/manifest';
import { hashFile } from './snapshot-drivers/portable';
import { AGENT_NAME_PREFIX, BREATHE_EVERY, breathe, modeOf, mtimeUsOf, walk } from './snapshot-drivers/tree-walk';

export const TREE_DIGEST_ALGORITHM = 'fsdr-tree-v1';
export const TREE_DIGEST_CONTENT_ALGORITHM = 'fsdr-tree-v1+sha256';

/** Bytes read with synchronous calls (small files) between two turns of the event loop. */
const BREATHE_AFTER_BYTES = 8 * 1024 * 1024;

export interface TreeDigestResult {
  algorithm: string;
  digest: string;
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
}

/** An entry to digest; `content` reads the file (only called with `content`). */
interface DigestEntry {
  e: Entry;
  content?: () => Promise<{ h: string; s: number }>;
}

const isAgentName = (name: string): boolean => name.startsWith(AGENT_NAME_PREFIX);
const AGENT_COMPONENT = `/${AGENT_NAME_PREFIX}`;

async function* walkEntries(tree: Extract<ReadableTree, { kind: 'dir' }>, live: boolean): AsyncGenerator<DigestEntry> {
  const atRoot = new Set(tree.skipAtRoot ?? []);
  const skip = (name: string, rel: string): boolean => isAgentName(name) || (rel === name && atRoot.has(name));
  for (const { rel, abs, st } of walk(tree.root, { skip, tolerateVanished: live })) {
    if (st.isDirectory()) yield { e: { p: rel, t: 'd', m: modeOf(st), mt: 0, s: 0 } };
    else if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = fsCb.readlinkSync(abs);
      } catch (err) {
        if (live && (err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed meanwhile
        throw err;
      }
      yield { e: { p: rel, t: 'l', m: 0o777, mt: mtimeUsOf(st), s: 0, l: target } };
    } else if (st.isFile()) {
      const s = Number(st.size);
      const content = async (): Promise<{ h: string; s: number }> => {
        try {
          return await hashFile(abs, s);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          throw new ConflictError(`${JSON.stringify(rel)} was removed while the tree was read: ask again`);
        }
      };
      yield { e: { p: rel, t: 'f', m: modeOf(st), mt: mtimeUsOf(st), s }, content };
    }
  }
}

async function* manifestEntries(tree: Extract<ReadableTree, { kind: 'manifest' }>): AsyncGenerator<DigestEntry> {
  const lines = readline.createInterface({
    input: createReadStream(tree.file, { encoding: 'utf8' }),
    crlfDelay: Infinity,
  });
  let previous: string | undefined;
  for await (const line of lines) {
    if (!line) continue;
    const e = JSON.parse(line) as Entry;
    // the order is the digest's: a manifest out of order would give another digest for the same tree
    if (previous !== undefined && comparePaths(previous, e.p) >= 0) {
      throw new Error(`manifest ${tree.file} is not in canonical order at ${JSON.stringify(e.p)}`);
    }
    previous = e.p;
    if (`/${e.p}`.includes(AGENT_COMPONENT)) continue;
    const content =
      e.t === 'f'
        ? async () => {
            const object = tree.contentPath(e.h ?? '');
            try {
              return await hashFile(object, e.s);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
              throw new Error(`the content of ${JSON.stringify(e.p)} (sha256 ${e.h}) is missing from the store`);
            }
          }
        : undefined;
    yield { e, ...(content ? { content } : {}) };
  }
}

/** The line of one entry (see the header). */
function lineOf(e: Entry, sha256: string | undefined): string {
  if (e.t === 'd') return JSON.stringify(['d', e.p, e.m]);
  if (e.t === 'l') return JSON.stringify(['l', e.p, e.mt, e.l ?? '']);
  return JSON.stringify(sha256 === undefined ? ['f', e.p, e.m, e.s, e.mt] : ['f', e.p, e.m, e.s, e.mt, sha256]);
}

/** The digest of a tree (see the header); `live`: a tree clients may change meanwhile (vanished entries are skipped). */
export async function digestTree(
  tree: ReadableTree,
  opts: { content: boolean; live: boolean },
): Promise<TreeDigestResult> {
  const hash = createHash('sha256');
  const out = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
  let n = 0;
  let readSinceTurn = 0;
  const entries = tree.kind === 'dir' ? walkEntries(tree, opts.live) : manifestEntries(tree);
  for await (const { e, content } of entries) {
    if (++n % BREATHE_EVERY === 0 || readSinceTurn > BREATHE_AFTER_BYTES) {
      await breathe();
      readSinceTurn = 0;
    }
    let sha256: string | undefined;
    if (e.t === 'f') {
      out.files++;
      out.bytes += e.s;
      if (opts.content && content) {
        const r = await content();
        sha256 = r.h;
        readSinceTurn += r.s;
      }
    } else if (e.t === 'l') out.symlinks++;
    else if (e.p !== '') out.directories++;
    hash.update(lineOf(e, sha256));
    hash.update('\n');
  }
  return {
    algorithm: opts.content ? TREE_DIGEST_CONTENT_ALGORITHM : TREE_DIGEST_ALGORITHM,
    digest: hash.digest('hex'),
    ...out,
  };
}
