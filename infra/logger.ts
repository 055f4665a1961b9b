// Structured JSON logs for machines, a readable single-line format for a terminal. Secrets are redacted by key so a
// gateway token or AD password passed in a log object never reaches the output.
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from './config';

export type { Logger };

export const REDACTED_KEYS = [
  'token',
  'password',
  'secret',
  'authorization',
  'apiKey',
  'gatewayToken',
  'adPassword',
  'DATABASE_URL',
  'SECRETS_KEY',
];

/** `destination` (JSON format only): where the lines go instead of stdout, e.g. a test's capture. */
export function createLogger(cfg: Pick<Config, 'log'>, name = 'fs-dr', destination?: pino.DestinationStream): Logger {
  const paths = REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]).concat(['req.headers.authorization']);
  const options = { name, level: cfg.log.level, redact: { paths, censor: '[redacted]' } };
  if (cfg.log.format === 'pretty') {
    return pino(
      options,
      pretty({ colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }),
    );
  }
  return destination ? pino(options, destination) : pino(options);
}

/** Hides the password of a connection URL so it can be logged. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1[redacted]@');
}
