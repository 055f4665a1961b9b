// The API's server: the Express app on HTTPS (certificate reloaded on SIGHUP) or, where the configuration allows it,
// plain HTTP; plus the problem body for requests Node's parser refuses before the app sees them (oversized headers:
// 431, malformed HTTP: 400). api/main.ts and scripts/start.ts listen with it.
import type http from 'node:http';
import type https from 'node:https';
import type { Express } from 'express';
import { answerParserErrors } from '../infra/http-server';
import { createServerFor, type TlsFiles } from '../infra/tls';
import { httpProblem } from './problem';

export function createApiServer(
  app: Express,
  tls?: TlsFiles,
  log: { info(o: object, msg: string): void; error(o: object, msg: string): void } = { info() {}, error() {} },
): http.Server | https.Server {
  const server = createServerFor(app, tls, log);
  answerParserErrors(server, (status, _title, detail) => httpProblem(status, detail));
  return server;
}
