// A standalone worker process, as run in production next to a Temporal cluster and a PostgreSQL server
// (docker-compose.yml). For the embedded default, `npm start` runs a worker in-process instead.
import { loadConfig, ConfigError } from '../infra/config';
import { createDb, migrateDatabase } from '../infra/database';
import { createLogger, redactUrl } from '../infra/logger';
import { installSdkLogging } from '../infra/temporal-logging';
import { createSecretBox, loadSecretKey } from '../infra/secrets';
import { connectClient, connectWorker } from '../infra/temporal';
import { reloadableCa } from '../infra/tls';
import { ensureRpoMonitor } from './rpo-monitor';
import { createWorker } from './worker';

async function main(): Promise<void> {
  const config = loadConfig();
  const problems: string[] = [];
  if (!config.temporal.address)
    problems.push('TEMPORAL_ADDRESS: required for a standalone worker (npm start runs the embedded default)');
  if (!config.database.url)
    problems.push('DATABASE_URL: required for a standalone worker (npm start runs the embedded default)');
  if (problems.length) throw new ConfigError(problems);
  const logger = createLogger(config, 'worker');
  installSdkLogging(logger, {
    verbose: config.log.level === 'debug' || config.log.level === 'trace',
    handleSignals: true,
  });
  await migrateDatabase(config.database.url!);
  const db = createDb(config.database.url!);
  const connection = await connectWorker(config.temporal.address!);
  const temporal = await connectClient(config.temporal.address!, config.temporal.namespace);
  const worker = await createWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    db,
    secrets: createSecretBox(loadSecretKey(config).key),
    temporal,
    production: config.env === 'production',
    gatewayCa: reloadableCa(config.gateways.caFile, logger),
    ...(config.worker.workflowBundlePath ? { workflowBundle: { codePath: config.worker.workflowBundlePath } } : {}),
  });
  await ensureRpoMonitor(temporal, config.temporal.taskQueue);
  logger.info(
    {
      temporal: config.temporal.address,
      database: redactUrl(config.database.url!),
      taskQueue: config.temporal.taskQueue,
    },
    'worker started',
  );
  await worker.run(); // returns after SIGINT/SIGTERM (the SDK's default shutdown signals) once drained
  await connection.close();
  await temporal.connection.close();
  await db.$disconnect();
  logger.info('worker stopped');
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
