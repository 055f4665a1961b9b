// The admin database client and its migrations. PostgreSQL everywhere: an embedded server by default
// (infra/embedded-postgres.ts), any PostgreSQL 13+ server through DATABASE_URL.
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../prisma/generated/client';
import { applyMigrations } from './migrate';

export { PrismaClient };
export type Db = PrismaClient;

export function createDb(url: string): Db {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: 10 }) });
}

/** Brings the admin database to the current schema (idempotent, safe to run from several processes at once). */
export async function migrateDatabase(url: string): Promise<string[]> {
  return applyMigrations(url);
}

/** Cheap liveness probe for /healthz. */
export async function pingDb(db: Db): Promise<void> {
  await db.$queryRaw`SELECT 1`;
}
