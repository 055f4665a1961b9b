// How one agent talks to a peer agent on the data plane: JSON calls and the streaming PUT, both authenticated with
// the pair token shared with that peer (never logged) and the sending node's id.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GATEWAY_API_PREFIX, GatewayProblem, PEER_NODE_HEADER } from '../../domain/gateway-contract';

export interface PeerTarget {
  url: string;
  nodeId: string;
  token: string;
}

/** An HTTP answer that is not 2xx; `fatal` when retrying the same request cannot help. */
export class PeerHttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`peer answered ${status}: ${detail}`);
    this.name = 'PeerHttpError';
  }

  get fatal(): boolean {
    if (this.status === 507) return true; // disk full on the receiver: it freed the space, a retry would fill it again
    return this.status >= 400 && this.status < 500 && this.status !== 409 && this.status !== 408 && this.status !== 429;
  }
}

export class PeerClient {
  constructor(
    private readonly selfNodeId: string,
    private readonly target: PeerTarget,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.target.token}`, [PEER_NODE_HEADER]: this.selfNodeId, ...extra };
  }

  private url(p: string): URL {
    return new URL(`${this.target.url.replace(/\/$/, '')}${GATEWAY_API_PREFIX}${p}`);
  }

  async json(
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    p: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const res = await fetch(this.url(p), {
      method,
      headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(600_000)]) : AbortSignal.timeout(600_000),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) throw new PeerHttpError(res.status, problemDetail(json, res.status));
    return json;
  }

  /** Streams `body` as the request body of a PUT (chunked). Resolves with the parsed answer. */
  async stream(p: string, body: Readable, signal: AbortSignal): Promise<unknown> {
    const url = this.url(p);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<unknown>((resolve, reject) => {
      const req = mod.request(url, {
        method: 'PUT',
        headers: this.headers({ 'content-type': 'application/octet-stream' }),
        signal,
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(json);
          else reject(new PeerHttpError(status, problemDetail(json, status)));
          body.destroy();
        });
      });
      req.on('error', reject);
      pipeline(body, req).catch((err: unknown) => {
        req.destroy();
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }
}

function problemDetail(json: unknown, status: number): string {
  const p = GatewayProblem.safeParse(json);
  return p.success ? (p.data.detail ?? p.data.title) : `HTTP ${status}`;
}
