// Writes a new migration folder with the SQL that takes the schema from the last migration to prisma/schema.prisma.
// `prisma migrate dev` needs a shadow database and the native engine; `migrate diff` works offline with the WASM engine.
// Usage: npm run db:migration -- <name>
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';

const name = process.argv[2];
if (!name || !/^[a-z0-9_]{1,60}$/.test(name)) {
  console.error('usage: npm run db:migration -- <name>   (name: lowercase letters, digits, underscores)');
  process.exit(2);
}
const dir = path.join(__dirname, '..', 'prisma', 'migrations');
fs.mkdirSync(dir, { recursive: true });
const previous = fs
  .readdirSync(dir)
  .filter((d) => fs.existsSync(path.join(dir, d, 'migration.sql')))
  .sort();
// Each migration keeps the schema it was made from, so the next diff needs no shadow database.
const from = previous.length
  ? ['--from-schema-datamodel', path.join(dir, previous[previous.length - 1]!, 'schema.prisma')]
  : ['--from-empty'];
async function main(): Promise<void> {
  // The JS schema engine opens a connection even for a file-to-file diff: give it a throwaway server.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-migration-'));
  const pg = await startEmbeddedPostgres({
    dataDir: path.join(scratch, 'pg'),
    port: 20000 + (process.pid % 20000),
    database: 'diff',
  });
  const env = { ...process.env, DATABASE_URL: pg.url };
  const res = spawnSync(
    'npx',
    ['prisma', 'migrate', 'diff', ...from, '--to-schema-datamodel', 'prisma/schema.prisma', '--script'],
    { env, encoding: 'utf8' },
  );
  await pg.destroy();
  fs.rmSync(scratch, { recursive: true, force: true });
  if (res.status !== 0) {
    console.error(res.stderr);
    process.exit(1);
  }
  if (!/CREATE|ALTER|DROP/.test(res.stdout)) {
    console.error('schema unchanged since the last migration: nothing to write');
    process.exit(1);
  }
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const target = path.join(dir, `${stamp}_${name}`);
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'migration.sql'), res.stdout);
  fs.copyFileSync(path.join(__dirname, '..', 'prisma', 'schema.prisma'), path.join(target, 'schema.prisma'));
  fs.writeFileSync(path.join(dir, 'migration_lock.toml'), 'provider = "postgresql"\n');
  console.log(`wrote ${path.relative(process.cwd(), target)}/migration.sql`);
}

void main();
