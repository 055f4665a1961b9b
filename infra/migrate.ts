// Applies prisma/migrations/*/migration.sql in order. Prisma generates the SQL (`npm run db:migration`), but its
// `migrate deploy` through the pg driver adapter fails on PostgreSQL (prisma/orm#27403, "Column type 'name' could
// not be deserialized"), and the native engine cannot be downloaded offline; so applying is done here, the same way:
// each migration in its own transaction, recorded with a checksum, under an advisory lock so that concurrent
// starts (API and worker processes) migrate once.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';

export const MIGRATIONS_DIR = path.resolve(__dirname, '..', 'prisma', 'migrations');
const LOCK_KEY = 0x66736472; // 'fsdr'

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = fs.readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

/** Returns the names of the migrations it applied (empty when the database was current). */
export async function applyMigrations(url: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = readMigrations(dir);
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS _fsdr_migrations (
      name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const applied = new Map(
      (await client.query<{ name: string; checksum: string }>('SELECT name, checksum FROM _fsdr_migrations')).rows.map(
        (r) => [r.name, r.checksum],
      ),
    );
    for (const [name, checksum] of applied) {
      const local = migrations.find((m) => m.name === name);
      if (!local) throw new Error(`database has migration '${name}' that this version does not know: is it newer?`);
      if (local.checksum !== checksum) {
        throw new Error(`migration '${name}' was edited after it was applied: add a new migration instead`);
      }
    }
    const done: string[] = [];
    for (const m of migrations) {
      if (applied.has(m.name)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO _fsdr_migrations (name, checksum) VALUES ($1, $2)', [m.name, m.checksum]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration '${m.name}' failed and was rolled back: ${(err as Error).message}`);
      }
      done.push(m.name);
    }
    return done;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
}
