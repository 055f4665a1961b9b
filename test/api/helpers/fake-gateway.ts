// A small, contract-conformant FSVM gateway for the API tests: GET /v1/health and GET /v1/shares with a bearer-token
// check, every answer validated by the same zod schemas as the real agent's (domain/gateway-contract.ts).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayHealth, ShareList, type GatewayShare } from '../../../domain/gateway-contract';

export interface FakeGateway {
  url: string;
  token: string;
  nodeId: string;
  shares: GatewayShare[];
  /** 'ok' answers; 'down' answers 503; 'degraded' reports degraded health. */
  mode: 'ok' | 'down' | 'degraded';
  calls: number;
  close(): Promise<void>;
}

export async function startFakeGateway(opts: {
  nodeId: string;
  token: string;
  shares?: GatewayShare[];
}): Promise<FakeGateway> {
  const gw: FakeGateway = {
    url: '',
    token: opts.token,
    nodeId: opts.nodeId,
    shares: opts.shares ?? [],
    mode: 'ok',
    calls: 0,
    close: () => Promise.resolve(),
  };
  const problem = (res: http.ServerResponse, status: number, title: string) => {
    res.writeHead(status, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ type: 'about:blank', title, status }));
  };
  const server = http.createServer((req, res) => {
    gw.calls++;
    if (req.headers.authorization !== `Bearer ${gw.token}`) return problem(res, 401, 'unauthorized');
    if (gw.mode === 'down') return problem(res, 503, 'unavailable');
    let body: unknown;
    if (req.method === 'GET' && req.url === '/v1/health') {
      body = GatewayHealth.parse({
        status: gw.mode === 'degraded' ? 'degraded' : 'ok',
        fileServerId: 'fs',
        nodeId: gw.nodeId,
        version: 'test',
        driver: 'portable',
        capacity: { totalBytes: 1e12, freeBytes: 5e11 },
        load: 0.1,
        activeTransfers: 0,
      });
    } else if (req.method === 'GET' && req.url === '/v1/shares') {
      body = ShareList.parse({ shares: gw.shares });
    } else return problem(res, 404, 'not found');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gw.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  gw.close = () => new Promise((resolve) => server.close(() => resolve()));
  return gw;
}

export function standardShare(name: string, sizeBytes = 1000): GatewayShare {
  return { name, kind: 'standard', accessMode: 'read_write', portions: [{ name: '', sizeBytes }] };
}
