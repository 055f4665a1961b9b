// Applies a portable stream into a snapshot directory while it arrives, with no staged copy of the stream: the bytes
// are written once, where they belong. Every file's content is checked against the sha256 its record carries and the
// record headers are chained (see portable-stream.ts), so the result is verified without a hash of the whole stream.
//
// Resume: the applier can say, at any moment, how far it has durably got (`checkpoint()`): the stream offset of a
// consistent point (the end of a record, or a byte inside a large file), the journal of the records applied before
// it (one header line each, appended to <snapshot>/receive.journal), the chain value and the file being written.
// A restarted agent rebuilds the tree's map from the base manifest and the journal, truncates the file being written
// to the checkpoint, re-reads it to rebuild its sha256, and continues from that offset. Whatever was applied after
// the checkpoint is simply applied again (every operation tolerates finding its own earlier result).
import { createHash, type Hash } from 'node:crypto';
import fsCb, { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { safeRelative, type Layout, type PortionRef } from '../layout';
import { writeAll } from '../util';
import { StreamIntegrityError, type ApplyCheckpoint } from './driver';
import { parentOf, readManifest, utimeOf, writeManifest, type Entry } from './manifest';
import { MAGIC, StreamReader, chainNext, chainStart, type StreamRecord } from './portable-stream';

type FileRecord = Extract<StreamRecord, { op: 'file' }>;

/** What a checkpoint carries besides its offset (JSON, kept in the receive's record). */
export interface PortableApplyState {
  journalBytes: number;
  records: number;
  chain: string;
  /** The large file being written at the checkpoint: its record and how many of its bytes are in the file. */
  partial: { rec: FileRecord; written: number } | null;
}

/** Files up to this size are written with synchronous calls (like tar): cheaper than thread-pool round trips. */
const SYNC_WRITE_MAX = 256 * 1024;
const WRITE_BATCH = 1024 * 1024;
const { O_WRONLY, O_CREAT, O_EXCL } = fsc;

async function removeIfExists(p: string): Promise<void> {
  await fs.rm(p, { recursive: true, force: true });
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await fs.link(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EMLINK') throw err;
    await fs.copyFile(from, to, fsc.COPYFILE_FICLONE);
  }
}

/** Creates `dst` exclusively; debris of an earlier, interrupted application of the same record is replaced. */
function createSync(dst: string): number {
  try {
    return fsCb.openSync(dst, O_WRONLY | O_CREAT | O_EXCL, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    fsCb.rmSync(dst, { recursive: true, force: true });
    return fsCb.openSync(dst, O_WRONLY | O_CREAT | O_EXCL, 0o600);
  }
}

/** The map of the tree being built, as a record changes it (the same on first application and on replay). */
function applyToMap(map: Map<string, Entry>, r: StreamRecord, baseMap: Map<string, Entry>): void {
  if (r.op === 'del') {
    for (const k of [...map.keys()]) if (k === r.p || k.startsWith(`${r.p}/`)) map.delete(k);
  } else if (r.op === 'dir') map.set(r.p, { p: r.p, t: 'd', m: r.m, mt: r.mt, s: 0 });
  else if (r.op === 'file') map.set(r.p, { p: r.p, t: 'f', m: r.m, mt: r.mt, s: r.s, h: r.h });
  else if (r.op === 'copy') {
    const from = baseMap.get(r.from);
    map.set(r.p, { p: r.p, t: 'f', m: r.m, mt: r.mt, s: from?.s ?? 0, h: from?.h });
  } else if (r.op === 'symlink') map.set(r.p, { p: r.p, t: 'l', m: 0o777, mt: r.mt, s: 0, l: r.l });
}

export class PortableApplier {
  private readonly data: string;
  private readonly baseData: string;
  private readonly journal: string;
  private map = new Map<string, Entry>();
  private baseMap = new Map<string, Entry>();
  private chain = chainStart();
  private records = 0;
  /** The last consistent point, updated synchronously whenever one is reached. */
  private cp: ApplyCheckpoint = { offset: 0, state: null };
  /** Journal lines of the records applied up to `cp`, not yet appended to the journal file. */
  private pendingLines: string[] = [];
  private journalBytes = 0;

  constructor(
    private readonly layout: Layout,
    private readonly p: PortionRef,
    private readonly id: string,
    private readonly baseId: string | undefined,
  ) {
    this.data = layout.snapshotData(p, id);
    this.baseData = baseId ? layout.snapshotData(p, baseId) : '';
    this.journal = path.join(layout.snapshotDir(p, id), 'receive.journal');
  }

  /**
   * Makes the journal up to the last consistent point durable against a crash of the agent (it is in the page cache;
   * see the receiver for a crash of the node) and returns that point. Calls must not overlap.
   */
  async checkpoint(): Promise<ApplyCheckpoint> {
    const cp = this.cp;
    const lines = this.pendingLines;
    this.pendingLines = [];
    if (lines.length) {
      const text = Buffer.from(lines.join('\n') + '\n');
      await fs.appendFile(this.journal, text);
      this.journalBytes += text.length;
    }
    if (cp.state) (cp.state as PortableApplyState).journalBytes = this.journalBytes;
    return cp;
  }

  private mark(offset: number, partial: PortableApplyState['partial']): void {
    this.cp = {
      offset,
      state: {
        journalBytes: -1, // filled in by checkpoint(), once the lines before this point are in the file
        records: this.records,
        chain: this.chain.toString('hex'),
        partial,
      } satisfies PortableApplyState,
    };
  }

  /** Runs the application; `source` starts at `resume.offset` (0 for a fresh start). */
  async run(source: Readable, resume: ApplyCheckpoint | undefined): Promise<{ sizeBytes: number; digest: string }> {
    const baseEntries = this.baseId ? await readManifest(this.layout.snapshotManifest(this.p, this.baseId)) : [];
    this.baseMap = new Map(baseEntries.map((e) => [e.p, e]));
    const reader = new StreamReader(source);
    let offset: number;
    try {
      const st = resume?.state as PortableApplyState | null | undefined;
      if (resume && st) {
        offset = resume.offset;
        await this.restore(baseEntries, resume, st);
        if (st.partial) {
          offset = await this.continueLargeFile(reader, st.partial.rec, st.partial.written, offset);
        }
      } else {
        await removeIfExists(this.data);
        await fs.rm(this.journal, { force: true });
        await fs.mkdir(this.data);
        await this.cloneBase(baseEntries);
        const magic = await reader.readExact(MAGIC.length);
        if (!magic.equals(MAGIC)) throw new StreamIntegrityError('not a portable snapshot stream');
        offset = MAGIC.length;
        this.mark(offset, null);
      }
      for (;;) {
        const { rec: r, raw } = await reader.readRecordRaw();
        this.chain = chainNext(this.chain, raw);
        offset += raw.length;
        if (r.op === 'end') {
          if (r.records !== this.records) throw new StreamIntegrityError('stream record count mismatch');
          break;
        }
        if (r.op === 'file' && r.s > SYNC_WRITE_MAX) {
          // a large file: written (and checkpointed) chunk by chunk
          offset = await this.largeFile(reader, r, offset);
          continue;
        }
        await this.applyRecord(reader, r);
        if (r.op === 'file') offset += r.s;
        this.records++;
        applyToMap(this.map, r, this.baseMap);
        this.pendingLines.push(raw.subarray(4).toString('utf8'));
        this.mark(offset, null);
      }
      if (!(await reader.atEnd())) throw new StreamIntegrityError('bytes after the end of the stream');
    } finally {
      reader.close();
    }
    if (this.map.get('')?.t !== 'd') throw new StreamIntegrityError('stream has no root directory');
    const entries = [...this.map.values()];
    for (const e of [...entries].sort((a, b) => b.p.length - a.p.length)) {
      if (e.t === 'd') await setAttrs(safeRelative(this.data, e.p), e.m, e.mt);
    }
    await writeManifest(this.layout.snapshotManifest(this.p, this.id), entries);
    await fs.rm(this.journal, { force: true });
    return {
      sizeBytes: entries.reduce((n, e) => n + (e.t === 'f' ? e.s : 0), 0),
      digest: this.chain.toString('hex'),
    };
  }

  /** Start from a clone of the base: hard links to its (immutable) files. */
  private async cloneBase(baseEntries: Entry[]): Promise<void> {
    let n = 0;
    for (const e of baseEntries) {
      // synchronous calls (a thread-pool round trip per link costs more), with a breath for the event loop now and then
      if (++n % 1000 === 0) await new Promise((r) => setImmediate(r));
      const dst = safeRelative(this.data, e.p);
      if (e.t === 'd') {
        if (e.p) fsCb.mkdirSync(dst);
      } else if (e.t === 'l') {
        fsCb.symlinkSync(e.l ?? '', dst);
        fsCb.lutimesSync(dst, utimeOf(e.mt), utimeOf(e.mt));
      } else {
        try {
          fsCb.linkSync(safeRelative(this.baseData, e.p), dst);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EMLINK') throw err;
          fsCb.copyFileSync(safeRelative(this.baseData, e.p), dst, fsc.COPYFILE_FICLONE);
        }
      }
      this.map.set(e.p, e);
    }
  }

  private async restore(baseEntries: Entry[], resume: ApplyCheckpoint, st: PortableApplyState): Promise<void> {
    for (const e of baseEntries) this.map.set(e.p, e);
    await fs.truncate(this.journal, st.journalBytes).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT' || st.journalBytes !== 0) throw err;
    });
    this.journalBytes = st.journalBytes;
    if (st.journalBytes > 0) {
      const text = await fs.readFile(this.journal, 'utf8');
      for (const line of text.split('\n')) {
        if (line) applyToMap(this.map, JSON.parse(line) as StreamRecord, this.baseMap);
      }
    }
    this.records = st.records;
    this.chain = Buffer.from(st.chain, 'hex');
    this.cp = { offset: resume.offset, state: { ...st } };
  }

  private checkParent(rel: string): void {
    if (rel === '') throw new StreamIntegrityError('stream entry for the root where a file was expected');
    if (this.map.get(parentOf(rel))?.t !== 'd')
      throw new StreamIntegrityError(`stream entry ${rel} has no parent directory`);
  }

  private async applyRecord(reader: StreamReader, r: StreamRecord): Promise<void> {
    const data = this.data;
    if (r.op === 'del') {
      this.checkParent(r.p);
      await removeIfExists(safeRelative(data, r.p));
    } else if (r.op === 'dir') {
      if (r.p !== '') {
        this.checkParent(r.p);
        const dst = safeRelative(data, r.p);
        if (this.map.get(r.p)?.t !== 'd') {
          const st = fsCb.lstatSync(dst, { throwIfNoEntry: false });
          if (st && !st.isDirectory()) await removeIfExists(dst);
          if (!st?.isDirectory()) fsCb.mkdirSync(dst);
        }
      }
    } else if (r.op === 'file') {
      // small files: the content is gathered in memory, checked, then written with synchronous calls
      this.checkParent(r.p);
      const dst = safeRelative(data, r.p);
      if (this.map.has(r.p)) await removeIfExists(dst);
      const parts: Buffer[] = [];
      const h = await reader.pipe(r.s, async (chunk) => void parts.push(chunk), true);
      if (h !== r.h) throw new StreamIntegrityError(`checksum mismatch for ${r.p}`);
      const fd = createSync(dst);
      try {
        if (parts.length === 1) fsCb.writeSync(fd, parts[0]!);
        else if (parts.length > 1) fsCb.writevSync(fd, parts);
        fsCb.fchmodSync(fd, r.m);
        fsCb.futimesSync(fd, utimeOf(r.mt), utimeOf(r.mt));
      } finally {
        fsCb.closeSync(fd);
      }
    } else if (r.op === 'copy') {
      this.checkParent(r.p);
      const from = this.baseMap.get(r.from);
      if (!from || from.t !== 'f') throw new StreamIntegrityError(`stream copies ${r.from}, not a file of the base`);
      const dst = safeRelative(data, r.p);
      await removeIfExists(dst);
      const src = safeRelative(this.baseData, r.from);
      if (from.m === r.m && from.mt === r.mt) await linkOrCopy(src, dst);
      else {
        await fs.copyFile(src, dst, fsc.COPYFILE_FICLONE);
        await setAttrs(dst, r.m, r.mt);
      }
    } else if (r.op === 'symlink') {
      this.checkParent(r.p);
      const dst = safeRelative(data, r.p);
      await removeIfExists(dst);
      await fs.symlink(r.l, dst);
      await fs.lutimes(dst, utimeOf(r.mt), utimeOf(r.mt));
    } else {
      throw new StreamIntegrityError('unknown stream record');
    }
  }

  /** A large file from its first byte; returns the stream offset after it. */
  private async largeFile(reader: StreamReader, r: FileRecord, offset: number): Promise<number> {
    this.checkParent(r.p);
    const dst = safeRelative(this.data, r.p);
    if (this.map.has(r.p)) await removeIfExists(dst);
    const fd = createSync(dst);
    fsCb.closeSync(fd);
    return this.writeLarge(reader, r, dst, 0, createHash('sha256'), offset);
  }

  /** After a restart inside a large file: keep its first `written` bytes, re-hash them, go on. */
  private async continueLargeFile(
    reader: StreamReader,
    r: FileRecord,
    written: number,
    offset: number,
  ): Promise<number> {
    const dst = safeRelative(this.data, r.p);
    await fs.truncate(dst, written);
    const hash = createHash('sha256');
    const fh = await fs.open(dst, 'r');
    try {
      const buf = Buffer.allocUnsafe(WRITE_BATCH);
      let pos = 0;
      while (pos < written) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, written - pos), pos);
        if (bytesRead === 0) throw new Error(`${r.p} is shorter than its checkpoint`);
        hash.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
    } finally {
      await fh.close();
    }
    return this.writeLarge(reader, r, dst, written, hash, offset);
  }

  private async writeLarge(
    reader: StreamReader,
    r: FileRecord,
    dst: string,
    written: number,
    hash: Hash,
    offset: number,
  ): Promise<number> {
    const contentStart = offset - written;
    const fh = await fs.open(dst, 'r+');
    try {
      let parts: Buffer[] = [];
      let len = 0;
      const flush = async (): Promise<void> => {
        await writeAll(fh, parts, len, written);
        written += len;
        parts = [];
        len = 0;
        this.mark(contentStart + written, { rec: r, written });
      };
      await reader.pipe(
        r.s - written,
        async (chunk) => {
          hash.update(chunk);
          parts.push(chunk);
          len += chunk.length;
          if (len >= WRITE_BATCH) await flush();
        },
        false,
      );
      if (len) await flush();
      if (hash.digest('hex') !== r.h) throw new StreamIntegrityError(`checksum mismatch for ${r.p}`);
      await fh.chmod(r.m);
      await fh.utimes(utimeOf(r.mt), utimeOf(r.mt));
    } finally {
      await fh.close();
    }
    this.records++;
    applyToMap(this.map, r, this.baseMap);
    this.pendingLines.push(JSON.stringify(r));
    const end = contentStart + r.s;
    this.mark(end, null);
    return end;
  }
}

async function setAttrs(p: string, m: number, mt: number): Promise<void> {
  await fs.chmod(p, m);
  await fs.utimes(p, utimeOf(mt), utimeOf(mt));
}
