// The API's HTTP server: the Express app, plus the problem body for requests Node's parser refuses before the app
// sees them (oversized headers: 431, malformed HTTP: 400). api/main.ts and scripts/start.ts listen with it.
import http from 'node:http';
import type { Express } from 'express';
import { answerParserErrors } from '../infra/http-server';
import { httpProblem } from './problem';

export function createApiServer(app: Express): http.Server {
  const server = http.createServer(app);
  answerParserErrors(server, (status, _title, detail) => httpProblem(status, detail));
  return server;
}
