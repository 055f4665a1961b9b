// The gateway agent as an object: its state (shares, snapshots, transfers, receives) and its HTTP API (Express 5,
// every input validated with the contract's zod schemas). `createGateway(deps)` is what tests and gateway/main.ts use.
import { timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import os from 'node:os';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { z } from 'zod';
import { ConflictError, DomainError, NotFoundError, ValidationError } from '../domain/errors';
import {
  CommitReceiveRequest,
  CompleteReceiveRequest,
  CreateShareRequest,
  CreateSnapshotRequest,
  DeleteShareQuery,
  DigestQuery,
  GATEWAY_API_PREFIX,
  PEER_NODE_HEADER,
  PortionRef as PortionRefSchema,
  PrepareReceiveRequest,
  PruneRequest,
  ReceiveDataQuery,
  RollbackRequest,
  SetAccessRequest,
  ShareName,
  SnapshotId,
  StartTransferRequest,
  TransferId,
  type GatewayHealth,
  type GatewayProblem,
  type GatewayShare,
  type GatewaySnapshot,
} from '../domain/gateway-contract';
import type { Logger } from '../infra/logger';
import { fsvmIdentityOf } from '../infra/tls';
import type { GatewayConfig } from './config';
import { Receiver } from './data-plane/receiver';
import { Sender } from './data-plane/sender';
import { InsufficientStorageError, UnauthenticatedError } from './errors';
import { Layout, type PortionRef } from './layout';
import { buildOpenApi } from './openapi';
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

type Caller = { kind: 'control' } | { kind: 'peer'; node: string };

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const fields = r.error.issues.map((i) => ({
    path: [where, ...i.path.map(String)].filter(Boolean).join('.'),
    message: i.message,
  }));
  throw new ValidationError(`invalid ${where}: ${fields.map((f) => `${f.path}: ${f.message}`).join('; ')}`, fields);
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

export function problemOf(err: unknown): GatewayProblem {
  if (err instanceof UnauthenticatedError)
    return { type: 'about:blank', title: 'Unauthenticated', status: 401, detail: err.message };
  if (err instanceof InsufficientStorageError)
    return { type: 'about:blank', title: 'Insufficient storage', status: 507, detail: err.message };
  if (err instanceof StreamIntegrityError)
    return { type: 'about:blank', title: 'Stream integrity check failed', status: 422, detail: err.message };
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
  const e = err as { type?: string; status?: number } | undefined;
  if (e?.type === 'entity.parse.failed')
    return { type: 'about:blank', title: 'Invalid request', status: 400, detail: 'body is not valid JSON' };
  if (e?.type === 'entity.too.large')
    return { type: 'about:blank', title: 'Invalid request', status: 413, detail: 'body too large' };
  return { type: 'about:blank', title: 'Internal error', status: 500, detail: errorMessage(err) };
}

/** The Express app of a gateway: control API (orchestrator token) and data plane (peer tokens). */
export function createGatewayApp(gw: Gateway): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(express.json({ limit: '1mb' }));
  const openapi = buildOpenApi();
  const r = express.Router();

  app.get(`${GATEWAY_API_PREFIX}/openapi.json`, (_req, res) => {
    res.json(openapi);
  });

  const need =
    (...kinds: Caller['kind'][]) =>
    (req: Request, res: Response, next: NextFunction): void => {
      const caller = gw.authenticate(req);
      if (!caller || !kinds.includes(caller.kind)) {
        next(new UnauthenticatedError());
        return;
      }
      res.locals.caller = caller;
      next();
    };
  const control = need('control');
  const peer = need('peer');
  const any = need('control', 'peer');

  // Replication at work: a request that changes something, or a sender asking for a receive's progress (every
  // second while its tool streams). Snapshot sizes wait for quiet (see SnapshotStore.measure); listings do not count.
  r.use((req, _res, next) => {
    if (req.method !== 'GET' || req.path.startsWith('/receives/')) gw.store.touch();
    next();
  });

  const shareParam = (req: Request): string => parse(ShareName, req.params.share, 'share');
  const portionQuery = (req: Request): string => parse(PortionRefSchema, req.query.portion ?? '', 'portion');

  r.get('/health', control, async (_req, res) => {
    res.json(await gw.health());
  });

  r.get('/shares', control, async (_req, res) => {
    res.json({ shares: await Promise.all(gw.registry.list().map((s) => gw.describeShare(s))) });
  });

  r.get('/shares/:share', control, (req, res) => {
    const s = gw.requireShare(shareParam(req));
    res.json({ name: s.name, kind: s.kind, accessMode: s.accessMode, portions: s.portions.map((name) => ({ name })) });
  });

  r.put('/shares/:share', control, async (req, res) => {
    const name = shareParam(req);
    const body = parse(CreateShareRequest, req.body ?? {}, 'body');
    res.json(await gw.describeShare(await gw.createShare(name, body)));
  });

  r.delete('/shares/:share', control, async (req, res) => {
    const name = shareParam(req);
    const q = parse(DeleteShareQuery, req.query, 'query');
    if (q.confirm !== name)
      throw new ValidationError('confirm must repeat the share name', [
        { path: 'confirm', message: 'must equal the share name' },
      ]);
    await gw.deleteShare(name);
    res.status(204).end();
  });

  r.put('/shares/:share/access', control, async (req, res) => {
    const name = shareParam(req);
    const body = parse(SetAccessRequest, req.body ?? {}, 'body');
    res.json(await gw.describeShare(await gw.setAccess(name, body.mode)));
  });

  r.get('/shares/:share/snapshots', control, async (req, res) => {
    const name = shareParam(req);
    const s = gw.requireShare(name);
    const portions = req.query.portion !== undefined ? [portionQuery(req)] : s.portions;
    if (req.query.portion !== undefined) gw.requirePortion(name, portions[0]!);
    const all = (await Promise.all(portions.map((portion) => gw.store.list({ share: name, portion })))).flat();
    res.json({ snapshots: all.map((m) => Gateway.toSnapshot(m)) });
  });

  r.post('/shares/:share/snapshots', control, async (req, res) => {
    const name = shareParam(req);
    const body = parse(CreateSnapshotRequest, req.body ?? {}, 'body');
    const s = gw.requireShare(name);
    const metas: SnapshotMeta[] = [];
    for (const portion of s.portions)
      metas.push(await gw.store.create({ share: name, portion }, body.snapshotId, body.expiresAt ?? null));
    gw.log.info({ share: name, snapshot: body.snapshotId, portions: s.portions.length }, 'snapshot set taken');
    res.status(201).json({ snapshots: metas.map((m) => Gateway.toSnapshot(m)) });
  });

  r.delete('/shares/:share/snapshots/:snapshot', control, async (req, res) => {
    const name = shareParam(req);
    const id = parse(SnapshotId, req.params.snapshot, 'snapshot');
    const s = gw.requireShare(name);
    const portions = req.query.portion !== undefined ? [portionQuery(req)] : s.portions;
    for (const portion of portions) await gw.store.delete({ share: name, portion }, id);
    res.status(204).end();
  });

  r.post('/shares/:share/rollback', control, async (req, res) => {
    const name = shareParam(req);
    const body = parse(RollbackRequest, req.body ?? {}, 'body');
    const s = gw.requireShare(name);
    const portions = body.portion !== undefined ? [body.portion] : s.portions;
    // Check every portion first: a rollback either applies to all of them or to none.
    for (const portion of portions) {
      gw.requirePortion(name, portion);
      await gw.store.require({ share: name, portion }, body.snapshotId);
    }
    for (const portion of portions) await gw.store.rollback({ share: name, portion }, body.snapshotId);
    gw.log.info({ share: name, snapshot: body.snapshotId }, 'share rolled back');
    res.json(await gw.describeShare(gw.requireShare(name)));
  });

  r.get('/shares/:share/digest', control, async (req, res) => {
    const name = shareParam(req);
    res.json(await portionDigest(gw, name, parse(DigestQuery, req.query, 'query')));
  });

  r.get('/shares/:share/open-files', control, async (req, res) => {
    res.json(await shareOpenFiles(gw, shareParam(req)));
  });

  r.post('/snapshots/prune', control, async (req, res) => {
    const body = parse(PruneRequest, req.body ?? {}, 'body');
    res.json({ deleted: await gw.prune(body.now ? new Date(body.now) : new Date()) });
  });

  r.get('/negotiation/:share', any, async (req, res) => {
    const name = shareParam(req);
    const portion = portionQuery(req);
    gw.requirePortion(name, portion);
    const p = { share: name, portion };
    res.json({
      share: name,
      portion,
      driver: gw.driver.name,
      nodeId: gw.config.nodeId,
      snapshots: (await gw.store.list(p)).map((m) => ({ id: m.id, createdAt: m.createdAt })),
      receiving: gw.receiver.receivingInto(p),
    });
  });

  r.post('/transfers', control, async (req, res) => {
    const body = parse(StartTransferRequest, req.body ?? {}, 'body');
    res.status(202).json(await gw.sender.start(body));
  });
  r.get('/transfers', control, (_req, res) => {
    res.json({ transfers: gw.sender.list() });
  });
  r.get('/transfers/:id', control, (req, res) => {
    res.json(gw.sender.get(parse(TransferId, req.params.id, 'transferId')));
  });
  r.post('/transfers/:id/cancel', control, async (req, res) => {
    res.json(await gw.sender.cancel(parse(TransferId, req.params.id, 'transferId')));
  });

  r.get('/receives', any, (_req, res) => {
    res.json({ receives: gw.receiver.list() });
  });
  r.get('/receives/:id', any, (req, res) => {
    res.json(gw.receiver.get(parse(TransferId, req.params.id, 'transferId')));
  });
  r.put('/receives/:id', peer, async (req, res) => {
    const id = parse(TransferId, req.params.id, 'transferId');
    const body = parse(PrepareReceiveRequest, req.body ?? {}, 'body');
    res.json(await gw.receiver.prepare(id, body, (res.locals.caller as { node: string }).node));
  });
  r.put('/receives/:id/data', peer, async (req, res) => {
    const id = parse(TransferId, req.params.id, 'transferId');
    const q = parse(ReceiveDataQuery, req.query, 'query');
    res.json(await gw.receiver.write(id, q.offset, req));
  });
  r.post('/receives/:id/complete', peer, async (req, res) => {
    const id = parse(TransferId, req.params.id, 'transferId');
    const body = parse(CompleteReceiveRequest, req.body ?? {}, 'body');
    res.json(await gw.receiver.complete(id, body.totalBytes, body.sha256, body.digest ?? 'stream-sha256'));
  });
  r.post('/receives/:id/commit', control, async (req, res) => {
    const id = parse(TransferId, req.params.id, 'transferId');
    const body = parse(CommitReceiveRequest, req.body ?? {}, 'body');
    res.json(await gw.receiver.commit(id, body));
  });
  r.delete('/receives/:id', any, async (req, res) => {
    const id = parse(TransferId, req.params.id, 'transferId');
    const st = await gw.receiver.discard(id);
    if (!st) res.status(204).end();
    else res.json(st);
  });

  app.use(GATEWAY_API_PREFIX, r);

  app.use((_req: Request, res: Response) => {
    res
      .status(404)
      .type('application/problem+json')
      .json({ type: 'about:blank', title: 'Not found', status: 404, detail: 'no such endpoint' });
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
