// `npm run bench -- fuzz [--deep]`: schemathesis against both OpenAPI documents, through the suite's own fuzz tests
// (test/fuzz/), so the bench fuzzes exactly what `npm test` does, only longer. Without a flag it is the bounded run of
// `npm test` (FUZZ_DEPTH=ci); `--deep` raises the fuzzing phase to hundreds of examples per operation (FUZZ_DEPTH=deep,
// tens of thousands of requests, about an hour on 2 cores). `--examples N` sets the examples per operation instead.
// Fails (exit 1) on any finding; schemathesis's reports are kept (their directories are printed) when it finds one.
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Benchmark } from './run';

const REPO = path.resolve(__dirname, '..');

interface ApiRun {
  requests: number;
  seconds: number;
  statuses: Record<string, number>;
}

/** The `[fuzz] <API>: N requests in S s, ...; statuses {...}` lines the fuzz tests print. */
function parseRuns(output: string): Record<string, ApiRun> {
  const runs: Record<string, ApiRun> = {};
  const re = /\[fuzz\] ([^:\n]+): (\d+) requests in ([\d.]+) s, depth \w+; statuses (\{[^}]*\})/g;
  for (const m of output.matchAll(re)) {
    runs[m[1]!] = { requests: Number(m[2]), seconds: Number(m[3]), statuses: JSON.parse(m[4]!) as ApiRun['statuses'] };
  }
  return runs;
}

const bench: Benchmark = async ({ args, log, onInterrupt }) => {
  const deep = args.includes('--deep');
  const examplesAt = args.indexOf('--examples');
  const examples = examplesAt >= 0 ? args[examplesAt + 1] : undefined;
  if (examplesAt >= 0 && !/^[1-9]\d*$/.test(examples ?? '')) throw new Error('--examples takes a positive integer');
  const env = {
    ...process.env,
    FUZZ_DEPTH: deep ? 'deep' : 'ci',
    ...(examples ? { FUZZ_MAX_EXAMPLES: examples } : {}),
  };
  log(`fuzzing the REST API and the FSVM gateway, depth ${env.FUZZ_DEPTH}${examples ? `, ${examples} examples` : ''}`);
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(REPO, 'node_modules/jest/bin/jest.js'), 'test/fuzz'], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onInterrupt(() => void child.kill('SIGTERM'));
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (b: Buffer) => {
      output += b.toString();
      process.stderr.write(b);
    });
  }
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const runs = parseRuns(output);
  const figure = (name: string) => runs[name] ?? { requests: 0, seconds: 0, statuses: {} };
  const api = figure('REST API');
  const gateway = figure('FSVM gateway');
  for (const [name, r] of Object.entries(runs)) {
    log(`${name}: ${r.requests} requests in ${r.seconds} s (${(r.requests / r.seconds).toFixed(1)}/s)`);
  }
  if (code !== 0) throw new Error(`the fuzz tests failed (jest exit ${code}): see the output above`);
  return {
    depth: env.FUZZ_DEPTH,
    passed: true,
    api_requests: api.requests,
    api_seconds: api.seconds,
    api_statuses: JSON.stringify(api.statuses),
    gateway_requests: gateway.requests,
    gateway_seconds: gateway.seconds,
    gateway_statuses: JSON.stringify(gateway.statuses),
    wall_seconds: (Date.now() - started) / 1000,
  };
};

export default bench;
