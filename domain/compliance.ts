// RPO compliance, one definition for every view (README, "RPO compliance"): a protected share is
// - `compliant` while its recovery point (the newest complete snapshot set on the side clients do not write to) is
//   no older than the policy's RPO,
// - `violated` once it is older,
// - `unknown` until the first complete set exists (a base copy may take longer than one RPO; the share is not yet
//   protected, and the views say so instead of calling it violated).
// The policy views, the metrics, the RPO alerts and each job's record all call rpoCompliance.
export const COMPLIANCE_STATES = ['compliant', 'violated', 'unknown'] as const;
export type Compliance = (typeof COMPLIANCE_STATES)[number];

export function rpoCompliance(recoveryPointAt: Date | null, rpoSeconds: number, now: Date): Compliance {
  if (!recoveryPointAt) return 'unknown';
  return now.getTime() - recoveryPointAt.getTime() <= rpoSeconds * 1000 ? 'compliant' : 'violated';
}

/** Counts of shares per state, e.g. for a policy summary. */
export function complianceCounts(states: Iterable<Compliance>): Record<Compliance, number> {
  const c: Record<Compliance, number> = { compliant: 0, violated: 0, unknown: 0 };
  for (const s of states) c[s]++;
  return c;
}
