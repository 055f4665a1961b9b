// The DR operations as the CLI names them: each kind's label, its API path and the command that runs it.
import type { Operation } from './api-types';

export type OperationKind =
  'planned_failover' | 'unplanned_failover' | 'resume_replication' | 'failback' | 'dr_readiness';
export type AnyOperationKind = Operation['kind'];

export const OPERATION_LABELS: Record<AnyOperationKind, string> = {
  planned_failover: 'Planned failover',
  unplanned_failover: 'Unplanned failover',
  resume_replication: 'Resume replication',
  failback: 'Failback',
  dr_readiness: 'Readiness check',
  policy_create: 'Create policy',
  policy_update: 'Update policy',
  policy_delete: 'Delete policy',
  share_create: 'Create share',
  share_delete: 'Delete share',
};

/** POST /api/v1/operations/<kind with dashes>. */
export function operationPath(kind: OperationKind): string {
  return `/operations/${kind.replace(/_/g, '-')}`;
}

/** What each operation does, in one sentence, above its plan. */
export const OPERATION_PURPOSE: Record<OperationKind, string> = {
  planned_failover:
    'Makes the source read-only, replicates the last changes, and moves clients to the destination: no data is lost.',
  unplanned_failover:
    'Brings the destination up from its last complete snapshot sets and moves clients there; changes made on the source after those sets are lost.',
  resume_replication:
    "After a failover: keeps the chosen primary's data, protects the other side's divergent writes in safety snapshots, and replicates again.",
  failback: 'Moves clients back to the source after a failover, with a final sync first: no data is lost.',
  dr_readiness: 'Checks that the destination could take over now (FSVMs, capacity, recovery points, directory).',
};

export const ENDED_STATES = new Set(['succeeded', 'failed', 'cancelled']);
