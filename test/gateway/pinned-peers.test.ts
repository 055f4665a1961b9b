// Pinned peers and pair-secret rotation, between real agent processes. A transfer goes only to a peer the sending
// agent's configuration names (GATEWAY_PEERS); a control request naming any other address is refused and nothing
// reaches that address. A pair secret is rotated without a restart: the new one is accepted while the old one still
// is (SIGHUP reloads the secrets file), and once the rotation ends the old one is refused.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PEER_NODE_HEADER } from '../../domain/gateway-contract';
import { freePort } from '../helpers/ports';
import {
  TOKEN,
  agentUrl,
  randomBytesDeterministic,
  runCleanups,
  startAgent,
  tmpDir,
  transferEnded,
  waitFor,
  writeFiles,
  type Agent,
} from './helpers';

const OLD = 'pair-secret-before-rotation-0001';
const NEW = 'pair-secret-after-rotation-00002';

/** A TCP listener that records every connection made to it (an attacker's address). */
async function listener(): Promise<{ url: string; connections: () => number; received: () => string; close(): void }> {
  let connections = 0;
  let received = '';
  const server = net.createServer((s) => {
    connections++;
    s.on('data', (d: Buffer) => (received += d.toString('latin1')));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections: () => connections,
    received: () => received,
    close: () => server.close(),
  };
}

/** Status of a data-plane request to `agent` as peer `node` with `secret` (list receives: any peer may). */
async function peerStatus(agent: Agent, node: string, secret: string): Promise<number> {
  const res = await fetch(`${agent.url}/v1/receives`, {
    headers: { authorization: `Bearer ${secret}`, [PEER_NODE_HEADER]: node },
  });
  await res.arrayBuffer();
  return res.status;
}

/** Rewrites an agent's secrets file and has it reload it (SIGHUP); resolves once it says so. */
async function rotate(agent: Agent, file: string, text: string): Promise<void> {
  const before = agent.output().split('secrets reloaded').length;
  fs.writeFileSync(file, text, { mode: 0o600 });
  agent.proc.kill('SIGHUP');
  await waitFor(
    async () => (agent.output().split('secrets reloaded').length > before ? true : undefined),
    `${agent.nodeId} reloading its secrets`,
    10_000,
    50,
  );
}

describe('pinned peers', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(() => runCleanups(cleanups));

  async function pair(secretsA: string, secretsB: string): Promise<{ a: Agent; b: Agent; dir: string }> {
    const dir = tmpDir('pinned');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(dir, 'peers-a'), secretsA, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'peers-b'), secretsB, { mode: 0o600 });
    const [portA, portB] = [await freePort(), await freePort()];
    const a = await startAgent({
      nodeId: 'node-a',
      port: portA,
      dataRoot: path.join(dir, 'a'),
      peers: {},
      peerUrls: { 'node-b': agentUrl(portB) },
      env: { GATEWAY_PEER_TOKENS_FILE: path.join(dir, 'peers-a') },
    });
    cleanups.push(() => a.kill9());
    const b = await startAgent({
      nodeId: 'node-b',
      port: portB,
      dataRoot: path.join(dir, 'b'),
      peers: {},
      peerUrls: { 'node-a': agentUrl(portA) },
      env: { GATEWAY_PEER_TOKENS_FILE: path.join(dir, 'peers-b') },
    });
    cleanups.push(() => b.kill9());
    for (const x of [a, b]) {
      await x.client.createShare('eng');
      writeFiles(path.join(x.dataRoot, 'shares/eng'), { [`${x.nodeId}.bin`]: randomBytesDeterministic(300_000, 5) });
    }
    return { a, b, dir };
  }

  /** Snapshot `id` of `from`'s share eng sent to `to`'s share eng (named by node only); the transfer as it ended. */
  async function send(from: Agent, to: Agent, id: string) {
    await from.client.createSnapshot('eng', { snapshotId: id });
    await from.client.startTransfer({
      transferId: `t-${id}`,
      share: 'eng',
      snapshotId: id,
      target: { nodeId: to.nodeId, share: 'eng' },
    });
    return transferEnded(from, `t-${id}`);
  }

  it('refuses a transfer to any address but the pinned one: 400 naming the field, and nothing reaches it', async () => {
    const { a, b } = await pair(`node-b=${OLD}\n`, `node-a=${OLD}\n`);
    const trap = await listener();
    cleanups.push(() => trap.close());
    await a.client.createSnapshot('eng', { snapshotId: 's1' });
    const body = {
      transferId: 't-evil',
      share: 'eng',
      snapshotId: 's1',
      target: { nodeId: 'node-b', share: 'eng', url: trap.url },
    };
    const post = (b: object) =>
      fetch(`${a.url}/v1/transfers`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(b),
      });
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const problem = (await res.json()) as { detail: string; errors: { path: string }[] };
    expect(problem.errors.map((e) => e.path)).toEqual(['target.url']);
    expect(problem.detail).toContain(trap.url);
    expect(problem.detail).not.toContain(OLD);
    // a node the agent has not pinned is refused too, and so is the pinned node's address with another port or path
    const stranger = await post({ ...body, target: { nodeId: 'node-x', share: 'eng' } });
    expect(stranger.status).toBe(400);
    expect(((await stranger.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe('target.nodeId');
    for (const url of [`${b.url}/elsewhere`, b.url.replace(/:\d+$/, ':1'), b.url.replace('127.0.0.1', 'localhost')]) {
      const r = await post({ ...body, target: { ...body.target, url } });
      expect([r.status, ((await r.json()) as { errors: { path: string }[] }).errors[0]!.path]).toEqual([
        400,
        'target.url',
      ]);
    }
    expect(await a.client.listTransfers()).toEqual([]);
    // the pinned address itself may still be named (older callers); the orchestrator names the node only
    const named = await post({ ...body, transferId: 't-named', target: { ...body.target, url: `${b.url}/` } });
    expect(named.status).toBe(202);
    expect((await transferEnded(a, 't-named')).state).toBe('succeeded');
    expect((await a.client.getTransfer('t-named')).target.url).toBe(b.url);
    await new Promise((r) => setTimeout(r, 500));
    expect(trap.connections()).toBe(0);
    expect(trap.received()).toBe('');
  });

  it('rotates a pair secret without a restart: both accepted during the rotation, the old one refused after', async () => {
    const { a, b, dir } = await pair(`node-b=${OLD}\n`, `node-a=${OLD}\n`);
    expect((await send(a, b, 's1')).state).toBe('succeeded');

    // 1. b takes the new secret as its current one and keeps the old one: it accepts both; a still knows only the
    // old one. a -> b goes on (b accepts the previous secret); b -> a too (a refuses the new one, b falls back).
    await rotate(b, path.join(dir, 'peers-b'), `node-a=${NEW}\nnode-a=${OLD}\n`);
    expect(await peerStatus(b, 'node-a', OLD)).toBe(200);
    expect(await peerStatus(b, 'node-a', NEW)).toBe(200);
    expect(await peerStatus(a, 'node-b', NEW)).toBe(401);
    expect((await send(a, b, 's2')).state).toBe('succeeded');
    expect((await send(b, a, 'r1')).state).toBe('succeeded');

    // 2. a does the same: both agents send the new secret and accept both
    await rotate(a, path.join(dir, 'peers-a'), `node-b=${NEW}\nnode-b=${OLD}\n`);
    expect(await peerStatus(a, 'node-b', NEW)).toBe(200);
    expect((await send(a, b, 's3')).state).toBe('succeeded');
    expect((await send(b, a, 'r2')).state).toBe('succeeded');

    // 3. the rotation ends: the old secret is removed on both sides and refused from now on
    await rotate(a, path.join(dir, 'peers-a'), `node-b=${NEW}\n`);
    await rotate(b, path.join(dir, 'peers-b'), `node-a=${NEW}\n`);
    expect(await peerStatus(a, 'node-b', OLD)).toBe(401);
    expect(await peerStatus(b, 'node-a', OLD)).toBe(401);
    expect(await peerStatus(b, 'node-a', NEW)).toBe(200);
    expect((await send(a, b, 's4')).state).toBe('succeeded');
    expect((await send(b, a, 'r3')).state).toBe('succeeded');
    // neither secret was ever logged
    for (const x of [a, b]) {
      expect(x.output()).not.toContain(OLD);
      expect(x.output()).not.toContain(NEW);
    }
  });
});
