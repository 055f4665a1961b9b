// The input of a snapshot tool's receive (`btrfs receive -e -f <fifo>`) fed without the agent relaying its bytes.
//
// The tool reads a FIFO in incoming/<id>/. An upgraded data connection is handed to `dd bs=1M`, which copies it into
// the FIFO (spool off) or appends it to the spool (spool on): no byte of it passes through this process's JavaScript
// (relaying a socket in 64 KiB reads cost the agent about as much CPU per GiB as the tool itself). The tool stops at
// the stream's end command (`-e`), never at an end of file between two connections of the sender.
//
// Two ways to survive a restart of the agent:
// - Spool off (the default for btrfs): the tool and the `dd` copies **outlive the agent**. They run in their own
//   session; the tool itself holds the FIFO open for writing (so it never sees an end of file, whoever else writes);
//   ordinary (chunked) requests go through a `dd` too, fed by the agent through a pipe. What each `dd` copied is its
//   own count, written to a file (`relay.err`) when it ends, even after the agent died (a `dd` whose feeder died reads
//   the rest of its pipe, a relayed connection goes on to its end); the processes are recorded (`tool.json`,
//   `relay.json`, by pid and start time) and the offset after each copy (`offset`). A restarted agent adopts the
//   running tool, takes the last copy's count (waiting for it if it still runs), and the sender continues exactly
//   there: no copy of the stream is kept. Files are written without fsync: a kill of the agent keeps the page cache,
//   and after a crash of the node (another boot id) the receive starts again from 0 anyway.
// - Spool on: everything in the spool is a prefix of the stream; a follower here copies it into the FIFO in 4 MiB
//   reads and writes (thread pool); chunked requests are appended to it by the agent. The helpers die with the agent
//   (`setpriv --pdeathsig KILL`), and a restarted agent starts a fresh tool and replays the whole spool, so the
//   sender continues at the spool's length. The spool also lets the splice of a resumed stream be checked.
import { spawn, type ChildProcess } from 'node:child_process';
import fsSync from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { STREAM_OVERLAP_BYTES } from '../../domain/gateway-contract';
import { asError, run } from '../util';

/** How often the offset follows a `dd` that is copying (for the sender's progress). */
const PROGRESS_MS = 500;
/** How often an adopted process (not this agent's child) is checked for having ended. */
const ADOPTED_POLL_MS = 50;
/** The follower's reads of the spool. */
const FOLLOW_BYTES = 4 * 1024 * 1024;
/** How long the follower waits when it has caught up with the spool. */
const FOLLOW_WAIT_MS = 10;

/** Runs a helper that dies with the agent. */
function helper(argv: string[], stdio: Parameters<typeof spawn>[2]['stdio']): ChildProcess {
  return spawn('setpriv', ['--pdeathsig', 'KILL', ...argv], { stdio });
}

/** A process known by pid and start time (a pid alone may have been reused since it was recorded). */
interface ProcId {
  pid: number;
  startTime: string;
}

/** The start time and state of a process (/proc/<pid>/stat fields 22 and 3), or undefined when there is none. */
function procStat(pid: number): { startTime: string; state: string } | undefined {
  let stat: string;
  try {
    stat = fsSync.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the command name (field 2) is in parentheses and may itself contain spaces or parentheses
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', startTime: fields[19] ?? '' };
}

function procIdOf(pid: number | undefined): ProcId | undefined {
  const st = pid ? procStat(pid) : undefined;
  return st && pid ? { pid, startTime: st.startTime } : undefined;
}

/** Whether a recorded process still runs (a zombie, left to a parent that does not reap, has ended). */
function running(p: ProcId): boolean {
  const st = procStat(p.pid);
  return st !== undefined && st.startTime === p.startTime && st.state !== 'Z' && st.state !== 'X';
}

function signal(p: ProcId | undefined, sig: NodeJS.Signals): void {
  if (!p || !running(p)) return;
  try {
    process.kill(p.pid, sig);
  } catch {
    // gone meanwhile
  }
}

/** Resolves when a process this agent did not start (or no longer waits for) has ended. */
async function ended(p: ProcId): Promise<void> {
  while (running(p)) await new Promise((res) => setTimeout(res, ADOPTED_POLL_MS));
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

/** `dd`'s count of the bytes it copied, from what it printed when it ended. */
function ddCount(stderr: string): number | undefined {
  const m = /^(\d+) bytes/m.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

/**
 * Writes a small state file by rename, without fsync: it must survive a kill of the agent (the page cache does),
 * not a crash of the node (a receive then starts again from 0, see the boot id in receiver.ts).
 */
function writeState(file: string, data: unknown): void {
  const tmp = `${file}.tmp`;
  fsSync.writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
  fsSync.renameSync(tmp, file);
}

function readState<T>(file: string): T | undefined {
  try {
    return JSON.parse(fsSync.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
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

/** Runs the tool's command line; resolves when it exited 0. */
export type LaunchTool = (argv: string[]) => Promise<void>;

export interface ToolInputOptions {
  /** incoming/<id>: the FIFO, the spool and the records of the processes live there (created, 0700). */
  dir: string;
  /** Keep the stream in a spool (GATEWAY_RECEIVE_SPOOL); without it, the helpers outlive the agent. */
  spool: boolean;
  /** Starts the tool on the FIFO through `launch`; resolves when it has applied the whole stream. */
  receive: (fifo: string, launch: LaunchTool) => Promise<{ sizeBytes: number | null }>;
  /** A tool that outlived the previous run of the agent: resolves once `ended` did if it applied the whole stream. */
  adopt: (ended: Promise<string>) => Promise<{ sizeBytes: number | null }>;
}

/** The records of a spool-less receive's processes, in its incoming/<id>/ directory. */
const TOOL = 'tool.json';
const TOOL_LOG = 'tool.log';
const OFFSET = 'offset';
const RELAY = 'relay.json';
const RELAY_ERR = 'relay.err';

interface RelayRecord extends Partial<ProcId> {
  /** The stream's offset where this copy started. */
  start: number;
}

/** A `dd` copying into the FIFO (spool off): its process, and how it ends. */
interface Copy {
  proc: ProcId | undefined;
  /** This agent's child (undefined: adopted). */
  child?: ChildProcess;
  start: number;
  /** Resolves with the new offset (start + dd's count) once it ended. */
  done: Promise<number>;
  /** A chunked request's copy: the pipe this agent writes into. */
  stdin?: Writable;
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
  /** spool on: the `dd` appending an upgraded connection to the spool. */
  private relaying: ChildProcess | undefined;
  /** spool off: the `dd` copying into the FIFO (one at a time), and the tool's process. */
  private copy: Copy | undefined;
  private tool: ProcId | undefined;
  /** spool off: the last bytes written here, while they are known (a `dd` copy is not seen by the agent). */
  private tail: { chunks: Buffer[]; bytes: number } | undefined = { chunks: [], bytes: 0 };
  private spoolFile: FileHandle | undefined;
  /** spool on: the FIFO, held open for writing by the agent. */
  private fifo: FileHandle | undefined;

  private constructor(
    private readonly o: ToolInputOptions,
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

  /** Whether a spool-less receive left processes that a restarted agent can adopt. */
  static adoptable(dir: string): boolean {
    return fsSync.existsSync(path.join(dir, TOOL));
  }

  /**
   * Kills the processes a receive recorded (the tool, a copy), and waits until they are gone: before what they wrote
   * into is deleted, or a new tool starts.
   */
  static async stopRecorded(dir: string): Promise<void> {
    const procs = [readState<ProcId>(path.join(dir, RELAY)), readState<ProcId>(path.join(dir, TOOL))].filter(
      (p): p is ProcId => Boolean(p?.pid && p.startTime),
    );
    for (const p of procs) signal(p, 'SIGKILL');
    for (const p of procs) await ended(p);
  }

  /**
   * Kills the processes working for receives under `incoming` (a receive's FIFO in their command line: the tool's
   * `-f <fifo>`, a copy's `of=<fifo>`) that their receive did not record in tool.json or relay.json: a tool or copy
   * started in the instant before the agent was killed with -9 could record it, and it would wait on its FIFO, or
   * write into it, unseen. What such a process did to its receive is unknown, so the receive is not taken over: its
   * recorded processes are stopped too and its tool record removed (it starts again from 0). Run at start, before
   * anything is launched; returns the receive directories concerned.
   */
  static async sweepStrays(incoming: string): Promise<string[]> {
    const under = `${incoming}${path.sep}`;
    const fifoName = path.basename(ToolInput.fifoPath(incoming));
    const found = new Map<string, ProcId[]>();
    for (const name of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
      const argv = (await fs.readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
      const fifo = argv
        .map((a) => (a.startsWith('of=') ? a.slice(3) : a))
        .find((a) => a.startsWith(under) && path.basename(a) === fifoName);
      const proc = fifo ? procIdOf(Number(name)) : undefined;
      if (!fifo || !proc) continue;
      const dir = path.dirname(fifo);
      const recorded = [readState<ProcId>(path.join(dir, TOOL)), readState<RelayRecord>(path.join(dir, RELAY))];
      if (recorded.some((r) => r?.pid === proc.pid && r.startTime === proc.startTime)) continue;
      found.set(dir, [...(found.get(dir) ?? []), proc]);
    }
    for (const [dir, procs] of found) {
      for (const p of procs) signal(p, 'SIGKILL');
      for (const p of procs) await ended(p);
      await ToolInput.stopRecorded(dir);
      await fs.rm(path.join(dir, TOOL), { force: true });
    }
    return [...found.keys()];
  }

  /** Starts the tool; with the spool, what it already holds is replayed first and `offset` is its length. */
  static async start(o: ToolInputOptions): Promise<ToolInput> {
    await fs.mkdir(o.dir, { recursive: true, mode: 0o700 });
    const fifoPath = ToolInput.fifoPath(o.dir);
    if (!o.spool) {
      await ToolInput.stopRecorded(o.dir);
      for (const f of [TOOL, TOOL_LOG, OFFSET, RELAY, RELAY_ERR]) await fs.rm(path.join(o.dir, f), { force: true });
    }
    await fs.rm(fifoPath, { force: true });
    await run(['mkfifo', '-m', '600', fifoPath]);
    if (!o.spool) {
      const started: { tool?: ProcId; input?: ToolInput } = {};
      const launch: LaunchTool = (argv) => {
        const child = ToolInput.launchDetached(o.dir, argv);
        started.tool = procIdOf(child.pid);
        if (started.input) started.input.tool = started.tool;
        return ToolInput.toolExit(child, argv, o.dir);
      };
      const input = new ToolInput(o, o.receive(fifoPath, launch).catch(asError));
      started.input = input;
      input.tool ??= started.tool;
      return input;
    }
    const result = o
      .receive(fifoPath, (argv) => run(['setpriv', '--pdeathsig', 'KILL', ...argv]).then(() => undefined))
      .catch(asError);
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
    const input = new ToolInput(o, result);
    input.fifo = await opening;
    const spool = ToolInput.spoolPath(o.dir);
    input.spoolFile = await fs.open(spool, 'a+');
    input.offset = (await input.spoolFile.stat()).size;
    input.tail = undefined;
    // the tool is gone (done or failed): nothing reads what the follower would write
    void input.result.then(() => (input.following = false));
    input.follower = input.follow(spool).catch(() => undefined);
    return input;
  }

  /**
   * Starts the tool in its own session, holding the FIFO open for reading and writing (fd 3): it outlives the agent
   * and never sees an end of file, whoever writes into the FIFO. Recorded in tool.json.
   */
  private static launchDetached(dir: string, argv: string[]): ChildProcess {
    const hold = fsSync.openSync(ToolInput.fifoPath(dir), 'r+');
    const log = fsSync.openSync(path.join(dir, TOOL_LOG), 'w', 0o600);
    try {
      const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log, hold] });
      const id = procIdOf(child.pid);
      if (id) writeState(path.join(dir, TOOL), id);
      return child;
    } finally {
      fsSync.closeSync(hold);
      fsSync.closeSync(log);
    }
  }

  private static toolExit(child: ChildProcess, argv: string[], dir: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        const log = fsSync.readFileSync(path.join(dir, TOOL_LOG), 'utf8').trim();
        reject(new Error(`${argv.join(' ')} failed (${why}): ${log || 'no message'}`));
      };
      child.on('error', (err) => fail(err.message));
      child.on('exit', (code, sig) => (code === 0 ? resolve() : fail(sig ? `killed by ${sig}` : `exit ${code}`)));
    });
  }

  /**
   * Adopts the tool of a spool-less receive that outlived the previous run of the agent (see the top), with the
   * offset after its last copy. Undefined when there is nothing to adopt; RelayCountLostError when the last copy's
   * count is lost (it was killed), so the receive must start again from 0.
   */
  static async adopt(o: ToolInputOptions): Promise<ToolInput | undefined> {
    const tool = readState<ProcId>(path.join(o.dir, TOOL));
    if (!tool) return undefined;
    const relay = readState<RelayRecord>(path.join(o.dir, RELAY));
    const proc = relay?.pid && relay.startTime ? { pid: relay.pid, startTime: relay.startTime } : undefined;
    const copying = proc !== undefined && running(proc);
    if (relay && !copying) {
      const stderr = await fs.readFile(path.join(o.dir, RELAY_ERR), 'utf8').catch(() => '');
      if (ddCount(stderr) === undefined)
        throw new RelayCountLostError(`the last copy into the tool ended without its count: ${stderr.trim()}`);
    }
    const before = Number(readState<number>(path.join(o.dir, OFFSET)) ?? 0);
    const toolEnded = ended(tool).then(() => fs.readFile(path.join(o.dir, TOOL_LOG), 'utf8').catch(() => ''));
    const input = new ToolInput(o, o.adopt(toolEnded).catch(asError));
    input.tool = tool;
    input.tail = undefined; // what came before is not known here: a splice cannot be checked
    input.offset = before;
    if (relay) {
      if (proc && copying) {
        // a relayed connection still being copied: it goes on, and ends with its count
        input.offset = relay.start;
        input.copy = { proc, start: relay.start, done: ended(proc).then(() => input.copyEnded(relay.start)) };
        void input.copy.done.catch(() => undefined);
        input.followProgress(input.copy);
      } else {
        input.offset = await input.copyEnded(relay.start);
      }
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
          done += (await this.fifo!.write(buf, done, bytesRead - done)).bytesWritten;
        }
        this.fed += bytesRead;
      }
    } finally {
      await reader.close();
    }
  }

  /** Writes bytes of an ordinary data request (spool off: into a `dd` of its own, see endWrites). */
  async write(b: Buffer): Promise<void> {
    if (this.settled instanceof Error) throw this.settled;
    if (this.spoolFile) {
      await this.spoolFile.write(b);
    } else {
      const copy = this.copy?.stdin ? this.copy : this.startCopy('pipe');
      const stdin = copy.stdin!;
      if (!stdin.write(b)) {
        const ok = await Promise.race([
          new Promise<boolean>((res) => stdin.once('drain', () => res(true))),
          copy.done.then(() => false),
        ]);
        if (!ok) throw this.settled instanceof Error ? this.settled : new Error('the copy into the tool ended early');
      }
      if (this.tail) {
        this.tail.chunks.push(b);
        this.tail.bytes += b.length;
        while (this.tail.chunks.length > 1 && this.tail.bytes - this.tail.chunks[0]!.length >= STREAM_OVERLAP_BYTES)
          this.tail.bytes -= this.tail.chunks.shift()!.length;
      }
    }
    this.offset += b.length;
  }

  /** Spool off: the request's bytes are all written; waits for its `dd` to copy them and takes its count. */
  async endWrites(): Promise<void> {
    const copy = this.copy;
    if (!copy?.stdin) return;
    copy.stdin.end();
    const first = await Promise.race([this.counted(copy), this.failure()]);
    if (first instanceof Error) {
      signal(copy.proc, 'SIGKILL');
      await copy.done.catch(() => undefined);
      throw first;
    }
    this.offset = first;
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
   * Spool off: starts a `dd` copying `stdin` (a connection, or a pipe this agent writes into) into the FIFO, in its
   * own session (it finishes its copy if the agent dies), with its count going to relay.err. Recorded in relay.json
   * before it can copy anything, with its process as soon as it has one.
   */
  private startCopy(stdin: Socket | 'pipe'): Copy {
    const start = this.offset;
    const relayFile = path.join(this.o.dir, RELAY);
    writeState(relayFile, { start } satisfies RelayRecord);
    const err = fsSync.openSync(path.join(this.o.dir, RELAY_ERR), 'w', 0o600);
    let child: ChildProcess;
    try {
      child = spawn('dd', ['bs=1M', 'conv=notrunc', `of=${ToolInput.fifoPath(this.o.dir)}`], {
        detached: true,
        stdio: [stdin, 'ignore', err],
      });
    } finally {
      fsSync.closeSync(err);
    }
    const proc = procIdOf(child.pid);
    if (proc) writeState(relayFile, { start, ...proc } satisfies RelayRecord);
    child.stdin?.on('error', () => undefined); // a dd that died (the tool failed): its exit says why
    const done = new Promise<void>((res) => {
      child.on('error', () => res());
      child.on('exit', () => res());
    }).then(() => this.copyEnded(start));
    void done.catch(() => undefined);
    const copy: Copy = { proc, child, start, done, ...(child.stdin ? { stdin: child.stdin } : {}) };
    this.copy = copy;
    void this.result.then(() => this.drainFor(copy));
    return copy;
  }

  /**
   * The tool ended (at the stream's end command, or failing) while a copy still runs: nothing reads the FIFO any more,
   * and a `dd` that had not opened it yet would wait for a reader forever. This happens when the whole stream came
   * with the upgrade request (written by a first copy) and the relay of the connection's rest (nothing) starts as the
   * tool finishes. Opens the FIFO for reading, discarding what arrives, until the copy ended.
   */
  private async drainFor(copy: Copy): Promise<void> {
    let over = false;
    void copy.done.then(
      () => (over = true),
      () => (over = true),
    );
    await new Promise((res) => setImmediate(res));
    if (over) return;
    let fd: number;
    try {
      fd = fsSync.openSync(ToolInput.fifoPath(this.o.dir), fsSync.constants.O_RDONLY | fsSync.constants.O_NONBLOCK);
    } catch {
      return;
    }
    const buf = Buffer.allocUnsafe(64 * 1024);
    try {
      while (!over) {
        let n = 0;
        try {
          n = fsSync.readSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        }
        if (n === 0) await new Promise((res) => setTimeout(res, 10));
      }
    } finally {
      fsSync.closeSync(fd);
    }
  }

  /** A copy ended: its count gives the new offset, recorded for a restarted agent (offset, no relay.json). */
  private async copyEnded(start: number): Promise<number> {
    const stderr = await fs.readFile(path.join(this.o.dir, RELAY_ERR), 'utf8').catch(() => '');
    const n = ddCount(stderr);
    if (n === undefined) {
      throw new RelayCountLostError(`a copy into the tool ended without its count: ${stderr.trim() || 'no message'}`);
    }
    const offset = start + n;
    writeState(path.join(this.o.dir, OFFSET), offset);
    await fs.rm(path.join(this.o.dir, RELAY), { force: true });
    if (this.copy?.start === start) {
      // exact now (the progress before was an estimate)
      this.copy = undefined;
      this.offset = offset;
    }
    return offset;
  }

  /**
   * The sender's progress follows a copy as it goes: an estimate (wchar also counts what dd writes to its stderr), made
   * exact by the count when the copy ends (copyEnded).
   */
  private followProgress(copy: Copy): void {
    const update = (): void =>
      void written(copy.proc?.pid)
        .then((n) => {
          if (n !== undefined && this.copy === copy) this.offset = Math.max(this.offset, copy.start + n);
        })
        .catch(() => undefined);
    update();
    const poll = setInterval(update, PROGRESS_MS);
    void copy.done.finally(() => clearInterval(poll)).catch(() => undefined);
  }

  /**
   * Waits for a copy that a previous run of the agent left running (a relayed connection) after asking it to stop:
   * a new request of the sender replaces it, and continues at its count.
   */
  async settle(): Promise<void> {
    const copy = this.copy;
    if (!copy || copy.child) return;
    signal(copy.proc, 'SIGINT');
    this.offset = await this.counted(copy);
  }

  /**
   * Hands an upgraded connection (paused, after its buffered bytes were written) to `dd` until the sender half-closes
   * it (resolves) or it breaks (throws, with `offset` at what `dd` copied). The tool failing stops the copy.
   */
  async relay(socket: Socket): Promise<void> {
    if (this.settled instanceof Error) throw this.settled;
    await this.endWrites();
    if (!this.spoolFile) return this.relayCopy(socket);
    const start = this.offset;
    const argv = ['dd', 'bs=1M', 'oflag=append', 'conv=notrunc', `of=${this.spoolPath}`];
    const dd = helper(argv, [socket, 'ignore', 'pipe']);
    this.relaying = dd;
    const done = exited(dd);
    // the spool's length is exact
    const spoolFile = this.spoolFile;
    const poll = setInterval(() => {
      void spoolFile
        .stat()
        .then((st) => {
          if (this.relaying === dd) this.offset = Math.max(this.offset, st.size);
        })
        .catch(() => undefined);
    }, PROGRESS_MS);
    try {
      const first = await Promise.race([done, this.failure()]);
      if (first instanceof Error) {
        dd.kill('SIGKILL');
        await done;
        throw first;
      }
      const { code, stderr } = first;
      const copied = ddCount(stderr);
      this.offset = copied !== undefined ? start + copied : (await spoolFile.stat()).size;
      if (this.settled instanceof Error) throw this.settled;
      if (code !== 0) throw new Error(`the connection broke: ${stderr.trim().split('\n')[0] ?? ''}`);
    } finally {
      clearInterval(poll);
      this.relaying = undefined;
    }
  }

  /**
   * A copy's new offset. A copy that died without its count (killed: SIGPIPE when the tool is gone) throws the tool's
   * failure when there is one: that is the cause.
   */
  private async counted(copy: Copy): Promise<number> {
    try {
      return await copy.done;
    } catch (err) {
      const why = await Promise.race([
        this.failure(),
        new Promise<undefined>((res) => setTimeout(() => res(undefined), 2000)),
      ]);
      throw why ?? err;
    }
  }

  /** Settles only if the tool fails (it may end successfully, at the end command, before dd sees the end of file). */
  private failure(): Promise<Error> {
    return this.result.then((v) => (v instanceof Error ? v : new Promise<never>(() => undefined)));
  }

  private async relayCopy(socket: Socket): Promise<void> {
    const copy = this.startCopy(socket);
    this.tail = undefined;
    this.followProgress(copy);
    const exit = new Promise<{ code: number | null }>((res) => {
      copy.child!.on('error', () => res({ code: null }));
      copy.child!.on('exit', (code) => res({ code }));
    });
    const first = await Promise.race([this.counted(copy).then(() => exit), this.failure()]);
    if (first instanceof Error) {
      copy.child!.kill('SIGKILL');
      await copy.done.catch(() => undefined);
      throw first;
    }
    this.offset = await copy.done;
    if (this.settled instanceof Error) throw this.settled;
    if (first.code !== 0) {
      const stderr = await fs.readFile(path.join(this.o.dir, RELAY_ERR), 'utf8').catch(() => '');
      throw new Error(`the connection broke: ${stderr.trim().split('\n')[0] ?? ''}`);
    }
  }

  /**
   * Stops a relay under way (the sender's connection is being replaced, or the agent stops). SIGINT, not SIGKILL:
   * dd then prints its count before it exits, so the receive continues where it is instead of failing.
   */
  interrupt(): void {
    this.relaying?.kill('SIGINT');
    if (this.copy && !this.copy.stdin) this.copy.child?.kill('SIGINT');
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
    await this.fifo?.close().catch(() => undefined);
  }

  /** Stops everything (the receive failed or was cancelled); the tool, reading an early end, fails. */
  async destroy(): Promise<void> {
    this.relaying?.kill('SIGKILL');
    signal(this.copy?.proc, 'SIGKILL');
    // spool off: the tool holds the FIFO itself and would wait for more forever
    signal(this.tool, 'SIGKILL');
    this.following = false;
    await this.follower;
    await this.close();
    await this.result;
  }
}
