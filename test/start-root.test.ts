// `npm start` from a clone in a folder only its owner may enter (a root home directory, any `mktemp -d` folder):
// as root, PostgreSQL runs as an unprivileged service user that cannot even look into such a folder, so the start
// must place the binaries and the cluster where that user can reach them, without opening the user's folders.
// The clone is of this checkout's HEAD (commit before running); its node_modules are hard links (`cp -al`), so the
// PostgreSQL binaries really are inside the closed folder and nothing outside it is offered to the service user.
// Run as another user, the same clone starts with the cluster in place under .data/postgres.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeCluster } from '../infra/embedded-postgres-placement';
import { testEnvironment } from './helpers/environment';
import {
  expectAllPortsFree,
  jsonLines,
  repoRoot,
  startEnv,
  startOrchestrator,
  startPorts,
  waitForHealth,
  type Started,
} from './helpers/start-process';

const asRoot = process.getuid?.() === 0;
const serviceUser = process.env.EMBEDDED_PG_USER ?? 'postgres';

function idOf(flag: '-u' | '-g'): number {
  return Number(execFileSync('id', [flag, serviceUser], { encoding: 'utf8' }).trim());
}

/** Whether PostgreSQL's service user can reach `p` (search every folder on the way, and `p` itself). */
function serviceUserReaches(p: string): boolean {
  return spawnSync('test', ['-x', p], { uid: idOf('-u'), gid: idOf('-g') }).status === 0;
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
  beforeAll(() => {
    outer = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-private-'));
    clone = path.join(outer, 'fs-dr');
    execFileSync('git', ['clone', '--quiet', repoRoot, clone]);
    execFileSync('cp', ['-al', path.join(repoRoot, 'node_modules'), path.join(clone, 'node_modules')]);
    execFileSync('cp', ['-a', path.join(repoRoot, 'prisma', 'generated'), path.join(clone, 'prisma', 'generated')]);
  });
  afterAll(() => {
    removeCluster(path.join(clone, '.data', 'postgres'));
    fs.rmSync(outer, { recursive: true, force: true });
  });

  it('starts with the database up, stops everything on Ctrl-C and restarts on the same cluster', async () => {
    expect(modeOf(outer)).toBe(0o700);
    const modesBefore = [modeOf(outer), modeOf(clone)];
    const p = await startPorts();
    const env = { ...startEnv(p), TEMPORAL_CLI_PATH: testEnvironment().temporalCli };
    const api = `http://127.0.0.1:${p.api}`;
    const link = path.join(clone, '.data', 'postgres');

    const first = startOrchestrator(env, clone);
    let cluster: string;
    let token: string;
    try {
      const health = await waitForHealth(api, first, 90_000);
      expect(health).toMatchObject({ status: 'ok', database: { status: 'up' }, temporal: { status: 'up' } });
      const where = clusterLine(first);
      cluster = where.cluster as string;
      expect(fs.realpathSync(link)).toBe(cluster);
      expect(fs.existsSync(path.join(cluster, 'PG_VERSION'))).toBe(true);
      if (asRoot) {
        // The scenario is real: the service user cannot reach the clone, so neither binaries nor cluster are in it.
        expect(serviceUserReaches(clone)).toBe(false);
        expect(cluster.startsWith(outer + path.sep)).toBe(false);
        expect((where.binaries as string).startsWith(outer + path.sep)).toBe(false);
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
    } finally {
      first.child.kill('SIGINT');
    }
    expect(await first.exited).toBe(0);
    await expectAllPortsFree(p);
    expect(fs.existsSync(path.join(cluster, 'postmaster.pid'))).toBe(false); // PostgreSQL stopped, not left behind

    const second = startOrchestrator(env, clone);
    try {
      await waitForHealth(api, second, 90_000);
      expect(clusterLine(second).cluster).toBe(cluster);
      expect(second.output()).not.toMatch(/initdb/);
      // The token the first start stored is still in the database: the same cluster, not a new one.
      const res = await fetch(`${api}/api/v1/file-servers`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect(second.output()).not.toMatch(/first admin API token written/);
    } finally {
      second.child.kill('SIGINT');
    }
    expect(await second.exited).toBe(0);
    await expectAllPortsFree(p);
    // Nothing of the user's was opened up to let PostgreSQL in.
    expect([modeOf(outer), modeOf(clone)]).toEqual(modesBefore);
  }, 240_000);
});
