// Entry point of the gateway agent, one per FSVM: `npx tsx gateway/main.ts` (or `npm run gateway`), configured by
// GATEWAY_* variables (gateway/config.ts, docs/gateway.md). Exits non-zero with every bad variable named.
import http, { type Server } from 'node:http';
import https from 'node:https';
import { answerParserErrors } from '../infra/http-server';
import { createLogger } from '../infra/logger';
import { certificateSummary, listeningUrl, serverOptions } from '../infra/tls';
import { Gateway, createGatewayApp, httpProblem } from './app';
import { GatewayConfigError, loadGatewayConfig } from './config';
import { acceptDataStreams } from './data-plane/upgrade';

async function main(): Promise<void> {
  let config;
  try {
    config = loadGatewayConfig();
  } catch (err) {
    if (err instanceof GatewayConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config, 'gateway');
  const gw = new Gateway(config, log);
  await gw.start();
  const app = createGatewayApp(gw);
  // TLS: peers are asked for their certificate (the data plane checks it), the orchestrator is not
  const server: Server = config.tls ? https.createServer(serverOptions(config.tls, true), app) : http.createServer(app);
  answerParserErrors(server, (status, _title, detail) => httpProblem(status, detail));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => resolve());
  });
  server.requestTimeout = 0; // streams of snapshots take as long as they take
  server.keepAliveTimeout = 65_000;
  server.on('upgrade', acceptDataStreams(gw));
  log.info(
    {
      fileServerId: config.fileServerId,
      nodeId: config.nodeId,
      listen: config.listen,
      driver: gw.driver.name,
      peers: [...config.peerUrls.keys()],
      url: listeningUrl(server, config.listen.host),
      ...(config.tls ? { certificate: certificateSummary(config.tls.cert) } : {}),
    },
    'gateway agent listening',
  );
  // Secrets and certificates (their files) are read again on SIGHUP: a pair secret is rotated, a certificate
  // renewed, without a restart; connections opened from then on use the new ones.
  process.on('SIGHUP', () => {
    try {
      const fresh = loadGatewayConfig();
      if (fresh.tls && server instanceof https.Server) server.setSecureContext(serverOptions(fresh.tls, true));
      gw.reloadSecrets(fresh);
      log.info(
        {
          peers: [...fresh.peerTokens.keys()],
          ...(fresh.tls ? { certificate: certificateSummary(fresh.tls.cert) } : {}),
        },
        'secrets reloaded',
      );
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'reload refused: configuration invalid');
    }
  });
  const shutdown = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    server.close();
    server.closeAllConnections();
    void gw.stop().finally(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error('gateway agent failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
