// Steps of creating and deleting a share on a registered file server (the share workflows). Every step is idempotent
// (the gateway's PUT and DELETE of a share are) and a compensation removes only what its run created.
import { ConflictError, GatewayUnavailable, NotFoundError } from '../domain/errors';
import type { SharePlacement } from '../domain/shares';
import type { Db } from '../infra/database';
import { policiesUsingShares, shareInUse } from '../infra/share-usage';
import type { GatewayDirectory } from './gateway-directory';

export function createShareActivities(deps: { db: Db; gateways: GatewayDirectory }) {
  const { db, gateways } = deps;

  /** The FSVMs of the file server that hold the share now. */
  async function holders(fileServer: string, share: string): Promise<{ nodeId: string; kind: string }[]> {
    const out: { nodeId: string; kind: string }[] = [];
    for (const f of await gateways.fsvms(fileServer)) {
      const found = await (await gateways.client(fileServer, f.nodeId)).findShare(share);
      if (found) out.push({ nodeId: f.nodeId, kind: found.kind });
    }
    return out;
  }

  return {
    /**
     * Before anything is created: every chosen FSVM is registered and answers, and no FSVM of the file server holds
     * the share yet (the API checked its cache; this asks the gateways themselves).
     */
    async checkSharePlacement(input: { fileServer: string; share: string; placements: SharePlacement[] }) {
      const registered = new Set((await gateways.fsvms(input.fileServer)).map((f) => f.nodeId));
      const unknown = input.placements.filter((p) => !registered.has(p.nodeId)).map((p) => p.nodeId);
      if (unknown.length) {
        throw new NotFoundError(
          `file server '${input.fileServer}' has no FSVM ${unknown.map((n) => `'${n}'`).join(', ')}`,
        );
      }
      for (const p of input.placements) {
        const client = await gateways.client(input.fileServer, p.nodeId);
        const health = await client.health();
        if (health.status !== 'ok') throw new GatewayUnavailable(`FSVM '${p.nodeId}' reports ${health.status}`);
      }
      const existing = await holders(input.fileServer, input.share);
      if (existing.length) {
        throw new ConflictError(
          `share '${input.share}' already exists on file server '${input.fileServer}' (FSVM ${existing.map((e) => `'${e.nodeId}'`).join(', ')})`,
        );
      }
    },

    /** Creates the share's portions on one FSVM, writable for clients (idempotent). */
    async createShareOnFsvm(input: {
      fileServer: string;
      share: string;
      kind: 'standard' | 'distributed';
      placement: SharePlacement;
    }): Promise<void> {
      const client = await gateways.client(input.fileServer, input.placement.nodeId);
      await client.createShare(input.share, {
        kind: input.kind,
        ...(input.kind === 'distributed' ? { portions: input.placement.portions } : {}),
        accessMode: 'read_write',
      });
    },

    /** Deletes the share, its data and snapshots on the given FSVMs (default: every FSVM that holds it). */
    async deleteShareOnFsvms(input: { fileServer: string; share: string; nodes?: string[] }): Promise<string[]> {
      const nodes = input.nodes ?? (await holders(input.fileServer, input.share)).map((h) => h.nodeId);
      for (const nodeId of nodes) {
        await (await gateways.client(input.fileServer, nodeId)).deleteShare(input.share);
      }
      return nodes;
    },

    /** Refused while a policy replicates the share (as its source) or into it (as its target). */
    async assertShareUnprotected(input: { fileServer: string; share: string }): Promise<void> {
      const uses = (await policiesUsingShares(db, input.fileServer, [input.share])).get(input.share) ?? [];
      if (uses.length) throw new ConflictError(shareInUse(input.fileServer, input.share, uses));
    },

    /** The API's share list is read from the gateways again at its next request. */
    async invalidateShareCache(input: { fileServer: string }): Promise<void> {
      await db.fileServer.updateMany({ where: { name: input.fileServer }, data: { sharesRefreshedAt: null } });
    },
  };
}

export type ShareActivities = ReturnType<typeof createShareActivities>;
