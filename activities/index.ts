// Composition of every activity the worker registers. Built only in the worker's composition root (workers/worker.ts)
// over injected clients, so tests can build the same set over their own database and gateways.
import type { Db } from '../infra/database';
import { createDiagnosticsActivities } from './diagnostics';

export interface ActivityDeps {
  db: Db;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createDiagnosticsActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
