// The API's composition root: builds the Express app over injected clients (tests build it over their own).
// Layout: /healthz (open), /api/v1/openapi.json and /api/v1/docs (open), everything else under /api/v1 behind a
// bearer token (api/auth.ts), then the JSON body parser (bounded), the routes, and ONE error handler (api/problem.ts).
import type { TLSSocket } from 'node:tls';
import express, { type Express, type Request, type Response } from 'express';
import type { Client } from '@temporalio/client';
import type { Db } from '../infra/database';
import type { Logger } from '../infra/logger';
import type { SecretBox } from '../infra/secrets';
import { NotFoundError } from '../domain/errors';
import { createAuditLog, resultOf } from './audit';
import { authenticate, FailureLimiter, TokenCache, type Principal, type RateLimitOptions } from './auth';
import { gatewayFactoryWith, type GatewayFactory } from './gateways';
import { ApiRoutes, MUTATING } from './http';
import { createRegistry, generateDocument, renderDocsPage } from './openapi';
import { errorHandler, requireJsonBody, type Problem } from './problem';
import { healthRouter } from './routes/health';
import { fileServerRoutes } from './routes/file-servers';
import { jobRoutes } from './routes/jobs';
import { operationRoutes } from './routes/operations';
import { alertRoutes } from './routes/alerts';
import { directoryRoutes } from './routes/directory';
import { eventRoutes, type EventStreamOptions } from './routes/events';
import { createEventHub } from './events';
import { policyRoutes } from './routes/policies';
import { tokenRoutes } from './routes/tokens';
import { createDirectorySettingsService } from './services/directory-settings';
import { createFileServerService } from './services/file-servers';
import { createOperationService } from './services/operations';
import { createPolicyService } from './services/policies';
import { createShareOperations } from './services/share-operations';
import { createShareService } from './services/shares';
import { createWorkflowPort } from './temporal';
import { defaultWebRoot, serveWeb } from './web';

export interface AppDeps {
  db: Db;
  temporal: Client;
  temporalAddress: string;
  taskQueue: string;
  temporalUiUrl?: string;
  logger: Logger;
  /** Seals gateway tokens and AD credentials (infra/secrets.ts). Without it, calls that store secrets fail. */
  secrets?: SecretBox;
  /** How to reach FSVM gateways (default: gateway/client.ts). */
  gateways?: GatewayFactory;
  /** Failed authentications allowed per client address per window (default 20 per minute). */
  authFailures?: RateLimitOptions;
  gatewayTimeoutMs?: number;
  /** How long a file server's share list is served from the cache (default 30 s). */
  shareCacheTtlMs?: number;
  /** Bound of every Temporal call the API makes (default 10 s). */
  temporalTimeoutMs?: number;
  /** Largest accepted JSON body (default 256kb). */
  bodyLimit?: string;
  /** How live workers on the task queue are counted before a workflow starts (default: ask Temporal). */
  workersPolling?: (client: Client, taskQueue: string) => Promise<number>;
  /** NODE_ENV=production: directory settings may not use plain LDAP. */
  production?: boolean;
  /** How long POST .../directory/check waits for the check workflow (default 30 s). */
  directoryCheckWaitMs?: number;
  /** The CA bundle gateways' certificates must chain to (GATEWAY_CA_FILE, reloaded on SIGHUP); unset: system trust. */
  gatewayCa?: () => Buffer | undefined;
  /** The built web UI served at `/` (default: dist/web of this installation). */
  webRoot?: string;
  /** Live events: how often the database is polled for changes (default 1 s), and the streams' timings. */
  events?: EventStreamOptions & { intervalMs?: number };
}

const missingSecrets: SecretBox = {
  seal() {
    throw new Error('no secrets key configured (SECRETS_KEY / SECRETS_KEY_FILE)');
  },
  open() {
    throw new Error('no secrets key configured (SECRETS_KEY / SECRETS_KEY_FILE)');
  },
};

export const HSTS = 'max-age=31536000; includeSubDomains';

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // Served over HTTPS: browsers are told to come back on HTTPS only (a year, this host and its subdomains).
  app.use((req, res, next) => {
    if ((req.socket as TLSSocket).encrypted) res.setHeader('strict-transport-security', HSTS);
    next();
  });
  app.use(healthRouter(deps));

  const secrets = deps.secrets ?? missingSecrets;
  const gateways = deps.gateways ?? gatewayFactoryWith(deps.gatewayCa);
  const gatewayTimeoutMs = deps.gatewayTimeoutMs ?? 5000;
  const audit = createAuditLog(deps.db);
  const registry = createRegistry();
  const api = new ApiRoutes(registry, audit);
  const workflows = createWorkflowPort(
    deps.temporal,
    deps.taskQueue,
    deps.temporalUiUrl,
    deps.temporalTimeoutMs,
    deps.workersPolling,
  );

  const fileServers = createFileServerService({ db: deps.db, secrets, gateways, gatewayTimeoutMs });
  const shares = createShareService({
    db: deps.db,
    secrets,
    gateways,
    gatewayTimeoutMs,
    ttlMs: deps.shareCacheTtlMs ?? 30_000,
  });
  const policies = createPolicyService({ db: deps.db, workflows, shares });
  const operations = createOperationService({ db: deps.db, workflows });

  const tokenCache = new TokenCache();
  tokenRoutes(api, { db: deps.db, onRevoke: (id) => tokenCache.forget(id) });
  fileServerRoutes(api, {
    db: deps.db,
    fileServers,
    shares,
    shareOperations: createShareOperations({ db: deps.db, workflows, shares }),
    workflows,
  });
  directoryRoutes(api, {
    directory: createDirectorySettingsService({ db: deps.db, secrets }),
    workflows,
    production: deps.production ?? false,
    checkWaitMs: deps.directoryCheckWaitMs ?? 30_000,
  });
  policyRoutes(api, { db: deps.db, policies, workflows });
  jobRoutes(api, { db: deps.db });
  operationRoutes(api, { db: deps.db, operations, workflows });
  alertRoutes(api, { db: deps.db });
  const hub = createEventHub({ db: deps.db, workflows, logger: deps.logger, intervalMs: deps.events?.intervalMs });
  eventRoutes(api, { db: deps.db, hub, ...deps.events });

  let doc: ReturnType<typeof generateDocument> | undefined;
  let page: string | undefined;
  const document = () => (doc ??= generateDocument(registry));
  app.get('/api/v1/openapi.json', (_req, res) => {
    res.json(document());
  });
  app.get('/api/v1/docs', (_req, res) => {
    res
      .set('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
      .type('html')
      .send((page ??= renderDocsPage(document())));
  });

  const auditFailure = async (req: Request, res: Response, p: Problem) => {
    if (!MUTATING.has(req.method) || res.locals.audited) return;
    res.locals.audited = true;
    const principal = res.locals.principal as Principal | undefined;
    await audit.record({
      actor: principal?.name ?? 'anonymous',
      action: (res.locals.action as string | undefined) ?? `${req.method} ${req.path.slice(0, 150)}`,
      target: req.path.slice(0, 300),
      result: resultOf(p.status),
      detail: { status: p.status, ...(p.detail ? { detail: p.detail.slice(0, 1000) } : {}), ip: req.ip },
    });
  };

  const v1 = express.Router();
  v1.use((_req, res, next) => {
    res.set({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    next();
  });
  v1.use(
    authenticate({
      db: deps.db,
      cache: tokenCache,
      limiter: new FailureLimiter(deps.authFailures ?? { maxFailures: 20, windowMs: 60_000 }),
      onReject: async (req, status, detail, retryAfterSeconds) => {
        if (!MUTATING.has(req.method)) return;
        const action = `${req.method} ${req.path.slice(0, 150)}`;
        const target = req.path.slice(0, 300);
        const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
        if (status === 429) {
          const until = new Date(Date.now() + (retryAfterSeconds ?? 60) * 1000);
          await audit.rateLimited({ key: ip, action, target, detail, until });
          return;
        }
        await audit.record({
          actor: 'anonymous',
          action,
          target,
          result: resultOf(status),
          detail: { status, detail, ip },
        });
      },
    }),
  );
  // Bodies are read only for the calls that take one, after the token was checked, and only as JSON.
  const json = express.json({ limit: deps.bodyLimit ?? '256kb', strict: true });
  v1.use((req, res, next) => {
    if (!MUTATING.has(req.method)) return next();
    requireJsonBody(req);
    json(req, res, next);
  });
  v1.use(api.router);
  v1.use((req) => {
    throw new NotFoundError(`no route ${req.method} ${req.baseUrl}${req.path}`.slice(0, 300));
  });
  app.use('/api/v1', v1);
  serveWeb(app, deps.webRoot ?? defaultWebRoot());
  app.use((req) => {
    throw new NotFoundError(`no route ${req.method} ${req.path}`.slice(0, 300));
  });
  app.use(errorHandler({ logger: deps.logger, onError: auditFailure }));
  return app;
}
