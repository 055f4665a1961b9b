// Steps of the DR operations (seed 000 [0221]-[0242]): access modes of both copies of a share, schedules and runs,
// retained snapshot sets, rollbacks, the recovery points used, which side is primary, the fence. Every step is
// idempotent: a retried activity (after a worker crash, a timeout) finds its own earlier work and does no harm.
import { Context } from '@temporalio/activity';
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { ConflictError, GatewayUnavailable, NotFoundError, ValidationError } from '../domain/errors';
import type { AccessMode } from '../domain/gateway-contract';
import type { Side } from '../domain/direction';
import type { OperationShare } from '../domain/operations';
import { REPLICATE_WORKFLOW_TYPE, scheduleId as scheduleIdOf } from '../domain/replication';
import { recoveryPointAgeSeconds } from '../domain/recovery-points';
import type { Db } from '../infra/database';
import type { Prisma } from '../prisma/generated/client';
import { listCompleteSets, recordSnapshotSet } from '../store/recovery-points';
import type { GatewayDirectory } from './gateway-directory';
import { portionOwners } from './ownership';

export interface FailoverActivityDeps {
  db: Db;
  gateways: GatewayDirectory;
  temporal: Client;
}

/** One copy of a protected share: the file server and the share's name there. */
export function copyOf(s: OperationShare, side: Side): { fileServer: string; share: string } {
  return side === 'source'
    ? { fileServer: s.source, share: s.sourceShare }
    : { fileServer: s.destination, share: s.targetShare };
}

/**
 * Schedule calls (pause, unpause, trigger) in flight at once. They go to Temporal, not to the FSVMs, and spend their
 * time waiting for the server's write: more at once finish sooner (100 pauses on the embedded dev server: 2.7-3.4 s
 * at 16 at a time, 1.9-2.2 s at 64).
 */
const SCHEDULE_CALLS_AT_ONCE = 64;

const label = (s: OperationShare) => `'${s.sourceShare}' (policy '${s.policy}')`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createFailoverActivities(deps: FailoverActivityDeps) {
  const { db, gateways, temporal } = deps;

  /** The FSVMs holding a copy's portions now; throws GatewayUnavailable when one of the file server's FSVMs is down. */
  async function holders(copy: { fileServer: string; share: string }, timeoutMs?: number, allowDown = false) {
    const view = await portionOwners(gateways, copy.fileServer, { share: copy.share, timeoutMs });
    if (view.down.length && !allowDown) {
      throw new GatewayUnavailable(
        `FSVMs ${view.down.map((n) => `'${n}'`).join(', ')} of '${copy.fileServer}' do not answer (share '${copy.share}')`,
      );
    }
    const owners = view.shares.get(copy.share)?.owners ?? new Map<string, string>();
    return { owners, nodes: [...new Set(owners.values())].sort(), down: view.down };
  }

  async function fileServerId(name: string): Promise<string> {
    const fs = await db.fileServer.findUnique({ where: { name }, select: { id: true } });
    if (!fs) throw new NotFoundError(`file server '${name}' is not registered`);
    return fs.id;
  }

  /** Runs `fn` over the items a few at a time (a file server may have hundreds of shares), heartbeating. */
  async function each<T, R>(items: T[], fn: (item: T) => Promise<R>, width = 16): Promise<R[]> {
    const out = new Array<R>(items.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(width, items.length) }, async () => {
        while (next < items.length) {
          const i = next++;
          out[i] = await fn(items[i]!);
          Context.current().heartbeat({ done: i + 1, of: items.length });
        }
      }),
    );
    return out;
  }

  return {
    /**
     * Sets the access mode of one side's copy of every share, on every FSVM holding part of it. Idempotent. With
     * `bestEffort`, FSVMs that do not answer within `timeoutMs` are reported instead of failing the step (an
     * unplanned failover's source; the fence enforces them later).
     */
    async setShareAccess(input: {
      shares: OperationShare[];
      side: Side;
      mode: AccessMode;
      bestEffort?: boolean;
      timeoutMs?: number;
    }): Promise<{ unreachable: string[]; missing: string[] }> {
      const unreachable = new Set<string>();
      const missing: string[] = [];
      await each(input.shares, async (s) => {
        const copy = copyOf(s, input.side);
        let found;
        try {
          found = await holders(copy, input.timeoutMs, input.bestEffort);
        } catch (err) {
          if (!(input.bestEffort && err instanceof GatewayUnavailable)) throw err;
          unreachable.add(copy.fileServer);
          return;
        }
        for (const n of found.down) unreachable.add(`${copy.fileServer}/${n}`);
        if (!found.nodes.length && !found.down.length) missing.push(`${copy.fileServer}:${copy.share}`);
        await Promise.all(
          found.nodes.map(async (node) => {
            const client = await gateways.client(copy.fileServer, node);
            try {
              await client.setAccess(copy.share, input.mode, input.timeoutMs ? { timeoutMs: input.timeoutMs } : {});
            } catch (err) {
              if (!(input.bestEffort && err instanceof GatewayUnavailable)) throw err;
              unreachable.add(`${copy.fileServer}/${node}`);
            }
          }),
        );
      });
      return { unreachable: [...unreachable].sort(), missing };
    },

    /** Reads the access mode of every copy of the shares (the split-brain check of the tests and the readiness). */
    async shareAccess(input: { shares: OperationShare[]; side: Side }) {
      return each(input.shares, async (s) => {
        const copy = copyOf(s, input.side);
        const view = await portionOwners(gateways, copy.fileServer, { share: copy.share });
        return { share: s.sourceShare, mode: view.shares.get(copy.share)?.accessMode ?? null };
      });
    },

    /** Pauses (or resumes) the shares' replication schedules and records it, so that no run starts meanwhile. */
    async pauseReplication(input: { shares: OperationShare[]; paused: boolean; note: string }) {
      await each(
        input.shares,
        async (s) => {
          const handle = temporal.schedule.getHandle(scheduleIdOf(s.policy, s.sourceShare));
          try {
            if (input.paused) await handle.pause(input.note);
            else await handle.unpause(input.note);
          } catch (err) {
            if (!(err instanceof Error && err.name === 'ScheduleNotFoundError')) throw err;
          }
        },
        SCHEDULE_CALLS_AT_ONCE,
      );
      // Recorded once every schedule is (a retry pauses them all again: pausing is idempotent).
      const byPolicy = new Map<string, string[]>();
      for (const s of input.shares) byPolicy.set(s.policyId, [...(byPolicy.get(s.policyId) ?? []), s.sourceShare]);
      await db.$transaction(
        [...byPolicy].map(([policyId, names]) =>
          db.policyShare.updateMany({
            where: { policyId, sourceShare: { in: names } },
            data: { paused: input.paused },
          }),
        ),
      );
    },

    /**
     * Replication runs of the shares that are going on: waited for (they finish their set) or cancelled (their
     * sub-jobs stop their streams). Queued runs do not exist once the schedules are paused. Returns the run ids.
     */
    async stopReplicationRuns(input: {
      shares: OperationShare[];
      wait: boolean;
      /** Runs of this operation's own final delta are not stopped. */
      exceptOperationId?: string;
    }): Promise<{ waitedFor: string[]; cancelled: string[] }> {
      const ctx = Context.current();
      // One visibility query per policy (its shares' names either way, up to 100 a query), all at once: a query per
      // share, one after the other, took seconds for a file server of 100 shares.
      const byPolicy = new Map<string, Set<string>>();
      for (const s of input.shares) {
        const names = byPolicy.get(s.policy) ?? new Set<string>();
        names.add(s.sourceShare).add(s.targetShare);
        byPolicy.set(s.policy, names);
      }
      const quote = (v: string) => `'${v.replace(/'/g, '')}'`;
      const queries = [...byPolicy].flatMap(([policy, set]) => {
        const names = [...set].map(quote);
        return Array.from({ length: Math.ceil(names.length / 100) }, (_, i) => ({
          policy,
          names: names.slice(i * 100, (i + 1) * 100),
        }));
      });
      const running = async () => {
        const lists = await Promise.all(
          queries.map(async ({ policy, names }) => {
            const query =
              `WorkflowType = '${REPLICATE_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' AND ` +
              `DrPolicy = ${quote(policy)} AND DrShare IN (${names.join(', ')})`;
            const ids: string[] = [];
            for await (const wf of temporal.workflow.list({ query })) {
              if (input.exceptOperationId && wf.workflowId.startsWith(`operation/${input.exceptOperationId}/`))
                continue;
              ids.push(wf.workflowId);
            }
            return ids;
          }),
        );
        return [...new Set(lists.flat())];
      };
      const first = await running();
      if (!input.wait) {
        await Promise.all(
          first.map((id) =>
            temporal.workflow
              .getHandle(id)
              .cancel()
              .catch(() => undefined),
          ),
        );
      }
      for (let left = first; left.length; left = (await running()).filter((id) => first.includes(id))) {
        ctx.heartbeat({ waitingFor: left });
        await sleep(500);
      }
      return input.wait ? { waitedFor: first, cancelled: [] } : { waitedFor: [], cancelled: first };
    },

    /**
     * Takes a snapshot set that pruning never removes (a pre-failover snapshot of what a share held when it took
     * over, or a safety snapshot of divergent writes) of one side of every share, and records it.
     */
    async takeRetainedSets(input: {
      shares: { share: OperationShare; setId: string }[];
      side: Side;
      purpose: 'pre_failover' | 'safety';
      operationId: string;
      note: string;
    }): Promise<{ share: string; setId: string; fileServer: string }[]> {
      return each(input.shares, async ({ share: s, setId }) => {
        const copy = copyOf(s, input.side);
        const found = await holders(copy);
        const taken = (
          await Promise.all(
            found.nodes.map(async (node) =>
              (await gateways.client(copy.fileServer, node)).createSnapshot(copy.share, { snapshotId: setId }),
            ),
          )
        ).flat();
        await recordSnapshotSet(db, {
          fileServerId: await fileServerId(copy.fileServer),
          share: copy.share,
          setId,
          origin: 'local',
          purpose: input.purpose,
          createdAt: taken.length ? new Date(Math.min(...taken.map((t) => Date.parse(t.createdAt)))) : new Date(),
          complete: true,
          portions: [...new Set(taken.map((t) => t.portion))].sort(),
          retained: true,
          operationId: input.operationId,
          note: input.note,
        });
        return { share: s.sourceShare, setId, fileServer: copy.fileServer };
      });
    },

    /**
     * The set each share's copy on `side` is restored to: its newest complete set whose snapshot every FSVM holding
     * the share still has (a recorded set that was half pruned, or half received, is never used).
     */
    async selectRecoveryPoints(input: {
      shares: OperationShare[];
      side: Side;
    }): Promise<{ share: string; policy: string; setId: string; createdAt: string; ageSeconds: number }[]> {
      const now = new Date();
      return each(input.shares, async (s) => {
        const copy = copyOf(s, input.side);
        const sets = await listCompleteSets(db, await fileServerId(copy.fileServer), copy.share, now);
        const found = await holders(copy);
        const present = await Promise.all(
          found.nodes.map(async (node) => {
            const snaps = await (await gateways.client(copy.fileServer, node)).listSnapshots(copy.share);
            return new Map(
              [...found.owners]
                .filter(([, n]) => n === node)
                .map(([portion]) => [portion, new Set(snaps.filter((x) => x.portion === portion).map((x) => x.id))]),
            );
          }),
        );
        const onEveryPortion = (setId: string) => present.every((m) => [...m.values()].every((ids) => ids.has(setId)));
        const usable = sets.find((x) => x.purpose !== 'safety' && onEveryPortion(x.setId));
        if (!usable) {
          throw new ConflictError(
            `share ${label(s)} has no complete snapshot set on '${copy.fileServer}' whose snapshots are all there: nothing to restore`,
          );
        }
        return {
          share: s.sourceShare,
          policy: s.policy,
          setId: usable.setId,
          createdAt: usable.createdAt.toISOString(),
          ageSeconds: Math.round(recoveryPointAgeSeconds(usable.createdAt, now)),
        };
      });
    },

    /** Rolls every portion of each share's copy on `side` back to the given set (idempotent). */
    async rollbackShares(input: { shares: { share: OperationShare; setId: string }[]; side: Side }) {
      await each(input.shares, async ({ share: s, setId }) => {
        const copy = copyOf(s, input.side);
        const found = await holders(copy);
        for (const node of found.nodes) {
          await (
            await gateways.client(copy.fileServer, node)
          ).rollback(copy.share, setId, undefined, { timeoutMs: 600_000 });
        }
      });
    },

    /**
     * The newest set both copies of each share hold complete (every portion, both sides): the point a resume rolls
     * the other side back to and replicates from. Null when the two copies have none in common.
     */
    async commonSets(input: {
      shares: OperationShare[];
    }): Promise<{ share: string; setId: string | null; createdAt: string | null }[]> {
      return each(input.shares, async (s) => {
        const sides = await Promise.all(
          (['source', 'destination'] as const).map(async (side) => {
            const copy = copyOf(s, side);
            const found = await holders(copy);
            const lists = await Promise.all(
              found.nodes.map(async (n) => (await gateways.client(copy.fileServer, n)).listSnapshots(copy.share)),
            );
            const portions = [...found.owners.keys()];
            const snaps = lists.flat();
            const ids = new Set(snaps.map((x) => x.id));
            const complete = [...ids].filter((id) =>
              portions.every((p) => snaps.some((x) => x.id === id && x.portion === p)),
            );
            return new Map(complete.map((id) => [id, snaps.find((x) => x.id === id)!.createdAt]));
          }),
        );
        const [src, dst] = sides as [Map<string, string>, Map<string, string>];
        const common = [...src].filter(
          ([id]) => dst.has(id) && id.startsWith('fsdr-') && !id.startsWith('fsdr-safety-'),
        );
        common.sort((a, b) => a[1].localeCompare(b[1]) || a[0].localeCompare(b[0]));
        const newest = common[common.length - 1];
        return { share: s.sourceShare, setId: newest?.[0] ?? null, createdAt: newest?.[1] ?? null };
      });
    },

    /**
     * Who has files open on each share's copy on `side` (where its FSVMs serve SMB through smbd): reported before a
     * planned failover cuts them off.
     */
    async openFiles(input: { shares: OperationShare[]; side: Side }) {
      return each(input.shares, async (s) => {
        const copy = copyOf(s, input.side);
        const found = await holders(copy);
        const lists = await Promise.all(
          found.nodes.map(async (node) => (await gateways.client(copy.fileServer, node)).openFiles(copy.share)),
        );
        return {
          share: s.sourceShare,
          smb: lists.some((l) => l.smb),
          openFiles: lists.flatMap((l) => l.openFiles.map((f) => ({ path: f.path, client: f.client, user: f.user }))),
        };
      });
    },

    /**
     * After a final delta: each portion of the new side's live tree (what its clients will see) has the same tree
     * digest as the old side's final snapshot set (paths, types, modes, sizes, times; contents are covered by the
     * transfer's end-to-end checksums). A difference fails the step, before the point of no return.
     */
    async verifyShares(input: { shares: { share: OperationShare; setId: string }[]; from: Side; to: Side }) {
      let portions = 0;
      let files = 0;
      let bytes = 0;
      const mismatches: string[] = [];
      await each(input.shares, async ({ share: s, setId }) => {
        const src = copyOf(s, input.from);
        const dst = copyOf(s, input.to);
        const [a, b] = await Promise.all([holders(src), holders(dst)]);
        for (const [portion, node] of a.owners) {
          const other = b.owners.get(portion);
          if (!other) {
            mismatches.push(`share ${label(s)}: portion '${portion || '(root)'}' is missing on '${dst.fileServer}'`);
            continue;
          }
          const [want, got] = await Promise.all([
            (await gateways.client(src.fileServer, node)).digest(src.share, { portion, snapshotId: setId }),
            (await gateways.client(dst.fileServer, other)).digest(dst.share, { portion }),
          ]);
          portions++;
          files += want.files;
          bytes += want.bytes;
          if (want.algorithm !== got.algorithm || want.digest !== got.digest) {
            mismatches.push(
              `share ${label(s)} portion '${portion || '(root)'}': '${dst.fileServer}' holds ${got.files} files / ${got.bytes} bytes, the final set ${setId} ${want.files} / ${want.bytes}`,
            );
          }
        }
      });
      if (mismatches.length) throw new ConflictError(`the copies differ: ${mismatches.join('; ')}`);
      return { portions, files, bytes };
    },

    /** Records which side of each share clients write to now, and whether its replication is paused. */
    async setPrimary(input: { shares: OperationShare[]; primary: Side; paused: boolean }) {
      await db.$transaction(
        input.shares.map((s) =>
          db.policyShare.updateMany({
            where: { policyId: s.policyId, sourceShare: s.sourceShare },
            data: { primary: input.primary, paused: input.paused },
          }),
        ),
      );
    },

    /** Starts a run of each share now (in the direction its primary gives), queued like any scheduled run. */
    async triggerRuns(input: { shares: OperationShare[] }) {
      await each(
        input.shares,
        async (s) => {
          await temporal.schedule
            .getHandle(scheduleIdOf(s.policy, s.sourceShare))
            .trigger(ScheduleOverlapPolicy.BUFFER_ONE)
            .catch((err: unknown) => {
              if (!(err instanceof Error && err.name === 'ScheduleNotFoundError')) throw err;
            });
        },
        SCHEDULE_CALLS_AT_ONCE,
      );
    },

    /** Marks a file server fenced (an unplanned failover left it behind) until replication resumes. */
    async markFenced(input: { fileServer: string; operationId: string; mode: 'read_only' | 'off'; reason: string }) {
      await db.fileServer.updateMany({
        where: { name: input.fileServer },
        data: {
          fencedAt: new Date(),
          fenceReason: input.reason,
          fenceOperationId: input.operationId,
          fenceMode: input.mode,
          fenceEnforcedAt: null,
        },
      });
    },

    /**
     * One pass of the fence: every share of the fenced file server whose clients moved away (primary is the other
     * side) is set to the fence's mode on every FSVM that answers. Done when every FSVM answered.
     */
    async enforceFence(input: {
      fileServer: string;
    }): Promise<{ done: boolean; waitingFor: string[]; shares: number }> {
      const fs = await db.fileServer.findUnique({ where: { name: input.fileServer } });
      if (!fs?.fencedAt) return { done: true, waitingFor: [], shares: 0 };
      const moved = await db.policyShare.findMany({
        where: { primary: 'destination', policy: { sourceFileServerId: fs.id } },
        select: { sourceShare: true },
      });
      const names = [...new Set(moved.map((m) => m.sourceShare))];
      const waitingFor = new Set<string>();
      for (const f of await gateways.fsvms(input.fileServer)) {
        try {
          const client = await gateways.client(input.fileServer, f.nodeId);
          const here = await client.listShares({ timeoutMs: 3000 });
          for (const s of here.filter((x) => names.includes(x.name) && x.accessMode !== fs.fenceMode)) {
            await client.setAccess(s.name, fs.fenceMode ?? 'read_only', { timeoutMs: 5000 });
          }
        } catch (err) {
          if (!(err instanceof GatewayUnavailable)) throw err;
          waitingFor.add(f.nodeId);
        }
      }
      const done = waitingFor.size === 0;
      if (done)
        await db.fileServer.updateMany({
          where: { id: fs.id, fenceEnforcedAt: null },
          data: { fenceEnforcedAt: new Date() },
        });
      return { done, waitingFor: [...waitingFor].sort(), shares: names.length };
    },

    /**
     * Lifts the fence once replication resumed (the file server is a proper replica or primary again). With
     * `whenAllResumed`, only if none of its shares is still failed over and paused (a resume of some shares only).
     */
    async clearFence(input: { fileServer: string; whenAllResumed?: boolean }): Promise<{ cleared: boolean }> {
      if (input.whenAllResumed) {
        const left = await db.policyShare.count({
          where: { primary: 'destination', paused: true, policy: { source: { name: input.fileServer } } },
        });
        if (left) return { cleared: false };
      }
      await db.fileServer.updateMany({
        where: { name: input.fileServer },
        data: { fencedAt: null, fenceReason: null, fenceOperationId: null, fenceMode: null, fenceEnforcedAt: null },
      });
      return { cleared: true };
    },

    /** Merges facts into the operation's result (per share and overall), for the API and the UI. */
    async recordOperationResult(input: { operationId: string; result: Record<string, unknown> }) {
      await db.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT 1 FROM "Operation" WHERE id = ${input.operationId}::uuid FOR UPDATE`;
        const op = await tx.operation.findUnique({ where: { id: input.operationId }, select: { result: true } });
        if (!op) return;
        const prev = (op.result && typeof op.result === 'object' ? op.result : {}) as Record<string, unknown>;
        await tx.operation.update({
          where: { id: input.operationId },
          data: { result: { ...prev, ...input.result } as Prisma.InputJsonValue },
        });
      });
    },

    /** Checks a precondition the workflow relies on that admission cannot (state changed since). */
    async assertPrimary(input: { shares: OperationShare[]; primary: Side }) {
      const rows = await db.policyShare.findMany({
        where: { OR: input.shares.map((s) => ({ policyId: s.policyId, sourceShare: s.sourceShare })) },
        select: { sourceShare: true, primary: true, policy: { select: { name: true } } },
      });
      const wrong = rows.filter((r) => r.primary !== input.primary);
      if (wrong.length || rows.length !== input.shares.length) {
        throw new ValidationError(
          `the shares changed since the operation was admitted: ${wrong.map((w) => `'${w.sourceShare}' of '${w.policy.name}' is primary on its ${w.primary}`).join(', ') || 'a share left its policy'}`,
        );
      }
    },
  };
}

export type FailoverActivities = ReturnType<typeof createFailoverActivities>;
