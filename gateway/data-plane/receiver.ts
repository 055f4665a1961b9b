// The receiving side of the data plane. A receive stages the incoming stream in <root>/incoming/<id>/stream at the
// offsets the sender gives, syncing to disk every few MiB and recording that durable offset; after a dropped
// connection or a restart of either agent the sender continues from it. When the sender declares the stream whole,
// its length and sha256 are checked against what was staged; only then does the driver apply it into the snapshot's
// directory, still unlisted. Commit publishes it (meta.json) and brings the live share to it. Any failure (checksum,
// disk full, bad stream) removes the staged and applied data: nothing half-received is ever visible.
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors';
import type { PrepareReceiveRequest, ReceiveStatus } from '../../domain/gateway-contract';
import type { Logger } from '../../infra/logger';
import { InsufficientStorageError, isDiskFull } from '../errors';
import type { Layout, PortionRef } from '../layout';
import type { ShareRegistry } from '../shares/registry';
import { StreamIntegrityError, type SnapshotDriver } from '../snapshot-drivers/driver';
import { SnapshotStore } from '../snapshots';
import { errorMessage, exists, readJson, writeAll, writeFileAtomic } from '../util';

/**
 * Record the offset of the staged stream after this many bytes or this much time, whichever comes first, and when a
 * data request ends or breaks. What write() put into the file survives a crash of the agent (it is in the page
 * cache), so the record is exact for a kill -9; only a broken request also syncs the file to disk. After a crash of
 * the whole node, bytes newer than the last sync may be lost: the sha256 check then fails the receive cleanly (never
 * a silently corrupt snapshot) and the orchestrator starts the transfer again.
 */
const CHECKPOINT_BYTES = 32 * 1024 * 1024;
const CHECKPOINT_MS = 1000;
const WRITE_BATCH = 4 * 1024 * 1024;

export interface ReceiveRecord {
  transferId: string;
  share: string;
  portion: string;
  snapshotId: string;
  baseSnapshotId: string | null;
  driver: string;
  createdAt: string;
  expiresAt: string | null;
  sourceNode: string;
  state: ReceiveStatus['state'];
  durableOffset: number;
  error: string | null;
  sizeBytes: number;
  updatedAt: string;
}

interface Live {
  offset: number;
  hash: Hash;
  writer?: { stop: () => void; done: Promise<void> };
  /** The driver applying the stream as it arrives (only for a stream received in one piece from offset 0). */
  applier?: { feed: PassThrough; result: Promise<{ sizeBytes: number } | Error> };
}

export class Receiver {
  private readonly records = new Map<string, ReceiveRecord>();
  private readonly live = new Map<string, Live>();
  /** Data requests being written; stop() lets them record their durable offset before the agent exits. */
  private readonly writing = new Set<Promise<unknown>>();
  private readonly dir: string;

  constructor(
    private readonly layout: Layout,
    private readonly driver: SnapshotDriver,
    private readonly store: SnapshotStore,
    private readonly registry: ShareRegistry,
    private readonly log: Logger,
  ) {
    this.dir = path.join(layout.state, 'receives');
  }

  private streamFile(id: string): string {
    return path.join(this.layout.incomingDir(id), 'stream');
  }

  private async persist(r: ReceiveRecord): Promise<void> {
    r.updatedAt = new Date().toISOString();
    await writeFileAtomic(path.join(this.dir, `${r.transferId}.json`), JSON.stringify(r));
  }

  /** Loads receives after a restart; a receive under way is cut back to its last durable offset. */
  async load(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    for (const f of await fs.readdir(this.dir)) {
      if (!f.endsWith('.json')) continue;
      const r = await readJson<ReceiveRecord>(path.join(this.dir, f));
      if (!r) continue;
      this.records.set(r.transferId, r);
      if (r.state === 'receiving' || r.state === 'received') {
        this.store.receiving.add(SnapshotStore.receivingKey(r, r.snapshotId));
      }
      if (r.state === 'receiving') {
        const file = this.streamFile(r.transferId);
        if (await exists(file)) await fs.truncate(file, r.durableOffset);
        else {
          await fs.mkdir(path.dirname(file), { recursive: true });
          await fs.writeFile(file, '');
          r.durableOffset = 0;
        }
      }
    }
  }

  activeCount(): number {
    return [...this.records.values()].filter((r) => r.state === 'receiving').length;
  }

  list(): ReceiveStatus[] {
    return [...this.records.values()].map((r) => this.status(r));
  }

  get(id: string): ReceiveStatus {
    return this.status(this.require(id));
  }

  /** Snapshot ids being received into a portion (for negotiation). */
  receivingInto(p: PortionRef): string[] {
    return [...this.records.values()]
      .filter(
        (r) => r.share === p.share && r.portion === p.portion && (r.state === 'receiving' || r.state === 'received'),
      )
      .map((r) => r.snapshotId);
  }

  busyShare(share: string): boolean {
    return [...this.records.values()].some(
      (r) => r.share === share && (r.state === 'receiving' || r.state === 'received'),
    );
  }

  private require(id: string): ReceiveRecord {
    const r = this.records.get(id);
    if (!r) throw new NotFoundError(`receive ${id} does not exist`);
    return r;
  }

  private status(r: ReceiveRecord): ReceiveStatus {
    return {
      transferId: r.transferId,
      share: r.share,
      portion: r.portion,
      snapshotId: r.snapshotId,
      baseSnapshotId: r.baseSnapshotId,
      state: r.state,
      receivedBytes: this.live.get(r.transferId)?.offset ?? r.durableOffset,
      error: r.error,
    };
  }

  async prepare(id: string, req: PrepareReceiveRequest, sourceNode: string): Promise<ReceiveStatus> {
    const p: PortionRef = { share: req.share, portion: req.portion };
    const existing = this.records.get(id);
    if (existing) {
      const same =
        existing.share === req.share &&
        existing.portion === req.portion &&
        existing.snapshotId === req.snapshotId &&
        existing.baseSnapshotId === (req.baseSnapshotId ?? null);
      if (!same) throw new ConflictError(`receive ${id} exists with other parameters`);
      // A failed receive stays failed (the sender learns why here); retrying takes a new transfer id.
      return this.status(existing);
    }
    const share = this.registry.get(req.share);
    if (!share) throw new NotFoundError(`share ${req.share} does not exist on this FSVM`);
    if (!share.portions.includes(req.portion)) {
      throw new NotFoundError(`share ${req.share} has no portion ${JSON.stringify(req.portion)} on this FSVM`);
    }
    if (req.driver !== this.driver.name) {
      throw new ValidationError(`stream of driver ${req.driver} cannot be received by driver ${this.driver.name}`);
    }
    if (req.baseSnapshotId) await this.store.require(p, req.baseSnapshotId, 'base snapshot');
    if (await this.store.get(p, req.snapshotId)) {
      throw new ConflictError(`snapshot ${req.snapshotId} already exists on ${req.share}`);
    }
    const rkey = SnapshotStore.receivingKey(p, req.snapshotId);
    const other = [...this.records.values()].find(
      (r) => r.transferId !== id && SnapshotStore.receivingKey(r, r.snapshotId) === rkey && r.state !== 'failed',
    );
    if (other)
      throw new ConflictError(`snapshot ${req.snapshotId} is already being received (receive ${other.transferId})`);
    const file = this.streamFile(id);
    await fs.rm(path.dirname(file), { recursive: true, force: true });
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, '');
    const r: ReceiveRecord = {
      transferId: id,
      share: req.share,
      portion: req.portion,
      snapshotId: req.snapshotId,
      baseSnapshotId: req.baseSnapshotId ?? null,
      driver: req.driver,
      createdAt: req.createdAt,
      expiresAt: req.expiresAt ?? null,
      sourceNode,
      state: 'receiving',
      durableOffset: 0,
      error: null,
      sizeBytes: 0,
      updatedAt: '',
    };
    this.live.delete(id);
    this.store.receiving.add(rkey);
    await this.persist(r);
    this.records.set(id, r);
    this.log.info({ transferId: id, share: r.share, portion: r.portion, snapshot: r.snapshotId }, 'receive prepared');
    return this.status(r);
  }

  /** The in-memory hash and offset of a receive, rebuilt from the staged file after a restart. */
  private async liveState(r: ReceiveRecord): Promise<Live> {
    let l = this.live.get(r.transferId);
    if (l) return l;
    const file = this.streamFile(r.transferId);
    await fs.truncate(file, r.durableOffset);
    const hash = createHash('sha256');
    const fh = await fs.open(file, 'r');
    try {
      const buf = Buffer.allocUnsafe(1024 * 1024);
      let pos = 0;
      while (pos < r.durableOffset) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, r.durableOffset - pos), pos);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
    } finally {
      await fh.close();
    }
    l = { offset: r.durableOffset, hash };
    this.live.set(r.transferId, l);
    return l;
  }

  /** Appends the body of one data request, which starts at `offset`. Returns once it is durable. */
  write(id: string, offset: number, body: Readable): Promise<ReceiveStatus> {
    const p = this.writeTracked(id, offset, body);
    this.writing.add(p);
    void p.finally(() => this.writing.delete(p)).catch(() => undefined);
    return p;
  }

  /** On a graceful stop (SIGTERM) the senders' connections are closed: wait for each write to checkpoint. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.writing]);
  }

  private async writeTracked(id: string, offset: number, body: Readable): Promise<ReceiveStatus> {
    const r = this.require(id);
    if (r.state !== 'receiving') throw new ConflictError(`receive ${id} is ${r.state}, not receiving`);
    const prev = this.live.get(id)?.writer;
    if (prev) {
      // A new connection of the sender replaces a stale one the receiver has not noticed dropping yet.
      prev.stop();
      await prev.done;
    }
    const l = await this.liveState(r);
    if (offset !== l.offset) {
      throw new ConflictError(`receive ${id} continues at offset ${l.offset}, not ${offset}`);
    }
    let release!: () => void;
    const done = new Promise<void>((res) => (release = res));
    l.writer = { stop: () => body.destroy(), done };
    const p: PortionRef = { share: r.share, portion: r.portion };
    let applier = l.applier;
    if (offset === 0 && this.driver.receiveStream) {
      // Apply while receiving: the result is kept only if the whole stream arrives in this request and verifies.
      await this.dropApplier(r, l);
      await fs.mkdir(this.layout.snapshotDir(p, r.snapshotId), { recursive: true });
      const feed = new PassThrough({ highWaterMark: 8 * 1024 * 1024 });
      const result = this.driver
        .receiveStream(p, r.snapshotId, r.baseSnapshotId ?? undefined, feed, { streamChecked: true })
        .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
      applier = l.applier = { feed, result };
    } else if (applier) {
      await this.dropApplier(r, l);
      applier = undefined;
    }
    const fh = await fs.open(this.streamFile(id), 'r+');
    let sinceSync = 0;
    let lastSync = Date.now();
    const checkpoint = async (sync = false): Promise<void> => {
      if (sync) await fh.datasync();
      r.durableOffset = l.offset;
      sinceSync = 0;
      lastSync = Date.now();
      await this.persist(r);
    };
    try {
      // Chunks are written in batches of a few MiB (one writev each); the hash and offset only ever cover what is
      // in the file, so a broken request loses at most the unwritten batch, which the sender sends again.
      let batch: Buffer[] = [];
      let batchLen = 0;
      const flush = async (): Promise<void> => {
        if (!batchLen) return;
        await writeAll(fh, batch, batchLen, l.offset);
        for (const b of batch) l.hash.update(b);
        l.offset += batchLen;
        sinceSync += batchLen;
        batch = [];
        batchLen = 0;
        if (sinceSync >= CHECKPOINT_BYTES || Date.now() - lastSync >= CHECKPOINT_MS) await checkpoint();
      };
      for await (const chunk of body) {
        const b = chunk as Buffer;
        batch.push(b);
        batchLen += b.length;
        if (applier && !applier.feed.write(b)) {
          // backpressure from the applier (or it failed: then it stops reading and the stream goes on alone)
          const a = applier;
          const gaveUp = await Promise.race([
            new Promise<boolean>((res) => a.feed.once('drain', () => res(false))),
            a.result.then((v) => v instanceof Error),
          ]);
          if (gaveUp) applier = undefined;
        }
        if (batchLen >= WRITE_BATCH) await flush();
      }
      await flush();
      await checkpoint();
      l.applier?.feed.end();
      return this.status(r);
    } catch (err) {
      if (l.applier) await this.dropApplier(r, l);
      if (isDiskFull(err)) {
        await fh.close().catch(() => undefined);
        await this.fail(r, 'disk full on the receiving FSVM');
        throw new InsufficientStorageError(`receive ${id}: no space left on the receiving FSVM; staged data freed`);
      }
      // A dropped connection: what was written is kept; the offset and hash stay consistent with the file.
      await checkpoint(true).catch(() => undefined);
      throw err;
    } finally {
      await fh.close().catch(() => undefined);
      l.writer = undefined;
      release();
    }
  }

  /** The sender says the stream is whole: verify length and sha256, then apply it (still unlisted). */
  async complete(id: string, totalBytes: number, sha256: string): Promise<ReceiveStatus> {
    const r = this.require(id);
    if (r.state === 'received' || r.state === 'committed') return this.status(r);
    if (r.state === 'failed') throw new ConflictError(`receive ${id} failed: ${r.error}`);
    const l = await this.liveState(r);
    if (l.writer) throw new ConflictError(`receive ${id} is still receiving data`);
    if (l.offset !== totalBytes) {
      throw new ConflictError(`receive ${id} has ${l.offset} bytes, the sender says ${totalBytes}`);
    }
    const got = l.hash.copy().digest('hex');
    if (got !== sha256) {
      await this.fail(r, 'checksum mismatch: the stream was corrupted in flight');
      throw new StreamIntegrityError(`receive ${id}: sha256 of the received stream does not match the sender's`);
    }
    const p: PortionRef = { share: r.share, portion: r.portion };
    this.log.info({ transferId: id, bytes: totalBytes }, 'stream whole and verified; applying');
    try {
      let sizeBytes: number | undefined;
      if (l.applier) {
        const outcome: { sizeBytes: number } | Error = await l.applier.result;
        l.applier = undefined;
        if (outcome instanceof Error) {
          if (isDiskFull(outcome)) throw outcome;
          this.log.warn(
            { transferId: id, err: outcome.message },
            'applying while receiving failed; applying the staged stream',
          );
          await this.driver.deleteSnapshot(p, r.snapshotId);
        } else sizeBytes = outcome.sizeBytes;
      }
      sizeBytes ??= await this.store.withLock(p, async () => {
        await fs.mkdir(this.layout.snapshotDir(p, r.snapshotId), { recursive: true });
        const res = await this.driver.receive(p, r.snapshotId, r.baseSnapshotId ?? undefined, this.streamFile(id), {
          streamChecked: true,
        });
        return res.sizeBytes;
      });
      await fs.rm(this.layout.incomingDir(id), { recursive: true, force: true });
      r.state = 'received';
      r.sizeBytes = sizeBytes;
      this.live.delete(id);
      await this.persist(r);
      this.log.info({ transferId: id, snapshot: r.snapshotId, bytes: totalBytes }, 'stream applied');
      return this.status(r);
    } catch (err) {
      const reason = isDiskFull(err) ? 'disk full on the receiving FSVM' : `apply failed: ${errorMessage(err)}`;
      await this.fail(r, reason);
      if (isDiskFull(err)) throw new InsufficientStorageError(`receive ${id}: ${reason}; partial data freed`);
      if (err instanceof StreamIntegrityError) throw err;
      throw new StreamIntegrityError(`receive ${id}: ${reason}`);
    }
  }

  /** Publishes a received snapshot and (by default) brings the live share to it. Idempotent. */
  async commit(id: string, opts: { updateLive: boolean }): Promise<ReceiveStatus> {
    const r = this.require(id);
    if (r.state === 'committed') return this.status(r);
    if (r.state !== 'received')
      throw new ConflictError(`receive ${id} is ${r.state}; only a received snapshot can be committed`);
    const p: PortionRef = { share: r.share, portion: r.portion };
    await this.store.withLock(p, async () => {
      await this.store.publish({
        id: r.snapshotId,
        share: r.share,
        portion: r.portion,
        createdAt: r.createdAt,
        expiresAt: r.expiresAt,
        origin: 'received',
        sizeBytes: r.sizeBytes,
        completedAt: new Date().toISOString(),
      });
      this.store.receiving.delete(SnapshotStore.receivingKey(p, r.snapshotId));
      if (opts.updateLive) await this.driver.rollback(p, r.snapshotId, { reuseUnchanged: true });
    });
    r.state = 'committed';
    await this.persist(r);
    this.log.info({ transferId: id, snapshot: r.snapshotId, share: r.share }, 'snapshot committed');
    return this.status(r);
  }

  /** Abandons a receive (sender cancelled); a committed snapshot stays (delete it as a snapshot). */
  async discard(id: string): Promise<ReceiveStatus | undefined> {
    const r = this.records.get(id);
    if (!r) return undefined;
    if (r.state === 'committed') return this.status(r);
    if (r.state !== 'failed') await this.fail(r, 'cancelled by the sender');
    return this.status(r);
  }

  /** Stops an applier that cannot see the whole stream any more and removes what it applied. */
  private async dropApplier(r: ReceiveRecord, l: Live): Promise<void> {
    const a = l.applier;
    if (!a) return;
    l.applier = undefined;
    a.feed.destroy(new Error('stream interrupted'));
    await a.result;
    await this.driver.deleteSnapshot({ share: r.share, portion: r.portion }, r.snapshotId).catch(() => undefined);
  }

  private async fail(r: ReceiveRecord, reason: string): Promise<void> {
    const p: PortionRef = { share: r.share, portion: r.portion };
    this.live.get(r.transferId)?.writer?.stop();
    const l = this.live.get(r.transferId);
    if (l?.applier) await this.dropApplier(r, l);
    this.live.delete(r.transferId);
    await fs.rm(this.layout.incomingDir(r.transferId), { recursive: true, force: true }).catch(() => undefined);
    if (!(await this.store.get(p, r.snapshotId))) {
      await this.driver
        .deleteSnapshot(p, r.snapshotId)
        .catch((err: unknown) =>
          this.log.error({ err: errorMessage(err), transferId: r.transferId }, 'could not remove partial snapshot'),
        );
    }
    this.store.receiving.delete(SnapshotStore.receivingKey(p, r.snapshotId));
    r.state = 'failed';
    r.error = reason;
    r.durableOffset = 0;
    await this.persist(r).catch(() => undefined);
    this.log.warn({ transferId: r.transferId, reason }, 'receive failed; staged data removed');
  }
}
