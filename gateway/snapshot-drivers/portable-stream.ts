// The portable driver's send stream: deterministic for a (base, snapshot) pair, so a resumed transfer can skip the
// bytes the receiver already has. Layout: MAGIC, then records [u32 BE header length][header JSON][content bytes].
//   dir     {op,p,m,mt}            a directory (new, or mode/mtime changed)
//   file    {op,p,s,h,m,mt}        a regular file followed by its s content bytes; h = sha256 of the content
//   copy    {op,p,from,m,mt}       content taken from the base snapshot's file `from` (rename, copy, attribute change)
//   symlink {op,p,l,mt}
//   del     {op,p}                 removed from the base (a directory with everything below it)
//   end     {op,records}
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { StreamIntegrityError } from './driver';
import { comparePaths, parentOf, type Entry } from './manifest';

export const MAGIC = Buffer.from('FSDRPS1\n');

export type StreamRecord =
  | { op: 'dir'; p: string; m: number; mt: number }
  | { op: 'file'; p: string; s: number; h: string; m: number; mt: number }
  | { op: 'copy'; p: string; from: string; m: number; mt: number }
  | { op: 'symlink'; p: string; l: string; mt: number }
  | { op: 'del'; p: string }
  | { op: 'end'; records: number };

/** What must be sent to turn `base` (or nothing) into `snap`. */
export function planStream(snap: Entry[], base: Entry[] | undefined): StreamRecord[] {
  const recs: StreamRecord[] = [];
  const baseMap = new Map((base ?? []).map((e) => [e.p, e]));
  const snapMap = new Map(snap.map((e) => [e.p, e]));
  if (base) {
    // Deletions first (top-most only), so a path can change type.
    const gone = base
      .filter((b) => {
        const s = snapMap.get(b.p);
        return !s || s.t !== b.t;
      })
      .map((b) => b.p)
      .sort(comparePaths);
    const goneSet = new Set(gone);
    for (const p of gone) {
      let parent = parentOf(p);
      let covered = false;
      while (p !== '' && parent !== '' && !covered) {
        if (goneSet.has(parent)) covered = true;
        parent = parentOf(parent);
      }
      if (!covered && p !== '') recs.push({ op: 'del', p });
    }
  }
  const byHash = new Map<string, string>();
  for (const b of base ?? []) if (b.t === 'f' && b.s > 0 && b.h && !byHash.has(b.h)) byHash.set(b.h, b.p);
  for (const e of snap) {
    const b = baseMap.get(e.p);
    const same = b !== undefined && b.t === e.t;
    if (e.t === 'd') {
      if (!same || b.m !== e.m || b.mt !== e.mt) recs.push({ op: 'dir', p: e.p, m: e.m, mt: e.mt });
    } else if (e.t === 'l') {
      if (!same || b.l !== e.l || b.mt !== e.mt) recs.push({ op: 'symlink', p: e.p, l: e.l ?? '', mt: e.mt });
    } else {
      if (same && b.h === e.h && b.s === e.s) {
        if (b.m !== e.m || b.mt !== e.mt) recs.push({ op: 'copy', p: e.p, from: b.p, m: e.m, mt: e.mt });
        continue;
      }
      const from = e.s > 0 && e.h ? byHash.get(e.h) : undefined;
      if (from !== undefined) recs.push({ op: 'copy', p: e.p, from, m: e.m, mt: e.mt });
      else recs.push({ op: 'file', p: e.p, s: e.s, h: e.h ?? '', m: e.m, mt: e.mt });
    }
  }
  recs.push({ op: 'end', records: recs.length });
  return recs;
}

function header(r: StreamRecord): Buffer {
  const json = Buffer.from(JSON.stringify(r));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length);
  return Buffer.concat([len, json]);
}

export function streamLength(recs: StreamRecord[]): number {
  let n = MAGIC.length;
  for (const r of recs) n += 4 + Buffer.byteLength(JSON.stringify(r)) + (r.op === 'file' ? r.s : 0);
  return n;
}

const BATCH = 256 * 1024;
const CHUNK = 1024 * 1024;
const SYNC_READ_MAX = 256 * 1024;

/** The stream's bytes, batched into chunks of about 256 KiB to 1 MiB. Reads files one at a time. */
export function generateStream(recs: StreamRecord[], dataDir: string): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    let pending: Buffer[] = [MAGIC];
    let pendingLen = MAGIC.length;
    const flush = (): Buffer => {
      const b = Buffer.concat(pending, pendingLen);
      pending = [];
      pendingLen = 0;
      return b;
    };
    for (const r of recs) {
      const h = header(r);
      pending.push(h);
      pendingLen += h.length;
      if (r.op === 'file' && r.s > 0 && r.s <= SYNC_READ_MAX) {
        // small files: one synchronous read (the thread pool round trips cost more than the read)
        const data = readFileSync(path.join(dataDir, ...r.p.split('/')));
        if (data.length !== r.s) throw new StreamIntegrityError(`snapshot file ${r.p} does not have its manifest size`);
        pending.push(data);
        pendingLen += data.length;
      } else if (r.op === 'file' && r.s > 0) {
        const file = path.join(dataDir, ...r.p.split('/'));
        const fh = await fs.open(file, 'r');
        try {
          let done = 0;
          while (done < r.s) {
            const want = Math.min(CHUNK, r.s - done);
            const buf = Buffer.allocUnsafe(want);
            const { bytesRead } = await fh.read(buf, 0, want, done);
            if (bytesRead === 0)
              throw new StreamIntegrityError(`snapshot file ${r.p} is shorter than its manifest says`);
            done += bytesRead;
            const chunk = bytesRead === want ? buf : buf.subarray(0, bytesRead);
            pending.push(chunk);
            pendingLen += chunk.length;
            if (pendingLen >= BATCH) yield flush();
          }
        } finally {
          await fh.close();
        }
      }
      if (pendingLen >= BATCH) yield flush();
    }
    if (pendingLen) yield flush();
  }
  return Readable.from(gen(), { objectMode: false, highWaterMark: 2 });
}

/** Sequential reader of a stream (a staged file or the bytes as they arrive), record by record. */
export class StreamReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  private readonly it: AsyncIterator<Buffer>;

  constructor(private readonly source: Readable) {
    this.it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  static file(file: string): StreamReader {
    return new StreamReader(createReadStream(file, { highWaterMark: CHUNK }));
  }

  private async more(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    if (b.length) {
      this.chunks.push(b);
      this.buffered += b.length;
    }
    return true;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    this.chunks.shift();
    this.buffered -= first.length;
    return first;
  }

  async readExact(n: number): Promise<Buffer> {
    while (this.buffered < n) {
      if (!(await this.more())) throw new StreamIntegrityError('stream ends in the middle of a record');
    }
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const b = this.take(left);
      parts.push(b);
      left -= b.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  /** Hands `n` bytes to `sink` in chunks; returns their sha256 ('' when not asked to hash). */
  async pipe(n: number, sink: (chunk: Buffer) => Promise<void>, hashIt = true): Promise<string> {
    const hash = hashIt ? createHash('sha256') : undefined;
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.more())) {
        throw new StreamIntegrityError('stream ends in the middle of a file');
      }
      if (this.buffered === 0) continue;
      const b = this.take(left);
      left -= b.length;
      hash?.update(b);
      await sink(b);
    }
    return hash ? hash.digest('hex') : '';
  }

  async atEnd(): Promise<boolean> {
    while (this.buffered === 0) if (!(await this.more())) return true;
    return false;
  }

  async readRecord(): Promise<StreamRecord> {
    const len = (await this.readExact(4)).readUInt32BE(0);
    if (len > 1024 * 1024) throw new StreamIntegrityError('stream record header too large');
    try {
      return JSON.parse((await this.readExact(len)).toString('utf8')) as StreamRecord;
    } catch (err) {
      if (err instanceof StreamIntegrityError) throw err;
      throw new StreamIntegrityError('stream record header is not valid JSON');
    }
  }

  close(): void {
    this.source.destroy();
  }
}
