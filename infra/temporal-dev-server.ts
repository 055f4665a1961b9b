// The embedded default's orchestration server: the real Temporal server of the Temporal CLI (`temporal server
// start-dev`), with SQLite persistence under the data folder and its Web UI. Where the binary comes from, in order:
// TEMPORAL_CLI_PATH, the project's .tools/bin/temporal (scripts/ensure-tools.sh), `temporal` on PATH, and last the
// SDK's download (which needs internet).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { ALL_SEARCH_ATTRIBUTES, SEARCH_ATTRIBUTES } from '../domain/search-attributes';

export interface DevServerOptions {
  /** Explicit binary (TEMPORAL_CLI_PATH); an error if it does not exist. */
  cliPath?: string;
  dbFile: string;
  port: number;
  uiPort: number;
  namespace: string;
  /** Web UI on (default) or off (tests). */
  ui?: boolean;
  onLog?: (line: string) => void;
  /** More dynamic configuration (`--dynamic-config-value name=value`, value as JSON), e.g. for tests. */
  dynamicConfig?: Record<string, string | number | boolean>;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  binary: string;
  /** The server's process id, when we started the binary ourselves (benchmarks read its CPU time). */
  pid?: number;
  stop: () => Promise<void>;
}

const projectRoot = path.resolve(__dirname, '..');

export type CliSource = { kind: 'path'; path: string; from: string } | { kind: 'download' };

export function resolveTemporalCli(cliPath?: string): CliSource {
  if (cliPath) {
    if (!isExecutable(cliPath)) {
      throw new Error(`TEMPORAL_CLI_PATH: '${cliPath}' is not an executable file`);
    }
    return { kind: 'path', path: path.resolve(cliPath), from: 'TEMPORAL_CLI_PATH' };
  }
  const local = path.join(projectRoot, '.tools', 'bin', 'temporal');
  if (isExecutable(local)) return { kind: 'path', path: local, from: '.tools/bin (scripts/ensure-tools.sh)' };
  const onPath = spawnSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' }).stdout.trim();
  if (onPath && isExecutable(onPath)) return { kind: 'path', path: onPath, from: 'PATH' };
  return { kind: 'download' };
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export async function assertPortFree(port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `port ${port} (${what}) is already in use: is another instance running? Choose another port in the environment`
            : `cannot use port ${port} (${what}): ${err.message}`,
        ),
      ),
    );
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
  });
}

export function devServerArgs(opts: DevServerOptions): string[] {
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(opts.port),
    '--namespace',
    opts.namespace,
    '--db-filename',
    opts.dbFile,
    '--log-level',
    'warn',
    // Schedules fire on time in a dev server only if the scheduler's own timers are not rate-limited heavily.
    '--dynamic-config-value',
    'frontend.namespaceRPS=2400',
  ];
  for (const [name, value] of Object.entries(opts.dynamicConfig ?? {}))
    args.push('--dynamic-config-value', `${name}=${JSON.stringify(value)}`);
  if (opts.ui === false) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort));
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  return args;
}

async function waitForServer(address: string, child: ChildProcess, logTail: string[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`Temporal dev server exited with code ${child.exitCode}: ${logTail.slice(-5).join(' | ')}`);
    }
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await conn.workflowService.getSystemInfo({});
        return;
      } finally {
        await conn.close();
      }
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`Temporal dev server at ${address} did not answer within ${timeoutMs} ms: ${String(lastError)}`);
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const source = resolveTemporalCli(opts.cliPath);
  await assertPortFree(opts.port, 'Temporal frontend');
  if (opts.ui !== false) await assertPortFree(opts.uiPort, 'Temporal Web UI');
  fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
  const address = `127.0.0.1:${opts.port}`;
  const uiUrl = opts.ui === false ? undefined : `http://127.0.0.1:${opts.uiPort}`;
  if (source.kind === 'download') return startDownloadedServer(opts, address, uiUrl);

  // detached: Ctrl-C in a terminal reaches the whole foreground process group; we stop the server ourselves, after
  // the worker has drained, so it must not receive the SIGINT directly.
  const child = spawn(source.path, devServerArgs(opts), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const logTail: string[] = [];
  const onData = (buf: Buffer) => {
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      logTail.push(line);
      if (logTail.length > 50) logTail.shift();
      opts.onLog?.(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForServer(address, child, logTail, 60_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, uiUrl, binary: source.path, pid: child.pid, stop };
}

/** Last resort: the SDK downloads the CLI (needs internet) and runs it through its core bridge. */
async function startDownloadedServer(opts: DevServerOptions, address: string, uiUrl?: string): Promise<DevServer> {
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'cached-download' },
      ip: '127.0.0.1',
      port: opts.port,
      namespace: opts.namespace,
      dbFilename: opts.dbFile,
      ui: opts.ui !== false,
      uiPort: opts.ui === false ? undefined : opts.uiPort,
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
    },
  }).catch((err: unknown) => {
    throw new Error(
      `no Temporal CLI found (TEMPORAL_CLI_PATH, .tools/bin/temporal, PATH) and the SDK could not download one: ${String(err)}. ` +
        'Run scripts/ensure-tools.sh or set TEMPORAL_CLI_PATH.',
    );
  });
  return { address, uiUrl, binary: 'sdk-download', stop: () => env.teardown() };
}
