// DR operation requests (API), the inputs of their workflows, and what a dry run answers. `source` and `destination`
// always name the protected direction as configured in the policies (source -> destination), whichever side is
// active now.
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

/** The dry run's workflow (readiness and the directory's view, without an operation) and the fence's. */
export const PLAN_WORKFLOW_TYPE = 'operationPlanWorkflow';
export const FENCE_WORKFLOW_TYPE = 'fenceWorkflow';

/** The steps each operation reports, in order (the workflow updates their state). */
export const OPERATION_STEPS: Record<string, string[]> = {
  planned_failover: [
    'check readiness',
    'pause schedules',
    'stop replication runs',
    'make source shares read-only',
    'final delta sync',
    'verify destination',
    'take pre-failover snapshots',
    'make destination shares read-write',
    'redirect clients',
    'mark destination active',
  ],
  unplanned_failover: [
    'check readiness',
    'pause schedules',
    'fence source',
    'select last complete snapshot sets',
    'restore destination shares',
    'take pre-failover snapshots',
    'make destination shares read-write',
    'redirect clients',
    'mark destination active',
  ],
  resume_replication: [
    'check readiness',
    'enforce the fence',
    'find last common snapshot sets',
    'keep divergent changes in safety snapshots',
    'make the other side read-only and roll it back',
    'make the primary read-write',
    'redirect clients',
    'resume replication',
  ],
  failback: [
    'check readiness',
    'pause schedules',
    'stop replication runs',
    'make destination shares read-only',
    'final delta sync',
    'verify source',
    'take pre-failover snapshots',
    'make source shares read-write',
    'redirect clients',
    'restore forward replication',
  ],
  dr_readiness: ['gateways reachable', 'destination capacity', 'recovery points', 'no other operation', 'directory'],
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

const AccessOff = z.enum(['read_only', 'off']);

const OperationTarget = {
  source: FileServerName.describe('The protected (configured source) file server'),
  destination: FileServerName.optional().describe(
    'The configured destination file server; omitted: every destination the source replicates to',
  ),
  policies: z
    .array(PolicyName)
    .min(1)
    .max(100)
    .optional()
    .describe('Limit to these policies (default: every policy from source to destination)'),
  shares: z
    .array(ShareName)
    .min(1)
    .max(500)
    .optional()
    .describe('Limit to these shares (source share names; default: every share of the chosen policies)'),
  requireApproval: z
    .boolean()
    .optional()
    .describe('Wait (state awaiting_approval) until a second admin approves: POST /operations/{id}/approve'),
};

const SwitchoverOptions = {
  waitForRunningJobs: z
    .boolean()
    .default(true)
    .describe('true: wait for running replication runs to finish; false: cancel them. Queued runs are cancelled'),
  accessAfter: AccessOff.default('read_only').describe('What the side clients leave becomes: read-only or off'),
  startAt: z.iso
    .datetime({ offset: true, error: 'must be an ISO 8601 timestamp, e.g. 2026-12-24T22:00:00Z' })
    .optional()
    .describe('Start at this time (the operation is scheduled and cancellable until then)'),
  maxLagSeconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 86400)
    .optional()
    .describe("Refuse when a share's recovery point is older than this (default: twice its RPO)"),
};

function distinct(p: { source: string; destination?: string }, ctx: z.RefinementCtx): void {
  if (p.source === p.destination)
    ctx.addIssue({ code: 'custom', path: ['destination'], message: 'must differ from source' });
}

export const PlannedFailoverRequest = z
  .strictObject({
    ...OperationTarget,
    ...SwitchoverOptions,
    startReverseReplication: z
      .boolean()
      .default(false)
      .describe('true: replicate from the destination back to the source at once (else resume replication later)'),
  })
  .superRefine(distinct)
  .meta({ id: 'PlannedFailoverRequest' });
export const UnplannedFailoverRequest = z
  .strictObject({
    ...OperationTarget,
    confirmDataLoss: z.literal(true, { error: 'must be true: changes after the last complete snapshot set are lost' }),
    fenceMode: AccessOff.default('read_only').describe(
      'What the source shares become as soon as the source answers again',
    ),
  })
  .superRefine(distinct)
  .meta({ id: 'UnplannedFailoverRequest' });
export const ResumeReplicationRequest = z
  .strictObject({
    ...OperationTarget,
    primary: z
      .enum(['source', 'destination'])
      .default('destination')
      .describe(
        "Which side's data wins: 'destination' keeps the failed-over copy (the source's divergent writes go to a safety snapshot); 'source' goes back to the source's data (the destination's writes since the failover go to a safety snapshot)",
      ),
  })
  .superRefine(distinct)
  .meta({ id: 'ResumeReplicationRequest' });
export const FailbackRequest = z
  .strictObject({ ...OperationTarget, ...SwitchoverOptions })
  .superRefine(distinct)
  .meta({ id: 'FailbackRequest' });
export const DrReadinessRequest = z
  .strictObject({ ...OperationTarget })
  .superRefine(distinct)
  .meta({ id: 'DrReadinessRequest' });

export const OPERATION_REQUESTS = {
  planned_failover: PlannedFailoverRequest,
  unplanned_failover: UnplannedFailoverRequest,
  resume_replication: ResumeReplicationRequest,
  failback: FailbackRequest,
  dr_readiness: DrReadinessRequest,
} as const;
export type OperationRequest = z.output<(typeof OPERATION_REQUESTS)[OperationKindName]>;

/** One protected share an operation acts on, as admitted (names only: the workflow reads the rest). */
export const OperationShare = z.object({
  policyId: Uuid,
  policy: PolicyName,
  sourceShare: ShareName,
  targetShare: ShareName,
  source: FileServerName,
  destination: FileServerName,
  rpoSeconds: z.number().int().positive(),
});
export type OperationShare = z.infer<typeof OperationShare>;

/** Which name clients use that moves, and where to; null with the reason when clients are not redirected. */
export const RedirectDecision = z.object({
  /** The file server whose client-facing name and SPNs move. */
  name: FileServerName,
  /** The file server whose addresses the name then resolves to, and whose account takes the SPNs. */
  to: FileServerName,
  /** Where the name points now when that is not `name` itself (a failback: the destination). */
  from: FileServerName.optional(),
});

/** What every operation workflow receives. */
export const OperationWorkflowInput = z.object({
  operationId: Uuid,
  kind: z.enum(OPERATION_KINDS),
  source: FileServerName,
  /** null when the shares go to several destinations. */
  destination: FileServerName.nullable(),
  requestedBy: z.string(),
  shares: z.array(OperationShare),
  redirect: RedirectDecision.nullable(),
  /** Why clients are not redirected (redirect null). */
  redirectNote: z.string().nullable(),
  /** Shares in scope that the operation leaves out, and why. */
  skipped: z.array(z.object({ policy: PolicyName, share: ShareName, reason: z.string() })).default([]),
  options: z.object({
    waitForRunningJobs: z.boolean().default(true),
    accessAfter: AccessOff.default('read_only'),
    startReverseReplication: z.boolean().default(false),
    fenceMode: AccessOff.default('read_only'),
    primary: z.enum(['source', 'destination']).default('destination'),
    startAt: z.string().nullable().default(null),
    requireApproval: z.boolean().default(false),
    maxLagSeconds: z.number().int().nullable().default(null),
  }),
});
export type OperationWorkflowInput = z.infer<typeof OperationWorkflowInput>;

export function operationWorkflowId(kind: string, id: string): string {
  return `operation/${kind}/${id}`;
}

export function fenceWorkflowId(fileServer: string): string {
  return `fence/${fileServer}`;
}

/** A readiness check's outcome, in words. */
export const ReadinessCheck = z.object({
  name: z.string(),
  ok: z.boolean(),
  message: z.string(),
});
export type ReadinessCheck = z.infer<typeof ReadinessCheck>;

export const ReadinessReport = z.object({ ok: z.boolean(), checks: z.array(ReadinessCheck) });
export type ReadinessReport = z.infer<typeof ReadinessReport>;

/** What an operation does at each step, for the dry run's plan and the UI (keyed by the step names above). */
export const STEP_DESCRIPTIONS: Record<string, string> = {
  'check readiness': 'every FSVM answers, room and recovery points where clients go, no other operation, the directory',
  'pause schedules': 'no new replication run of these shares starts',
  'stop replication runs': 'running runs are waited for (or cancelled, as the request says)',
  'make source shares read-only': 'source copies read-only (or off) on every FSVM; open files are reported first',
  'make destination shares read-only':
    'destination copies read-only (or off) on every FSVM; open files are reported first',
  'final delta sync': 'a snapshot set taken now that writes stopped, replicated incrementally: no data is lost',
  'verify destination': "each destination copy's tree digest equals the final snapshot set's",
  'verify source': "each source copy's tree digest equals the final snapshot set's",
  'take pre-failover snapshots': 'a kept snapshot of what each copy holds when it takes over',
  'make destination shares read-write': 'the point of no return: clients may write to the destination',
  'make source shares read-write': 'the point of no return: clients may write to the source',
  'redirect clients': "the file server's DNS name resolves to the other site's addresses; its SPNs move with it",
  'mark destination active': 'the destination is primary; replication goes on backwards if asked, else stays paused',
  'restore forward replication': 'the source is primary again; replication runs forward',
  'fence source':
    'source copies read-only (or off) where it answers; the fence workflow does the rest when it comes back',
  'select last complete snapshot sets': "each share's newest complete set at the destination: the data-loss window",
  'restore destination shares': 'each destination copy rolled back to that set',
  'enforce the fence': 'every FSVM of the source answers and its copies are read-only',
  'find last common snapshot sets': 'the newest set both copies hold: where replication resumes from',
  'keep divergent changes in safety snapshots': 'writes the other side made since that set are kept, never pruned',
  'make the other side read-only and roll it back': 'the side that is not primary goes back to the common set',
  'make the primary read-write': 'clients write to the chosen side',
  'resume replication': 'the schedules run again, from the primary, incrementally from the common set',
  'gateways reachable': 'every FSVM of both file servers answers',
  'destination capacity': 'the FSVMs that take over have room',
  'recovery points': 'every share has a complete snapshot set where clients would go, and its age',
  'no other operation': 'no other operation holds these file servers',
  directory: 'the directory answers with valid credentials, the records and SPNs as expected',
};

/** The dry run's workflow input and what it finds (readiness and the directory's view). */
export interface PlanInput {
  kind: OperationKindName;
  source: string;
  shares: OperationShare[];
  redirect: z.infer<typeof RedirectDecision> | null;
  options: Pick<OperationWorkflowInput['options'], 'maxLagSeconds' | 'primary'>;
}

export interface PlanOutput {
  readiness: ReadinessReport;
  /** The directory activity's plan (planRedirect), or null when clients are not redirected. */
  redirect: RedirectPlanView | null;
}

/** The parts of a redirect plan the operator reads: names and SPNs, before and after. */
export interface RedirectPlanView {
  configured: boolean;
  summary: string;
  names?: { name: string; before: string[]; after: string[]; changes: boolean }[];
  spns?: { spn: string; before: string | null; after: string; changes: boolean }[];
}
