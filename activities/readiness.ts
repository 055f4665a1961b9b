// DR readiness (seed 001: check what the other site needs to take over before a failover): every FSVM answers, each
// FSVM that takes over has room, every share has a recovery point there (and how old it is), no other operation holds
// the pair. Each check answers in words what works and what does not; the directory's check is its own activity.
import type { Side } from '../domain/direction';
import { GatewayUnavailable } from '../domain/errors';
import type { OperationShare, ReadinessCheck } from '../domain/operations';
import { recoveryPointAgeSeconds } from '../domain/recovery-points';
import type { Db } from '../infra/database';
import { pointKey, recoveryPoints } from '../store/recovery-points';
import { copyOf } from './failover';
import type { GatewayDirectory } from './gateway-directory';

/** Free space a taking-over FSVM keeps beyond its replicas' size, as a share of it: room for the writes to come. */
export const CAPACITY_HEADROOM = 0.05;

const GiB = 1024 ** 3;
const size = (b: number) => (b >= GiB ? `${(b / GiB).toFixed(1)} GiB` : `${(b / 1024 ** 2).toFixed(1)} MiB`);

export function createReadinessActivities(deps: { db: Db; gateways: GatewayDirectory }) {
  const { db, gateways } = deps;

  async function health(fileServer: string, timeoutMs: number) {
    const fsvms = await gateways.fsvms(fileServer);
    return Promise.all(
      fsvms.map(async (f) => {
        try {
          const h = await (await gateways.client(fileServer, f.nodeId)).health({ timeoutMs });
          return { nodeId: f.nodeId, health: h, error: null as string | null };
        } catch (err) {
          if (!(err instanceof GatewayUnavailable) && !(err instanceof Error)) throw err;
          return { nodeId: f.nodeId, health: null, error: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
  }

  return {
    /** Every FSVM of the file servers answers (within a short timeout: a down site must not make this hang). */
    async checkGateways(input: { fileServers: string[]; timeoutMs?: number }): Promise<ReadinessCheck> {
      const down: string[] = [];
      let total = 0;
      for (const fs of input.fileServers) {
        for (const r of await health(fs, input.timeoutMs ?? 3000)) {
          total++;
          if (!r.health) down.push(`FSVM '${r.nodeId}' of '${fs}' does not answer (${r.error})`);
          else if (r.health.status !== 'ok') down.push(`FSVM '${r.nodeId}' of '${fs}' reports ${r.health.status}`);
        }
      }
      return {
        name: 'gateways reachable',
        ok: down.length === 0 && total > 0,
        message: down.length
          ? down.join('; ')
          : total
            ? `all ${total} FSVMs of ${input.fileServers.map((f) => `'${f}'`).join(' and ')} answer`
            : 'no FSVM is registered',
      };
    },

    /** Each FSVM taking over has its replicas' size free again as headroom (CAPACITY_HEADROOM of it at least). */
    async checkCapacity(input: { shares: OperationShare[]; side: Side; timeoutMs?: number }): Promise<ReadinessCheck> {
      const byServer = new Map<string, string[]>();
      for (const s of input.shares) {
        const c = copyOf(s, input.side);
        byServer.set(c.fileServer, [...(byServer.get(c.fileServer) ?? []), c.share]);
      }
      // Every FSVM at once (a slow one costs its own timeouts, not the sum of all), reported in a stable order.
      const answers = await Promise.all(
        [...byServer].map(async ([fs, shares]) =>
          Promise.all(
            (await gateways.fsvms(fs)).map(async (f) => {
              try {
                const client = await gateways.client(fs, f.nodeId);
                const h = await client.health({ timeoutMs: input.timeoutMs ?? 3000 });
                let used = 0;
                for (const s of await client.listShares({ timeoutMs: input.timeoutMs ?? 10_000 }))
                  if (shares.includes(s.name)) used += s.portions.reduce((n, p) => n + p.sizeBytes, 0);
                const free = h.capacity.freeBytes;
                const need = Math.ceil(used * CAPACITY_HEADROOM);
                return free < need || free === 0
                  ? {
                      problem: `FSVM '${f.nodeId}' of '${fs}' has ${size(free)} free for ${size(used)} of replicas (needs ${size(need)})`,
                    }
                  : { note: `'${f.nodeId}' of '${fs}': ${size(free)} free, ${size(used)} of replicas` };
              } catch (err) {
                return {
                  problem: `FSVM '${f.nodeId}' of '${fs}': capacity unknown (${err instanceof Error ? err.message : String(err)})`,
                };
              }
            }),
          ),
        ),
      );
      const all = answers.flat();
      const problems = all.flatMap((a) => (a.problem ? [a.problem] : []));
      const notes = all.flatMap((a) => (a.note ? [a.note] : []));
      return {
        name: 'capacity',
        ok: problems.length === 0,
        message: problems.length ? problems.join('; ') : notes.join('; ') || 'nothing to take over',
      };
    },

    /** Every share has a recovery point on `side`, and how old it is; with `maxLagSeconds`, none older. */
    async checkRecoveryPoints(input: {
      shares: OperationShare[];
      side: Side;
      /** Per share, or the default twice its RPO. */
      maxLagSeconds?: number | null;
      lagRpoMultiple?: number;
    }): Promise<ReadinessCheck & { points: { share: string; setId: string | null; ageSeconds: number | null }[] }> {
      const ids = new Map<string, string>();
      for (const fs of await db.fileServer.findMany({ select: { id: true, name: true } })) ids.set(fs.name, fs.id);
      const keys = input.shares.map((s) => {
        const c = copyOf(s, input.side);
        return { fileServerId: ids.get(c.fileServer) ?? '00000000-0000-0000-0000-000000000000', share: c.share };
      });
      const found = await recoveryPoints(db, keys);
      const now = new Date();
      const problems: string[] = [];
      const points = input.shares.map((s, i) => {
        const p = found.get(pointKey(keys[i]!.fileServerId, keys[i]!.share));
        const age = p ? Math.round(recoveryPointAgeSeconds(p.createdAt, now)) : null;
        const limit = input.maxLagSeconds ?? s.rpoSeconds * (input.lagRpoMultiple ?? 2);
        if (!p) problems.push(`share '${s.sourceShare}' of policy '${s.policy}' has no complete snapshot set there`);
        else if (age! > limit)
          problems.push(
            `share '${s.sourceShare}' of policy '${s.policy}': its recovery point is ${age}s old (allowed ${limit}s)`,
          );
        return { share: s.sourceShare, setId: p?.setId ?? null, ageSeconds: age };
      });
      const ages = points.flatMap((p) => (p.ageSeconds === null ? [] : [p.ageSeconds]));
      return {
        name: 'recovery points',
        ok: problems.length === 0,
        message: problems.length
          ? problems.join('; ')
          : `every share has a complete snapshot set, the oldest ${Math.max(0, ...ages)}s old`,
        points,
      };
    },

    /** No other operation holds these file servers (other than `operationId`, the one asking). */
    async checkNoOtherOperation(input: { fileServers: string[]; operationId?: string }): Promise<ReadinessCheck> {
      const others = await db.operation.findMany({
        where: {
          state: { in: ['pending', 'awaiting_approval', 'scheduled', 'running'] },
          kind: { notIn: ['dr_readiness'] },
          fileServers: { hasSome: input.fileServers },
          ...(input.operationId ? { id: { not: input.operationId } } : {}),
        },
        select: { id: true, kind: true, state: true },
      });
      return {
        name: 'no other operation',
        ok: others.length === 0,
        message: others.length
          ? others.map((o) => `a ${o.kind} operation (${o.id}) is ${o.state}`).join('; ')
          : 'no other operation holds these file servers',
      };
    },
  };
}

export type ReadinessActivities = ReturnType<typeof createReadinessActivities>;
