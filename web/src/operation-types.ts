// Front-end types of DR operations, as the API defines them (api/routes/operations.ts, domain/operations.ts): the
// states, the request of each kind with the options an operator chooses, the dry-run plan
// (`POST /operations/<kind>?dryRun=true` answers it as a top-level object) and what an operation reports when it ran.

export type FileServerStatus = 'active' | 'standby' | 'fenced';

export const OPERATION_STATES = [
  'pending',
  'awaiting_approval',
  'scheduled',
  'running',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export type OperationState = (typeof OPERATION_STATES)[number];
/** States in which an operation holds its file servers and may still be cancelled. */
export const ACTIVE_STATES: readonly OperationState[] = ['pending', 'awaiting_approval', 'scheduled', 'running'];

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
    'Brings the destination up from its last complete snapshot sets and moves clients there; changes made on the source after those sets are lost. The source is fenced: as soon as it answers again its shares are made read-only (or off).',
  resume_replication:
    'After an unplanned failover: chooses which side is the primary, keeps the other side’s divergent writes in a safety snapshot, and replicates from the primary again.',
  failback:
    'Moves clients back to the source after a failover: the destination is made read-only, its last changes are replicated to the source, then clients go back.',
  dr_readiness: 'Checks that the destination could take over now (FSVMs, snapshot sets, capacity, directory rights).',
};

export type Primary = 'source' | 'destination';
export type AccessAfter = 'read_only' | 'off';

/** What the operator chooses in the confirmation; each kind sends only the fields it accepts. */
export interface OperationChoices {
  /** Planned failover, failback: wait for running replication runs (true) or cancel them. */
  waitForRunningJobs: boolean;
  /** Planned failover, failback: what the side clients leave becomes. */
  accessAfter: AccessAfter;
  /** Planned failover: replicate back from the destination at once. */
  startReverseReplication: boolean;
  /** Unplanned failover: what the source shares become as soon as the source answers again. */
  fenceMode: AccessOff;
  /** Resume replication: whose data wins. */
  primary: Primary;
  /** Every kind but the readiness check: a second admin must approve it first. */
  requireApproval: boolean;
  /** Planned failover, failback: a local date and time (`<input type=datetime-local>`), '' for now. */
  startAt: string;
}
type AccessOff = AccessAfter;

export const DEFAULT_CHOICES: OperationChoices = {
  waitForRunningJobs: true,
  accessAfter: 'read_only',
  startReverseReplication: false,
  fenceMode: 'read_only',
  primary: 'destination',
  requireApproval: false,
  startAt: '',
};

/** Which choices a kind offers. */
export function choicesOf(kind: OperationKind): (keyof OperationChoices)[] {
  switch (kind) {
    case 'planned_failover':
      return ['waitForRunningJobs', 'accessAfter', 'startReverseReplication', 'startAt', 'requireApproval'];
    case 'failback':
      return ['waitForRunningJobs', 'accessAfter', 'startAt', 'requireApproval'];
    case 'unplanned_failover':
      return ['fenceMode', 'requireApproval'];
    case 'resume_replication':
      return ['primary', 'requireApproval'];
    case 'dr_readiness':
      return [];
  }
}

/** The request body of a kind: the pair, and only the fields that kind accepts (the API refuses unknown ones). */
export function operationRequest(
  kind: OperationKind,
  source: string,
  destination: string,
  choices: OperationChoices,
): Record<string, unknown> {
  const body: Record<string, unknown> = { source, destination };
  for (const key of choicesOf(kind)) {
    if (key === 'startAt') {
      if (choices.startAt) body.startAt = new Date(choices.startAt).toISOString();
    } else if (key === 'requireApproval') {
      if (choices.requireApproval) body.requireApproval = true;
    } else {
      body[key] = choices[key];
    }
  }
  if (kind === 'unplanned_failover') body.confirmDataLoss = true;
  return body;
}

/** An Idempotency-Key: one per confirmation dialog, so a repeated click or a retry never starts a second operation. */
export function newIdempotencyKey(): string {
  // crypto.getRandomValues works on plain-http origins too (crypto.randomUUID needs a secure context).
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `ui-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export interface PlanStep {
  name: string;
  description: string;
}

export interface RecoveryPoint {
  snapshotSetId: string;
  createdAt: string;
  ageSeconds: number;
}

export interface PlanShare {
  policy: string;
  share: string;
  targetShare: string;
  destination: string;
  recoveryPoint: RecoveryPoint | null;
}

export interface ReadinessCheck {
  name: string;
  ok: boolean;
  message: string;
}

/** The dry run's answer (`OperationPlan` in the API's OpenAPI document). */
export interface OperationPlan {
  kind: OperationKind;
  source: string;
  destination: string | null;
  destinations: string[];
  steps: PlanStep[];
  shares: PlanShare[];
  redirect: {
    summary: string;
    records: { name: string; before: string[]; after: string[] }[];
    spns: { spn: string; from: string | null; to: string }[];
  };
  readiness: { ok: boolean; checks: ReadinessCheck[] };
  /** Unplanned failover: the age of the oldest recovery point used (null: none known); 0 for the others. */
  dataLossWindowSeconds: number | null;
  estimatedSeconds: number | null;
  estimateBasis: string;
  warnings: string[];
}

/** A final-delta job of an operation, with its live progress. */
export interface OperationJob {
  id: string;
  share: string;
  state: string;
  percent: number;
  bytesSynced: number;
  bytesTotal: number;
}

/**
 * What an operation recorded while it ran (`result`): each workflow writes the parts it has, so every part is
 * optional and the view shows those present.
 */
export interface OperationResult {
  readiness?: { ok: boolean; checks: ReadinessCheck[] };
  /** Unplanned failover: the readiness checks that failed and were overridden (confirmDataLoss). */
  overridden?: string[];
  runs?: { waitedFor: string[]; cancelled: string[] };
  openFiles?: {
    share: string;
    error?: string;
    smb?: boolean;
    openFiles: { path: string; client: string; user: string }[];
  }[];
  switchover?: {
    shares: { policy: string; share: string; finalSet: string; bytes: number; preFailoverSet: string }[];
    redirect: string;
  };
  recoveryPoints?: { share: string; policy?: string; setId: string; createdAt: string; ageSeconds: number }[];
  dataLossWindowSeconds?: number;
  unplanned?: {
    shares: {
      policy: string;
      share: string;
      snapshotSetId: string;
      createdAt: string;
      dataLossWindowSeconds: number;
    }[];
    overridden: string[];
    sourceUnreachable: string[];
    redirect: string;
  };
  common?: { share: string; setId: string | null; createdAt: string | null }[];
  safety?: { share: string; setId: string; fileServer: string }[];
  resume?: {
    primary: Primary;
    shares: { policy: string; share: string; commonSet: string; safetySet: string }[];
    redirect: string;
  };
  [other: string]: unknown;
}
