// Applies a portable stream while it arrives, with no staged copy of the stream. The new snapshot is the base's
// manifest changed by the records: only the contents that come over the wire are written (into the snapshot's staging
// directory, as objects named by their sha256, published into the content store at the end; see object-store.ts).
// Every content is checked against the sha256 its record carries and the record headers are chained (see
// portable-stream.ts), so the result is verified without a hash of the whole stream.
//
// Resume: the applier can say, at any moment, how far it has durably got (`checkpoint()`): the stream offset of a
// consistent point (the end of a record, or a byte inside a large file), the journal of the records applied before
// it (one header line each, appended to <snapshot>/receive.journal), the chain value and the file being written.
// A restarted agent rebuilds the tree's map from the base manifest and the journal, truncates the file being written
// to the checkpoint, re-reads it to rebuild its sha256, and continues from that offset. Whatever was applied after
// the checkpoint is simply applied again (every operation tolerates finding its own earlier result).
import { createHash, type Hash } from 'node:crypto';
import fsCb from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Layout, PortionRef } from '../layout';
import { asError, writeAll } from '../util';
import { StreamIntegrityError, type ApplyCheckpoint } from './driver';
import { parentOf, type Entry } from './manifest';
import { checkHash, hashesOf, type ObjectStore } from './object-store';
import { MAGIC, StreamReader, chainNext, chainStart, type StreamRecord } from './portable-stream';

type FileRecord = Extract<StreamRecord, { op: 'file' }>;

/** How the applier reads the base's manifest and writes the new one (the driver keeps recent ones parsed). */
export interface ManifestAccess {
  read(id: string): Promise<Entry[]>;
  write(id: string, entries: Entry[]): Promise<void>;
}

/** What a checkpoint carries besides its offset (JSON, kept in the receive's record). */
export interface PortableApplyState {
  journalBytes: number;
  records: number;
  chain: string;
  /** The large file being written at the checkpoint: its record and how many of its bytes are in the file. */
  partial: { rec: FileRecord; written: number } | null;
}

/** Files up to this size are gathered in memory and written with synchronous calls (cheaper than thread-pool round trips). */
const SYNC_WRITE_MAX = 256 * 1024;
const WRITE_BATCH = 1024 * 1024;

/** Refuses a path that is not relative, plain parts separated by "/" (a manifest path becomes a file's path later). */
function checkPath(rel: string): void {
  if (typeof rel !== 'string') throw new StreamIntegrityError('stream entry without a path');
  if (rel === '') return;
  for (const part of rel.split('/')) {
    if (part === '' || part === '.' || part === '..' || part.includes('\0'))
      throw new StreamIntegrityError(`unsafe entry path ${JSON.stringify(rel)}`);
  }
}

/** The map of the tree being built, as a record changes it (the same on first application and on replay). */
function applyToMap(map: Map<string, Entry>, r: StreamRecord, baseMap: Map<string, Entry>): void {
  if (r.op === 'end') return;
  // whatever replaces a directory (a del first, or not) takes everything below it away
  if (map.get(r.p)?.t === 'd' && r.op !== 'dir') {
    for (const k of [...map.keys()]) if (k.startsWith(`${r.p}/`)) map.delete(k);
  }
  if (r.op === 'del') map.delete(r.p);
  else if (r.op === 'dir') map.set(r.p, { p: r.p, t: 'd', m: r.m, mt: r.mt, s: 0 });
  else if (r.op === 'file') map.set(r.p, { p: r.p, t: 'f', m: r.m, mt: r.mt, s: r.s, h: r.h });
  else if (r.op === 'copy') {
    const from = baseMap.get(r.from);
    map.set(r.p, { p: r.p, t: 'f', m: r.m, mt: r.mt, s: from?.s ?? 0, h: from?.h });
  } else if (r.op === 'symlink') map.set(r.p, { p: r.p, t: 'l', m: 0o777, mt: r.mt, s: 0, l: r.l });
}

export class PortableApplier {
  private readonly staging: string;
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
    private readonly objects: ObjectStore,
    private readonly manifests: ManifestAccess,
    private readonly p: PortionRef,
    private readonly id: string,
    private readonly baseId: string | undefined,
  ) {
    this.staging = objects.stagingDir(p, id);
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
    if (this.baseId) await this.objects.migrate(this.p, this.baseId);
    const baseEntries = this.baseId ? await this.manifests.read(this.baseId) : [];
    this.baseMap = new Map(baseEntries.map((e) => [e.p, e]));
    // the new manifest will reference the base's contents: they must outlive a deletion of the base meanwhile
    const unpin = this.objects.pin(this.p, hashesOf(baseEntries));
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
        await fs.rm(this.staging, { recursive: true, force: true });
        await fs.rm(this.journal, { force: true });
        await fs.mkdir(this.staging, { recursive: true });
        for (const e of baseEntries) this.map.set(e.p, e);
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
      if (this.map.get('')?.t !== 'd') throw new StreamIntegrityError('stream has no root directory');
      const entries = [...this.map.values()];
      await this.manifests.write(this.id, entries);
      await this.objects.publish(this.p, this.id);
      await fs.rm(this.journal, { force: true });
      return {
        sizeBytes: entries.reduce((n, e) => n + (e.t === 'f' ? e.s : 0), 0),
        digest: this.chain.toString('hex'),
      };
    } finally {
      reader.close();
      unpin();
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
    checkPath(rel);
    if (rel === '') throw new StreamIntegrityError('stream entry for the root where a file was expected');
    if (this.map.get(parentOf(rel))?.t !== 'd')
      throw new StreamIntegrityError(`stream entry ${rel} has no parent directory`);
  }

  /** Applies a record other than a large file's (the map of the tree changes after, see applyToMap). */
  private async applyRecord(reader: StreamReader, r: StreamRecord): Promise<void> {
    if (r.op === 'del' || r.op === 'symlink') this.checkParent(r.p);
    else if (r.op === 'dir') {
      checkPath(r.p);
      if (r.p !== '') this.checkParent(r.p);
    } else if (r.op === 'file') {
      // The content is gathered in memory, checked, then written at its staged name directly (no temporary name
      // and rename: 10k renames cost ~1 s of a base here). A file cut short there is rewritten before it is
      // published: an agent's crash keeps the page cache and its resume applies every record after the checkpoint
      // again; a node's crash restarts the receive from 0.
      this.checkParent(r.p);
      const h = checkHash(r.h, `stream entry ${r.p}`);
      const parts: Buffer[] = [];
      const got = await reader.pipe(r.s, async (chunk) => void parts.push(chunk), true);
      if (got !== h) throw new StreamIntegrityError(`checksum mismatch for ${r.p}`);
      const fd = this.objects.openStaged(this.p, this.id, h);
      try {
        if (parts.length === 1) fsCb.writeSync(fd, parts[0]!);
        else if (parts.length > 1) fsCb.writevSync(fd, parts);
      } finally {
        fsCb.closeSync(fd);
      }
    } else if (r.op === 'copy') {
      this.checkParent(r.p);
      const from = this.baseMap.get(r.from);
      if (!from || from.t !== 'f') throw new StreamIntegrityError(`stream copies ${r.from}, not a file of the base`);
    } else {
      throw new StreamIntegrityError('unknown stream record');
    }
  }

  /** A large file from its first byte; returns the stream offset after it. */
  private async largeFile(reader: StreamReader, r: FileRecord, offset: number): Promise<number> {
    this.checkParent(r.p);
    const dst = this.partPath(r);
    fsCb.closeSync(fsCb.openSync(dst, 'w', 0o444));
    return this.writeLarge(reader, r, dst, 0, createHash('sha256'), offset);
  }

  /** Where a large file's content is written until it is complete and checked. */
  private partPath(r: FileRecord): string {
    return path.join(this.staging, `${checkHash(r.h, `stream entry ${r.p}`)}.part`);
  }

  /** After a restart inside a large file: keep its first `written` bytes, re-hash them, go on. */
  private async continueLargeFile(
    reader: StreamReader,
    r: FileRecord,
    written: number,
    offset: number,
  ): Promise<number> {
    const dst = this.partPath(r);
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
    // One batch is written while the next is read and hashed: the write (a thread-pool call, ~1-2 ms per MiB into
    // the page cache here) overlaps the hashing instead of alternating with it.
    let writing: Promise<void> = Promise.resolve();
    let writeError: Error | undefined; // kept here, not as a rejection nobody may be waiting for yet
    try {
      let parts: Buffer[] = [];
      let len = 0;
      const flush = async (): Promise<void> => {
        const [batch, n, at] = [parts, len, written];
        parts = [];
        len = 0;
        written += n;
        await writing; // in order, one at a time
        if (writeError) throw writeError;
        writing = writeAll(fh, batch, n, at).then(
          () => this.mark(contentStart + at + n, { rec: r, written: at + n }),
          (err: unknown) => void (writeError = asError(err)),
        );
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
      await writing;
      if (writeError) throw writeError;
      if (hash.digest('hex') !== r.h) throw new StreamIntegrityError(`checksum mismatch for ${r.p}`);
    } finally {
      await writing; // never close the file under a write
      await fh.close();
    }
    this.objects.stage(this.p, this.id, dst, r.h);
    this.records++;
    applyToMap(this.map, r, this.baseMap);
    this.pendingLines.push(JSON.stringify(r));
    const end = contentStart + r.s;
    this.mark(end, null);
    return end;
  }
}
