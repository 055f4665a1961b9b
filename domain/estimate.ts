// How long an operation will take, estimated before it runs (the dry run): from this pair's own history, never a
// constant dressed up as a measurement. The basis says which numbers were used.
import type { OperationKindName } from './operations';

export interface EstimateInput {
  kind: OperationKindName;
  source: string;
  destinations: string[];
  /** Durations (s) of this pair's past successful operations of the same kind, newest first. */
  pastOperationSeconds: number[];
  /** Durations (s) of each share's recent successful incremental runs, newest first. */
  shareRunSeconds: Map<string, number[]>;
  shares: number;
  steps: number;
}

/** Time per step that is not a transfer (a gateway or database round trip or two), when no past operation tells. */
const STEP_SECONDS = 1;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmt = (s: number) => `${Math.round(s * 10) / 10} s`;

export function estimateDuration(e: EstimateInput): { seconds: number | null; basis: string } {
  const pair = `between '${e.source}' and ${e.destinations.map((d) => `'${d}'`).join(', ')}`;
  const name = e.kind.replace(/_/g, ' ');
  if (e.pastOperationSeconds.length) {
    const past = e.pastOperationSeconds.slice(0, 10);
    return {
      seconds: Math.round(median(past) * 10) / 10,
      basis: `median of the last ${past.length} successful ${name} operation(s) ${pair}: ${past.map(fmt).join(', ')}`,
    };
  }
  const fixed = e.steps * STEP_SECONDS;
  if (e.kind === 'planned_failover' || e.kind === 'failback') {
    const perShare = [...e.shareRunSeconds.values()].filter((v) => v.length).map((v) => median(v.slice(0, 10)));
    if (!perShare.length) {
      return { seconds: null, basis: `no past ${name} ${pair} and no incremental replication run of these shares yet` };
    }
    // Final deltas run in parallel: the slowest share's usual incremental run bounds them.
    const delta = Math.max(...perShare);
    return {
      seconds: Math.round((fixed + delta) * 10) / 10,
      basis:
        `no past ${name} ${pair}: the final delta is the slowest share's median incremental run (${fmt(delta)}, ` +
        `${perShare.length} share(s) with recent runs), plus ${STEP_SECONDS} s for each of the ${e.steps} steps`,
    };
  }
  return {
    seconds: fixed,
    basis: `no past ${name} ${pair}: ${STEP_SECONDS} s for each of the ${e.steps} steps (no transfer is involved)`,
  };
}
