// The input of a snapshot tool's receive (`btrfs receive -e -f <fifo>`) fed without the agent relaying its bytes.
//
// The tool reads a FIFO in incoming/<id>/. An upgraded data connection is handed to `dd bs=1M`, which copies it into
// the FIFO (spool off) or appends it to the spool (spool on): no byte of it passes through this process's JavaScript
// (relaying a socket in 64 KiB reads cost the agent about as much CPU per GiB as the tool itself). With the spool, a
// follower here copies the spool into the FIFO in 4 MiB reads and writes, done by the thread pool. Bytes of ordinary
// (chunked) data requests are written here, to the same place. The agent keeps the FIFO open for writing
// for the whole receive, so that the tool never sees an end of file between two connections of the sender; the tool
// stops at the stream's end command (`-e`), and the FIFO is closed when the sender declared the stream whole.
//
// With the spool, everything in it is a prefix of the stream: a restarted agent starts a fresh tool on the FIFO and
// the follower replays the spool from its first byte, so the sender continues at the spool's length (no checkpoint
// to record). The helpers are started with a parent-death signal (`setpriv --pdeathsig KILL`): when the agent dies
// they die with it, and the restarted agent never finds a `receive` still writing into the snapshot it deletes.
import { spawn, type ChildProcess } from 'node:child_process';
import fsSync from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import { STREAM_OVERLAP_BYTES } from '../../domain/gateway-contract';
import { run } from '../util';

/** How often the offset follows a `dd` that is copying (for the sender's progress). */
const PROGRESS_MS = 500;
/** The follower's reads of the spool. */
const FOLLOW_BYTES = 4 * 1024 * 1024;
/** How long the follower waits when it has caught up with the spool. */
const FOLLOW_WAIT_MS = 10;

/** Runs a helper that dies with the agent. */
function helper(argv: string[], stdio: Parameters<typeof spawn>[2]['stdio']): ChildProcess {
  return spawn('setpriv', ['--pdeathsig', 'KILL', ...argv], { stdio });
}

/** Bytes a running process has written so far (/proc/<pid>/io `wchar`), or undefined once it is gone. */
async function written(pid: number | undefined): Promise<number | undefined> {
  if (!pid) return undefined;
  const io = await fs.readFile(`/proc/${pid}/io`, 'utf8').catch(() => undefined);
  const m = io && /^wchar:\s*(\d+)$/m.exec(io);
  return m ? Number(m[1]) : undefined;
}

function exited(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((res) => {
    child.on('error', (err) => res({ code: null, stderr: err.message }));
    child.on('close', (code) => res({ code, stderr }));
  });
}

/** A relayed connection ended without `dd`'s count: how much of the stream the tool has is unknown. */
export class RelayCountLostError extends Error {
  override readonly name = 'RelayCountLostError';
}

/**
 * Stops this process reading a connection it hands to a helper, and returns what it had read already (the bytes
 * after the request's headers). Both run in one tick, so nothing is read in between.
 */
export function readBuffered(socket: Socket): Buffer | null {
  const buffered = socket.read() as Buffer | null;
  // net.Socket has no public way to stop reading without pausing the stream only (it would go on filling its buffer)
  (socket as unknown as { _handle?: { readStop?: () => number } })._handle?.readStop?.();
  return buffered;
}

export type ToolOutcome = { sizeBytes: number | null } | Error;

export interface ToolInputOptions {
  /** incoming/<id>: the FIFO and the spool live there (created, 0700). */
  dir: string;
  /** Keep the stream in a spool so that a restarted agent can resume (GATEWAY_RECEIVE_SPOOL). */
  spool: boolean;
  /** Starts the tool on the FIFO; resolves when it has applied the whole stream. */
  receive: (fifo: string) => Promise<{ sizeBytes: number | null }>;
}

export class ToolInput {
  /** Bytes of the stream taken so far: where the sender's next request starts. */
  offset = 0;
  readonly result: Promise<ToolOutcome>;
  private settled: ToolOutcome | undefined;
  /** spool on: copies the spool into the FIFO; `fed` is how far. */
  private follower: Promise<void> | undefined;
  private fed = 0;
  private following = true;
  private ending = false;
  private relaying: ChildProcess | undefined;
  /** spool off: the last bytes written here, while they are known (a `dd` copy is not seen by the agent). */
  private tail: { chunks: Buffer[]; bytes: number } | undefined = { chunks: [], bytes: 0 };
  private spoolFile: FileHandle | undefined;

  private constructor(
    private readonly o: ToolInputOptions,
    private readonly fifo: FileHandle,
    result: Promise<ToolOutcome>,
  ) {
    this.result = result.then((v) => (this.settled = v));
  }

  static fifoPath(dir: string): string {
    return path.join(dir, 'in.fifo');
  }

  static spoolPath(dir: string): string {
    return path.join(dir, 'stream');
  }

  /** Bytes in the spool of a receive (0 without one). */
  static async spoolLength(dir: string): Promise<number> {
    return (await fs.stat(ToolInput.spoolPath(dir)).catch(() => undefined))?.size ?? 0;
  }

  /** Starts the tool; with the spool, what it already holds is replayed first and `offset` is its length. */
  static async start(o: ToolInputOptions): Promise<ToolInput> {
    await fs.mkdir(o.dir, { recursive: true, mode: 0o700 });
    const fifoPath = ToolInput.fifoPath(o.dir);
    await fs.rm(fifoPath, { force: true });
    await run(['mkfifo', '-m', '600', fifoPath]);
    const result = o.receive(fifoPath).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
    // Opening a FIFO for writing waits for its reader: if the tool exits without opening it, open it for reading
    // once to release the wait.
    let opened = false;
    const opening = fs.open(fifoPath, 'w').finally(() => (opened = true));
    void result.then(async () => {
      if (opened) return;
      const fd = fsSync.openSync(fifoPath, fsSync.constants.O_RDONLY | fsSync.constants.O_NONBLOCK);
      await opening.catch(() => undefined);
      fsSync.closeSync(fd);
    });
    const input = new ToolInput(o, await opening, result);
    if (o.spool) {
      const spool = ToolInput.spoolPath(o.dir);
      input.spoolFile = await fs.open(spool, 'a+');
      input.offset = (await input.spoolFile.stat()).size;
      input.tail = undefined;
      // the tool is gone (done or failed): nothing reads what the follower would write
      void input.result.then(() => (input.following = false));
      input.follower = input.follow(spool).catch(() => undefined);
    }
    return input;
  }

  /** Copies the spool into the FIFO as it grows, until the stream is whole (or the tool is gone). */
  private async follow(spool: string): Promise<void> {
    const reader = await fs.open(spool, 'r');
    const buf = Buffer.allocUnsafe(FOLLOW_BYTES);
    try {
      while (this.following) {
        const { bytesRead } = await reader.read(buf, 0, buf.length, this.fed);
        if (bytesRead === 0) {
          if (this.ending && this.fed >= this.offset) return;
          await new Promise((res) => setTimeout(res, FOLLOW_WAIT_MS));
          continue;
        }
        let done = 0;
        while (done < bytesRead && this.following) {
          done += (await this.fifo.write(buf, done, bytesRead - done)).bytesWritten;
        }
        this.fed += bytesRead;
      }
    } finally {
      await reader.close();
    }
  }

  /** Writes bytes of an ordinary data request. */
  async write(b: Buffer): Promise<void> {
    if (this.settled instanceof Error) throw this.settled;
    if (this.spoolFile) {
      await this.spoolFile.write(b);
    } else {
      await this.fifo.write(b);
      if (this.tail) {
        this.tail.chunks.push(b);
        this.tail.bytes += b.length;
        while (this.tail.chunks.length > 1 && this.tail.bytes - this.tail.chunks[0]!.length >= STREAM_OVERLAP_BYTES)
          this.tail.bytes -= this.tail.chunks.shift()!.length;
      }
    }
    this.offset += b.length;
  }

  /**
   * The `n` bytes before the offset, to compare with what a resumed sender re-sends; undefined when they are not known
   * (spool off, and the bytes went through `dd`).
   */
  async lastBytes(n: number): Promise<Buffer | undefined> {
    if (this.spoolFile) {
      const buf = Buffer.alloc(Math.min(n, this.offset));
      await this.spoolFile.read(buf, 0, buf.length, this.offset - buf.length);
      return buf;
    }
    if (!this.tail || this.tail.bytes < Math.min(n, this.offset)) return undefined;
    return Buffer.concat(this.tail.chunks).subarray(-n);
  }

  /**
   * Hands an upgraded connection (paused, after its buffered bytes were written) to `dd` until the sender half-closes
   * it (resolves) or it breaks (throws, with `offset` at what `dd` copied). The tool failing stops the copy.
   */
  async relay(socket: Socket): Promise<void> {
    if (this.settled instanceof Error) throw this.settled;
    const start = this.offset;
    const argv = ['dd', 'bs=1M', ...(this.spoolFile ? ['oflag=append', 'conv=notrunc', `of=${this.spoolPath}`] : [])];
    const dd = helper(argv, [socket, this.spoolFile ? 'ignore' : this.fifo.fd, 'pipe']);
    this.relaying = dd;
    this.tail = undefined;
    const done = exited(dd);
    // The spool's length is exact (a checkpoint); wchar (spool off: for the progress only) is not quite: it also
    // counts what the helper wrote before it became dd.
    const spoolFile = this.spoolFile;
    const poll = setInterval(() => {
      void (spoolFile ? spoolFile.stat().then((st) => st.size - start) : written(dd.pid))
        .then((n) => {
          if (n !== undefined && this.relaying === dd) this.offset = Math.max(this.offset, start + n);
        })
        .catch(() => undefined);
    }, PROGRESS_MS);
    // settles only if the tool fails (it may end successfully, at the end command, before dd sees the end of file)
    const failed = this.result.then((v) => (v instanceof Error ? v : new Promise<never>(() => undefined)));
    try {
      const first = await Promise.race([done, failed]);
      if (first instanceof Error) {
        dd.kill('SIGKILL');
        await done;
        throw first;
      }
      const { code, stderr } = first;
      const copied = /^(\d+) bytes/m.exec(stderr);
      if (copied) this.offset = start + Number(copied[1]);
      else if (this.spoolFile) this.offset = (await this.spoolFile.stat()).size;
      else
        throw new RelayCountLostError(
          `the relay of the connection ended without its count (exit ${code}): ${stderr.trim()}`,
        );
      if (this.settled instanceof Error) throw this.settled;
      if (code !== 0) throw new Error(`the connection broke: ${stderr.trim().split('\n')[0] ?? ''}`);
    } finally {
      clearInterval(poll);
      this.relaying = undefined;
    }
  }

  /**
   * Stops a relay under way (the sender's connection is being replaced, or the agent stops). SIGINT, not SIGKILL:
   * dd then prints its count before it exits, so the receive continues where it is instead of failing.
   */
  interrupt(): void {
    this.relaying?.kill('SIGINT');
  }

  private get spoolPath(): string {
    return ToolInput.spoolPath(this.o.dir);
  }

  /** The sender declared the stream whole: let the tool read it to its end, then close the FIFO. */
  async finish(): Promise<ToolOutcome> {
    // the follower stops once it has passed on the whole spool (or the tool ended)
    this.ending = true;
    await this.follower;
    await this.close();
    return this.result;
  }

  private async close(): Promise<void> {
    await this.spoolFile?.close().catch(() => undefined);
    this.spoolFile = undefined;
    await this.fifo.close().catch(() => undefined);
  }

  /** Stops everything (the receive failed or was cancelled); the tool, reading an early end, fails. */
  async destroy(): Promise<void> {
    this.relaying?.kill('SIGKILL');
    this.following = false;
    await this.follower;
    await this.close();
    await this.result;
  }
}
