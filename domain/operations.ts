// DR operation requests (API) and the inputs of their workflows (later issues). `source` and `destination` always
// name the protected direction as configured in the policies (source -> destination), whichever site is active now.
import { z } from 'zod';
import { FileServerName, PolicyName, ShareName, Uuid } from './names';

export const OPERATION_KINDS = [
  'planned_failover',
  'unplanned_failover',
  'resume_replication',
  'failback',
  'dr_readiness',
] as const;
export type OperationKindName = (typeof OPERATION_KINDS)[number];

export const OPERATION_WORKFLOW_TYPES: Record<OperationKindName, string> = {
  planned_failover: 'plannedFailoverWorkflow',
  unplanned_failover: 'unplannedFailoverWorkflow',
  resume_replication: 'resumeReplicationWorkflow',
  failback: 'failbackWorkflow',
  dr_readiness: 'drReadinessWorkflow',
};

/** The steps each operation reports, in order (the workflow updates their state). */
export const OPERATION_STEPS: Record<string, string[]> = {
  planned_failover: [
    'check readiness',
    'sync latest changes',
    'make source shares read-only',
    'final delta sync',
    'make target shares read-write',
    'move DNS name and SPNs',
    'mark destination active',
  ],
  unplanned_failover: [
    'fence source',
    'select last complete snapshot sets',
    'restore target shares',
    'make target shares read-write',
    'move DNS name and SPNs',
    'mark destination active',
  ],
  resume_replication: [
    'check source reachable',
    'make source shares read-only',
    'reverse dataset maps',
    'start reverse replication',
  ],
  failback: [
    'final reverse sync',
    'make destination shares read-only',
    'final delta sync',
    'make source shares read-write',
    'move DNS name and SPNs back',
    'mark source active',
    'restore forward replication',
  ],
  dr_readiness: [
    'gateways reachable',
    'policies active',
    'complete snapshot sets',
    'destination capacity',
    'directory permissions',
  ],
  policy_create: [
    'validate shares',
    'create target shares',
    'map datasets',
    'schedule replication',
    'initial replication',
  ],
  policy_update: ['apply settings', 'adjust shares', 'reschedule replication'],
  policy_delete: ['stop schedules', 'remove dataset maps', 'remove policy'],
  share_create: ['check FSVMs', 'create share on FSVMs', 'refresh share list'],
  share_delete: ['check share is unprotected', 'delete share on FSVMs', 'refresh share list'],
};

const OperationTarget = {
  source: FileServerName.describe('The protected (configured source) file server'),
  destination: FileServerName.describe('The configured destination file server'),
  policies: z
    .array(PolicyName)
    .min(1)
    .max(100)
    .optional()
    .describe('Limit to these policies (default: every policy from source to destination)'),
};

function distinct(p: { source: string; destination: string }, ctx: z.RefinementCtx): void {
  if (p.source === p.destination)
    ctx.addIssue({ code: 'custom', path: ['destination'], message: 'must differ from source' });
}

export const PlannedFailoverRequest = z
  .strictObject(OperationTarget)
  .superRefine(distinct)
  .meta({ id: 'PlannedFailoverRequest' });
export const UnplannedFailoverRequest = z
  .strictObject({
    ...OperationTarget,
    confirmDataLoss: z.literal(true, { error: 'must be true: changes after the last complete snapshot set are lost' }),
  })
  .superRefine(distinct)
  .meta({ id: 'UnplannedFailoverRequest' });
export const ResumeReplicationRequest = z
  .strictObject(OperationTarget)
  .superRefine(distinct)
  .meta({ id: 'ResumeReplicationRequest' });
export const FailbackRequest = z.strictObject(OperationTarget).superRefine(distinct).meta({ id: 'FailbackRequest' });
export const DrReadinessRequest = z
  .strictObject(OperationTarget)
  .superRefine(distinct)
  .meta({ id: 'DrReadinessRequest' });

export const OPERATION_REQUESTS = {
  planned_failover: PlannedFailoverRequest,
  unplanned_failover: UnplannedFailoverRequest,
  resume_replication: ResumeReplicationRequest,
  failback: FailbackRequest,
  dr_readiness: DrReadinessRequest,
} as const;

/** What every operation workflow receives: the operation row and the policies (with shares) it covers. */
export const OperationWorkflowInput = z.object({
  operationId: Uuid,
  kind: z.enum(OPERATION_KINDS),
  source: FileServerName,
  destination: FileServerName,
  requestedBy: z.string(),
  policies: z.array(
    z.object({
      id: Uuid,
      name: PolicyName,
      version: z.number().int(),
      shares: z.array(z.object({ sourceShare: ShareName, targetShare: ShareName })),
    }),
  ),
  /** Unplanned failover only: the operator confirmed that changes after the last complete snapshot set are lost. */
  confirmDataLoss: z.boolean().optional(),
});
export type OperationWorkflowInput = z.infer<typeof OperationWorkflowInput>;
export const PlannedFailoverInput = OperationWorkflowInput;
export const UnplannedFailoverInput = OperationWorkflowInput;
export const ResumeReplicationInput = OperationWorkflowInput;
export const FailbackInput = OperationWorkflowInput;
export const DrReadinessInput = OperationWorkflowInput;

export function operationWorkflowId(kind: string, id: string): string {
  return `operation/${kind}/${id}`;
}
