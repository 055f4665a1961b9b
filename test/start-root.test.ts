// `npm start` from a clone in a folder only its owner may enter (a root home directory, any `mktemp -d` folder):
// as root, PostgreSQL runs as an unprivileged service user that cannot even look into such a folder, so the start
// must place the binaries and the cluster where that user can reach them, without opening the user's folders.
// The clone is of this checkout's HEAD (commit before running); its node_modules are hard links (`cp -al`), so the
// PostgreSQL binaries really are inside the closed folder and nothing outside it is offered to the service user.
// Run as another user, the same clone starts with the cluster in place under .data/postgres. The state folder (in
// production /var/lib/fs-dr) is a folder of this test's own, so every run makes the copy of the binaries afresh and
// nothing is left behind.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../infra/embedded-postgres';
import { removeCluster } from '../infra/embedded-postgres-placement';
import { testEnvironment } from './helpers/environment';
import { freePort } from './helpers/ports';
import {
  expectAllPortsFree,
  jsonLines,
  repoRoot,
  startEnv,
  startOrchestrator,
  startPorts,
  waitForHealth,
  waitForLog,
  type Started,
} from './helpers/start-process';

const asRoot = process.getuid?.() === 0;
const serviceUser = process.env.EMBEDDED_PG_USER ?? 'postgres';
let stateDir: string;
beforeAll(() => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-state-'));
  fs.chmodSync(stateDir, 0o755); // stands in for /var/lib/fs-dr, which every user may traverse
  process.env.EMBEDDED_PG_STATE_DIR = stateDir;
});
afterAll(() => {
  delete process.env.EMBEDDED_PG_STATE_DIR;
  fs.rmSync(stateDir, { recursive: true, force: true });
});

function idOf(flag: '-u' | '-g'): number {
  return Number(execFileSync('id', [flag, serviceUser], { encoding: 'utf8' }).trim());
}

/** Whether PostgreSQL's service user can reach `p` (search every folder on the way to it). */
function serviceUserReaches(p: string): boolean {
  return spawnSync('test', ['-e', p], { uid: idOf('-u'), gid: idOf('-g') }).status === 0;
}

function modeOf(p: string): number {
  return fs.statSync(p).mode & 0o7777;
}

/** The log line that says where the cluster lives. */
function clusterLine(proc: Started): Record<string, any> {
  const line = jsonLines(proc.output()).find((l) => typeof l.cluster === 'string');
  if (!line) throw new Error(`no log line names the cluster:\n${proc.output()}`);
  return line;
}

describe('npm start from a clone in a folder only its owner may enter', () => {
  let outer: string;
  let clone: string;
  const started: Started[] = [];
  const start = (env: Record<string, string>) => {
    const proc = startOrchestrator(env, clone);
    started.push(proc);
    return proc;
  };
  beforeAll(() => {
    outer = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-private-'));
    clone = path.join(outer, 'fs-dr');
    execFileSync('git', ['clone', '--quiet', repoRoot, clone]);
    execFileSync('cp', ['-al', path.join(repoRoot, 'node_modules'), path.join(clone, 'node_modules')]);
    execFileSync('cp', ['-a', path.join(repoRoot, 'prisma', 'generated'), path.join(clone, 'prisma', 'generated')]);
  });
  afterAll(async () => {
    for (const proc of started) proc.interrupt();
    await Promise.all(started.map((proc) => proc.exited));
    removeCluster(path.join(clone, '.data', 'postgres'));
    fs.rmSync(outer, { recursive: true, force: true });
  });

  it('starts with the database up, stops everything on Ctrl-C and restarts on the same cluster', async () => {
    expect(modeOf(outer)).toBe(0o700);
    const modesBefore = [modeOf(outer), modeOf(clone)];
    const p = await startPorts();
    const env = { ...startEnv(p), TEMPORAL_CLI_PATH: testEnvironment().temporalCli, EMBEDDED_PG_STATE_DIR: stateDir };
    const api = `http://127.0.0.1:${p.api}`;
    const link = path.join(clone, '.data', 'postgres');

    const first = start(env);
    let cluster: string;
    let token: string;
    try {
      const health = await waitForHealth(api, first);
      expect(health).toMatchObject({ status: 'ok', database: { status: 'up' }, temporal: { status: 'up' } });
      const where = clusterLine(first);
      cluster = where.cluster as string;
      expect(fs.realpathSync(link)).toBe(cluster);
      expect(fs.existsSync(path.join(cluster, 'PG_VERSION'))).toBe(true);
      if (asRoot) {
        // The scenario is real: the service user cannot reach the clone, so neither binaries nor cluster are in it.
        expect(serviceUserReaches(clone)).toBe(false);
        expect(cluster.startsWith(outer + path.sep)).toBe(false);
        // The binaries run from a root-owned, read-only copy in the state folder.
        const binaries = where.binaries as string;
        expect(binaries.startsWith(stateDir + path.sep)).toBe(true);
        for (const p of [binaries, path.join(binaries, 'postgres')]) {
          expect([fs.statSync(p).uid, fs.statSync(p).mode & 0o222]).toEqual([0, 0]);
        }
        expect(cluster.startsWith(stateDir + path.sep)).toBe(true);
        expect(serviceUserReaches(path.join(cluster, 'PG_VERSION'))).toBe(true);
        expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
        const st = fs.statSync(cluster);
        expect([st.uid, st.mode & 0o777]).toEqual([idOf('-u'), 0o700]);
      } else {
        expect(fs.lstatSync(link).isDirectory()).toBe(true);
      }
      token = fs.readFileSync(path.join(clone, '.data', 'admin-token'), 'utf8').trim();
      const res = await fetch(`${api}/api/v1/file-servers`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      // The demo's shares: an SMB client lists one. Its smbd serves it as the guest account, which cannot enter the
      // clone either: as root, the demo's data lives in the state folder, DATA_DIR/demo links there.
      await waitForLog(first, /"msg":"ready: open http:/);
      const network = JSON.parse(fs.readFileSync(path.join(clone, '.data', 'demo', 'network.json'), 'utf8')) as {
        fileServers: Record<string, string>;
      };
      const smbPort = /site-a-1 smb:\/\/[\d.]+:(\d+)/.exec(first.output())![1]!;
      const listing = spawnSync(
        'smbclient',
        [`//${network.fileServers['site-a']}/projects`, '-p', smbPort, '-N', '-c', 'ls'],
        { encoding: 'utf8' },
      );
      expect({ out: listing.stdout + listing.stderr }).toEqual({ out: expect.stringMatching(/project-1\s+D/) });
      if (asRoot) {
        const demo = fs.realpathSync(path.join(clone, '.data', 'demo'));
        expect(demo.startsWith(path.join(stateDir, 'demo') + path.sep)).toBe(true);
      }
    } finally {
      first.interrupt();
    }
    expect(await first.exited).toBe(0);
    await expectAllPortsFree(p);
    expect(fs.existsSync(path.join(cluster, 'postmaster.pid'))).toBe(false); // PostgreSQL stopped, not left behind

    const second = start(env);
    try {
      await waitForHealth(api, second);
      expect(clusterLine(second).cluster).toBe(cluster);
      expect(second.output()).not.toMatch(/initdb/);
      // The token the first start stored is still in the database: the same cluster, not a new one.
      const res = await fetch(`${api}/api/v1/file-servers`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect(second.output()).not.toMatch(/first admin API token written/);
    } finally {
      second.interrupt();
    }
    expect(await second.exited).toBe(0);
    await expectAllPortsFree(p);
    // Nothing of the user's was opened up to let PostgreSQL in.
    expect([modeOf(outer), modeOf(clone)]).toEqual(modesBefore);
  }, 240_000);

  it("runs npm test's harness there too: its own PostgreSQL and Temporal, a server-backed test file passes", async () => {
    const clustersBefore = asRoot ? fs.readdirSync(path.join(stateDir, 'clusters')) : [];
    const jest = spawn(path.join(clone, 'node_modules', '.bin', 'jest'), ['test/smoke.test.ts'], {
      cwd: clone,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        CI: 'true',
        TEMPORAL_CLI_PATH: testEnvironment().temporalCli,
        EMBEDDED_PG_STATE_DIR: stateDir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    jest.stdout.on('data', (b: Buffer) => (output += b.toString()));
    jest.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const status = await new Promise<number | null>((resolve) => jest.once('exit', resolve));
    expect({ status, output }).toMatchObject({ status: 0, output: expect.stringMatching(/PASS test\/smoke/) });
    // The harness's throwaway cluster went with it.
    if (asRoot) expect(fs.readdirSync(path.join(stateDir, 'clusters'))).toEqual(clustersBefore);
  }, 240_000);
});

describe('where the embedded PostgreSQL keeps a cluster whose folder its service user cannot reach', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-place-'));
  });
  afterEach(() => {
    removeCluster(path.join(dir, 'pg'));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function withServer<T>(fn: (pg: EmbeddedPostgres, client: PgClient) => Promise<T>): Promise<T> {
    const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort(), database: 'app' });
    const client = new PgClient({ connectionString: pg.url });
    await client.connect();
    try {
      return await fn(pg, client);
    } finally {
      await client.end();
      await pg.stop();
    }
  }

  it('moves a cluster whose folder was closed after it was made, keeping its data; DATA_DIR removed: a fresh one', async () => {
    fs.chmodSync(dir, 0o711); // this test's own folder: open, so the first cluster is made in place
    await withServer(async (pg, client) => {
      expect([pg.clusterDir, pg.relocated]).toEqual([path.join(dir, 'pg'), undefined]);
      await client.query(`CREATE TABLE kept (v text); INSERT INTO kept VALUES ('first start')`);
    });
    fs.chmodSync(dir, 0o700); // as if the project had been moved into a folder only its owner may enter
    const moved = await withServer(async (pg, client) => {
      expect((await client.query('SELECT v FROM kept')).rows).toEqual([{ v: 'first start' }]);
      if (asRoot) {
        expect(pg.clusterDir.startsWith(path.join(stateDir, 'clusters') + path.sep)).toBe(true);
        expect(pg.relocated).toMatch(new RegExp(`user '${serviceUser}', who cannot reach ${dir}`));
        expect(fs.readlinkSync(path.join(dir, 'pg'))).toBe(pg.clusterDir);
      } else {
        expect([pg.clusterDir, pg.relocated]).toEqual([path.join(dir, 'pg'), undefined]);
      }
      return pg.clusterDir;
    });
    expect(modeOf(dir)).toBe(0o700);

    // `rm -rf .data`: the link and the password go; the next start from the same path begins with an empty cluster
    // (replacing the orphaned one rather than leaving it behind).
    fs.rmSync(path.join(dir, 'pg'), { recursive: true, force: true });
    fs.rmSync(path.join(dir, 'pg.password'));
    await withServer(async (pg, client) => {
      expect(pg.clusterDir).toBe(moved);
      const tables = await client.query(`SELECT 1 FROM pg_tables WHERE tablename = 'kept'`);
      expect(tables.rowCount).toBe(0);
    });
    if (asRoot) expect(fs.readdirSync(path.join(stateDir, 'clusters'))).toHaveLength(1);
  }, 90_000);

  it('refuses a DATA_DIR/postgres that links into a folder the service user cannot reach, changing nothing', async () => {
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-closed-'));
    const target = path.join(elsewhere, 'cluster');
    fs.mkdirSync(target);
    fs.symlinkSync(target, path.join(dir, 'pg'));
    let pg: EmbeddedPostgres | undefined;
    try {
      const outcome = await startEmbeddedPostgres({
        dataDir: path.join(dir, 'pg'),
        port: await freePort(),
        database: 'app',
      }).then(
        (started) => ((pg = started), 'started'),
        (err: Error) => err.message,
      );
      if (asRoot) {
        expect(outcome).toContain(`${path.join(dir, 'pg')} is a link to ${target}, which user '${serviceUser}'`);
        expect(fs.readlinkSync(path.join(dir, 'pg'))).toBe(target);
        expect(fs.readdirSync(target)).toEqual([]);
        expect(modeOf(elsewhere)).toBe(0o700);
      } else {
        // Not root: PostgreSQL runs as us and the link is followed, as always.
        expect(outcome).toBe('started');
        expect(pg?.clusterDir).toBe(target);
      }
    } finally {
      await pg?.stop();
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
