// Front-end types of DR operations and their confirmation, kept in ONE module so they can be aligned with the API as
// the failover workflows land: the dry-run plan (`POST /operations/<kind>?dryRun=true` answering `{ plan }`), the
// `fenced` file server status, the `awaiting_approval` operation state, and the request of each kind (resume
// replication chooses the primary). Every plan field is optional here: the confirmation renders what is present.

export type FileServerStatus = 'active' | 'standby' | 'failed' | 'fenced';
export type OperationState = 'pending' | 'running' | 'awaiting_approval' | 'succeeded' | 'failed' | 'cancelled';

export type OperationKind =
  'planned_failover' | 'unplanned_failover' | 'resume_replication' | 'failback' | 'dr_readiness';

export const OPERATION_LABELS: Record<string, string> = {
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

export const OPERATION_PATHS: Record<OperationKind, string> = {
  planned_failover: '/operations/planned-failover',
  unplanned_failover: '/operations/unplanned-failover',
  resume_replication: '/operations/resume-replication',
  failback: '/operations/failback',
  dr_readiness: '/operations/dr-readiness',
};

/** What each action does, in one sentence, shown in its confirmation. */
export const OPERATION_PURPOSE: Record<OperationKind, string> = {
  planned_failover:
    'Makes the source read-only, replicates the last changes, and moves clients to the destination: no data is lost.',
  unplanned_failover:
    'Brings the destination up from its last complete snapshot sets and moves clients there; changes made on the source after those sets are lost.',
  resume_replication:
    'After a failover: chooses which side is the primary, replicates its changes to the other side and protects it again.',
  failback: 'Moves clients back to the source after a failover, with a final sync first.',
  dr_readiness: 'Checks that the destination could take over now (FSVMs, snapshot sets, capacity, directory rights).',
};

export type Primary = 'source' | 'destination';

export interface OperationRequest {
  source: string;
  destination: string;
  policies?: string[];
  /** Unplanned failover: the operator accepts losing the changes after the last complete snapshot sets. */
  confirmDataLoss?: true;
  /** Resume replication: which side's data wins and becomes the primary. */
  primary?: Primary;
}

export function operationRequest(kind: OperationKind, source: string, destination: string, primary?: Primary) {
  const body: OperationRequest = { source, destination };
  if (kind === 'unplanned_failover') body.confirmDataLoss = true;
  if (kind === 'resume_replication' && primary) body.primary = primary;
  return body;
}

export interface PlanStep {
  name: string;
  description?: string;
}

export interface PlanShare {
  policy: string;
  share: string;
  targetShare: string;
  recoveryPoint: { snapshotSetId: string; createdAt: string; ageSeconds: number } | null;
}

export interface PlanRedirect {
  summary?: string;
  records?: { name: string; before: string[]; after: string[] }[];
  spns?: { spn: string; from: string; to: string }[];
}

export interface PlanReadiness {
  ok: boolean;
  checks?: { name: string; ok: boolean; message?: string }[];
}

export interface OperationPlan {
  kind?: string;
  source?: string;
  destination?: string;
  steps?: PlanStep[];
  shares?: PlanShare[];
  redirect?: PlanRedirect;
  readiness?: PlanReadiness;
  dataLossWindowSeconds?: number | null;
  estimatedSeconds?: number | null;
  estimateBasis?: string;
  warnings?: string[];
}
