// `npm start` (`node --import tsx scripts/start.ts`, as package.json runs it) as a child process with its own free
// ports, for the tests that start the whole embedded default as an operator would.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { assertPortFree } from '../../infra/temporal-dev-server';
import { freePort } from './ports';

export const repoRoot = path.resolve(__dirname, '..', '..');

export interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** Ctrl-C as a terminal sends it: SIGINT to the whole process group (the embedded PostgreSQL is in it too). */
  interrupt: () => void;
}

/** Runs scripts/start.ts of the project in `cwd` (default: this checkout), with its tsx, in a minimal environment. */
export function startOrchestrator(env: Record<string, string>, cwd = repoRoot): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, as a command started from a shell
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const interrupt = () => {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
    try {
      process.kill(-child.pid, 'SIGINT');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // the group is gone already
    }
  };
  return { child, output: () => out, exited, interrupt };
}

export async function waitForHealth(url: string, proc: Started, timeoutMs = 90_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`start exited early:\n${proc.output()}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) return (await res.json()) as Record<string, any>;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no healthy /healthz within ${timeoutMs} ms:\n${proc.output()}`);
}

export interface StartPorts {
  api: number;
  db: number;
  temporal: number;
  ui: number;
}

export async function startPorts(): Promise<StartPorts> {
  return { api: await freePort(), db: await freePort(), temporal: await freePort(), ui: await freePort() };
}

/** The environment that points a start at its own ports (and, when given, its own DATA_DIR). */
export function startEnv(p: StartPorts, dataDir?: string): Record<string, string> {
  return {
    ...(dataDir ? { DATA_DIR: dataDir } : {}),
    API_PORT: String(p.api),
    EMBEDDED_DB_PORT: String(p.db),
    TEMPORAL_DEV_PORT: String(p.temporal),
    TEMPORAL_DEV_UI_PORT: String(p.ui),
  };
}

export async function expectAllPortsFree(p: StartPorts): Promise<void> {
  await assertPortFree(p.api, 'API');
  await assertPortFree(p.db, 'PostgreSQL');
  await assertPortFree(p.temporal, 'Temporal');
  await assertPortFree(p.ui, 'Temporal UI');
}

/** The JSON log lines of a start's output (anything else is ignored). */
export function jsonLines(output: string): Record<string, any>[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, any>];
      } catch {
        return [];
      }
    });
}

/** Waits until a start's output matches `pattern` (fails if the start exits first). */
export async function waitForLog(proc: Started, pattern: RegExp, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(proc.output())) {
    if (proc.child.exitCode !== null) throw new Error(`start exited early:\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`no ${pattern} in the log within ${timeoutMs} ms:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
