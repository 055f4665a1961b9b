// Which DR operation may act on which protected share now, from the state the system keeps (never typed in by an
// operator): per share, which side is primary (clients write there) and whether its replication is paused; per file
// server, whether an unplanned failover left it fenced. Pure: the API's admission, the file server views' available
// actions and the workflows all ask these functions.
import type { Side } from './direction';
import type { OperationKindName } from './operations';

export interface ShareState {
  policy: string;
  policyStatus: 'creating' | 'active' | 'failed' | 'deleting' | 'disabled';
  sourceShare: string;
  source: string;
  destination: string;
  primary: Side;
  paused: boolean;
}

export interface PairContext {
  /** The configured source is fenced (an unplanned failover left it behind). */
  sourceFenced: boolean;
}

/** null when `kind` may act on the share now, else why not (quoted for the operator). */
export function sharePrecondition(kind: OperationKindName, s: ShareState, ctx: PairContext): string | null {
  const name = `share '${s.sourceShare}' of policy '${s.policy}'`;
  if (kind === 'dr_readiness') {
    return s.policyStatus === 'creating' || s.policyStatus === 'deleting'
      ? `policy '${s.policy}' is ${s.policyStatus}`
      : null;
  }
  if (s.policyStatus !== 'active') return `a ${kind} needs active policies: policy '${s.policy}' is ${s.policyStatus}`;
  const failedOver = s.primary === 'destination';
  switch (kind) {
    case 'planned_failover':
      if (failedOver) return `${name} is already failed over to '${s.destination}'`;
      if (s.paused) return `replication of ${name} is paused; resume it before a planned failover`;
      if (ctx.sourceFenced) return `file server '${s.source}' is fenced`;
      return null;
    case 'unplanned_failover':
      return failedOver ? `${name} is already failed over to '${s.destination}'` : null;
    case 'resume_replication':
      if (!failedOver) return `${name} is not failed over: clients write to '${s.source}'`;
      if (!s.paused) return `replication of ${name} already runs from '${s.destination}' to '${s.source}'`;
      return null;
    case 'failback':
      if (!failedOver) return `${name} is not failed over: clients write to '${s.source}'`;
      if (ctx.sourceFenced)
        return `file server '${s.source}' is fenced since an unplanned failover: resume replication first`;
      return null;
  }
}

/** The operations that may act on at least one of these shares now (what the file server views offer). */
export function availableActions(shares: ShareState[], ctx: PairContext): OperationKindName[] {
  const kinds: OperationKindName[] = [
    'planned_failover',
    'unplanned_failover',
    'resume_replication',
    'failback',
    'dr_readiness',
  ];
  return kinds.filter((k) => shares.some((s) => sharePrecondition(k, s, ctx) === null));
}

/** A file server's status, derived from its shares' roles: never stored, never typed in. */
export type FileServerStatus = 'active' | 'standby' | 'fenced';

export function fileServerStatus(s: {
  fenced: boolean;
  primaryShares: number;
  replicaShares: number;
}): FileServerStatus {
  if (s.fenced) return 'fenced';
  // A server primary for some shares and replica for others (bidirectional) serves clients: it is active.
  if (s.primaryShares > 0 || s.replicaShares === 0) return 'active';
  return 'standby';
}

/** The side a switchover (planned failover, failback) moves clients away from, and to. */
export function switchoverSides(kind: 'planned_failover' | 'failback'): { from: Side; to: Side } {
  return kind === 'planned_failover' ? { from: 'source', to: 'destination' } : { from: 'destination', to: 'source' };
}
