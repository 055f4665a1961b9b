import { Router } from 'express';
import { pingDb, type Db } from '../../infra/database';
import { temporalHealth } from '../../infra/temporal';
import type { Client } from '@temporalio/client';

export interface HealthDeps {
  db: Db;
  temporal: Client;
  temporalAddress: string;
  taskQueue: string;
  temporalUiUrl?: string;
}

/** GET /healthz: 200 when Temporal and the admin database both answer, 503 with what is down otherwise. */
export function healthRouter(deps: HealthDeps): Router {
  const router = Router();
  router.get('/healthz', async (_req, res) => {
    const [temporal, database] = await Promise.all([
      temporalHealth(deps.temporal, deps.temporalAddress, deps.taskQueue),
      pingDb(deps.db).then(
        () => ({ status: 'up' as const }),
        (err: unknown) => ({
          status: 'down' as const,
          error: err instanceof Error ? err.message.split('\n')[0] : 'unreachable',
        }),
      ),
    ]);
    const ok = temporal.status === 'up' && database.status === 'up';
    res.status(ok ? 200 : 503).json({
      status: ok ? 'ok' : 'degraded',
      temporal: { ...temporal, webUi: deps.temporalUiUrl },
      database,
    });
  });
  return router;
}
