// Typed HTTP client of one FSVM gateway, used by activities and the API. Every answer is validated against
// domain/gateway-contract.ts, so a gateway of another version fails loudly instead of feeding bad data onwards.
// Errors: GatewayUnavailable (network, timeout, 5xx: worth a retry), ValidationError / NotFoundError / ConflictError
// (4xx: a retry cannot help). The bearer token is sent, never logged or put into an error message.
import type { z } from 'zod';
import { ConflictError, GatewayUnavailable, NotFoundError, ValidationError } from '../domain/errors';
import {
  GATEWAY_API_PREFIX,
  GatewayHealth,
  GatewayProblem,
  GatewayShare,
  ShareList,
  type AccessMode,
} from '../domain/gateway-contract';

export interface GatewayEndpoint {
  /** Base URL, e.g. http://10.0.0.11:7500 */
  url: string;
  token: string;
}

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class GatewayClient {
  constructor(
    private readonly endpoint: GatewayEndpoint,
    private readonly defaults: { timeoutMs: number } = { timeoutMs: 10_000 },
  ) {}

  get url(): string {
    return this.endpoint.url;
  }

  health(opts?: RequestOptions): Promise<GatewayHealth> {
    return this.call('GET', '/health', GatewayHealth, undefined, opts);
  }

  async listShares(opts?: RequestOptions): Promise<GatewayShare[]> {
    return (await this.call('GET', '/shares', ShareList, undefined, opts)).shares;
  }

  createShare(
    share: string,
    body: { kind?: 'standard' | 'distributed'; portions?: string[]; accessMode?: AccessMode } = {},
    opts?: RequestOptions,
  ): Promise<GatewayShare> {
    return this.call('PUT', `/shares/${encodeURIComponent(share)}`, GatewayShare, body, opts);
  }

  setAccess(share: string, mode: AccessMode, opts?: RequestOptions): Promise<GatewayShare> {
    return this.call('PUT', `/shares/${encodeURIComponent(share)}/access`, GatewayShare, { mode }, opts);
  }

  /** The generic call the typed methods are built on; later endpoints (snapshots, transfers) use it too. */
  async call<S extends z.ZodType>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    schema: S,
    body?: unknown,
    opts: RequestOptions = {},
  ): Promise<z.infer<S>> {
    const target = `${this.endpoint.url.replace(/\/$/, '')}${GATEWAY_API_PREFIX}${path}`;
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? this.defaults.timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await fetch(target, {
        method,
        signal,
        headers: {
          authorization: `Bearer ${this.endpoint.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const reason = err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : 'unreachable';
      throw new GatewayUnavailable(`gateway ${this.endpoint.url} ${reason} (${method} ${path})`);
    }
    const text = await res.text();
    const json = parseJson(text);
    if (!res.ok) throw toError(this.endpoint.url, method, path, res.status, json);
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new GatewayUnavailable(
        `gateway ${this.endpoint.url} answered ${method} ${path} with an unexpected body: ${parsed.error.issues[0]?.message}`,
      );
    }
    return parsed.data;
  }
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toError(url: string, method: string, path: string, status: number, body: unknown): Error {
  const problem = GatewayProblem.safeParse(body);
  const detail = problem.success ? (problem.data.detail ?? problem.data.title) : `HTTP ${status}`;
  const where = `gateway ${url} ${method} ${path}`;
  if (status === 401 || status === 403) return new ValidationError(`${where}: rejected our credentials (${status})`);
  if (status === 404) return new NotFoundError(`${where}: ${detail}`);
  if (status === 409) return new ConflictError(`${where}: ${detail}`);
  if (status >= 400 && status < 500) {
    return new ValidationError(`${where}: ${detail}`, problem.success ? (problem.data.errors ?? []) : []);
  }
  return new GatewayUnavailable(`${where}: ${detail} (${status})`);
}
