// The gateway agent as an object: its state (shares, snapshots, transfers, receives) and its HTTP API (Express 5,
// every input validated with the contract's zod schemas). `createGateway(deps)` is what tests and gateway/main.ts use.
import { timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import os from 'node:os';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { ConflictError, DomainError, NotFoundError, ValidationError } from '../domain/errors';
import {
  CommitReceiveRequest,
  CompleteReceiveRequest,
  CreateShareRequest,
  CreateSnapshotRequest,
  DeleteShareQuery,
  DigestQuery,
  GATEWAY_API_PREFIX,
  GatewayHealth,
  GatewayShare,
  GatewayShareInfo,
  NegotiationInfo,
  PEER_NODE_HEADER,
  PortionDigest,
  PortionName,
  PortionRef as PortionRefSchema,
  PrepareReceiveRequest,
  PruneRequest,
  PruneResult,
  ReceiveDataQuery,
  ReceiveList,
  ReceiveStatus,
  RollbackRequest,
  SetAccessRequest,
  ShareList,
  ShareName,
  ShareOpenFiles,
  SnapshotId,
  SnapshotList,
  StartTransferRequest,
  TransferId,
  TransferList,
  TransferStatus,
  type GatewayProblem,
  type GatewaySnapshot,
} from '../domain/gateway-contract';
import type { Logger } from '../infra/logger';
import { fsvmIdentityOf } from '../infra/tls';
import type { GatewayConfig } from './config';
import { Receiver } from './data-plane/receiver';
import { Sender } from './data-plane/sender';
import { InsufficientStorageError, UnauthenticatedError, UnsupportedMediaType } from './errors';
import { GatewayRoutes, JSON_BODY_LIMIT, type Caller } from './http';
import { Layout, type PortionRef } from './layout';
import { createGatewayRegistry, generateGatewayDocument } from './openapi';
import { SambaConfigurator } from './samba';
import { portionDigest, shareOpenFiles } from './share-inspection';
import { ShareRegistry, type ShareRecord } from './shares/registry';
import { StreamIntegrityError, type SnapshotDriver } from './snapshot-drivers/driver';
import { createDriver } from './snapshot-drivers';
import { SnapshotStore, type SnapshotMeta } from './snapshots';
import { KeyedMutex, errorMessage, treeSize } from './util';

export const GATEWAY_VERSION = '0.1.0';

export interface GatewayDeps {
  config: GatewayConfig;
  log: Logger;
  /** Defaults to the driver named by config.driver. */
  driver?: SnapshotDriver;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Gateway {
  readonly layout: Layout;
  readonly driver: SnapshotDriver;
  readonly registry: ShareRegistry;
  readonly store: SnapshotStore;
  readonly receiver: Receiver;
  readonly sender: Sender;
  readonly samba?: SambaConfigurator;
  private readonly locks = new KeyedMutex();

  constructor(
    readonly config: GatewayConfig,
    readonly log: Logger,
    driver?: SnapshotDriver,
  ) {
    this.layout = new Layout(config.dataRoot);
    this.driver = driver ?? createDriver(config, this.layout);
    this.registry = new ShareRegistry(this.layout.state);
    this.store = new SnapshotStore(this.layout, this.driver, log.child({ part: 'snapshots' }));
    this.receiver = new Receiver(this.layout, this.driver, this.store, this.registry, log.child({ part: 'receiver' }), {
      spool: config.receiveSpool,
    });
    this.sender = new Sender(
      this.layout.state,
      {
        nodeId: config.nodeId,
        peers: config,
        defaultBandwidthLimit: config.bandwidthLimit,
        maxStreams: config.maxStreams,
        stallTimeoutMs: config.stallTimeoutMs,
        peerOutageLimitMs: config.peerOutageLimitMs,
      },
      this.driver,
      this.store,
      this.registry,
      log.child({ part: 'sender' }),
    );
    if (config.smb) this.samba = new SambaConfigurator(config.smb);
  }

  /** Prepares the data root, loads state, removes debris of a crash, resumes transfers. */
  async start(): Promise<void> {
    // Clients (smbd acting as the user) must traverse shares/; everything else is the agent's own.
    await fs.mkdir(this.layout.shares, { recursive: true, mode: 0o755 });
    for (const d of [this.layout.snapshots, this.layout.incoming, this.layout.state]) {
      await fs.mkdir(d, { recursive: true, mode: 0o700 });
    }
    await fs.rm(this.layout.tmp, { recursive: true, force: true });
    await fs.mkdir(this.layout.tmp, { recursive: true });
    await this.driver.init();
    await this.registry.load();
    await this.receiver.load();
    const removed = await this.store.cleanupPartial(this.allPortions());
    if (removed.length) this.log.warn({ removed }, 'removed incomplete snapshots left by a crash');
    await this.store.measureMissing(this.allPortions());
    if (this.samba) await this.applySamba();
    await this.sender.load();
  }

  /**
   * With TLS, a peer is also who its certificate says: one the CA signed (verified by the TLS layer) that names the
   * node the request claims to come from (and so a node this agent lists). Without TLS (loopback only) there is none.
   */
  private peerCertificateNames(socket: Socket | undefined, node: string): boolean {
    if (!this.config.tls) return true;
    if (!(socket instanceof TLSSocket) || !socket.authorized) return false;
    return fsvmIdentityOf(socket.getPeerCertificate())?.nodeId === node;
  }

  /**
   * Takes the secrets of a configuration read again (SIGHUP): the control token and the pair secrets, so that a pair
   * secret is rotated without a restart (docs/gateway.md, "Rotating a pair secret"). Everything else needs a restart.
   */
  reloadSecrets(fresh: Pick<GatewayConfig, 'token' | 'peerTokens' | 'tls'>): void {
    this.config.token = fresh.token;
    this.config.peerTokens = fresh.peerTokens;
    // the client side of the data plane: connections to peers opened from now on present the new certificate
    if (fresh.tls) this.config.tls = fresh.tls;
  }

  async stop(): Promise<void> {
    this.store.close();
    await Promise.all([this.sender.stop(), this.receiver.stop()]);
  }

  private allPortions(): PortionRef[] {
    return this.registry.list().flatMap((s) => s.portions.map((portion) => ({ share: s.name, portion })));
  }

  authenticate(req: { headers: IncomingHttpHeaders; socket?: Socket }): Caller | undefined {
    const h = req.headers.authorization;
    if (!h?.startsWith('Bearer ')) return undefined;
    const token = h.slice(7).trim();
    const node = req.headers[PEER_NODE_HEADER];
    if (typeof node === 'string' && node) {
      // during a rotation both the current and the previous pair secret are valid (every one compared: no timing)
      const accepted = (this.config.peerTokens.get(node) ?? []).map((t) => safeEqual(token, t));
      if (accepted.includes(true) && this.peerCertificateNames(req.socket, node)) return { kind: 'peer', node };
    }
    return safeEqual(token, this.config.token) ? { kind: 'control' } : undefined;
  }

  // --- shares -----------------------------------------------------------------------------------------------------

  /** The directory smbd serves for the share (a standard share's live tree, a distributed share's parent). */
  sharePath(s: ShareRecord): string {
    return s.kind === 'standard' ? this.driver.livePath({ share: s.name, portion: '' }) : this.layout.shareDir(s.name);
  }

  async applySamba(): Promise<void> {
    if (!this.samba) return;
    await this.samba.apply(
      this.registry.list().map((s) => ({ name: s.name, path: this.sharePath(s), accessMode: s.accessMode })),
    );
  }

  async describeShare(s: ShareRecord): Promise<GatewayShare> {
    const portions = await Promise.all(
      s.portions.map(async (portion) => ({
        name: portion,
        sizeBytes: await treeSize(this.driver.livePath({ share: s.name, portion })),
      })),
    );
    return { name: s.name, kind: s.kind, accessMode: s.accessMode, portions };
  }

  requireShare(name: string): ShareRecord {
    const s = this.registry.get(name);
    if (!s) throw new NotFoundError(`share ${name} does not exist on this FSVM`);
    return s;
  }

  requirePortion(name: string, portion: string): ShareRecord {
    const s = this.requireShare(name);
    if (!s.portions.includes(portion)) {
      throw new NotFoundError(`share ${name} has no portion ${JSON.stringify(portion)} on this FSVM`);
    }
    return s;
  }

  async createShare(name: string, body: z.infer<typeof CreateShareRequest>): Promise<ShareRecord> {
    return this.locks.run('shares', async () => {
      const existing = this.registry.get(name);
      if (existing && existing.kind !== body.kind) {
        throw new ConflictError(`share ${name} exists as a ${existing.kind} share`);
      }
      if (body.kind === 'standard' && body.portions?.length) {
        throw new ValidationError('a standard share has no named portions', [
          { path: 'portions', message: 'only for distributed shares' },
        ]);
      }
      const wanted = body.kind === 'standard' ? [''] : [...new Set(body.portions ?? [])].sort();
      const portions = [...new Set([...(existing?.portions ?? []), ...wanted])].sort();
      if (body.kind === 'distributed') await fs.mkdir(this.layout.shareDir(name), { recursive: true, mode: 0o755 });
      for (const portion of portions) await this.driver.createPortion({ share: name, portion });
      const rec: ShareRecord = existing
        ? { ...existing, portions }
        : { name, kind: body.kind, accessMode: body.accessMode, portions, createdAt: new Date().toISOString() };
      if (!existing || existing.portions.length !== portions.length) {
        await this.registry.put(rec);
        await this.applySamba();
        this.log.info({ share: name, kind: rec.kind, portions }, existing ? 'share portions added' : 'share created');
      }
      return rec;
    });
  }

  async setAccess(name: string, mode: ShareRecord['accessMode']): Promise<ShareRecord> {
    return this.locks.run('shares', async () => {
      const s = this.requireShare(name);
      const rec = { ...s, accessMode: mode };
      if (mode === 'read_write' && this.driver.liveBecomesWritable) {
        for (const portion of s.portions) await this.driver.liveBecomesWritable({ share: name, portion });
      }
      if (s.accessMode !== mode) await this.registry.put(rec);
      await this.applySamba();
      if (s.accessMode !== mode) this.log.info({ share: name, from: s.accessMode, to: mode }, 'access mode changed');
      return rec;
    });
  }

  async deleteShare(name: string): Promise<void> {
    await this.locks.run('shares', async () => {
      const s = this.registry.get(name);
      if (!s) return;
      if (this.sender.busyShare(name) || this.receiver.busyShare(name)) {
        throw new ConflictError(`share ${name} has transfers under way; cancel them first`);
      }
      // Off for clients first, then snapshots, data, and the record last (a crash half-way can be redone).
      await this.registry.put({ ...s, accessMode: 'off' });
      await this.applySamba();
      for (const portion of s.portions) {
        const p = { share: name, portion };
        for (const snap of await this.store.list(p)) await this.store.delete(p, snap.id);
        await this.store.cleanupPartial([p]);
        await this.driver.deletePortion(p);
      }
      await fs.rm(this.layout.shareSnapshots(name), { recursive: true, force: true });
      await fs.rm(this.layout.shareDir(name), { recursive: true, force: true });
      await this.registry.remove(name);
      await this.applySamba();
      this.log.info({ share: name }, 'share deleted');
    });
  }

  // --- snapshots --------------------------------------------------------------------------------------------------

  static toSnapshot(m: SnapshotMeta): GatewaySnapshot {
    return {
      id: m.id,
      share: m.share,
      portion: m.portion,
      createdAt: m.createdAt,
      expiresAt: m.expiresAt,
      origin: m.origin,
      sizeBytes: m.sizeBytes,
    };
  }

  async prune(now: Date): Promise<{ share: string; portion: string; id: string }[]> {
    const deleted: { share: string; portion: string; id: string }[] = [];
    for (const p of this.allPortions()) {
      for (const m of await this.store.list(p)) {
        if (m.expiresAt && new Date(m.expiresAt) <= now) {
          try {
            await this.store.delete(p, m.id);
            deleted.push({ share: p.share, portion: p.portion, id: m.id });
          } catch (err) {
            this.log.warn({ share: p.share, snapshot: m.id, err: errorMessage(err) }, 'expired snapshot not pruned');
          }
        }
      }
    }
    if (deleted.length) this.log.info({ count: deleted.length }, 'expired snapshots pruned');
    return deleted;
  }

  async health(): Promise<GatewayHealth> {
    const st = await fs.statfs(this.layout.root);
    const totalBytes = st.blocks * st.bsize;
    const freeBytes = st.bavail * st.bsize;
    return {
      status: totalBytes > 0 && freeBytes / totalBytes < 0.05 ? 'degraded' : 'ok',
      fileServerId: this.config.fileServerId,
      nodeId: this.config.nodeId,
      version: GATEWAY_VERSION,
      driver: this.driver.name,
      capacity: { totalBytes, freeBytes },
      load: Math.max(0, os.loadavg()[0] ?? 0),
      activeTransfers: this.sender.activeCount() + this.receiver.activeCount(),
    };
  }
}

const STATUS: Record<string, [number, string]> = {
  VALIDATION: [400, 'Invalid request'],
  NOT_FOUND: [404, 'Not found'],
  CONFLICT: [409, 'Conflict'],
  UNAUTHENTICATED: [401, 'Unauthenticated'],
  FORBIDDEN: [403, 'Forbidden'],
};

const HTTP_TITLES: Record<number, string> = {
  400: 'Invalid request',
  404: 'Not found',
  408: 'Request timeout',
  413: 'Request body too large',
  415: 'Unsupported media type',
  431: 'Request header fields too large',
};

/** The problem body of a refusal by the HTTP layer (parser, body reader, URL decoding, media types). */
export function httpProblem(status: number, detail: string): GatewayProblem {
  return { type: 'about:blank', title: HTTP_TITLES[status] ?? 'Invalid request', status, detail };
}

export function problemOf(err: unknown): GatewayProblem {
  if (err instanceof UnauthenticatedError)
    return { type: 'about:blank', title: 'Unauthenticated', status: 401, detail: err.message };
  if (err instanceof InsufficientStorageError)
    return { type: 'about:blank', title: 'Insufficient storage', status: 507, detail: err.message };
  if (err instanceof StreamIntegrityError)
    return { type: 'about:blank', title: 'Stream integrity check failed', status: 422, detail: err.message };
  if (err instanceof UnsupportedMediaType) return httpProblem(415, err.message);
  if (err instanceof DomainError && STATUS[err.code]) {
    const [status, title] = STATUS[err.code]!;
    return {
      type: 'about:blank',
      title,
      status,
      detail: err.message,
      ...(err instanceof ValidationError && err.fields.length ? { errors: err.fields } : {}),
    };
  }
  // The HTTP layer's own refusals (body reader, URL decoding) are http-errors with a 4xx status.
  const e = err as { type?: unknown; status?: unknown; message?: unknown } | null | undefined;
  const status = typeof e?.status === 'number' ? e.status : 0;
  if (status >= 400 && status < 500) {
    if (e?.type === 'entity.parse.failed') return httpProblem(400, 'the body is not valid JSON');
    if (e?.type === 'entity.too.large') return httpProblem(413, `the body is larger than ${JSON_BODY_LIMIT}`);
    if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported')
      return httpProblem(415, typeof e.message === 'string' ? e.message : 'unsupported encoding');
    if (err instanceof URIError || e?.type === undefined) return httpProblem(400, 'the request URL is malformed');
    return httpProblem(status, 'the request could not be read');
  }
  return { type: 'about:blank', title: 'Internal error', status: 500, detail: errorMessage(err) };
}

const ShareParams = z.object({ share: ShareName }).strict();
const SnapshotParams = z.object({ share: ShareName, snapshot: SnapshotId }).strict();
const IdParams = z.object({ id: TransferId }).strict();
const OptionalPortion = z.object({ portion: z.union([PortionName, z.literal('')]).optional() }).strict();
const NEEDS_SHARE = { 404: { description: 'The share is not on this FSVM' } };

/** The Express app of a gateway: control API (orchestrator token) and data plane (peer tokens). */
export function createGatewayApp(gw: Gateway): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const registry = createGatewayRegistry();
  const api = new GatewayRoutes(registry, (req) => gw.authenticate(req));
  const r = api.router;

  // Replication at work: a request that changes something, or a sender asking for a receive's progress (every
  // second while its tool streams). Snapshot sizes wait for quiet (see SnapshotStore.measure); listings do not count.
  r.use((req, _res, next) => {
    if (req.method !== 'GET' || req.path.startsWith('/receives/')) gw.store.touch();
    next();
  });

  api.add({
    method: 'get',
    path: '/health',
    callers: ['control'],
    summary: 'Health and capacity',
    responses: { 200: { description: 'ok', schema: GatewayHealth } },
    handler: async () => ({ status: 200, body: await gw.health() }),
  });

  api.add({
    method: 'get',
    path: '/shares',
    callers: ['control'],
    summary: 'Shares on this FSVM',
    responses: { 200: { description: 'ok', schema: ShareList } },
    handler: async () => ({
      status: 200,
      body: { shares: await Promise.all(gw.registry.list().map((s) => gw.describeShare(s))) },
    }),
  });

  api.add({
    method: 'get',
    path: '/shares/:share',
    callers: ['control'],
    summary: 'One share, without sizes (404 when not on this FSVM)',
    params: ShareParams,
    responses: { 200: { description: 'ok', schema: GatewayShareInfo }, ...NEEDS_SHARE },
    handler: async ({ params }) => {
      const s = gw.requireShare(params.share);
      return {
        status: 200,
        body: { name: s.name, kind: s.kind, accessMode: s.accessMode, portions: s.portions.map((name) => ({ name })) },
      };
    },
  });

  api.add({
    method: 'put',
    path: '/shares/:share',
    callers: ['control'],
    summary: 'Create a share (idempotent)',
    params: ShareParams,
    body: CreateShareRequest,
    responses: {
      200: { description: 'ok', schema: GatewayShare },
      409: { description: 'The share exists as the other kind' },
      507: { description: 'The disk is full' },
    },
    handler: async ({ params, body }) => ({
      status: 200,
      body: await gw.describeShare(await gw.createShare(params.share, body)),
    }),
  });

  api.add({
    method: 'delete',
    path: '/shares/:share',
    callers: ['control'],
    summary: 'Delete a share, its data and snapshots (idempotent)',
    params: ShareParams,
    query: DeleteShareQuery,
    responses: {
      204: { description: 'Deleted (or not here)' },
      409: { description: 'Transfers of the share are under way' },
    },
    handler: async ({ params, query }) => {
      if (query.confirm !== params.share)
        throw new ValidationError('confirm must repeat the share name', [
          { path: 'query.confirm', message: 'must equal the share name' },
        ]);
      await gw.deleteShare(params.share);
      return { status: 204 };
    },
  });

  api.add({
    method: 'put',
    path: '/shares/:share/access',
    callers: ['control'],
    summary: 'Set the access mode for protocol clients',
    params: ShareParams,
    body: SetAccessRequest,
    responses: { 200: { description: 'ok', schema: GatewayShare }, ...NEEDS_SHARE },
    handler: async ({ params, body }) => ({
      status: 200,
      body: await gw.describeShare(await gw.setAccess(params.share, body.mode)),
    }),
  });

  api.add({
    method: 'get',
    path: '/shares/:share/snapshots',
    callers: ['control'],
    summary: 'Complete snapshots, oldest first',
    params: ShareParams,
    query: OptionalPortion,
    responses: { 200: { description: 'ok', schema: SnapshotList }, 404: { description: 'No such share or portion' } },
    handler: async ({ params, query }) => {
      const s = gw.requireShare(params.share);
      if (query.portion !== undefined) gw.requirePortion(params.share, query.portion);
      const portions = query.portion !== undefined ? [query.portion] : s.portions;
      const all = (
        await Promise.all(portions.map((portion) => gw.store.list({ share: params.share, portion })))
      ).flat();
      return { status: 200, body: { snapshots: all.map((m) => Gateway.toSnapshot(m)) } };
    },
  });

  api.add({
    method: 'post',
    path: '/shares/:share/snapshots',
    callers: ['control'],
    summary: 'Take a snapshot of every portion held here (idempotent)',
    params: ShareParams,
    body: CreateSnapshotRequest,
    responses: {
      201: { description: 'Taken (or already there)', schema: SnapshotList },
      ...NEEDS_SHARE,
      409: { description: 'A snapshot of that id is being received' },
      507: { description: 'The disk is full' },
    },
    handler: async ({ params, body }) => {
      const s = gw.requireShare(params.share);
      const metas: SnapshotMeta[] = [];
      for (const portion of s.portions)
        metas.push(await gw.store.create({ share: params.share, portion }, body.snapshotId, body.expiresAt ?? null));
      gw.log.info(
        { share: params.share, snapshot: body.snapshotId, portions: s.portions.length },
        'snapshot set taken',
      );
      return { status: 201, body: { snapshots: metas.map((m) => Gateway.toSnapshot(m)) } };
    },
  });

  api.add({
    method: 'delete',
    path: '/shares/:share/snapshots/:snapshot',
    callers: ['control'],
    summary: 'Delete a snapshot (idempotent)',
    params: SnapshotParams,
    query: OptionalPortion,
    responses: {
      204: { description: 'Deleted (or not there)' },
      ...NEEDS_SHARE,
      409: { description: 'The snapshot is being received' },
    },
    handler: async ({ params, query }) => {
      const s = gw.requireShare(params.share);
      const portions = query.portion !== undefined ? [query.portion] : s.portions;
      for (const portion of portions) await gw.store.delete({ share: params.share, portion }, params.snapshot);
      return { status: 204 };
    },
  });

  api.add({
    method: 'post',
    path: '/shares/:share/rollback',
    callers: ['control'],
    summary: 'Roll the share back to a snapshot',
    params: ShareParams,
    body: RollbackRequest,
    responses: {
      200: { description: 'ok', schema: GatewayShare },
      404: { description: 'No such share, portion or snapshot' },
      409: { description: 'The share is busy' },
      507: { description: 'The disk is full' },
    },
    handler: async ({ params, body }) => {
      const name = params.share;
      const s = gw.requireShare(name);
      const portions = body.portion !== undefined ? [body.portion] : s.portions;
      // Check every portion first: a rollback either applies to all of them or to none.
      for (const portion of portions) {
        gw.requirePortion(name, portion);
        await gw.store.require({ share: name, portion }, body.snapshotId);
      }
      for (const portion of portions) await gw.store.rollback({ share: name, portion }, body.snapshotId);
      gw.log.info({ share: name, snapshot: body.snapshotId }, 'share rolled back');
      return { status: 200, body: await gw.describeShare(gw.requireShare(name)) };
    },
  });

  api.add({
    method: 'get',
    path: '/shares/:share/digest',
    callers: ['control'],
    summary:
      "Digest of a portion's tree, live or a snapshot (paths, types, modes, sizes, mtimes to the µs, link targets; content=true adds sha256s)",
    params: ShareParams,
    query: DigestQuery,
    responses: {
      200: { description: 'ok', schema: PortionDigest },
      404: { description: 'No such share, portion or snapshot' },
      409: { description: 'The tree changed while it was read: ask again' },
    },
    handler: async ({ params, query }) => ({ status: 200, body: await portionDigest(gw, params.share, query) }),
  });

  api.add({
    method: 'get',
    path: '/shares/:share/open-files',
    callers: ['control'],
    summary: 'SMB clients with files open on a share',
    params: ShareParams,
    responses: { 200: { description: 'ok', schema: ShareOpenFiles }, ...NEEDS_SHARE },
    handler: async ({ params }) => ({ status: 200, body: await shareOpenFiles(gw, params.share) }),
  });

  api.add({
    method: 'post',
    path: '/snapshots/prune',
    callers: ['control'],
    summary: 'Delete expired snapshots',
    body: PruneRequest,
    responses: { 200: { description: 'ok', schema: PruneResult } },
    handler: async ({ body }) => ({
      status: 200,
      body: { deleted: await gw.prune(body.now ? new Date(body.now) : new Date()) },
    }),
  });

  api.add({
    method: 'get',
    path: '/negotiation/:share',
    callers: ['control', 'peer'],
    summary: 'Snapshots this side has (base vs incremental)',
    params: ShareParams,
    query: z.object({ portion: PortionRefSchema }).strict(),
    responses: {
      200: { description: 'ok', schema: NegotiationInfo },
      404: { description: 'No such share or portion' },
    },
    handler: async ({ params, query }) => {
      gw.requirePortion(params.share, query.portion);
      const p = { share: params.share, portion: query.portion };
      return {
        status: 200,
        body: {
          share: params.share,
          portion: query.portion,
          driver: gw.driver.name,
          nodeId: gw.config.nodeId,
          snapshots: (await gw.store.list(p)).map((m) => ({ id: m.id, createdAt: m.createdAt })),
          receiving: gw.receiver.receivingInto(p),
        },
      };
    },
  });

  api.add({
    method: 'post',
    path: '/transfers',
    callers: ['control'],
    summary: 'Send a snapshot to a peer FSVM (idempotent by id)',
    body: StartTransferRequest,
    responses: {
      202: { description: 'Queued (or already known)', schema: TransferStatus },
      404: { description: 'No such share, portion or snapshot' },
      409: { description: 'A transfer of that id exists with other parameters' },
    },
    handler: async ({ body }) => ({ status: 202, body: await gw.sender.start(body) }),
  });

  api.add({
    method: 'get',
    path: '/transfers',
    callers: ['control'],
    summary: 'Transfers of this sender',
    responses: { 200: { description: 'ok', schema: TransferList } },
    handler: async () => ({ status: 200, body: { transfers: gw.sender.list() } }),
  });

  api.add({
    method: 'get',
    path: '/transfers/:id',
    callers: ['control'],
    summary: 'Progress of a transfer',
    params: IdParams,
    responses: { 200: { description: 'ok', schema: TransferStatus }, 404: { description: 'No such transfer' } },
    handler: async ({ params }) => ({ status: 200, body: gw.sender.get(params.id) }),
  });

  api.add({
    method: 'post',
    path: '/transfers/:id/cancel',
    callers: ['control'],
    summary: 'Cancel a transfer',
    params: IdParams,
    responses: { 200: { description: 'ok', schema: TransferStatus }, 404: { description: 'No such transfer' } },
    handler: async ({ params }) => ({ status: 200, body: await gw.sender.cancel(params.id) }),
  });

  api.add({
    method: 'get',
    path: '/receives',
    callers: ['control', 'peer'],
    summary: 'Receives of this FSVM',
    responses: { 200: { description: 'ok', schema: ReceiveList } },
    handler: async () => ({ status: 200, body: { receives: gw.receiver.list() } }),
  });

  api.add({
    method: 'get',
    path: '/receives/:id',
    callers: ['control', 'peer'],
    summary: 'State of a receive',
    params: IdParams,
    responses: { 200: { description: 'ok', schema: ReceiveStatus }, 404: { description: 'No such receive' } },
    handler: async ({ params }) => ({ status: 200, body: gw.receiver.get(params.id) }),
  });

  const RECEIVE_ERRORS = {
    404: { description: 'No such receive, share or portion' },
    409: { description: 'The receive is in another state, or conflicts with one under way' },
    507: { description: 'The disk is full' },
  };

  api.add({
    method: 'put',
    path: '/receives/:id',
    callers: ['peer'],
    summary: 'Prepare a receive',
    params: IdParams,
    body: PrepareReceiveRequest,
    responses: { 200: { description: 'ok', schema: ReceiveStatus }, ...RECEIVE_ERRORS },
    handler: async ({ params, body, caller }) => ({
      status: 200,
      body: await gw.receiver.prepare(params.id, body, (caller as { node: string }).node),
    }),
  });

  api.add({
    method: 'put',
    path: '/receives/:id/data',
    callers: ['peer'],
    summary: 'Stream bytes from `offset` on',
    params: IdParams,
    query: ReceiveDataQuery.strict(),
    stream: 'application/octet-stream',
    responses: {
      200: { description: 'ok', schema: ReceiveStatus },
      ...RECEIVE_ERRORS,
      422: { description: 'A resumed stream differs from the bytes already received' },
    },
    handler: async ({ params, query, req }) => ({
      status: 200,
      body: await gw.receiver.write(params.id, query.offset, req),
    }),
  });

  api.add({
    method: 'post',
    path: '/receives/:id/complete',
    callers: ['peer'],
    summary: 'Declare the stream whole; verified, then applied',
    params: IdParams,
    body: CompleteReceiveRequest,
    responses: {
      200: { description: 'ok', schema: ReceiveStatus },
      ...RECEIVE_ERRORS,
      422: { description: 'The stream failed its verification' },
    },
    handler: async ({ params, body }) => ({
      status: 200,
      body: await gw.receiver.complete(params.id, body.totalBytes, body.sha256, body.digest ?? 'stream-sha256'),
    }),
  });

  api.add({
    method: 'post',
    path: '/receives/:id/commit',
    callers: ['control'],
    summary: 'Publish a received snapshot; 409 when that would overwrite a read_write share, unless force is true',
    params: IdParams,
    body: CommitReceiveRequest,
    responses: { 200: { description: 'ok', schema: ReceiveStatus }, ...RECEIVE_ERRORS },
    handler: async ({ params, body }) => ({ status: 200, body: await gw.receiver.commit(params.id, body) }),
  });

  api.add({
    method: 'delete',
    path: '/receives/:id',
    callers: ['control', 'peer'],
    summary: 'Abandon a receive (idempotent): what it applied is removed; a committed snapshot stays',
    params: IdParams,
    responses: {
      200: { description: 'The receive as it was abandoned', schema: ReceiveStatus },
      204: { description: 'No such receive (nothing to abandon)' },
    },
    handler: async ({ params }) => {
      const st = await gw.receiver.discard(params.id);
      return st ? { status: 200, body: st } : { status: 204 };
    },
  });

  const openapi = generateGatewayDocument(registry);
  app.get(`${GATEWAY_API_PREFIX}/openapi.json`, (_req, res) => {
    res.json(openapi);
  });
  app.use(GATEWAY_API_PREFIX, r);

  app.use(() => {
    throw new NotFoundError('no such endpoint');
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const problem = problemOf(err);
    if (problem.status >= 500 && problem.status !== 507)
      gw.log.error({ err: errorMessage(err), path: req.path }, 'request failed');
    if (res.headersSent || req.socket.destroyed) return;
    res.status(problem.status).type('application/problem+json').json(problem);
  });
  return app;
}

export function portionRefOf(share: string, portion: string): PortionRef {
  return { share, portion };
}
