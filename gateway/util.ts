// Small helpers the agent shares: running commands without a shell, atomic file writes, per-key locks, tree walks.
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import fsSync from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export interface RunResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${argv.join(' ')} failed (exit ${exitCode}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    this.name = 'CommandError';
  }
}

/** Runs a command with arguments as an array (never through a shell); `timeoutMs`: killed (and failed) after that. */
export function run(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new CommandError(argv, null, err.message)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ stdout, stderr });
      else if (signal && opts.timeoutMs)
        reject(new CommandError(argv, null, `${stderr}\ntimed out after ${opts.timeoutMs} ms`));
      else reject(new CommandError(argv, code, stderr));
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // a command that exits without reading its input
      child.stdin.end(opts.input);
    }
  });
}

/**
 * Runs a command that reads `input` on its stdin (e.g. `btrfs receive`), piping the stream straight in. If the input
 * fails or the command fails, the command is killed and the error thrown.
 */
export async function runWithInput(argv: string[], input: Readable): Promise<void> {
  const [cmd, ...args] = argv;
  const child = spawn(cmd!, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (err) => {
      stderr += err.message;
      resolve(null);
    });
    child.on('close', resolve);
  });
  try {
    await pipeline(input, child.stdin);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    // a command that exited early (bad stream) closes its stdin: report its own error
    if (stderr.trim()) throw new CommandError(argv, null, stderr);
    throw err;
  }
  const code = await exited;
  if (code !== 0) throw new CommandError(argv, code, stderr);
}

/**
 * Writes a file so that readers see the old or the new content, never a part (tmp + fsync + rename). `durable: false`
 * skips the fsync: still atomic for readers and across a kill of the process (the page cache keeps it), not across
 * a crash of the node, after which the file may hold its previous content.
 */
export async function writeFileAtomic(file: string, data: string, opts: { durable?: boolean } = {}): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await fs.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    if (opts.durable !== false) await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
}

export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Serialises async work per key (e.g. per share portion) inside this process. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/**
 * Sum of the sizes of the regular files under `dir` (0 if it does not exist). Synchronous lstat/readdir calls (a
 * thread-pool round trip per file costs several times the call), yielding to the event loop every 500 entries.
 */
/** A walk was stopped by its caller, who gave way to more urgent work. */
export class WalkStoppedError extends Error {
  constructor() {
    super('walk stopped');
    this.name = 'WalkStoppedError';
  }
}

/**
 * The bytes of the regular files under `dir` (a walk, giving the event loop a turn every 200 entries). `stop` is asked
 * at each turn; true ends the walk with a WalkStoppedError.
 */
export async function treeSize(dir: string, stop?: () => boolean): Promise<number> {
  let total = 0;
  let n = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    let entries: fsSync.Dirent[];
    try {
      entries = fsSync.readdirSync(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (++n % 200 === 0) {
        await new Promise((r) => setImmediate(r));
        if (stop?.()) throw new WalkStoppedError();
      }
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) total += fsSync.lstatSync(p).size;
    }
  }
  return total;
}

/** A caught value as an Error (a thrown non-Error becomes one with its text). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes `parts` (`len` bytes in all) at `position` with one writev, however many calls that ends up taking. */
export async function writeAll(fh: FileHandle, parts: Buffer[], len: number, position: number): Promise<void> {
  const { bytesWritten } = await fh.writev(parts, position);
  if (bytesWritten === len) return;
  const rest = Buffer.concat(parts, len).subarray(bytesWritten);
  let done = 0;
  while (done < rest.length) {
    const r = await fh.write(rest, done, rest.length - done, position + bytesWritten + done);
    done += r.bytesWritten;
  }
}
