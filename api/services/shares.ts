// Shares per file server, live from the gateways and cached in the Share table. The cache is refreshed when older
// than `ttlMs` (or on demand) and only when EVERY FSVM answered, so a down node never makes a distributed share's
// portions disappear; otherwise the last good list is served, marked stale, with what failed.
import type { Db } from '../../infra/database';
import type { SecretBox } from '../../infra/secrets';
import { DomainError, NotFoundError } from '../../domain/errors';
import { mergeShareOwnership } from '../../domain/ownership';
import type { GatewayFactory } from '../gateways';

export interface ShareServiceDeps {
  db: Db;
  secrets: SecretBox;
  gateways: GatewayFactory;
  gatewayTimeoutMs: number;
  ttlMs: number;
}

export interface ShareListing {
  refreshedAt: Date | null;
  stale: boolean;
  errors: { nodeId: string; gatewayUrl: string; message: string }[];
}

export function createShareService(deps: ShareServiceDeps) {
  const { db } = deps;
  // Single flight per file server: concurrent readers share one round of gateway calls and one cache write.
  const inflight = new Map<string, Promise<ShareListing>>();
  function once(id: string, run: () => Promise<ShareListing>): Promise<ShareListing> {
    const running = inflight.get(id);
    if (running) return running;
    const p = run().finally(() => inflight.delete(id));
    inflight.set(id, p);
    return p;
  }

  async function refresh(fileServerName: string): Promise<ShareListing> {
    const fs = await db.fileServer.findUnique({ where: { name: fileServerName }, include: { fsvms: true } });
    if (!fs) throw new NotFoundError(`file server '${fileServerName}' is not registered`);
    const fresh = fs.sharesRefreshedAt && Date.now() - fs.sharesRefreshedAt.getTime() < deps.ttlMs;
    return fresh
      ? { refreshedAt: fs.sharesRefreshedAt, stale: false, errors: [] }
      : once(fs.id, () => forceRefresh(fs));
  }

  async function forceRefresh(fs: {
    id: string;
    sharesRefreshedAt: Date | null;
    fsvms: { id: string; nodeId: string; gatewayUrl: string; gatewayTokenEnc: string }[];
  }): Promise<ShareListing> {
    // Network first, outside any transaction.
    const answers = await Promise.allSettled(
      fs.fsvms.map((f) =>
        deps
          .gateways({ url: f.gatewayUrl, token: deps.secrets.open(f.gatewayTokenEnc) })
          .listShares({ timeoutMs: deps.gatewayTimeoutMs }),
      ),
    );
    const errors: ShareListing['errors'] = [];
    const now = new Date();
    await Promise.all(
      answers.map((a, i) => {
        const f = fs.fsvms[i]!;
        if (a.status === 'rejected') {
          const message = a.reason instanceof DomainError ? a.reason.message : 'gateway call failed';
          errors.push({ nodeId: f.nodeId, gatewayUrl: f.gatewayUrl, message });
          return db.fsvm.update({ where: { id: f.id }, data: { health: 'down', lastError: message.slice(0, 500) } });
        }
        return db.fsvm.update({ where: { id: f.id }, data: { health: 'healthy', lastSeenAt: now, lastError: null } });
      }),
    );
    if (errors.length || fs.fsvms.length === 0) {
      return { refreshedAt: fs.sharesRefreshedAt, stale: true, errors };
    }
    const merged = mergeShareOwnership(
      answers.flatMap((a, i) => (a.status === 'fulfilled' ? [{ nodeId: fs.fsvms[i]!.nodeId, shares: a.value }] : [])),
    );
    await db.$transaction(async (tx) => {
      await tx.share.deleteMany({ where: { fileServerId: fs.id, name: { notIn: [...merged.keys()] } } });
      for (const [name, m] of merged) {
        const data = {
          kind: m.kind,
          accessMode: m.accessMode,
          portions: Object.fromEntries(m.owners),
          sizeBytes: BigInt(m.sizeBytes),
          refreshedAt: now,
        };
        await tx.share.upsert({
          where: { fileServerId_name: { fileServerId: fs.id, name } },
          create: { fileServerId: fs.id, name, ...data },
          update: data,
        });
      }
      await tx.fileServer.update({ where: { id: fs.id }, data: { sharesRefreshedAt: now } });
    });
    return { refreshedAt: now, stale: false, errors: [] };
  }

  return {
    /** Refreshes when due (or forced), then reads the cache. */
    async list(fileServerName: string, opts: { refresh?: boolean } = {}) {
      let listing: ShareListing;
      if (opts.refresh) {
        const fs = await db.fileServer.findUnique({ where: { name: fileServerName }, include: { fsvms: true } });
        if (!fs) throw new NotFoundError(`file server '${fileServerName}' is not registered`);
        listing = await once(fs.id, () => forceRefresh(fs));
      } else listing = await refresh(fileServerName);
      const shares = await db.share.findMany({
        where: { fileServer: { name: fileServerName } },
        orderBy: { name: 'asc' },
      });
      return { ...listing, shares };
    },
  };
}

export type ShareService = ReturnType<typeof createShareService>;
