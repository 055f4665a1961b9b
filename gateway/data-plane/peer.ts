// How one agent talks to a peer agent on the data plane: JSON calls and the streaming PUT, both authenticated with
// the pair token shared with that peer (never logged) and the sending node's id.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DATA_STREAM_PROTOCOL,
  GATEWAY_API_PREFIX,
  GatewayProblem,
  PEER_NODE_HEADER,
} from '../../domain/gateway-contract';
import { asError } from '../util';

export interface PeerTarget {
  /** The pinned address of the peer's agent (GATEWAY_PEERS), never one a request named. */
  url: string;
  nodeId: string;
  /** The pair secrets: the current one, then (during a rotation) the previous one. */
  tokens: string[];
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
  /**
   * Which of the pair secrets the peer takes. During a rotation (docs/gateway.md) the peer may not know the current
   * secret yet: a JSON call it refuses with 401 is tried again with the previous one, which is then kept for the
   * streams of this client (every attempt of a transfer starts with a JSON call).
   */
  private tokenIndex = 0;

  constructor(
    private readonly selfNodeId: string,
    private readonly target: PeerTarget,
  ) {}

  /** The pinned address this client sends to. */
  get baseUrl(): string {
    return this.target.url;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const token = this.target.tokens[this.tokenIndex] ?? '';
    return { authorization: `Bearer ${token}`, [PEER_NODE_HEADER]: this.selfNodeId, ...extra };
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
    for (let i = 0; ; i++) {
      this.tokenIndex = i;
      try {
        return await this.jsonOnce(method, p, body, signal);
      } catch (err) {
        if (!(err instanceof PeerHttpError && err.status === 401) || i + 1 >= this.target.tokens.length) {
          this.tokenIndex = 0;
          throw err;
        }
      }
    }
  }

  private async jsonOnce(
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

  /**
   * Asks for the data request `p` as a raw stream (DATA_STREAM_PROTOCOL). Resolves with the connection after the
   * receiver's 101, or with undefined when the answer is an ordinary 2xx (a receiver or a proxy that does not offer
   * the upgrade took it as an empty request: send the stream chunked). A refusal (4xx/5xx) throws.
   */
  async upgrade(p: string, signal: AbortSignal): Promise<Socket | undefined> {
    const url = this.url(p);
    return new Promise<Socket | undefined>((resolve, reject) => {
      const req = http.request(url, {
        method: 'PUT',
        headers: this.headers({ connection: 'upgrade', upgrade: DATA_STREAM_PROTOCOL, 'content-length': '0' }),
        signal,
      });
      // an answer comes at once; the stream that follows an upgrade takes as long as it takes
      req.setTimeout(30_000, () => req.destroy(new Error('no answer to the upgraded data request')));
      req.on('upgrade', (_res, socket: Socket, head: Buffer) => {
        socket.setTimeout(0);
        if (head.length) socket.unshift(head);
        resolve(socket);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(undefined);
          else reject(new PeerHttpError(status, problemDetail(parseJson(Buffer.concat(chunks)), status)));
        });
      });
      req.on('error', reject);
      req.end();
    });
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
        reject(asError(err));
      });
    });
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function problemDetail(json: unknown, status: number): string {
  const p = GatewayProblem.safeParse(json);
  return p.success ? (p.data.detail ?? p.data.title) : `HTTP ${status}`;
}
