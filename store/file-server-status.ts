// File server statuses and the state of every protected share, as the views show them: derived from which side of
// each share is primary and from fences (domain/operation-rules.ts), never stored or typed in.
import type { Db } from '../infra/database';
import { fileServerStatus, type FileServerStatus, type ShareState } from '../domain/operation-rules';

export interface ServerRoles {
  status: FileServerStatus;
  /** Protected shares whose clients write to this file server now. */
  primaryShares: number;
  /** Protected shares this file server holds the replica of. */
  replicaShares: number;
  fenced: { at: Date; reason: string | null; enforcedAt: Date | null; mode: string | null } | null;
}

/** Every protected share with its policy, sides and state. */
export async function shareStates(db: Db): Promise<(ShareState & { sourceId: string; destinationId: string })[]> {
  const rows = await db.policyShare.findMany({
    select: {
      sourceShare: true,
      primary: true,
      paused: true,
      policy: {
        select: {
          name: true,
          status: true,
          sourceFileServerId: true,
          destFileServerId: true,
          source: { select: { name: true } },
          destination: { select: { name: true } },
        },
      },
    },
    orderBy: [{ policy: { name: 'asc' } }, { sourceShare: 'asc' }],
  });
  return rows.map((r) => ({
    policy: r.policy.name,
    policyStatus: r.policy.status,
    sourceShare: r.sourceShare,
    source: r.policy.source.name,
    destination: r.policy.destination.name,
    sourceId: r.policy.sourceFileServerId,
    destinationId: r.policy.destFileServerId,
    primary: r.primary,
    paused: r.paused,
  }));
}

/** Status and roles of every file server, by id. */
export async function serverRoles(db: Db): Promise<Map<string, ServerRoles>> {
  const [servers, shares] = await Promise.all([
    db.fileServer.findMany({
      select: { id: true, fencedAt: true, fenceReason: true, fenceEnforcedAt: true, fenceMode: true },
    }),
    shareStates(db),
  ]);
  const out = new Map<string, ServerRoles>();
  for (const s of servers) {
    let primaryShares = 0;
    let replicaShares = 0;
    for (const sh of shares) {
      const primaryId = sh.primary === 'source' ? sh.sourceId : sh.destinationId;
      const replicaId = sh.primary === 'source' ? sh.destinationId : sh.sourceId;
      if (primaryId === s.id) primaryShares++;
      if (replicaId === s.id) replicaShares++;
    }
    const fenced = s.fencedAt
      ? { at: s.fencedAt, reason: s.fenceReason, enforcedAt: s.fenceEnforcedAt, mode: s.fenceMode }
      : null;
    out.set(s.id, {
      status: fileServerStatus({ fenced: fenced !== null, primaryShares, replicaShares }),
      primaryShares,
      replicaShares,
      fenced,
    });
  }
  return out;
}

/** A file server's derived status as the API shows it: status, roles and the fence (null when not fenced). */
export function statusView(r: ServerRoles | undefined) {
  return {
    status: r?.status ?? ('active' as const),
    roles: { primaryShares: r?.primaryShares ?? 0, replicaShares: r?.replicaShares ?? 0 },
    fence: r?.fenced
      ? {
          since: r.fenced.at.toISOString(),
          reason: r.fenced.reason,
          mode: r.fenced.mode,
          enforcedAt: r.fenced.enforcedAt?.toISOString() ?? null,
        }
      : null,
  };
}
