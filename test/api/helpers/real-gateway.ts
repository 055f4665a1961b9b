// The real FSVM gateway agent (gateway/app.ts) in-process on a temp dir with the portable driver, listening on a free
// port, for API tests that must talk to the actual contract implementation.
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import pino from 'pino';
import { Gateway, createGatewayApp } from '../../../gateway/app';

export interface RealGateway {
  url: string;
  token: string;
  nodeId: string;
  /** PUT /v1/shares/:name on the agent (standard, or distributed with the portions this node holds). */
  createShare(name: string, portions?: string[]): Promise<void>;
  close(): Promise<void>;
}

export async function startRealGateway(
  nodeId: string,
  token = `control-token-${nodeId}-0123456789`,
): Promise<RealGateway> {
  const dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), `api-gw-${nodeId}-`));
  const gw = new Gateway(
    {
      fileServerId: 'fs-test',
      nodeId,
      listen: { host: '127.0.0.1', port: 0 },
      dataRoot,
      driver: 'portable',
      token,
      peerTokens: new Map(),
      peerUrls: new Map(),
      bandwidthLimit: 0,
      maxStreams: 2,
      stallTimeoutMs: 60_000,
      peerOutageLimitMs: 86_400_000,
      receiveSpool: 'auto',
      log: { level: 'silent', format: 'json' },
    },
    pino({ level: 'silent' }),
  );
  await gw.start();
  const server: Server = await new Promise((resolve) => {
    const s = createGatewayApp(gw).listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    token,
    nodeId,
    async createShare(name, portions) {
      const res = await fetch(`${url}/v1/shares/${name}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(portions ? { kind: 'distributed', portions } : {}),
      });
      if (!res.ok) throw new Error(`createShare ${name}: ${res.status}`);
    },
    async close() {
      await new Promise((r) => server.close(r));
      await gw.stop();
      fs.rmSync(dataRoot, { recursive: true, force: true });
    },
  };
}
