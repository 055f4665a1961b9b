// How one agent talks to a peer agent on the data plane: JSON calls and the streaming PUT, both authenticated with
// the pair token shared with that peer (never logged) and the sending node's id.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import tls, { TLSSocket } from 'node:tls';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DATA_STREAM_PROTOCOL,
  GATEWAY_API_PREFIX,
  GatewayProblem,
  PEER_NODE_HEADER,
} from '../../domain/gateway-contract';
import { fsvmIdentityOf, requestOverTls, type TlsMaterial } from '../../infra/tls';
import { asError } from '../util';

/**
 * One keep-alive agent per (TLS material, peer node): it presents this FSVM's certificate and accepts only a server
 * certificate the CA signed that names the pinned node (and the host it was reached at). New material (SIGHUP) gets
 * new agents.
 */
const agents = new WeakMap<TlsMaterial, Map<string, https.Agent>>();
function peerAgent(m: TlsMaterial, nodeId: string): https.Agent {
  let byNode = agents.get(m);
  if (!byNode) agents.set(m, (byNode = new Map<string, https.Agent>()));
  let agent = byNode.get(nodeId);
  if (!agent) {
    agent = new https.Agent({
      keepAlive: true,
      cert: m.cert,
      key: m.key,
      ca: m.ca,
      minVersion: 'TLSv1.2',
      checkServerIdentity: (host, cert) => {
        const hostErr = tls.checkServerIdentity(host, cert);
        if (hostErr) return hostErr;
        const named = fsvmIdentityOf(cert);
        if (named?.nodeId !== nodeId) {
          return new Error(
            `the certificate at ${host} names ${named ? `node ${named.nodeId}` : 'no FSVM'}, not peer ${nodeId}`,
          );
        }
        return undefined;
      },
    });
    byNode.set(nodeId, agent);
  }
  return agent;
}

export interface PeerTarget {
  /** The pinned address of the peer's agent (GATEWAY_PEERS), never one a request named. */
  url: string;
  nodeId: string;
  /** The pair secrets: the current one, then (during a rotation) the previous one. */
  tokens: string[];
  /** This FSVM's certificate, key and CA: required when the peer is pinned at an https:// address. */
  tls?: TlsMaterial;
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
  /** The TLS version and cipher suite of the last stream sent (undefined: plain HTTP). */
  cipher: string | undefined;

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
    const url = this.url(p);
    const headers = this.headers(body === undefined ? {} : { 'content-type': 'application/json' });
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const timeout = signal ? AbortSignal.any([signal, AbortSignal.timeout(600_000)]) : AbortSignal.timeout(600_000);
    let status: number;
    let text: string;
    if (url.protocol === 'https:') {
      ({ status, text } = await requestOverTls(url, {
        method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        signal: timeout,
        agent: this.tlsAgent(),
      }));
    } else {
      const res = await fetch(url, { method, headers, body: payload, signal: timeout });
      status = res.status;
      text = await res.text();
    }
    const json = parseJson(Buffer.from(text));
    if (status < 200 || status >= 300) throw new PeerHttpError(status, problemDetail(json, status));
    return json;
  }

  /** The agent of requests to this peer: this FSVM's certificate, the CA, and the peer's identity checked. */
  private tlsAgent(): https.Agent {
    const m = this.target.tls;
    if (!m) throw new Error(`peer ${this.target.nodeId} is pinned at https but this agent has no TLS configured`);
    return peerAgent(m, this.target.nodeId);
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
        ...(url.protocol === 'https:' ? { agent: this.tlsAgent() } : {}),
      });
      req.on('socket', (sock) => {
        if (sock instanceof TLSSocket) {
          const note = (): void => void (this.cipher = `${sock.getProtocol()} ${sock.getCipher().standardName}`);
          if (sock.getProtocol()) note();
          else sock.once('secureConnect', note);
        }
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
