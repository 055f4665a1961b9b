// What the global setup started, as seen from a test file, and per-file isolation on top of it.
import { randomBytes } from 'node:crypto';
import { Client as PgClient } from 'pg';
import { createDb, type Db } from '../../infra/database';

export const TEMPLATE_DB = 'fsdr_template';

export interface TestEnvironment {
  root: string;
  temporalAddress: string;
  temporalCli: string;
  pgAdminUrl: string;
  pgTemplateUrl: string;
  workflowBundlePath: string;
}

export function testEnvironment(): TestEnvironment {
  const raw = process.env.FSDR_TEST_ENV;
  if (!raw) throw new Error('FSDR_TEST_ENV is not set: run tests through jest (test/setup/global-setup.ts)');
  return JSON.parse(raw) as TestEnvironment;
}

/** A unique name for a task queue, workflow id prefix or database, so test files can run in parallel. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export interface TestDatabase {
  url: string;
  db: Db;
  drop(): Promise<void>;
}

/** A fresh, migrated database of its own, cloned from the template in a few milliseconds. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const env = testEnvironment();
  const name = uniqueName('t').toLowerCase();
  const admin = new PgClient({ connectionString: env.pgAdminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${TEMPLATE_DB}"`);
  } finally {
    await admin.end();
  }
  const url = env.pgTemplateUrl.replace(/\/[^/?]+(\?|$)/, `/${name}$1`);
  const db = createDb(url);
  return {
    url,
    db,
    async drop() {
      await db.$disconnect();
      const c = new PgClient({ connectionString: env.pgAdminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
