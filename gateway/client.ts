// Typed HTTP client of one FSVM gateway, used by activities and the API. Every answer is validated against
// domain/gateway-contract.ts, so a gateway of another version fails loudly instead of feeding bad data onwards.
// Errors: GatewayUnavailable (network, timeout, 5xx: worth a retry), ValidationError / NotFoundError / ConflictError
// (4xx: a retry cannot help). The bearer token is sent, never logged or put into an error message.
import https from 'node:https';
import type { z } from 'zod';
import { requestOverTls } from '../infra/tls';
import { ConflictError, GatewayUnavailable, NotFoundError, ValidationError } from '../domain/errors';
import { z as zod } from 'zod';
import {
  GATEWAY_API_PREFIX,
  GatewayHealth,
  GatewayProblem,
  GatewayShare,
  GatewayShareInfo,
  NegotiationInfo,
  PortionDigest,
  PruneResult,
  ReceiveList,
  ReceiveStatus,
  ShareList,
  ShareOpenFiles,
  SnapshotList,
  TransferList,
  TransferStatus,
  type AccessMode,
  type CommitReceiveRequest,
  type GatewaySnapshot,
  type StartTransferRequest,
} from '../domain/gateway-contract';

const Empty = zod.unknown();

export interface GatewayEndpoint {
  /** Base URL, e.g. https://10.0.0.11:7500 */
  url: string;
  token: string;
  /** The CA bundle an https gateway's certificate must chain to (the orchestrator's GATEWAY_CA_FILE); unset: the
   * system's trust store. */
  ca?: Buffer;
}

/** One keep-alive agent per CA bundle (a reloaded bundle is a new Buffer, so a new agent). */
const agents = new WeakMap<Buffer, https.Agent>();
const systemTrust = new https.Agent({ keepAlive: true, minVersion: 'TLSv1.2' });
function agentFor(ca: Buffer | undefined): https.Agent {
  if (!ca) return systemTrust;
  let a = agents.get(ca);
  if (!a) agents.set(ca, (a = new https.Agent({ keepAlive: true, ca, minVersion: 'TLSv1.2' })));
  return a;
}

/** Certificate errors an operator must see as such, not as "unreachable". */
const TLS_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|ERR_SSL|EPROTO/;

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

  /** The share as this FSVM holds it, without sizes; undefined when it is not here. */
  async findShare(share: string, opts?: RequestOptions): Promise<GatewayShareInfo | undefined> {
    try {
      return await this.call('GET', `/shares/${encodeURIComponent(share)}`, GatewayShareInfo, undefined, opts);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
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

  /** Deletes the share with its data and snapshots on this FSVM (idempotent). */
  async deleteShare(share: string, opts?: RequestOptions): Promise<void> {
    const q = `?confirm=${encodeURIComponent(share)}`;
    await this.call('DELETE', `/shares/${encodeURIComponent(share)}${q}`, Empty, undefined, opts);
  }

  /** Takes snapshot `snapshotId` of every portion of the share this FSVM holds (idempotent). */
  async createSnapshot(
    share: string,
    body: { snapshotId: string; expiresAt?: string },
    opts?: RequestOptions,
  ): Promise<GatewaySnapshot[]> {
    return (await this.call('POST', `/shares/${encodeURIComponent(share)}/snapshots`, SnapshotList, body, opts))
      .snapshots;
  }

  async listSnapshots(share: string, portion?: string, opts?: RequestOptions): Promise<GatewaySnapshot[]> {
    const q = portion === undefined ? '' : `?portion=${encodeURIComponent(portion)}`;
    return (await this.call('GET', `/shares/${encodeURIComponent(share)}/snapshots${q}`, SnapshotList, undefined, opts))
      .snapshots;
  }

  async deleteSnapshot(share: string, snapshotId: string, portion?: string, opts?: RequestOptions): Promise<void> {
    const q = portion === undefined ? '' : `?portion=${encodeURIComponent(portion)}`;
    const path = `/shares/${encodeURIComponent(share)}/snapshots/${encodeURIComponent(snapshotId)}${q}`;
    await this.call('DELETE', path, Empty, undefined, opts);
  }

  rollback(share: string, snapshotId: string, portion?: string, opts?: RequestOptions): Promise<GatewayShare> {
    const body = portion === undefined ? { snapshotId } : { snapshotId, portion };
    return this.call('POST', `/shares/${encodeURIComponent(share)}/rollback`, GatewayShare, body, opts);
  }

  prune(now?: string, opts?: RequestOptions): Promise<zod.infer<typeof PruneResult>> {
    return this.call('POST', '/snapshots/prune', PruneResult, now ? { now } : {}, opts);
  }

  negotiate(share: string, portion = '', opts?: RequestOptions): Promise<NegotiationInfo> {
    const q = `?portion=${encodeURIComponent(portion)}`;
    return this.call('GET', `/negotiation/${encodeURIComponent(share)}${q}`, NegotiationInfo, undefined, opts);
  }

  /** Starts (or finds, same id) the transfer of a snapshot to a peer FSVM; poll getTransfer for progress. */
  startTransfer(body: zod.input<typeof StartTransferRequest>, opts?: RequestOptions): Promise<TransferStatus> {
    return this.call('POST', '/transfers', TransferStatus, body, opts);
  }

  getTransfer(transferId: string, opts?: RequestOptions): Promise<TransferStatus> {
    return this.call('GET', `/transfers/${encodeURIComponent(transferId)}`, TransferStatus, undefined, opts);
  }

  async listTransfers(opts?: RequestOptions): Promise<TransferStatus[]> {
    return (await this.call('GET', '/transfers', TransferList, undefined, opts)).transfers;
  }

  cancelTransfer(transferId: string, opts?: RequestOptions): Promise<TransferStatus> {
    return this.call('POST', `/transfers/${encodeURIComponent(transferId)}/cancel`, TransferStatus, {}, opts);
  }

  async listReceives(opts?: RequestOptions): Promise<ReceiveStatus[]> {
    return (await this.call('GET', '/receives', ReceiveList, undefined, opts)).receives;
  }

  getReceive(transferId: string, opts?: RequestOptions): Promise<ReceiveStatus> {
    return this.call('GET', `/receives/${encodeURIComponent(transferId)}`, ReceiveStatus, undefined, opts);
  }

  /**
   * Publishes a received snapshot on the destination (and, by default, brings the live share to it). A read_write
   * share is not brought to it (ConflictError, nothing changed) unless `force` is true: see CommitReceiveRequest.
   */
  commitReceive(
    transferId: string,
    body: z.input<typeof CommitReceiveRequest> = {},
    opts?: RequestOptions,
  ): Promise<ReceiveStatus> {
    return this.call('POST', `/receives/${encodeURIComponent(transferId)}/commit`, ReceiveStatus, body, opts);
  }

  /**
   * The digest of a portion's tree: the live tree (no `snapshotId`) or a snapshot; `portion` "" (default) is a
   * standard share's root; `content` adds every file's sha256 (reads every byte). A walk of a large tree takes a while:
   * the timeout defaults to 10 minutes.
   */
  digest(
    share: string,
    opts: { portion?: string; snapshotId?: string; content?: boolean } & RequestOptions = {},
  ): Promise<PortionDigest> {
    const q = new URLSearchParams({ portion: opts.portion ?? '' });
    if (opts.snapshotId !== undefined) q.set('snapshot', opts.snapshotId);
    if (opts.content) q.set('content', 'true');
    const req = { timeoutMs: opts.timeoutMs ?? 600_000, ...(opts.signal ? { signal: opts.signal } : {}) };
    return this.call(
      'GET',
      `/shares/${encodeURIComponent(share)}/digest?${q.toString()}`,
      PortionDigest,
      undefined,
      req,
    );
  }

  /** The SMB clients with files open on the share (`smb` false: this FSVM does not serve it through smbd). */
  openFiles(share: string, opts?: RequestOptions): Promise<ShareOpenFiles> {
    return this.call('GET', `/shares/${encodeURIComponent(share)}/open-files`, ShareOpenFiles, undefined, opts);
  }

  /** Abandons a receive on the destination: what it applied is removed; a committed snapshot stays. Idempotent. */
  async discardReceive(transferId: string, opts?: RequestOptions): Promise<void> {
    await this.call('DELETE', `/receives/${encodeURIComponent(transferId)}`, Empty, undefined, opts);
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
    let res: { status: number; ok: boolean; text: string };
    const init = {
      method,
      signal,
      headers: {
        authorization: `Bearer ${this.endpoint.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    };
    try {
      if (target.startsWith('https:')) {
        const r = await requestOverTls(target, { ...init, agent: agentFor(this.endpoint.ca) });
        res = { ...r, ok: r.status >= 200 && r.status < 300 };
      } else {
        const r = await fetch(target, init);
        res = { status: r.status, ok: r.ok, text: await r.text() };
      }
    } catch (err) {
      const e = err as { name?: string; code?: string; message?: string };
      const reason =
        e.name === 'TimeoutError' || e.name === 'AbortError'
          ? 'timed out'
          : TLS_ERRORS.test(e.code ?? '')
            ? `refused its TLS certificate (${e.code}: ${e.message})`
            : 'unreachable';
      throw new GatewayUnavailable(`gateway ${this.endpoint.url} ${reason} (${method} ${path})`);
    }
    const text = res.text;
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
