// Activities that report on the orchestrator's own dependencies, run by the diagnostics workflow so an operator (and
// the smoke test) can prove that a worker is polling, reaches the admin database and is on the current schema.
import type { Db } from '../infra/database';

export interface DatabaseProbe {
  reachable: boolean;
  latestMigration: string | null;
  serverVersion: string;
}

export function createDiagnosticsActivities(deps: { db: Db }) {
  return {
    async probeAdminDatabase(): Promise<DatabaseProbe> {
      const [version] = await deps.db.$queryRaw<{ server_version: string }[]>`SHOW server_version`;
      const [latest] = await deps.db.$queryRaw<{ migration_name: string }[]>`
        SELECT name AS migration_name FROM _fsdr_migrations ORDER BY name DESC LIMIT 1`;
      return {
        reachable: true,
        latestMigration: latest?.migration_name ?? null,
        serverVersion: version?.server_version ?? '',
      };
    },
  };
}

export type DiagnosticsActivities = ReturnType<typeof createDiagnosticsActivities>;
