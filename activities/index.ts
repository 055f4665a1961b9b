// Composition of every activity the worker registers. Built only in the worker's composition root (workers/worker.ts)
// over injected clients, so tests can build the same set over their own database, gateways and Temporal client.
import type { Client } from '@temporalio/client';
import type { Db } from '../infra/database';
import type { SecretBox } from '../infra/secrets';
import { createComplianceActivities } from './compliance';
import { createDiagnosticsActivities } from './diagnostics';
import { createFailoverActivities } from './failover';
import { createDirectoryActivities } from './directory';
import { withFailureMapping } from './failures';
import { createGatewayDirectory } from './gateway-directory';
import { createOperationActivities } from './operations';
import { createPolicyActivities } from './policy';
import { createReadinessActivities } from './readiness';
import { createReplicationActivities } from './replication';
import { createShareActivities } from './shares';

export interface ActivityDeps {
  db: Db;
  /** Opens the gateway tokens stored sealed in the admin database. */
  secrets: SecretBox;
  /** For the activities that manage Temporal Schedules and cancel runs. */
  temporal: Client;
  taskQueue: string;
  /** How often running transfers are polled; default 1 s. */
  pollIntervalMs?: number;
  /** How often a running transfer's progress is written to its job; default 2 s. */
  progressIntervalMs?: number;
  /** NODE_ENV=production: directory settings may not use plain LDAP. */
  production?: boolean;
  /** The CA bundle https gateways' certificates must chain to (GATEWAY_CA_FILE, reloaded on SIGHUP). */
  gatewayCa?: () => Buffer | undefined;
  /** Domain controller timeouts (connect incl. TLS and bind, each operation); defaults 5 s and 10 s. */
  directoryTimeouts?: { connectMs: number; operationMs: number };
}

export function createActivities(deps: ActivityDeps) {
  const gateways = createGatewayDirectory({ db: deps.db, secrets: deps.secrets, gatewayCa: deps.gatewayCa });
  return withFailureMapping({
    ...createDiagnosticsActivities(deps),
    ...createComplianceActivities(deps),
    ...createDirectoryActivities(deps),
    ...createOperationActivities(deps),
    ...createPolicyActivities({ ...deps, gateways }),
    ...createReplicationActivities({ ...deps, gateways }),
    ...createFailoverActivities({ ...deps, gateways }),
    ...createReadinessActivities({ ...deps, gateways }),
    ...createShareActivities({ ...deps, gateways }),
  });
}

export type Activities = ReturnType<typeof createActivities>;
