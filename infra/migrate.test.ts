import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../test/helpers/environment';
import { applyMigrations, MIGRATIONS_DIR } from './migrate';

describe('applyMigrations', () => {
  let database: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    database = await createTestDatabase(); // already at the current schema
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-mig-'));
    fs.cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  });
  afterEach(async () => {
    await database.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const addMigration = (name: string, sql: string) => {
    fs.mkdirSync(path.join(dir, name));
    fs.writeFileSync(path.join(dir, name, 'migration.sql'), sql);
  };

  it('is a no-op on a current database, and applies only what is new', async () => {
    expect(await applyMigrations(database.url, dir)).toEqual([]);
    addMigration('99990101000000_add_note', 'ALTER TABLE "FileServer" ADD COLUMN "note" TEXT;');
    expect(await applyMigrations(database.url, dir)).toEqual(['99990101000000_add_note']);
    expect(await applyMigrations(database.url, dir)).toEqual([]);
  });

  it('rolls back a failing migration completely and does not record it', async () => {
    addMigration(
      '99990101000000_half',
      'ALTER TABLE "FileServer" ADD COLUMN "a" TEXT; ALTER TABLE "Nope" ADD COLUMN "b" TEXT;',
    );
    await expect(applyMigrations(database.url, dir)).rejects.toThrow(
      /'99990101000000_half' failed and was rolled back/,
    );
    const c = new Client({ connectionString: database.url });
    await c.connect();
    const cols = await c.query(
      `SELECT column_name::text FROM information_schema.columns WHERE table_name = 'FileServer' AND column_name = 'a'`,
    );
    const rec = await c.query(`SELECT 1 FROM _fsdr_migrations WHERE name = '99990101000000_half'`);
    await c.end();
    expect(cols.rowCount).toBe(0);
    expect(rec.rowCount).toBe(0);
  });

  it('refuses to run when an applied migration was edited', async () => {
    const [first] = fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'migration.sql')));
    fs.appendFileSync(path.join(dir, first!, 'migration.sql'), '\n-- edited\n');
    await expect(applyMigrations(database.url, dir)).rejects.toThrow(/was edited after it was applied/);
  });

  it('migrates once when several processes start together', async () => {
    addMigration('99990101000000_add_note', 'ALTER TABLE "FileServer" ADD COLUMN "note" TEXT;');
    const results = await Promise.all([1, 2, 3].map(() => applyMigrations(database.url, dir)));
    expect(results.flat()).toEqual(['99990101000000_add_note']);
  });
});
