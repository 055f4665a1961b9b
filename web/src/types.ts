// What the admin API answers (docs/api.md; the zod schemas in api/routes/ are the source). Only the fields the UI
// reads; the DR operation types (states, requests, dry-run plans, results) live in operation-types.ts.
import type { FileServerStatus, OperationJob, OperationResult, OperationState, Primary } from './operation-types';

export type Role = 'viewer' | 'operator' | 'admin';
export type Health = 'unknown' | 'healthy' | 'degraded' | 'down';
export type JobState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type Compliance = 'compliant' | 'violated' | 'unknown';
export type PolicyStatus = 'creating' | 'active' | 'failed' | 'deleting' | 'disabled';

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  errors?: { path: string; message: string }[];
}

export interface Whoami {
  name: string;
  role: Role;
}

export type ActionName = 'planned_failover' | 'unplanned_failover' | 'resume_replication' | 'failback' | 'dr_readiness';

export interface ProtectedShare {
  policy: string;
  share: string;
  /** The side clients write to now. */
  primary: Primary;
  /** Replication paused (by a failover, until replication resumes). */
  paused: boolean;
}

export interface ProtectionPair {
  role: 'source' | 'destination';
  source: { name: string; status: FileServerStatus };
  destination: { name: string; status: FileServerStatus };
  policies: { name: string; status: string }[];
  shares: ProtectedShare[];
  runningOperation: { id: string; kind: string; state: OperationState } | null;
  /** Computed by the API from the shares' state: exactly what may be started now. */
  availableActions: ActionName[];
}

/** Derived by the API: how many protected shares are written here now, how many are replicas held here. */
export interface Roles {
  primaryShares: number;
  replicaShares: number;
}

export interface Fence {
  since: string;
  reason: string | null;
  mode: string | null;
  /** When every fenced share was confirmed read-only (or off); null while an FSVM is away. */
  enforcedAt: string | null;
}

export interface FileServerOverview {
  name: string;
  site: string;
  dnsName: string;
  status: FileServerStatus;
  roles: Roles;
  fence: Fence | null;
  fsvms: { total: number; healthy: number };
  shares: number;
  protection: ProtectionPair[];
}

export interface Fsvm {
  nodeId: string;
  gatewayUrl: string;
  health: Health;
  lastSeenAt: string | null;
  lastError: string | null;
}

export interface FileServerDetails {
  name: string;
  site: string;
  dnsName: string;
  addresses: string[];
  /** Active Directory settings (never a secret); null: clients are not redirected. */
  directory: { domain: string; dnsZone: string; computerAccount: string } | null;
  status: FileServerStatus;
  roles: Roles;
  fence: Fence | null;
  fsvms: Fsvm[];
  sharesRefreshedAt: string | null;
  policies: { name: string; role: 'source' | 'destination'; peer: string; status: string }[];
  recentOperations: { id: string; kind: string; state: OperationState; createdAt: string; workflowId: string }[];
}

export interface ShareUse {
  policy: string;
  role: 'source' | 'target';
  peerShare: string;
  peer: string;
}

export interface Share {
  name: string;
  kind: 'standard' | 'distributed';
  accessMode: 'read_write' | 'read_only' | 'off';
  portions: Record<string, string>;
  sizeBytes: number | null;
  protectedBy: ShareUse[];
}

export interface ShareList {
  fileServer: string;
  refreshedAt: string | null;
  stale: boolean;
  errors: { nodeId: string; gatewayUrl: string; message: string }[];
  shares: Share[];
}

export interface ShareDetails extends Share {
  fileServer: string;
  refreshedAt: string;
  history: JobSummary[];
}

export interface ComplianceCounts {
  compliant: number;
  violated: number;
  unknown: number;
}

export interface PolicySummary {
  name: string;
  source: string;
  destination: string;
  status: PolicyStatus;
  statusReason: string | null;
  rpoMinutes: number;
  retentionCount: number;
  version: number;
  shares: number;
  compliance: ComplianceCounts;
  lastReplicationAt: string | null;
}

export interface PolicyShareView {
  source: string;
  target: string;
  targetCreated: boolean;
  lastCompleteAt: string | null;
  compliance: Compliance;
  lastJob: { id: string; state: JobState; startedAt: string; percent: number } | null;
}

export interface PolicyDetails extends Omit<PolicySummary, 'shares'> {
  id: string;
  workflowId: string | null;
  workflowUrl: string | null;
  currentOperation: { id: string; kind: string; state: string } | null;
  shares: PolicyShareView[];
  createdAt: string;
  updatedAt: string;
}

export interface JobSummary {
  id: string;
  policy: string | null;
  kind: 'scheduled' | 'on_demand' | 'final_delta' | 'reverse';
  state: JobState;
  percent: number;
  share: string;
  targetShare: string;
  source: string;
  destination: string;
  incremental: boolean;
  bytesSynced: number;
  startedAt: string;
  endedAt: string | null;
  rpoCompliant: boolean | null;
  /** The operation whose final delta this job is. */
  operationId: string | null;
  /** Present in live events and details. */
  bytesTotal?: number;
  averageThroughputBps?: number | null;
}

export interface SubJob {
  id: string;
  portion: string;
  sourceNodeId: string;
  destNodeId: string;
  state: JobState;
  bytesTotal: number;
  bytesSynced: number;
  throughputBps: number | null;
  error: string | null;
  startedAt: string;
  endedAt: string | null;
}

export interface JobDetails extends JobSummary {
  snapshotSetId: string | null;
  baseSnapshotId: string | null;
  bytesTotal: number;
  averageThroughputBps: number | null;
  durationSeconds: number | null;
  error: string | null;
  workflowId: string | null;
  subJobs: SubJob[];
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Step {
  name: string;
  state: string;
  startedAt: string | null;
  endedAt: string | null;
  detail: string | null;
}

export interface Operation {
  id: string;
  kind: string;
  state: OperationState;
  source: string | null;
  destination: string | null;
  policyId: string | null;
  steps: Step[];
  workflowId: string;
  workflowUrl: string | null;
  requestedBy: string | null;
  error: string | null;
  /** Every file server the operation acts on. */
  fileServers: string[];
  result: OperationResult | null;
  startAt: string | null;
  requireApproval: boolean;
  approvedBy: string | null;
  approvedAt: string | null;
  startedAt: string | null;
  endedAt: string | null;
  /** The final delta's replication jobs with their live progress. */
  jobs: OperationJob[];
  createdAt: string;
  updatedAt: string;
}

export interface OperationStatus extends Operation {
  workflow: { status: string; runId?: string; startTime?: string; closeTime?: string };
}

export interface Accepted {
  operationId: string;
  workflowId: string;
  workflowUrl: string | null;
}

export interface RpoAlert {
  id: string;
  policy: string;
  share: string;
  rpoSeconds: number;
  lastCompleteAt: string | null;
  raisedAt: string;
  clearedAt: string | null;
  message: string;
}
