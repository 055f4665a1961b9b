// The portable driver's send stream: deterministic for a (base, snapshot) pair, so a resumed transfer can skip the
// bytes the receiver already has. Layout: MAGIC, then records [u32 BE header length][header JSON][content bytes].
//   dir     {op,p,m,mt}            a directory (new, or mode/mtime changed)
//   file    {op,p,s,h,m,mt}        a regular file followed by its s content bytes; h = sha256 of the content
//   copy    {op,p,from,m,mt}       content taken from the base snapshot's file `from` (rename, copy, attribute change)
//   symlink {op,p,l,mt}
//   del     {op,p}                 removed from the base (a directory with everything below it)
//   end     {op,records}
// Integrity without hashing the bytes twice: every file record carries its content's sha256 (from the manifest,
// computed once when the snapshot was taken) and the receiver checks each file against it; the headers themselves are
// covered by a chain, c0 = sha256(CHAIN_SEED), ci = sha256(c(i-1) || header i), whose last value the sender computes
// from the plan alone and sends at completion. Together they prove the applied tree is what the sender planned, and
// the chain's 32-byte state is all a resumed receiver needs to keep (it cannot resume a sha256 of the whole stream).
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
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

export function header(r: StreamRecord): Buffer {
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

const CHAIN_SEED = Buffer.from('fs-dr portable stream records v1');

/** The chain's start value. */
export function chainStart(): Buffer {
  return createHash('sha256').update(CHAIN_SEED).digest();
}

/** The next link of the header chain: sha256(previous || header bytes as sent). */
export function chainNext(prev: Buffer, header: Buffer): Buffer {
  return createHash('sha256').update(prev).update(header).digest();
}

/** The digest of a whole stream: the last link of the chain over its record headers. */
export function recordsDigest(recs: StreamRecord[]): string {
  let c = chainStart();
  for (const r of recs) c = chainNext(c, header(r));
  return c.toString('hex');
}

const BATCH = 256 * 1024;
const CHUNK = 1024 * 1024;
const SYNC_READ_MAX = 256 * 1024;
/** The reader pauses its source when this much is buffered. */
const READER_HIGH = 2 * 1024 * 1024;

/**
 * The stream's bytes from byte `from` on, batched into chunks of about 256 KiB to 1 MiB. Reads files (`contentPath`
 * of their sha256) one at a time; records wholly before `from` are skipped without reading their files (a resume
 * costs what is left to send).
 */
export function generateStream(recs: StreamRecord[], contentPath: (h: string) => string, from = 0): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    let pending: Buffer[] = [];
    let pendingLen = 0;
    let pos = 0; // stream offset of the next byte produced
    const push = (b: Buffer): void => {
      const end = pos + b.length;
      if (end > from) {
        const part = pos >= from ? b : b.subarray(from - pos);
        pending.push(part);
        pendingLen += part.length;
      }
      pos = end;
    };
    const flush = (): Buffer => {
      const b = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen);
      pending = [];
      pendingLen = 0;
      return b;
    };
    push(MAGIC);
    for (const r of recs) {
      const h = header(r);
      const size = r.op === 'file' ? r.s : 0;
      if (pos + h.length + size <= from) {
        pos += h.length + size;
        continue;
      }
      push(h);
      if (r.op === 'file' && r.s > 0 && r.s <= SYNC_READ_MAX) {
        // small files: one synchronous read (the thread pool round trips cost more than the read)
        const data = readFileSync(contentPath(r.h));
        if (data.length !== r.s) throw new StreamIntegrityError(`snapshot file ${r.p} does not have its manifest size`);
        push(data);
      } else if (r.op === 'file' && r.s > 0) {
        const file = contentPath(r.h);
        const fh = await fs.open(file, 'r');
        try {
          let done = Math.max(0, from - pos); // a resume inside this file starts reading there
          pos += done;
          while (done < r.s) {
            const want = Math.min(CHUNK, r.s - done);
            const buf = Buffer.allocUnsafe(want);
            const { bytesRead } = await fh.read(buf, 0, want, done);
            if (bytesRead === 0)
              throw new StreamIntegrityError(`snapshot file ${r.p} is shorter than its manifest says`);
            done += bytesRead;
            push(bytesRead === want ? buf : buf.subarray(0, bytesRead));
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
  // read ahead of the socket by a few MiB (a highWaterMark of a few bytes would read each chunk only once it is sent)
  return Readable.from(gen(), { objectMode: false, highWaterMark: 2 * CHUNK });
}

/**
 * Sequential reader of a stream (a file or the bytes as they arrive), record by record. It takes the source's chunks
 * as they come ('data' events) rather than through read(), which would concatenate (copy) whatever is buffered.
 */
export class StreamReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly source: Readable) {
    source.on('data', (b: Buffer) => {
      if (!b.length) return;
      this.chunks.push(b);
      this.buffered += b.length;
      if (this.buffered >= READER_HIGH) source.pause();
      this.wake?.();
    });
    source.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
    source.on('error', (err) => {
      this.error = err;
      this.wake?.();
    });
    source.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  static file(file: string): StreamReader {
    return new StreamReader(createReadStream(file, { highWaterMark: CHUNK }));
  }

  /** Waits until more bytes are buffered; false at the end of the source. */
  private async more(): Promise<boolean> {
    const before = this.buffered;
    for (;;) {
      if (this.error) throw this.error;
      if (this.buffered > before) return true;
      if (this.ended) return false;
      if (this.source.isPaused()) this.source.resume();
      await new Promise<void>((res) => (this.wake = res));
      this.wake = undefined;
    }
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
    if (this.buffered < READER_HIGH / 2 && this.source.isPaused() && !this.ended) this.source.resume();
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
    return (await this.readRecordRaw()).rec;
  }

  /** The next record and its header bytes exactly as they were in the stream (for the header chain). */
  async readRecordRaw(): Promise<{ rec: StreamRecord; raw: Buffer }> {
    const lenBuf = await this.readExact(4);
    const len = lenBuf.readUInt32BE(0);
    if (len > 1024 * 1024) throw new StreamIntegrityError('stream record header too large');
    const json = await this.readExact(len);
    let rec: StreamRecord;
    try {
      rec = JSON.parse(json.toString('utf8')) as StreamRecord;
    } catch {
      throw new StreamIntegrityError('stream record header is not valid JSON');
    }
    if (!rec || typeof rec !== 'object') throw new StreamIntegrityError('stream record header is not an object');
    return { rec, raw: Buffer.concat([lenBuf, json], 4 + len) };
  }

  close(): void {
    this.source.destroy();
  }
}
