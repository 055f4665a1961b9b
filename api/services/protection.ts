// Which DR actions make sense for a (source, destination) pair, from the file servers' statuses. `source` and
// `destination` are the configured direction; after a failover the destination is active and the source standby.
import type { OperationState } from '../../prisma/generated/client';

export const ACTIVE_OPERATION_STATES: OperationState[] = ['pending', 'running'];

export type Action = 'planned_failover' | 'unplanned_failover' | 'resume_replication' | 'failback' | 'dr_readiness';

export function availableActions(source: string, destination: string, policies: { status: string }[]): Action[] {
  if (!policies.some((p) => p.status === 'active')) return [];
  if (destination === 'standby') {
    if (source === 'active') return ['planned_failover', 'unplanned_failover', 'dr_readiness'];
    return ['unplanned_failover'];
  }
  if (destination === 'active') {
    if (source === 'standby') return ['resume_replication', 'failback', 'dr_readiness'];
    return [];
  }
  return source === 'active' ? ['dr_readiness'] : [];
}
