// The one place the orchestrator reads its environment. Parsed once at start-up; every bad variable is named in one
// readable error so an operator fixes them all in one go. Every variable is documented in .env.example.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { plainHttpRefusal } from './tls';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const PORT_MESSAGE = 'must be a port number from 1 to 65535';
const port = z.coerce
  .number({ error: PORT_MESSAGE })
  .int({ error: PORT_MESSAGE })
  .min(1, { error: PORT_MESSAGE })
  .max(65535, { error: PORT_MESSAGE });
const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

const hostPort = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/, 'must be host:port, e.g. temporal.example.com:7233');

const postgresUrl = z
  .string()
  .trim()
  .refine((s) => /^postgres(ql)?:\/\/.+/.test(s), 'must be a postgresql:// URL');

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  DATA_DIR: z.string().trim().min(1).default('.data'),

  TEMPORAL_ADDRESS: hostPort.optional().or(z.literal('').transform(() => undefined)),
  TEMPORAL_NAMESPACE: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, 'must be a Temporal namespace name')
    .default('default'),
  TEMPORAL_TASK_QUEUE: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/, 'must be a task queue name')
    .default('fs-dr'),
  TEMPORAL_UI_URL: z
    .url({ protocol: /^https?$/ })
    .optional()
    .or(z.literal('').transform(() => undefined)),
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_DEV_PORT: port.default(7233),
  TEMPORAL_DEV_UI_PORT: port.default(8233),

  DATABASE_URL: postgresUrl.optional().or(z.literal('').transform(() => undefined)),
  /** A file holding DATABASE_URL (Docker/Kubernetes secrets), read once at start. */
  DATABASE_URL_FILE: optionalString,
  EMBEDDED_DB_PORT: port.default(5433),

  API_HOST: z.string().trim().min(1).default('127.0.0.1'),
  API_PORT: port.default(8080),
  /** HTTPS of the REST API (and the web UI): certificate chain and key, PEM files read again on SIGHUP. */
  API_TLS_CERT_FILE: optionalString,
  API_TLS_KEY_FILE: optionalString,
  /** The CA bundle the gateways' certificates chain to (https gateway URLs); read again on SIGHUP. */
  GATEWAY_CA_FILE: optionalString,

  SECRETS_KEY: optionalString,
  SECRETS_KEY_FILE: optionalString,

  /** A workflow bundle built by `npm run build`; unset: the worker bundles workflows/ at start. */
  WORKFLOW_BUNDLE_PATH: optionalString,

  /** `npm start`'s demo sites: auto = on the embedded default (no TEMPORAL_ADDRESS, no DATABASE_URL). */
  DEMO: z.enum(['auto', 'on', 'off'], { error: 'must be auto, on or off' }).default('auto'),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  env: Env['NODE_ENV'];
  log: { level: Env['LOG_LEVEL']; format: 'json' | 'pretty' };
  dataDir: string;
  temporal: {
    /** undefined: the embedded default starts a local dev server. */
    address?: string;
    namespace: string;
    taskQueue: string;
    uiUrl?: string;
    cliPath?: string;
    devPort: number;
    devUiPort: number;
  };
  database: {
    /** undefined: the embedded default starts a local PostgreSQL. */
    url?: string;
    embeddedPort: number;
  };
  /** tls: HTTPS with HSTS; unset: plain HTTP (loopback only with NODE_ENV=production). */
  api: { host: string; port: number; tls?: { certFile: string; keyFile: string } };
  /** How the orchestrator verifies gateways: the CA bundle (unset: the system's trust store). */
  gateways: { caFile?: string };
  secrets: { key?: string; keyFile?: string };
  worker: { workflowBundlePath?: string };
  /** Whether `npm start` runs the demo sites (demo/), with their data under DATA_DIR/demo. */
  demo: { enabled: boolean; dir: string };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws ConfigError naming every bad variable. Never echoes a secret's value. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const known = Object.keys(envSchema.shape);
  const picked: Record<string, string | undefined> = Object.fromEntries(
    known.filter((k) => source[k] !== undefined).map((k) => [k, source[k]]),
  );
  const fileProblems: string[] = [];
  const urlFile = picked.DATABASE_URL_FILE?.trim();
  if (urlFile) {
    if (picked.DATABASE_URL?.trim()) fileProblems.push('DATABASE_URL and DATABASE_URL_FILE: set only one of them');
    else {
      try {
        picked.DATABASE_URL = fs.readFileSync(urlFile, 'utf8').trim();
      } catch (err) {
        fileProblems.push(
          `DATABASE_URL_FILE: cannot read '${urlFile}' (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
    }
  }
  const parsed = envSchema.safeParse(picked);
  const problems = [
    ...fileProblems,
    ...(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`)),
  ];
  const set = (name: string) => typeof picked[name] === 'string' && picked[name].trim() !== '';
  if ((parsed.success ? parsed.data.NODE_ENV : picked.NODE_ENV) === 'production') {
    // Production never falls back to embedded servers or a generated key: a typo must not silently create a new,
    // empty admin database or make stored secrets unreadable.
    if (!set('TEMPORAL_ADDRESS')) problems.push('TEMPORAL_ADDRESS: required when NODE_ENV=production');
    if (!set('DATABASE_URL')) problems.push('DATABASE_URL (or DATABASE_URL_FILE): required when NODE_ENV=production');
    if (!set('SECRETS_KEY') && !set('SECRETS_KEY_FILE')) {
      problems.push('SECRETS_KEY or SECRETS_KEY_FILE: required when NODE_ENV=production');
    }
  }
  if ((parsed.success ? parsed.data.NODE_ENV : picked.NODE_ENV) === 'production' && picked.DEMO?.trim() === 'on')
    problems.push('DEMO: the demo cannot run with NODE_ENV=production');
  if (set('API_TLS_CERT_FILE') !== set('API_TLS_KEY_FILE'))
    problems.push('API_TLS_CERT_FILE and API_TLS_KEY_FILE: set both or neither');
  else if (!set('API_TLS_CERT_FILE')) {
    const refusal = plainHttpRefusal(
      'API_HOST',
      picked.API_HOST?.trim() || '127.0.0.1',
      (parsed.success ? parsed.data.NODE_ENV : picked.NODE_ENV) === 'production',
    );
    if (refusal) problems.push(`${refusal} (API_TLS_CERT_FILE, API_TLS_KEY_FILE)`);
  }
  if (set('SECRETS_KEY') && set('SECRETS_KEY_FILE'))
    problems.push('SECRETS_KEY and SECRETS_KEY_FILE: set only one of them');
  if (problems.length || !parsed.success) throw new ConfigError(problems);
  const e = parsed.data;

  const dataDir = path.resolve(e.DATA_DIR);
  return {
    env: e.NODE_ENV,
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json') },
    dataDir,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiUrl: e.TEMPORAL_UI_URL ?? (e.TEMPORAL_ADDRESS ? undefined : `http://127.0.0.1:${e.TEMPORAL_DEV_UI_PORT}`),
      cliPath: e.TEMPORAL_CLI_PATH,
      devPort: e.TEMPORAL_DEV_PORT,
      devUiPort: e.TEMPORAL_DEV_UI_PORT,
    },
    database: { url: e.DATABASE_URL, embeddedPort: e.EMBEDDED_DB_PORT },
    api: {
      host: e.API_HOST,
      port: e.API_PORT,
      ...(e.API_TLS_CERT_FILE && e.API_TLS_KEY_FILE
        ? { tls: { certFile: path.resolve(e.API_TLS_CERT_FILE), keyFile: path.resolve(e.API_TLS_KEY_FILE) } }
        : {}),
    },
    gateways: { ...(e.GATEWAY_CA_FILE ? { caFile: path.resolve(e.GATEWAY_CA_FILE) } : {}) },
    secrets: { key: e.SECRETS_KEY, keyFile: e.SECRETS_KEY_FILE },
    worker: { workflowBundlePath: e.WORKFLOW_BUNDLE_PATH },
    demo: {
      enabled:
        e.NODE_ENV !== 'production' &&
        (e.DEMO === 'on' || (e.DEMO === 'auto' && !e.TEMPORAL_ADDRESS && !e.DATABASE_URL)),
      dir: path.join(dataDir, 'demo'),
    },
  };
}
