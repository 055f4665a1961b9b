// The receiving side of the data plane. The stream is applied while it arrives, straight into the snapshot's still
// unlisted directory (btrfs: `btrfs receive` reads a FIFO that upgraded connections are relayed into by `dd`, unread
// by this process, see tool-input.ts; zfs: piped into `zfs receive`; portable: the agent's applier): each byte is
// written once, where it belongs, with no staged copy. When the sender declares the stream whole, its length and
// digest are checked; only then is the result kept (state `received`). Commit publishes it (meta.json) and brings the
// live share to it. Any failure (checksum, disk full, bad stream) removes what was applied: nothing half-received is
// ever visible.
//
// Resume. While the receiving agent runs, the application stays alive between requests: after a dropped connection
// or a restart of the sender, the sender continues exactly where the receiver's application is (its offset). After a
// restart of the receiving agent: the portable driver continues from its last checkpoint (written every 32 MiB or
// 1 s, and when a request ends or breaks: see portable-apply.ts). btrfs and zfs cannot continue a killed `receive`.
// btrfs without a spool (the default): its `receive` is not killed, it outlives the agent, and the restarted agent
// takes it over (see tool-input.ts). With GATEWAY_RECEIVE_SPOOL=on (the default for zfs) the stream is also spooled
// to incoming/<id>/stream as it arrives (one sequential append, into the page cache); a restarted agent deletes the
// partial subvolume, replays the spool into a fresh `receive` and the sender continues from the last checkpoint
// (btrfs: from the spool's end), not from 0. zfs without the spool starts such a stream again from 0 (the spool costs
// a second write of every byte, and its disk space).
//
// Integrity. btrfs/zfs streams carry their own checksums, which `receive` verifies as it applies each command; the
// agent checks the length. The sender regenerates such a stream from its start after an interruption and skips to
// the receiver's offset: it re-sends the last bytes before that offset (up to STREAM_OVERLAP_BYTES), which the
// receiver compares with what it has, so a stream that does not regenerate identically is refused at the splice.
//
// Durability. What was applied is synced in the background while data arrives (see backgroundSync), and the
// filesystem once more (syncfs) when the stream is whole and verified, before the receive is recorded as `received`. A checkpoint is exact after a kill -9
// of the agent (what was written is in the page cache); after a crash of the whole node (the boot id changed) the
// page cache is gone, so a checkpoint is not trusted: the receive starts again from 0.
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors';
import {
  STREAM_OVERLAP_BYTES,
  type CommitReceiveRequest,
  type PrepareReceiveRequest,
  type ReceiveStatus,
  type StreamDigestKind,
} from '../../domain/gateway-contract';
import type { Logger } from '../../infra/logger';
import type { ReceiveSpoolSetting } from '../config';
import { InsufficientStorageError, isDiskFull } from '../errors';
import type { Layout, PortionRef } from '../layout';
import type { ShareRegistry } from '../shares/registry';
import { StreamIntegrityError, type ApplyCheckpoint, type SnapshotDriver } from '../snapshot-drivers/driver';
import { SnapshotStore } from '../snapshots';
import { asError, errorMessage, readJson, run, writeFileAtomic } from '../util';
import { readBuffered, RelayCountLostError, ToolInput, type ToolInputOptions } from './tool-input';

/** Checkpoint (the portable applier's state, or the spool's length) after this many bytes or this much time. */
const CHECKPOINT_BYTES = 32 * 1024 * 1024;
const CHECKPOINT_MS = 1000;
/** How often what was applied is synced while a stream arrives. */
const SYNC_MS = 1000;
/** What the application may lag behind the network by (bytes buffered in memory per receive). */
const FEED_BUFFER = 2 * 1024 * 1024;
/** Bytes of a request body read ahead of the application before the socket is paused. */
const BODY_BUFFER = 1024 * 1024;

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
  /** The offset of the last checkpoint: where a restarted agent continues. */
  durableOffset: number;
  /** The application's state at that checkpoint (resumable drivers). */
  checkpoint?: ApplyCheckpoint | null;
  /** The node's boot id when the checkpoint was taken: a checkpoint from before a node crash is not trusted. */
  bootId?: string;
  error: string | null;
  /** The snapshot's size: the application's, the sender's (exact copies), or null (measured once published). */
  sizeBytes: number | null;
  updatedAt: string;
}

/** A running application of a stream: the bytes are fed to the driver as they arrive. */
interface Live {
  /** Bytes handed to the application so far: where the next request must start (see offsetOf). */
  offset: number;
  /** The application's input (drivers applied in this process, and tools without `receiveFrom`: zfs). */
  feed?: PassThrough;
  /** The tool's input when the driver has `receiveFrom` (btrfs): a FIFO that connections are relayed into. */
  input?: ToolInput;
  result: Promise<{ sizeBytes: number | null; digest?: string } | Error>;
  /**
   * The last bytes fed (at least STREAM_OVERLAP_BYTES when there are that many), for drivers whose stream is
   * regenerated by the sender: a resumed request re-sends them and they must match.
   */
  tail?: { chunks: Buffer[]; bytes: number };
  checkpointer: { checkpoint?: () => Promise<ApplyCheckpoint> };
  /** Syncs what was applied while the stream arrives (see backgroundSync). */
  syncer?: NodeJS.Timeout;
  checkpointing?: Promise<void>;
  writer?: { stop: () => void; done: Promise<void> };
  /**
   * The spool (drivers whose application cannot resume: btrfs, zfs), written asynchronously so the socket and the
   * application keep moving; `base + bytesWritten` is how much of the stream is in it.
   */
  spool?: { out: fsSync.WriteStream; base: number };
  spoolError?: Error;
}

/**
 * The chunks of a request body as they arrive ('data' events). A `for await` over the request itself would call
 * read(), which concatenates (copies) whatever is buffered: a measurable share of the receiver's CPU.
 */
async function* chunksOf(body: Readable): AsyncGenerator<Buffer> {
  let queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let error: Error | undefined;
  let wake: (() => void) | undefined;
  const onData = (b: Buffer): void => {
    queue.push(b);
    queued += b.length;
    if (queued >= BODY_BUFFER) body.pause();
    wake?.();
  };
  const onEnd = (): void => {
    ended = true;
    wake?.();
  };
  const onError = (err: Error): void => {
    error ??= err;
    wake?.();
  };
  const onClose = (): void => onError(new Error('the request was aborted'));
  body.on('data', onData);
  body.on('end', onEnd);
  body.on('error', onError);
  body.on('close', onClose);
  try {
    for (;;) {
      if (queue.length) {
        const batch = queue;
        queue = [];
        queued = 0;
        if (body.isPaused()) body.resume();
        yield* batch;
        continue;
      }
      if (ended) return;
      if (error) throw error;
      await new Promise<void>((res) => (wake = res));
      wake = undefined;
    }
  } finally {
    body.off('data', onData);
    body.off('end', onEnd);
    body.off('error', onError);
    body.off('close', onClose);
  }
}

/** Remembers the last bytes fed to the application (see Live.tail). */
function keepTail(l: Live, b: Buffer): void {
  const t = l.tail;
  if (!t) return;
  t.chunks.push(b);
  t.bytes += b.length;
  while (t.chunks.length > 1 && t.bytes - t.chunks[0]!.length >= STREAM_OVERLAP_BYTES)
    t.bytes -= t.chunks.shift()!.length;
}

/** Where the next request must start. */
function offsetOf(l: Live): number {
  return l.input ? l.input.offset : l.offset;
}

function throwIfFailed(l: Live): void {
  if (l.spoolError) throw l.spoolError;
}

let bootIdCache: string | undefined;
async function bootId(): Promise<string> {
  bootIdCache ??= (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => 'unknown')).trim();
  return bootIdCache;
}

export class Receiver {
  private readonly records = new Map<string, ReceiveRecord>();
  private readonly live = new Map<string, Live>();
  /** Applications being started (a spool may be replaying): a second request waits for the same one. */
  private readonly starting = new Map<string, Promise<Live>>();
  /** Data requests being written; stop() lets them record their checkpoint before the agent exits. */
  private readonly writing = new Set<Promise<unknown>>();
  private readonly dir: string;
  /** The background sync under way (see backgroundSync). */
  private syncing: Promise<unknown> | undefined;

  constructor(
    private readonly layout: Layout,
    private readonly driver: SnapshotDriver,
    private readonly store: SnapshotStore,
    private readonly registry: ShareRegistry,
    private readonly log: Logger,
    private readonly opts: { spool: ReceiveSpoolSetting } = { spool: 'auto' },
  ) {
    this.dir = path.join(layout.state, 'receives');
  }

  /**
   * btrfs/zfs receives write a spool that lets a restarted agent resume (see the top); `auto`: only when the
   * driver's tool cannot outlive the agent to be adopted (zfs).
   */
  private get spools(): boolean {
    if (this.driver.resumableReceive) return false;
    return this.opts.spool === 'on' || (this.opts.spool === 'auto' && !('adoptReceive' in this.driver));
  }

  /** btrfs without a spool: the tool and its copies outlive the agent, and a restarted agent adopts them. */
  private get adopts(): boolean {
    return 'receiveFrom' in this.driver && 'adoptReceive' in this.driver && !this.spools;
  }

  /**
   * Writes a receive's record. Checkpoints are written `durable: false`: a checkpoint is trusted only on the boot that
   * took it (after a crash of the node the receive starts again from 0 whatever the record says), so an fsync, which
   * cost ~50 ms each here, buys nothing.
   */
  private async persist(r: ReceiveRecord, opts: { durable?: boolean } = {}): Promise<void> {
    r.updatedAt = new Date().toISOString();
    await writeFileAtomic(path.join(this.dir, `${r.transferId}.json`), JSON.stringify(r), opts);
  }

  /**
   * Loads receives after a restart. A receive under way continues from its checkpoint when the driver can resume
   * and the node did not crash since; otherwise what it applied is removed and it starts again from 0.
   */
  async load(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    const strays = await ToolInput.sweepStrays(this.layout.incoming);
    if (strays.length) {
      this.log.warn(
        { transferIds: strays.map((d) => path.basename(d)) },
        'killed processes of the previous run that their receive had not recorded: those receives start again from 0',
      );
    }
    const boot = await bootId();
    const adopted: ReceiveRecord[] = [];
    for (const f of await fs.readdir(this.dir)) {
      if (!f.endsWith('.json')) continue;
      const r = await readJson<ReceiveRecord>(path.join(this.dir, f));
      if (!r) continue;
      this.records.set(r.transferId, r);
      if (r.state === 'receiving' || r.state === 'received') {
        this.store.receiving.add(SnapshotStore.receivingKey(r, r.snapshotId));
      }
      if (r.state !== 'receiving') {
        await this.removeSpool(r.transferId);
        continue;
      }
      // A spool or checkpoint from before a crash of the node is not trusted: its page cache is gone.
      const spooled = await this.spoolLength(r.transferId);
      // a tool's input replays its whole spool; the spool of a stream fed by this process, up to its checkpoint
      if (this.driver.receiveFrom && spooled > 0) r.durableOffset = spooled;
      const adoptable = this.adopts && ToolInput.adoptable(this.layout.incomingDir(r.transferId));
      const resumable =
        r.bootId === boot &&
        (this.driver.resumableReceive
          ? Boolean(r.checkpoint?.state)
          : adoptable || (r.durableOffset > 0 && spooled >= r.durableOffset));
      if (resumable && adoptable) adopted.push(r);
      if (!resumable) {
        if (r.durableOffset > 0 || r.checkpoint || adoptable) {
          this.log.warn(
            { transferId: r.transferId, offset: r.durableOffset },
            'the node restarted since the last checkpoint: receive starts again from 0',
          );
        }
        // (what a tool left running is stopped first: it would go on writing into what is deleted)
        await this.removeSpool(r.transferId);
        await this.driver.deleteSnapshot({ share: r.share, portion: r.portion }, r.snapshotId).catch(() => undefined);
        r.durableOffset = 0;
        r.checkpoint = null;
        // its checkpoints from now on are this boot's
        r.bootId = boot;
        await this.persist(r);
      }
    }
    // adopted at once: a relayed connection may still be copying, and its progress is the sender's
    for (const r of adopted) {
      await this.liveState(r).catch((err: unknown) =>
        this.log.error({ transferId: r.transferId, err: errorMessage(err) }, 'could not take over the receive'),
      );
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
    const live = this.live.get(r.transferId);
    return {
      transferId: r.transferId,
      share: r.share,
      portion: r.portion,
      snapshotId: r.snapshotId,
      baseSnapshotId: r.baseSnapshotId,
      state: r.state,
      receivedBytes: live ? offsetOf(live) : r.durableOffset,
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
      checkpoint: null,
      bootId: await bootId(),
      error: null,
      sizeBytes: req.sizeBytes ?? null,
      updatedAt: '',
    };
    this.dropLive(id);
    this.store.receiving.add(rkey);
    await this.persist(r);
    this.records.set(id, r);
    this.log.info({ transferId: id, share: r.share, portion: r.portion, snapshot: r.snapshotId }, 'receive prepared');
    return this.status(r);
  }

  private spoolPath(id: string): string {
    return path.join(this.layout.incomingDir(id), 'stream');
  }

  private async spoolLength(id: string): Promise<number> {
    return (await fs.stat(this.spoolPath(id)).catch(() => undefined))?.size ?? 0;
  }

  /** Removes a receive's spool and the records of its processes (stopping those still running). */
  private async removeSpool(id: string, l?: Live): Promise<void> {
    const spool = l?.spool;
    if (spool) {
      l.spool = undefined;
      // What is still queued for the spool is not needed any more: the receive is over.
      if (!spool.out.closed) await new Promise<void>((res) => spool.out.once('close', () => res()).destroy());
    }
    await ToolInput.stopRecorded(this.layout.incomingDir(id));
    await fs.rm(this.layout.incomingDir(id), { recursive: true, force: true }).catch(() => undefined);
  }

  /**
   * What was applied is synced every second while bytes arrive, so that the sync that makes the snapshot durable at
   * the end has only the last second left to write, not the whole stream. (With a spool it writes back the spool
   * too, which would otherwise be deleted unwritten; measured on ~1 GiB of btrfs with the spool, 3.8-4.5 s with the
   * background sync against 4.0-5.3 s without, and without the spool the final sync went from 0.8-1.0 s to 0.02-0.12.)
   */
  private backgroundSync(r: ReceiveRecord, l: Live): void {
    const dir = this.layout.snapshotDir({ share: r.share, portion: r.portion }, r.snapshotId);
    let synced = offsetOf(l);
    l.syncer = setInterval(() => {
      const at = offsetOf(l);
      // one sync of the filesystem at a time serves every receive under way (they share the data root)
      if (this.syncing || at === synced) return;
      synced = at;
      this.syncing = run(['sync', '-f', dir])
        .catch(() => undefined)
        .finally(() => (this.syncing = undefined));
    }, SYNC_MS);
    l.syncer.unref();
  }

  /** Forgets the application of a receive (finished, failed or replaced). */
  private dropLive(id: string): void {
    clearInterval(this.live.get(id)?.syncer);
    this.live.delete(id);
  }

  /** The running application of a receive; started (from 0, or from its checkpoint after a restart) if needed. */
  private async liveState(r: ReceiveRecord): Promise<Live> {
    const existing = this.live.get(r.transferId);
    if (existing) return existing;
    const pending = this.starting.get(r.transferId);
    if (pending) return pending;
    const started = this.startLive(r).finally(() => this.starting.delete(r.transferId));
    this.starting.set(r.transferId, started);
    return started;
  }

  /** The tool's input of a driver with `receiveFrom`: adopted from the previous run of the agent, or started. */
  private async startInput(r: ReceiveRecord, p: PortionRef): Promise<ToolInput> {
    const receiveFrom = this.driver.receiveFrom!.bind(this.driver);
    const dir = this.layout.incomingDir(r.transferId);
    const o: ToolInputOptions = {
      dir,
      spool: this.spools,
      receive: (fifo, launch) => receiveFrom(p, r.snapshotId, r.baseSnapshotId ?? undefined, fifo, launch),
      adopt: (ended) => this.driver.adoptReceive!(p, r.snapshotId, ended),
    };
    if (this.adopts) {
      const adopted = await ToolInput.adopt(o).catch((err: unknown) => {
        if (!(err instanceof RelayCountLostError)) throw err;
        this.log.warn({ transferId: r.transferId, err: errorMessage(err) }, 'receive starts again from 0');
        return undefined;
      });
      if (adopted) {
        this.log.info(
          { transferId: r.transferId, offset: adopted.offset },
          'receive taken over from the previous run of the agent; it continues',
        );
        return adopted;
      }
    }
    await ToolInput.stopRecorded(dir);
    await this.driver.deleteSnapshot(p, r.snapshotId).catch(() => undefined);
    await fs.mkdir(this.layout.snapshotDir(p, r.snapshotId), { recursive: true });
    // a spool left by the previous run of the agent (load() kept it) is replayed by the input itself
    const input = await ToolInput.start(o);
    if (input.offset > 0) {
      this.log.info({ transferId: r.transferId, offset: input.offset }, 'spooled stream replayed; receive continues');
    }
    return input;
  }

  private async startLive(r: ReceiveRecord): Promise<Live> {
    const p: PortionRef = { share: r.share, portion: r.portion };
    if (this.driver.receiveFrom) {
      const input = await this.startInput(r, p);
      const l: Live = { offset: input.offset, input, result: input.result, checkpointer: {} };
      this.live.set(r.transferId, l);
      this.backgroundSync(r, l);
      return l;
    }
    const resumeFrom = this.driver.resumableReceive && r.checkpoint?.state ? r.checkpoint : undefined;
    const offset = resumeFrom ? resumeFrom.offset : 0;
    if (!resumeFrom) await this.driver.deleteSnapshot(p, r.snapshotId).catch(() => undefined);
    await fs.mkdir(this.layout.snapshotDir(p, r.snapshotId), { recursive: true });
    const feed = new PassThrough({ highWaterMark: FEED_BUFFER });
    const checkpointer: Live['checkpointer'] = {};
    const result = this.driver
      .receiveStream(p, r.snapshotId, r.baseSnapshotId ?? undefined, feed, {
        streamChecked: true,
        ...(resumeFrom ? { resumeFrom } : {}),
        checkpointer,
      })
      .catch(asError);
    const l: Live = {
      offset,
      feed,
      result,
      checkpointer,
      ...(this.driver.resumableReceive ? {} : { tail: { chunks: [], bytes: 0 } }),
    };
    if (this.spools) {
      try {
        await this.openSpool(r, l, feed);
      } catch (err) {
        if (r.durableOffset === 0 || isDiskFull(err)) throw err;
        // The spool cannot be replayed (unreadable, or shorter than its checkpoint): start again from 0. The sender
        // learns the new offset at its next prepare (its request at the old offset gets 409, which it retries).
        this.log.warn(
          { transferId: r.transferId, err: errorMessage(err) },
          'spool not replayable; receive starts from 0',
        );
        feed.destroy(new Error('spool not replayable'));
        await l.result;
        await this.removeSpool(r.transferId, l);
        r.durableOffset = 0;
        await this.persist(r);
        return this.startLive(r);
      }
    }
    this.live.set(r.transferId, l);
    this.backgroundSync(r, l);
    return l;
  }

  /**
   * Opens the spool of a btrfs/zfs receive. After a restart of the agent (durableOffset > 0, kept by load()) the
   * spooled bytes up to the last checkpoint are fed to the fresh `receive` first, so the sender continues there.
   */
  private async openSpool(r: ReceiveRecord, l: Live, feed: PassThrough): Promise<void> {
    const file = this.spoolPath(r.transferId);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const replay = r.durableOffset;
    await fs.writeFile(file, '', { flag: 'a' });
    await fs.truncate(file, replay);
    if (replay > 0) {
      const failed = l.result.then((v) => (v instanceof Error ? v : undefined));
      for await (const chunk of fsSync.createReadStream(file, {
        highWaterMark: 1024 * 1024,
      }) as AsyncIterable<Buffer>) {
        keepTail(l, chunk);
        l.offset += chunk.length;
        if (!feed.write(chunk)) {
          const err = await Promise.race([
            new Promise<undefined>((res) => feed.once('drain', () => res(undefined))),
            failed,
          ]);
          if (err) throw err;
        }
      }
      if (l.offset !== replay) throw new Error(`spool of receive ${r.transferId} is shorter than its checkpoint`);
      this.log.info({ transferId: r.transferId, offset: replay }, 'spooled stream replayed; receive continues');
    }
    const out = fsSync.createWriteStream(file, { flags: 'a', highWaterMark: 4 * 1024 * 1024 });
    // A write error (disk full) surfaces at the next write or checkpoint of the receive.
    out.on('error', (err) => (l.spoolError = err));
    l.spool = { out, base: replay };
  }

  /** Where the spool durably is: what the file holds (in the page cache), not what is still queued for it. */
  private spooled(l: Live): Promise<ApplyCheckpoint> {
    if (l.spoolError) return Promise.reject(l.spoolError);
    return Promise.resolve({ offset: l.spool ? l.spool.base + l.spool.out.bytesWritten : l.offset, state: null });
  }

  /** Waits until the spool has written what was queued (the disk is slower than the network), or failed. */
  private async spoolDrained(l: Live): Promise<void> {
    const out = l.spool?.out;
    if (out && !l.spoolError) {
      await new Promise<void>((res) => {
        const done = () => {
          out.off('drain', done);
          out.off('error', done);
          out.off('close', done);
          res();
        };
        out.on('drain', done).on('error', done).on('close', done);
      });
    }
    throwIfFailed(l);
  }

  /**
   * Records where a receive can continue after a restart of this agent: the portable applier's state, or the length
   * of the spool (everything written to it is in the page cache, so that length is exact after a kill -9).
   */
  private async checkpoint(r: ReceiveRecord, l: Live): Promise<void> {
    // btrfs/zfs without a spool: nothing survives a restart of this agent, there is nothing to record; a tool's
    // input with a spool needs no record either: the whole spool is replayed (see tool-input.ts)
    if (l.input) return;
    const spooled = l.spool !== undefined;
    const take = spooled ? () => this.spooled(l) : l.checkpointer.checkpoint;
    if (!take) return;
    const prev = l.checkpointing;
    const next = (async () => {
      await prev;
      const cp = await take();
      if (this.live.get(r.transferId) !== l || r.state !== 'receiving') return;
      if (!spooled) {
        if (!cp.state) return;
        r.checkpoint = cp;
      }
      r.durableOffset = cp.offset;
      await this.persist(r, { durable: false });
    })();
    l.checkpointing = next.catch(() => undefined);
    await next;
  }

  /** Applies the body of one data request, which starts at `offset`. Returns once it is handed to the driver. */
  write(id: string, offset: number, body: Readable): Promise<ReceiveStatus> {
    const p = this.writeTracked(id, offset, body);
    this.writing.add(p);
    void p.finally(() => this.writing.delete(p)).catch(() => undefined);
    return p;
  }

  /**
   * Applies an upgraded data connection (DATA_STREAM_PROTOCOL), read until the sender half-closes it. Drivers with
   * `receiveFrom` get it relayed into the tool's input without this process reading it (see tool-input.ts); others
   * read it like the body of an ordinary request.
   */
  writeUpgraded(id: string, offset: number, socket: Socket): Promise<ReceiveStatus> {
    if (!this.driver.receiveFrom) return this.write(id, offset, socket);
    const p = this.relayTracked(id, offset, socket);
    this.writing.add(p);
    void p.finally(() => this.writing.delete(p)).catch(() => undefined);
    return p;
  }

  private async relayTracked(id: string, offset: number, socket: Socket): Promise<ReceiveStatus> {
    const r = this.require(id);
    const l = await this.takeOver(r);
    const input = l.input!;
    if (offset !== input.offset)
      throw new ConflictError(`receive ${id} continues at offset ${input.offset}, not ${offset}`);
    let release!: () => void;
    const done = new Promise<void>((res) => (release = res));
    l.writer = {
      stop: () => {
        input.interrupt();
        socket.destroy();
      },
      done,
    };
    try {
      const buffered = readBuffered(socket);
      if (buffered) await input.write(buffered);
      const from = input.offset;
      await input.relay(socket);
      this.log.info({ transferId: id, from, to: input.offset }, 'connection relayed into the tool unread');
      return this.status(r);
    } catch (err) {
      const applied = await Promise.race([
        l.result.then((v) => (v instanceof Error ? v : undefined)),
        Promise.resolve(undefined),
      ]);
      if (applied || isDiskFull(err) || err instanceof RelayCountLostError) await this.failWith(r, applied ?? err);
      // A dropped connection: the tool stays alive and the sender continues at the input's offset.
      throw err;
    } finally {
      l.writer = undefined;
      release();
    }
  }

  /**
   * On a graceful stop (SIGTERM) the senders' connections are closed (upgraded ones, which the HTTP server no longer
   * tracks, here): wait for each write to checkpoint.
   */
  async stop(): Promise<void> {
    for (const l of this.live.values()) l.writer?.stop();
    await Promise.allSettled([...this.writing]);
  }

  /**
   * The bytes a request starting at `offset` re-sends before the receive's offset (btrfs/zfs: the overlap that checks
   * the splice): what they must equal, or null when they cannot be checked (spool off, and they went through `dd`).
   */
  private async overlapOf(id: string, l: Live, offset: number): Promise<Buffer | null | undefined> {
    const at = offsetOf(l);
    const overlap = at - offset;
    const known = l.input ? STREAM_OVERLAP_BYTES : (l.tail?.bytes ?? 0);
    if (overlap < 0 || overlap > known)
      throw new ConflictError(`receive ${id} continues at offset ${at}, not ${offset}`);
    if (overlap === 0) return undefined;
    if (!l.input) return Buffer.concat(l.tail!.chunks).subarray(-overlap);
    const last = await l.input.lastBytes(overlap);
    if (last) return last;
    this.log.warn(
      { transferId: id, offset: at },
      'the bytes before the splice were relayed unseen: splice not checked',
    );
    return null;
  }

  /** The previous connection of a sender, if the receiver has not noticed it dropping yet: replaced by the new one. */
  private async takeOver(r: ReceiveRecord): Promise<Live> {
    if (r.state !== 'receiving') throw new ConflictError(`receive ${r.transferId} is ${r.state}, not receiving`);
    const prev = this.live.get(r.transferId)?.writer;
    if (prev) {
      prev.stop();
      await prev.done;
    }
    const l = await this.liveState(r);
    // a connection a previous run of the agent left being copied: replaced too
    await l.input?.settle().catch((err: unknown) => this.failWith(r, err));
    return l;
  }

  private async writeTracked(id: string, offset: number, body: Readable): Promise<ReceiveStatus> {
    const r = this.require(id);
    const l = await this.takeOver(r);
    const expected = await this.overlapOf(id, l, offset);
    let overlap = expected === undefined ? 0 : offsetOf(l) - offset;
    let release!: () => void;
    const done = new Promise<void>((res) => (release = res));
    l.writer = { stop: () => body.destroy(), done };
    let sinceCheckpoint = 0;
    let lastCheckpoint = Date.now();
    // A checkpoint is recorded while data goes on arriving (the applier's checkpoint is a consistent point taken at
    // once, then written): one at a time, and its failure (disk full) fails the request at its next chunk.
    let recording: Promise<void> | undefined;
    let recordError: Error | undefined;
    const failed = l.result.then((v) => (v instanceof Error ? v : undefined));
    try {
      for await (let b of chunksOf(body)) {
        if (overlap > 0) {
          const n = Math.min(overlap, b.length);
          if (expected) {
            const at = expected.length - overlap;
            if (!b.subarray(0, n).equals(expected.subarray(at, at + n))) {
              throw new StreamIntegrityError(
                `receive ${id}: the resumed stream differs from the bytes already received before offset ` +
                  `${offsetOf(l)} (the sending side did not regenerate the same stream)`,
              );
            }
          }
          overlap -= n;
          if (n === b.length) continue;
          b = b.subarray(n);
        }
        sinceCheckpoint += b.length;
        this.store.touch();
        if (l.input) {
          // spool off: into a `dd` of this request's own (see endWrites)
          await l.input.write(b);
        } else if (l.feed) {
          keepTail(l, b);
          if (l.spool && !l.spool.out.write(b)) await this.spoolDrained(l);
          l.offset += b.length;
          const feed = l.feed;
          if (!feed.write(b)) {
            // backpressure from the application, or it failed (then it stops reading: fail the receive)
            const err = await Promise.race([
              new Promise<undefined>((res) => feed.once('drain', () => res(undefined))),
              failed,
            ]);
            if (err) throw err;
          }
        }
        if (recordError) throw recordError;
        if (!recording && (sinceCheckpoint >= CHECKPOINT_BYTES || Date.now() - lastCheckpoint >= CHECKPOINT_MS)) {
          sinceCheckpoint = 0;
          lastCheckpoint = Date.now();
          recording = this.checkpoint(r, l)
            .catch((err: unknown) => void (recordError = asError(err)))
            .finally(() => (recording = undefined));
        }
      }
      await recording;
      if (recordError) throw recordError;
      await l.input?.endWrites();
      const early = await Promise.race([failed, Promise.resolve(undefined)]);
      if (early) throw early;
      if (overlap > 0) throw new ConflictError(`receive ${id}: the request ended inside the bytes it re-sends`);
      await this.checkpoint(r, l);
      return this.status(r);
    } catch (err) {
      // what was written up to the break goes on into the tool; its count is the offset
      const lost = await l.input?.endWrites().then(
        () => undefined,
        (e: unknown) => (e instanceof RelayCountLostError ? e : undefined),
      );
      const applied = await Promise.race([failed, Promise.resolve(undefined)]);
      const cause = applied ?? lost ?? err;
      if (applied || lost || err instanceof StreamIntegrityError || isDiskFull(err)) {
        await this.failWith(r, cause);
      }
      // A dropped connection: the application stays alive and the sender continues at its offset.
      await recording;
      await this.checkpoint(r, l).catch(() => undefined);
      throw err;
    } finally {
      l.writer = undefined;
      release();
    }
  }

  /** Fails a receive because its application failed; throws the error the sender should see. */
  private async failWith(r: ReceiveRecord, err: unknown): Promise<never> {
    if (isDiskFull(err)) {
      await this.fail(r, 'disk full on the receiving FSVM');
      throw new InsufficientStorageError(
        `receive ${r.transferId}: no space left on the receiving FSVM; partial data freed`,
      );
    }
    const integrity = err instanceof StreamIntegrityError || err instanceof ValidationError;
    const reason = integrity ? errorMessage(err) : `apply failed: ${errorMessage(err)}`;
    await this.fail(r, reason);
    if (err instanceof ValidationError) throw err;
    throw new StreamIntegrityError(`receive ${r.transferId}: ${reason}`);
  }

  /** The sender says the stream is whole: let the application finish, verify length and digest, sync. */
  async complete(
    id: string,
    totalBytes: number,
    digest: string | undefined,
    kind: StreamDigestKind,
  ): Promise<ReceiveStatus> {
    const r = this.require(id);
    if (r.state === 'received' || r.state === 'committed') return this.status(r);
    if (r.state === 'failed') throw new ConflictError(`receive ${id} failed: ${r.error}`);
    const expectedKind: StreamDigestKind = this.driver.resumableReceive ? 'records-sha256' : 'native';
    if (kind !== expectedKind) {
      throw new ValidationError(
        `this ${this.driver.name} receiver checks a ${expectedKind} digest, not ${kind}` +
          (kind === 'stream-sha256' ? ' (the sending agent is older: upgrade it)' : ''),
      );
    }
    const l = await this.liveState(r);
    if (l.writer) throw new ConflictError(`receive ${id} is still receiving data`);
    if (offsetOf(l) !== totalBytes) {
      throw new ConflictError(`receive ${id} has ${offsetOf(l)} bytes, the sender says ${totalBytes}`);
    }
    l.feed?.end();
    const outcome: Awaited<Live['result']> = l.input ? await l.input.finish() : await l.result;
    if (outcome instanceof Error) {
      this.dropLive(id);
      await this.removeSpool(id, l);
      return this.failWith(r, outcome);
    }
    // native: `receive` verified every command's checksum as it applied it, and the length matched
    if (kind === 'records-sha256' && outcome.digest !== digest) {
      await this.fail(r, 'checksum mismatch: the stream was corrupted in flight');
      throw new StreamIntegrityError(
        `receive ${id}: the digest (sha256) of the received stream does not match the sender's`,
      );
    }
    const p: PortionRef = { share: r.share, portion: r.portion };
    // The spool goes before the sync, so that its pages are dropped rather than written back. A crash before the
    // record says `received` finds no spool and receives the stream again from 0.
    await this.removeSpool(id, l);
    // One sync of the filesystem for the whole snapshot: only then is it recorded as received (see the top).
    clearInterval(l.syncer);
    const syncStarted = Date.now();
    await run(['sync', '-f', this.layout.snapshotDir(p, r.snapshotId)]);
    const syncMs = Date.now() - syncStarted;
    r.state = 'received';
    r.sizeBytes = outcome.sizeBytes ?? r.sizeBytes;
    r.checkpoint = null;
    this.dropLive(id);
    await this.persist(r);
    this.log.info({ transferId: id, snapshot: r.snapshotId, bytes: totalBytes, syncMs }, 'stream applied and verified');
    return this.status(r);
  }

  /**
   * Publishes a received snapshot and (by default) brings the live share to it. Idempotent. Bringing a read-write
   * share to it would discard what clients wrote there since: refused, changing nothing, unless forced.
   */
  async commit(id: string, opts: CommitReceiveRequest): Promise<ReceiveStatus> {
    const r = this.require(id);
    if (r.state === 'committed') return this.status(r);
    if (r.state !== 'received')
      throw new ConflictError(`receive ${id} is ${r.state}; only a received snapshot can be committed`);
    const p: PortionRef = { share: r.share, portion: r.portion };
    await this.store.withLock(p, async () => {
      const mode = this.registry.get(r.share)?.accessMode;
      if (opts.updateLive && mode === 'read_write' && !opts.force) {
        throw new ConflictError(
          `share '${r.share}' is read_write on this FSVM: committing snapshot ${r.snapshotId} would bring it back ` +
            'to that snapshot and lose what clients wrote there since. Set the share read_only (or off) first, or ' +
            'commit with force: true to discard those writes (a failover resync does, after a safety snapshot)',
        );
      }
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
      if (opts.updateLive) {
        const writable = mode === 'read_write';
        await this.driver.rollback(p, r.snapshotId, {
          reuseUnchanged: true,
          ...(writable ? {} : { readOnlyReplica: { base: r.baseSnapshotId } }),
        });
      }
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

  private async fail(r: ReceiveRecord, reason: string): Promise<void> {
    const p: PortionRef = { share: r.share, portion: r.portion };
    const l = this.live.get(r.transferId);
    this.dropLive(r.transferId);
    if (l) {
      l.writer?.stop();
      l.feed?.destroy(new Error('receive failed'));
      await l.input?.destroy();
      await l.result; // the driver stops and gives up its files before they are removed
    }
    await this.removeSpool(r.transferId, l);
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
    r.checkpoint = null;
    await this.persist(r).catch(() => undefined);
    this.log.warn({ transferId: r.transferId, reason }, 'receive failed; applied data removed');
  }
}
