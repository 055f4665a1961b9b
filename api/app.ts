// The API's composition root: builds the Express app over injected clients (tests build it over their own).
import express, { type Express } from 'express';
import type { Client } from '@temporalio/client';
import type { Db } from '../infra/database';
import type { Logger } from '../infra/logger';
import { healthRouter } from './routes/health';

export interface AppDeps {
  db: Db;
  temporal: Client;
  temporalAddress: string;
  taskQueue: string;
  temporalUiUrl?: string;
  logger: Logger;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '256kb' }));
  app.use(healthRouter(deps));
  return app;
}
