// docker-compose.yml cannot be started here (no Docker engine), so it is checked the way an engine would read it
// (`docker-compose config`, from Debian's docker-compose) and against the project's own configuration schemas: a
// renamed variable or a missing service fails here instead of at an operator's first `docker compose up`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../infra/config';
import { loadGatewayConfig } from '../../gateway/config';

const root = path.resolve(__dirname, '..', '..');

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  secrets?: { source: string; target?: string }[] | string[];
  ports?: unknown[];
  depends_on?: Record<string, unknown>;
}

function composeConfig(): { services: Record<string, Service>; secrets: Record<string, { file: string }> } {
  const res = spawnSync('docker-compose', ['-f', path.join(root, 'docker-compose.yml'), 'config'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (res.error)
    throw new Error(`docker-compose is not installed (Debian package docker-compose): ${res.error.message}`);
  if (res.status !== 0) throw new Error(`docker-compose config failed: ${res.stderr}`);
  return parse(res.stdout) as ReturnType<typeof composeConfig>;
}

/**
 * Secret files as the container would see them under /run/secrets, with made-up but well-formed contents; the TLS
 * files (certificates and keys) are the ones deploy/make-secrets.sh makes, found in `made` by their file name.
 */
function fakeSecrets(
  dir: string,
  env: Record<string, string>,
  made?: { dir: string; files: Record<string, { file: string }> },
): Record<string, string> {
  const contents: Record<string, string> = {
    admin_db_url: 'postgresql://fsdr:pw@admin-db:5432/fsdr',
    secrets_key: Buffer.alloc(32, 7).toString('base64'),
    gateway_token: 'x'.repeat(48),
    peer_tokens: ['a1', 'a2', 'b1', 'b2'].map((n) => `${n}=pairsecretpairsecretpairsecret`).join(','),
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    const m = /^\/run\/secrets\/(.+)$/.exec(v);
    if (m && contents[m[1]!] !== undefined) {
      const file = path.join(dir, m[1]!);
      fs.writeFileSync(file, contents[m[1]!]!);
      out[k] = file;
    } else if (m && made?.files[m[1]!]) {
      out[k] = path.join(made.dir, path.basename(made.files[m[1]!]!.file));
    } else out[k] = v;
  }
  return out;
}

describe('docker-compose.yml', () => {
  const { services, secrets } = composeConfig();
  let dir: string;
  let made: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-compose-'));
    // deploy/make-secrets.sh run in a copy of deploy/, as an operator would (its secrets/ beside it)
    fs.mkdirSync(path.join(dir, 'deploy'));
    fs.copyFileSync(path.join(root, 'deploy', 'make-secrets.sh'), path.join(dir, 'deploy', 'make-secrets.sh'));
    const res = spawnSync('bash', [path.join(dir, 'deploy', 'make-secrets.sh')], { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`make-secrets.sh failed: ${res.stderr}`);
    made = path.join(dir, 'deploy', 'secrets');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('has the production shape: Temporal on PostgreSQL, its Web UI, the admin database, API, worker', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['temporal', 'temporal-db', 'temporal-ui', 'admin-db', 'api', 'worker']),
    );
    expect(services.temporal!.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'temporal-db' });
    expect(services['temporal-ui']!.environment).toMatchObject({ TEMPORAL_ADDRESS: 'temporal:7233' });
  });

  it.each(['api', 'worker'])('%s environment passes the orchestrator config schema in production mode', (name) => {
    const env = fakeSecrets(dir, services[name]!.environment ?? {});
    const cfg = loadConfig(env);
    expect(cfg.env).toBe('production');
    expect(cfg.gateways.caFile).toBe('/run/secrets/tls_ca');
    if (name === 'api') expect(cfg.api.tls).toBeDefined(); // 0.0.0.0 in production: HTTPS only
    expect(cfg.temporal.address).toBe('temporal:7233');
    expect(cfg.database.url).toMatch(/@admin-db:5432\//);
  });

  it('runs the gateways of two sites with two FSVMs each, each with a valid gateway config', () => {
    const gateways = Object.entries(services).filter(([, s]) => s.command?.includes('dist/gateway/main.js'));
    const bySite = new Map<string, string[]>();
    for (const [name, s] of gateways) {
      // with NODE_ENV=production (the image's): on TLS, certificates made by make-secrets.sh, peers pinned on https
      const cfg = loadGatewayConfig({
        ...fakeSecrets(dir, s.environment ?? {}, { dir: made, files: secrets }),
        NODE_ENV: 'production',
      });
      expect(cfg.tls).toBeDefined();
      expect([...cfg.peerUrls.values()].every((u) => u.startsWith('https://'))).toBe(true);
      bySite.set(cfg.fileServerId, [...(bySite.get(cfg.fileServerId) ?? []), cfg.nodeId]);
      expect(name).toMatch(/^gw-/);
    }
    expect([...bySite.keys()].sort()).toEqual(['fs-a', 'fs-b']);
    for (const nodes of bySite.values()) expect(new Set(nodes).size).toBe(2);
  });

  it('keeps secrets in files, never in the environment', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [k, v] of Object.entries(s.environment ?? {})) {
        if (/PASSWORD|TOKEN|SECRET|KEY|DATABASE_URL/.test(k) && !k.endsWith('_FILE') && k !== 'POSTGRES_PWD_FILE') {
          throw new Error(`${name}: ${k} carries a secret in the environment (${v.length} chars); use a *_FILE secret`);
        }
      }
    }
    for (const s of Object.values(secrets)) expect(s.file).toMatch(/deploy\/secrets\//);
  });
});
