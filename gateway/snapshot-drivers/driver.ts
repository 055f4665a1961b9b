// One interface for the ways an FSVM can take, send and receive snapshots of a share portion. The snapshot store
// (gateway/snapshots.ts) keeps the catalog (meta.json: id, dates, origin) and the locking; a driver only moves data.
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Layout, PortionRef } from '../layout';

export type DriverName = 'btrfs' | 'portable' | 'zfs';

export interface SendStream {
  /**
   * A deterministic byte stream: the same snapshot pair always gives the same bytes (resume relies on it). It starts
   * at the `offset` asked for when the driver can start there (`startsAt`), else at 0.
   */
  stream: Readable;
  /** Its length when known up front (portable), else null (btrfs, zfs). */
  totalBytes: number | null;
  /** Where `stream` starts (0 unless the driver skipped to the offset asked for). */
  startsAt: number;
  /**
   * The stream's digest when the driver computes it without reading the bytes (portable: the chain of its record
   * headers, each file checked against its sha256 by the receiver); absent: the sender hashes the bytes (sha256).
   */
  digest?: string;
}

/** A consistent point of an application under way: the stream offset to continue from, and the driver's state. */
export interface ApplyCheckpoint {
  offset: number;
  /** JSON; null = nothing worth keeping (start again from 0). */
  state: unknown;
}

export interface ReceiveOptions {
  /**
   * The caller checks the whole stream's sha256 before it keeps the result: a driver may then skip its own per-file
   * content checks (only for `receive`/`receiveStream` of drivers that are not `resumableReceive`).
   */
  streamChecked?: boolean;
  /** Resumable drivers: continue an application interrupted at this checkpoint; the stream starts at its offset. */
  resumeFrom?: ApplyCheckpoint;
  /** Resumable drivers set `checkpoint` here: it makes the progress so far durable and returns where it is. */
  checkpointer?: { checkpoint?: () => Promise<ApplyCheckpoint> };
}

export interface RollbackOptions {
  /**
   * Used when a received snapshot is committed onto a read-only replica: a driver may keep live files whose type,
   * size, mode and mtime match the snapshot instead of copying them again (rsync's quick check).
   */
  reuseUnchanged?: boolean;
  /**
   * The commit of a received snapshot onto a share clients cannot write. `base`: the receive's base, which the live
   * data equals if it was last brought there by such a commit and has not been writable since; a driver that knows
   * this may apply only the differences in place (files replaced one by one, each atomically). The portable driver
   * commits in place even without that knowledge (differences from a walk), so the share's folder stays put.
   */
  readOnlyReplica?: { base: string | null };
}

/**
 * How a portion's tree is read without changing it (the tree digest, gateway/tree-digest.ts): a directory to walk, or
 * a manifest in canonical order whose file contents are at `contentPath(sha256)`.
 */
export type ReadableTree =
  | {
      kind: 'dir';
      root: string;
      /** names at the root that are the filesystem's, not data (zfs: .zfs) */
      skipAtRoot?: string[];
    }
  | { kind: 'manifest'; file: string; contentPath: (h: string) => string };

export interface SnapshotDriver {
  readonly name: DriverName;
  readonly layout: Layout;
  /** Checks prerequisites (tools, filesystem type); throws a readable error when the agent cannot work. */
  init(): Promise<void>;
  /** Where clients see the portion's live data. */
  livePath(p: PortionRef): string;
  /** Creates the live data of a portion (idempotent). */
  createPortion(p: PortionRef): Promise<void>;
  deletePortion(p: PortionRef): Promise<void>;
  /**
   * Takes a read-only snapshot of the live data into the snapshot's directory (which exists, without meta.json).
   * `sizeBytes` null: the snapshot store measures it in the background.
   */
  createSnapshot(p: PortionRef, id: string, previousId: string | undefined): Promise<{ sizeBytes: number | null }>;
  /** The live tree (`snapshotId` null) or a complete snapshot, for reading (see ReadableTree). */
  readableTree(p: PortionRef, snapshotId: string | null): Promise<ReadableTree>;
  /** Removes the snapshot's data (complete or partial) and its directory. Idempotent. */
  deleteSnapshot(p: PortionRef, id: string): Promise<void>;
  /**
   * Makes the live data equal to the snapshot, keeping the snapshot: as a whole for clients (a swap of trees, or the
   * filesystem's own rollback), except for a driver's in-place commit onto a read-only replica (see RollbackOptions).
   */
  rollback(p: PortionRef, id: string, opts?: RollbackOptions): Promise<void>;
  /** The portion's share becomes writable for clients (before Samba is told): its live data may change from now on. */
  liveBecomesWritable?(p: PortionRef): Promise<void>;
  /** The stream of snapshot `id`, incremental from `baseId` when given (from byte `offset` on where it can). */
  send(p: PortionRef, id: string, baseId: string | undefined, offset?: number): Promise<SendStream>;
  /**
   * Starts the snapshot tool with its output going straight into `out` (a connection), from the start of the stream:
   * no copy through this process. Drivers whose stream is a tool's output (btrfs) have it; the caller waits for the
   * exit code (0: the whole stream was written).
   */
  sendInto?(p: PortionRef, id: string, baseId: string | undefined, out: Socket): ChildProcess;
  /**
   * True when `receiveStream` verifies the content itself (returning the digest `send` announced), supports
   * `resumeFrom`/`checkpointer`, and so lets a receive resume after a restart of the receiving agent.
   */
  readonly resumableReceive?: boolean;
  /** Applies a complete, verified stream file into the snapshot's directory (not yet committed). */
  receive(
    p: PortionRef,
    id: string,
    baseId: string | undefined,
    streamFile: string,
    opts?: ReceiveOptions,
  ): Promise<{ sizeBytes: number }>;
  /**
   * Applies the stream read from `fifo`, which several processes write one after another (see
   * data-plane/tool-input.ts): the tool stops at the stream's end command, not at an end of file. `launch` runs its
   * command line (the receiver decides whether it dies with the agent or outlives it). Drivers whose receive is a
   * tool that can do so (btrfs) have it; the receiver then relays upgraded connections without reading their bytes.
   */
  receiveFrom?(
    p: PortionRef,
    id: string,
    baseId: string | undefined,
    fifo: string,
    launch: (argv: string[]) => Promise<void>,
  ): Promise<{ sizeBytes: null }>;
  /**
   * A receive whose tool (see receiveFrom) outlived the previous run of the agent: once `ended` resolved (with the
   * tool's messages), resolves if the tool applied the whole stream; otherwise deletes what it applied and throws.
   */
  adoptReceive?(p: PortionRef, id: string, ended: Promise<string>): Promise<{ sizeBytes: null }>;
  /**
   * Applies the stream while it arrives, into the snapshot's still unlisted directory (the receiver checks the
   * digest before it keeps the result and deletes it otherwise). This is how the receiver applies every stream.
   */
  receiveStream(
    p: PortionRef,
    id: string,
    baseId: string | undefined,
    stream: Readable,
    opts?: ReceiveOptions,
  ): Promise<{ sizeBytes: number; digest?: string }>;
}

/** A stream or its application found corrupted data: the transfer fails, never retries the same bytes. */
export class StreamIntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StreamIntegrityError';
  }
}
