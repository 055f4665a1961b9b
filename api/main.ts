// A standalone API process (production). `npm start` runs the API in-process on the embedded default instead.
import { loadConfig, ConfigError } from '../infra/config';
import { createDb } from '../infra/database';
import { createLogger } from '../infra/logger';
import { connectClient } from '../infra/temporal';
import { listeningUrl, reloadableCa } from '../infra/tls';
import { createSecretBox, loadSecretKey } from '../infra/secrets';
import { createApp } from './app';
import { createApiServer } from './server';

async function main(): Promise<void> {
  const config = loadConfig();
  const problems: string[] = [];
  if (!config.temporal.address)
    problems.push('TEMPORAL_ADDRESS: required for a standalone API (npm start runs the embedded default)');
  if (!config.database.url)
    problems.push('DATABASE_URL: required for a standalone API (npm start runs the embedded default)');
  if (problems.length) throw new ConfigError(problems);
  const logger = createLogger(config, 'api');
  const db = createDb(config.database.url!);
  const temporal = await connectClient(config.temporal.address!, config.temporal.namespace);
  const app = createApp({
    db,
    temporal,
    temporalAddress: config.temporal.address!,
    taskQueue: config.temporal.taskQueue,
    temporalUiUrl: config.temporal.uiUrl,
    logger,
    secrets: createSecretBox(loadSecretKey(config).key),
    production: config.env === 'production',
    gatewayCa: reloadableCa(config.gateways.caFile, logger),
  });
  // HTTPS (certificate reloaded on SIGHUP) or, where loadConfig allowed it, plain HTTP
  const server = createApiServer(app, config.api.tls, logger);
  server.listen(config.api.port, config.api.host, () =>
    logger.info(`API listening on ${listeningUrl(server, config.api.host)}`),
  );
  const shutdown = () => {
    server.close(() => void Promise.all([temporal.connection.close(), db.$disconnect()]).then(() => process.exit(0)));
    server.closeAllConnections(); // open event streams would keep close() waiting
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
