// Protected shares as every view shows them (policy list and details, metrics, RPO alerts): each share of a policy,
// the copy clients do not write to (the replica), its recovery point and its RPO compliance, from one query each.
import type { Db } from '../infra/database';
import type { Prisma } from '../prisma/generated/client';
import { rpoCompliance, type Compliance } from '../domain/compliance';
import { replicaSide, sideOf, type Side } from '../domain/direction';
import { recoveryPointAgeSeconds } from '../domain/recovery-points';
import { pointKey, recoveryPoints, type RecoveryPoint } from './recovery-points';

export interface ProtectedShare {
  policyId: string;
  policyName: string;
  rpoSeconds: number;
  sourceShare: string;
  targetShare: string;
  source: string;
  destination: string;
  replica: { side: Side; fileServerId: string; share: string };
  recoveryPoint: RecoveryPoint | null;
  /** Seconds since the recovery point was taken; null without one. */
  ageSeconds: number | null;
  compliance: Compliance;
}

export async function protectedShares(
  db: Db,
  where: Prisma.PolicyShareWhereInput = {},
  now = new Date(),
): Promise<ProtectedShare[]> {
  const rows = await db.policyShare.findMany({
    where,
    select: {
      sourceShare: true,
      targetShare: true,
      policy: {
        select: {
          id: true,
          name: true,
          rpoSeconds: true,
          sourceFileServerId: true,
          destFileServerId: true,
          source: { select: { name: true } },
          destination: { select: { name: true } },
        },
      },
    },
    orderBy: [{ policyId: 'asc' }, { sourceShare: 'asc' }],
  });
  const replicas = rows.map((r) => {
    const side = replicaSide(r.policy);
    return { side, ...sideOf(r.policy, r, side) };
  });
  const points = await recoveryPoints(db, replicas);
  return rows.map((r, i) => {
    const replica = replicas[i]!;
    const point = points.get(pointKey(replica.fileServerId, replica.share)) ?? null;
    return {
      policyId: r.policy.id,
      policyName: r.policy.name,
      rpoSeconds: r.policy.rpoSeconds,
      sourceShare: r.sourceShare,
      targetShare: r.targetShare,
      source: r.policy.source.name,
      destination: r.policy.destination.name,
      replica,
      recoveryPoint: point,
      ageSeconds: point ? recoveryPointAgeSeconds(point.createdAt, now) : null,
      compliance: rpoCompliance(point?.createdAt ?? null, r.policy.rpoSeconds, now),
    };
  });
}
