// Runs schemathesis (the pinned CLI in .tools/schemathesis, installed by scripts/ensure-tools.sh --system) against a
// live server's OpenAPI document, with the project's fuzz settings, and reads back what it did from its NDJSON report.
//
// Budget and determinism: `--max-examples` bounds the fuzzing phase per operation (the coverage and examples phases
// are bounded by the schema itself), and `--generation-deterministic` makes the same schema produce the same requests
// run after run (no random seed, no database of examples saved by an earlier run). One worker, so the order of
// requests (and so the server state each one meets) is the same too. The depth is FUZZ_DEPTH=ci (default: the bounded
// run of `npm test`) or deep (`npm run bench -- fuzz --deep`).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const REPO = path.resolve(__dirname, '../..');
export const SCHEMATHESIS = path.join(REPO, '.tools/schemathesis/bin/schemathesis');
/** The checks the suite requires of every answer. */
export const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
] as const;

export type FuzzDepth = 'ci' | 'deep';

/** How long a fuzz test file may take at each depth (its jest timeout); the fuzzer is stopped before that. */
export const FUZZ_TEST_TIMEOUT_MS: Record<FuzzDepth, number> = { ci: 15 * 60_000, deep: 4 * 3600_000 };
const FUZZER_TIMEOUT_MS: Record<FuzzDepth, number> = { ci: 12 * 60_000, deep: 4 * 3600_000 - 120_000 };

export function fuzzDepth(): FuzzDepth {
  const d = process.env.FUZZ_DEPTH ?? 'ci';
  if (d !== 'ci' && d !== 'deep') throw new Error(`FUZZ_DEPTH must be ci or deep, not ${JSON.stringify(d)}`);
  return d;
}

/** Fuzzing-phase examples per operation: the API's figure for the depth, or FUZZ_MAX_EXAMPLES (a number). */
export function maxExamples(perDepth: Record<FuzzDepth, number>, depth: FuzzDepth): number {
  const override = process.env.FUZZ_MAX_EXAMPLES;
  if (override) {
    const n = Number(override);
    if (!Number.isInteger(n) || n < 1) throw new Error(`FUZZ_MAX_EXAMPLES must be a positive integer: ${override}`);
    return n;
  }
  return perDepth[depth];
}

export function requireSchemathesis(): string {
  if (!fs.existsSync(SCHEMATHESIS)) {
    throw new Error(
      `schemathesis is not installed at ${path.relative(REPO, SCHEMATHESIS)}: run scripts/ensure-tools.sh --system ` +
        '(npm test does it first; it needs python3 >= 3.11 with pip and PyPI)',
    );
  }
  return SCHEMATHESIS;
}

export interface FuzzRun {
  exitCode: number | null;
  /** schemathesis's own report: the failures with their reproduction (curl), the summary. */
  output: string;
  /** Requests schemathesis sent (every case and every check's follow-up request), from its NDJSON report. */
  requests: number;
  /** Responses by status code. */
  statuses: Record<number, number>;
  /** Every exchange: method, URL, request headers and body (truncated), status, response body (truncated). */
  exchanges: Exchange[];
  seconds: number;
}

export interface Exchange {
  method: string;
  url: string;
  status: number;
  requestBody: string;
  responseBody: string;
  contentType: string;
}

export interface FuzzOptions {
  /** The OpenAPI document's URL on the running server. */
  schemaUrl: string;
  /** Bearer token the fuzzer sends on every request (passed through the environment, never the command line). */
  token: string;
  /** More variables for the config file (other tokens). */
  env?: Record<string, string>;
  /** Fuzzing-phase examples per operation at each depth. */
  examples: Record<FuzzDepth, number>;
  /** schemathesis.toml for this API (parameter dictionaries, per-operation settings). */
  configFile: string;
  /** Where the reports go (a fresh directory). */
  reportDir: string;
  depth: FuzzDepth;
}

export async function runSchemathesis(o: FuzzOptions): Promise<FuzzRun> {
  const bin = requireSchemathesis();
  fs.mkdirSync(o.reportDir, { recursive: true });
  const ndjson = path.join(o.reportDir, 'events.ndjson');
  const args = [
    '--config-file',
    o.configFile,
    'run',
    o.schemaUrl,
    '--checks',
    CHECKS.join(','),
    '--phases',
    'examples,coverage,fuzzing',
    '--max-examples',
    String(maxExamples(o.examples, o.depth)),
    '--generation-deterministic',
    '--workers',
    '1',
    '--request-timeout',
    '20',
    '--suppress-health-check',
    'all',
    '--continue-on-failure',
    '--no-color',
    '--output-sanitize',
    'true',
    '--report',
    'ndjson',
    '--report-ndjson-path',
    ndjson,
  ];
  const started = Date.now();
  const child = spawn(bin, args, {
    cwd: o.reportDir,
    env: { ...process.env, ...o.env, FSDR_FUZZ_TOKEN: o.token, NO_COLOR: '1', COLUMNS: '160' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), FUZZER_TIMEOUT_MS[o.depth]);
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  clearTimeout(timer);
  const seconds = (Date.now() - started) / 1000;
  const exchanges = fs.existsSync(ndjson) ? readExchanges(ndjson) : [];
  const statuses: Record<number, number> = {};
  for (const e of exchanges) statuses[e.status] = (statuses[e.status] ?? 0) + 1;
  return { exitCode, output, requests: exchanges.length, statuses, exchanges, seconds };
}

/** The request/response pairs of a schemathesis NDJSON report (its ScenarioFinished events carry them). */
export function readExchanges(file: string): Exchange[] {
  const out: Exchange[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes('"interactions"')) continue;
    const event = JSON.parse(line) as Record<string, unknown>;
    const finished = (event.ScenarioFinished ?? event.scenario_finished) as
      { recorder?: { interactions?: Record<string, Interaction> } } | undefined;
    for (const i of Object.values(finished?.recorder?.interactions ?? {})) {
      if (!i.response) continue;
      out.push({
        method: i.request.method,
        url: i.request.uri,
        status: i.response.status_code,
        requestBody: decodeBody(i.request.body).slice(0, 2000),
        responseBody: decodeBody(i.response.content).slice(0, 100_000),
        contentType: headerOf(i.response.headers, 'content-type'),
      });
    }
  }
  return out;
}

interface Interaction {
  request: { method: string; uri: string; body?: unknown };
  response?: { status_code: number; content?: unknown; headers?: Record<string, string[] | string> };
}

/** A recorded body: `{"$base64": ...}` (bytes) or a plain string. */
function decodeBody(b: unknown): string {
  if (typeof b === 'string') return b;
  const encoded = (b as { $base64?: unknown } | null)?.$base64;
  return typeof encoded === 'string' ? Buffer.from(encoded, 'base64').toString('utf8') : '';
}

function headerOf(h: Record<string, string[] | string> | undefined, name: string): string {
  for (const [k, v] of Object.entries(h ?? {})) if (k.toLowerCase() === name) return Array.isArray(v) ? v[0]! : v;
  return '';
}
