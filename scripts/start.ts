// `npm start`: the whole orchestrator in one process on the embedded default. With nothing configured it starts a
// local Temporal dev server (SQLite under DATA_DIR, Web UI) and an embedded PostgreSQL (under DATA_DIR), migrates
// the admin database, and runs the worker and the API with the web UI; and the demo (demo/): two local file servers
// with their FSVM gateway agents, registered, with sample shares and a policy, and (as root, where Samba's AD DC is
// installed) a demo Active Directory DC whose DNS name a failover moves (DEMO=off turns it off).
// TEMPORAL_ADDRESS / DATABASE_URL switch either to an external service. Ctrl-C (or SIGTERM) stops everything in
// reverse order (the demo's gateways, DC and addresses last); a second start reuses the data.
import fs from 'node:fs';
import path from 'node:path';
import { createApp } from '../api/app';
import { createApiServer } from '../api/server';
import { ensureBootstrapToken } from '../api/bootstrap';
import { createSecretBox, loadSecretKey } from '../infra/secrets';
import { ConfigError, loadConfig } from '../infra/config';
import { createDb, migrateDatabase } from '../infra/database';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { createLogger, redactUrl } from '../infra/logger';
import { installSdkLogging } from '../infra/temporal-logging';
import { connectClient, connectWorker } from '../infra/temporal';
import { listeningUrl, reloadableCa } from '../infra/tls';
import { ensureCertificateAuthority, type CertificateAuthority } from '../infra/tls-certificates';
import { assertPortFree, startDevServer } from '../infra/temporal-dev-server';
import { ensureRpoMonitor } from '../workers/rpo-monitor';
import { createWorker } from '../workers/worker';
import { setupDemo, smbSummary } from '../demo';
import { prepareDemoDirectory, type DemoDirectory } from '../demo/directory';
import { placeDemoData } from '../demo/placement';
import { startSites, type RunningSites } from '../demo/sites';

type Stopper = { name: string; stop: () => Promise<unknown> };

/** How long one step of the shutdown may take before the next one goes ahead. */
const STOP_STEP_MS = 30_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(1);
  }
  const logger = createLogger(config, 'fs-dr');
  const running: Stopper[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const { name, stop } of running.reverse()) {
      // A step that hangs must not keep the rest running: e.g. the database client's disconnect waits forever for a
      // query that was in flight when Ctrl-C also stopped the embedded PostgreSQL (same process group).
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          stop(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no end after ${STOP_STEP_MS / 1000} s`)), STOP_STEP_MS);
          }),
        ]);
        logger.info(`${name} stopped`);
      } catch (err) {
        logger.error({ err: err instanceof Error ? err.message : String(err) }, `${name} did not stop cleanly`);
      } finally {
        clearTimeout(timer);
      }
    }
    process.exit(code);
  };
  // `on`, not `once`: a second Ctrl-C must not end the process half-way through stopping (leaving PostgreSQL or
  // Temporal running); stopAll runs once.
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    fs.mkdirSync(config.dataDir, { recursive: true });
    // Check every port before starting anything, so a clash fails fast and leaves nothing running.
    await assertPortFree(config.api.port, 'API');
    if (!config.database.url) await assertPortFree(config.database.embeddedPort, 'embedded PostgreSQL');

    // The demo's gateways and DC start first, beside the servers below, and stop last (after the worker that calls
    // them); the demo's loopback addresses go after them.
    let demoSites: Promise<RunningSites> | undefined;
    let demoDirectory: DemoDirectory | undefined;
    // The embedded default's local CA (DATA_DIR/tls, reused across restarts): the demo's gateways run on TLS with
    // certificates it signs, and the orchestrator verifies them against it.
    let localCa: CertificateAuthority | undefined;
    if (config.demo.enabled) {
      localCa = await ensureCertificateAuthority(path.join(config.dataDir, 'tls'), {
        name: 'ca',
        commonName: 'fs-dr local CA (npm start)',
        days: 825,
      });
      logger.info(`local CA ${localCa.certFile}: the demo's gateways run on mutual TLS`);
    }
    const demoDir = config.demo.enabled ? placeDemoData(config.demo.dir) : undefined;
    if (demoDir?.relocated) logger.info({ demo: demoDir.dir }, `demo data placed here: ${demoDir.relocated}`);
    if (config.demo.enabled) {
      const directory = await prepareDemoDirectory(demoDir!.dir, logger);
      demoDirectory = directory;
      if (!directory.unavailable) running.push({ name: 'demo Active Directory DC', stop: () => directory.stop() });
      demoSites = startSites(demoDir!.dir, logger, directory.addressOf, localCa);
      running.push({
        name: 'demo gateways',
        stop: async () => (await demoSites!.catch(() => undefined))?.stop(),
      });
      // Started now, awaited by the demo's directory step.
      if (!directory.unavailable) directory.start().catch(() => undefined);
    }

    let databaseUrl = config.database.url;
    if (!databaseUrl) {
      const pg = await startEmbeddedPostgres({
        dataDir: path.join(config.dataDir, 'postgres'),
        port: config.database.embeddedPort,
        database: 'fsdr',
        onLog: (line) => logger.debug({ component: 'postgres' }, line),
      });
      running.push({ name: 'embedded PostgreSQL', stop: pg.stop });
      databaseUrl = pg.url;
      logger.info(
        { cluster: pg.clusterDir, binaries: pg.binDir },
        `embedded PostgreSQL up on 127.0.0.1:${config.database.embeddedPort}, cluster in ${pg.clusterDir}` +
          (pg.relocated ? ` (${pg.relocated})` : ''),
      );
    } else {
      logger.info(`using PostgreSQL at ${redactUrl(databaseUrl)}`);
    }
    await migrateDatabase(databaseUrl);
    logger.info('admin database migrated');

    let temporalAddress = config.temporal.address;
    let uiUrl = config.temporal.uiUrl;
    if (!temporalAddress) {
      const dev = await startDevServer({
        cliPath: config.temporal.cliPath,
        dbFile: path.join(config.dataDir, 'temporal.sqlite'),
        port: config.temporal.devPort,
        uiPort: config.temporal.devUiPort,
        namespace: config.temporal.namespace,
        onLog: (line) => logger.debug({ component: 'temporal' }, line),
      });
      running.push({ name: 'Temporal dev server', stop: dev.stop });
      temporalAddress = dev.address;
      uiUrl = dev.uiUrl;
      logger.info(`Temporal dev server up on ${dev.address} (binary: ${dev.binary}), Web UI ${dev.uiUrl}`);
    } else {
      logger.info(`using Temporal at ${temporalAddress}, namespace ${config.temporal.namespace}`);
    }

    const db = createDb(databaseUrl);
    running.push({ name: 'database client', stop: () => db.$disconnect() });

    installSdkLogging(logger, {
      verbose: config.log.level === 'debug' || config.log.level === 'trace',
      handleSignals: false,
    });
    const secretKey = loadSecretKey(config);
    logger.info(`secrets key from ${secretKey.source}`);
    const secrets = createSecretBox(secretKey.key);
    const gatewayCa = reloadableCa(config.gateways.caFile ?? localCa?.certFile, logger);
    const temporal = await connectClient(temporalAddress, config.temporal.namespace);
    running.push({ name: 'Temporal client', stop: () => temporal.connection.close() });
    const workerConnection = await connectWorker(temporalAddress);
    running.push({ name: 'worker connection', stop: () => workerConnection.close() });
    const worker = await createWorker({
      connection: workerConnection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      db,
      secrets,
      temporal,
      production: config.env === 'production',
      gatewayCa,
    });
    await ensureRpoMonitor(temporal, config.temporal.taskQueue);
    const workerDone = worker.run();
    running.push({ name: 'worker', stop: async () => (worker.shutdown(), await workerDone) });
    workerDone.catch((err: unknown) => {
      logger.fatal({ err }, 'worker failed');
      void stopAll(1);
    });
    logger.info(`worker polling task queue '${config.temporal.taskQueue}'`);

    const firstToken = await ensureBootstrapToken(db, config.dataDir);
    if (firstToken) logger.info(`first admin API token written to ${firstToken} (mode 0600); see docs/api.md`);
    const app = createApp({
      db,
      temporal,
      temporalAddress,
      taskQueue: config.temporal.taskQueue,
      temporalUiUrl: uiUrl,
      logger,
      secrets,
      production: config.env === 'production',
      gatewayCa,
    });
    const server = createApiServer(app, config.api.tls, logger);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.api.port, config.api.host, () => resolve());
    });
    running.push({
      name: 'API',
      stop: () =>
        new Promise((r) => {
          server.close(r);
          // Open event streams (browsers) would keep close() waiting: end them too.
          server.closeAllConnections();
        }),
    });
    const apiUrl = listeningUrl(server, config.api.host);
    if (demoSites) {
      try {
        const sites = await demoSites;
        await sites.ready;
        logger.info(`demo: gateways of site-a and site-b up (data in ${demoDir!.dir})`);
        logger.info(smbSummary(sites));
        await setupDemo({ apiUrl, db, sites, directory: demoDirectory!, logger });
      } catch (err) {
        // The orchestrator itself is up: say what went wrong and keep running.
        logger.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const tokenFile = path.join(config.dataDir, 'admin-token');
    const shown = path.relative(process.cwd(), tokenFile).startsWith('..')
      ? tokenFile
      : path.relative(process.cwd(), tokenFile);
    logger.info(
      `ready: open ${apiUrl} (the web UI; sign in with ${fs.existsSync(tokenFile) ? `the admin token in ${shown}` : `a token of yours (${shown} was removed)`}); ` +
        `Temporal Web UI ${uiUrl ?? '(external)'}, API docs ${apiUrl}/api/v1/docs, health ${apiUrl}/healthz; Ctrl-C stops`,
    );
  } catch (err) {
    logger.fatal(err instanceof Error ? err.message : String(err));
    await stopAll(1);
  }
}

void main();
