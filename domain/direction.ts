// Which copy of a protected share clients write to (the primary) and which one is the replica. A policy names its
// configured direction (source -> destination); after a failover the destination is primary until a failback. The
// replica is where the recovery point that RPO compliance measures lives.
export type Side = 'source' | 'destination';

export interface PolicyEnds {
  sourceFileServerId: string;
  destFileServerId: string;
  /** The file server clients write to now; null/undefined: the configured source. */
  primaryFileServerId?: string | null;
}

export function primarySide(p: PolicyEnds): Side {
  return p.primaryFileServerId && p.primaryFileServerId === p.destFileServerId ? 'destination' : 'source';
}

export function replicaSide(p: PolicyEnds): Side {
  return primarySide(p) === 'source' ? 'destination' : 'source';
}

/** The file server and share name of one side of a protected share pair. */
export function sideOf(
  p: PolicyEnds,
  pair: { sourceShare: string; targetShare: string },
  side: Side,
): { fileServerId: string; share: string } {
  return side === 'source'
    ? { fileServerId: p.sourceFileServerId, share: pair.sourceShare }
    : { fileServerId: p.destFileServerId, share: pair.targetShare };
}
