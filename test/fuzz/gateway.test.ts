// schemathesis against the FSVM gateway agent, as a third party holding its tokens would fuzz it: a real agent process
// (gateway/main.ts, portable driver) with a standard and a distributed share and a snapshot, fuzzed through its control
// token and, on the data plane routes, a peer's pair token. Every answer must be a non-5xx, documented for its route,
// with the documented content type and schema. The agent's network is loopback only (a transfer may name any URL).
import fs from 'node:fs';
import path from 'node:path';
import { runCleanups, startAgent, tmpDir, TOKEN, type Agent } from '../gateway/helpers';
import { FUZZ_TEST_TIMEOUT_MS, fuzzDepth, requireSchemathesis, runSchemathesis, type FuzzRun } from './schemathesis';

const depth = fuzzDepth();
jest.setTimeout(FUZZ_TEST_TIMEOUT_MS[depth]);

describe('fuzzing the FSVM gateway with schemathesis', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  const pairToken = 'pair-token-of-node-b-0123456789';
  let agent: Agent;
  let run: FuzzRun;

  beforeAll(async () => {
    requireSchemathesis();
    const dataRoot = tmpDir('fuzz-gw');
    cleanups.push(() => fs.rmSync(dataRoot, { recursive: true, force: true }));
    agent = await startAgent({
      nodeId: 'node-a',
      dataRoot,
      peers: { 'node-b': pairToken },
      nodeArgs: ['--import', 'tsx', '--import', path.join(__dirname, 'loopback-only-preload.ts')],
    });
    cleanups.push(() => agent.stop());
    await agent.client.createShare('eng', { kind: 'standard' });
    await agent.client.createShare('home', { kind: 'distributed', portions: ['alice', 'bob'] });
    await agent.client.createSnapshot('eng', { snapshotId: 's1' });
    const reportDir = tmpDir('fuzz-gw-report');
    cleanups.push(() => {
      if (run?.exitCode === 0 && !process.env.FUZZ_KEEP_REPORTS) fs.rmSync(reportDir, { recursive: true, force: true });
      else console.log(`[fuzz] schemathesis report kept in ${reportDir}`);
    });
    run = await runSchemathesis({
      schemaUrl: `${agent.url}/v1/openapi.json`,
      token: TOKEN,
      env: { FSDR_FUZZ_PEER_TOKEN: pairToken },
      configFile: path.join(__dirname, 'gateway.schemathesis.toml'),
      reportDir,
      depth,
      examples: { ci: 55, deep: 800 },
    });
    console.log(
      `[fuzz] FSVM gateway: ${run.requests} requests in ${run.seconds.toFixed(1)} s, depth ${depth}; ` +
        `statuses ${JSON.stringify(run.statuses)}`,
    );
  });
  afterAll(() => runCleanups(cleanups));

  it('finds nothing: no server error, every status, content type and body as documented', () => {
    if (run.exitCode !== 0) throw new Error(`schemathesis found problems (exit ${run.exitCode}):\n${run.output}`);
    expect(run.requests).toBeGreaterThan(depth === 'deep' ? 10_000 : 1_000);
    expect(Object.keys(run.statuses).filter((s) => Number(s) >= 500)).toEqual([]);
  });

  it('leaves the agent up and answering', async () => {
    expect(agent.proc.exitCode).toBeNull();
    const health = await agent.client.health();
    expect(health.nodeId).toBe('node-a');
  });
});
