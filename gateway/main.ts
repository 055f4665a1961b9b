// Entry point of the gateway agent, one per FSVM: `npx tsx gateway/main.ts` (or `npm run gateway`), configured by
// GATEWAY_* variables (gateway/config.ts, docs/gateway.md). Exits non-zero with every bad variable named.
import { createServer, type Server } from 'node:http';
import { answerParserErrors } from '../infra/http-server';
import { createLogger } from '../infra/logger';
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
  const server: Server = createServer(app);
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
      peers: [...config.peerTokens.keys()],
    },
    'gateway agent listening',
  );
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
