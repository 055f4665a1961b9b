// The dry-run plan in words, to be read during an incident before typing the file server's name: what can go wrong
// first (warnings, the data-loss window, readiness), then the shares with the recovery point each gets and its age,
// what the redirect changes for clients, the steps, and how long it should take and why.
import type { OperationPlan } from './api-types';
import { duration, mark, time } from './format';
import { table } from './output';
import { OPERATION_LABELS, type OperationKind } from './operations-meta';

export function planLines(plan: OperationPlan, kind: OperationKind, now = Date.now()): string[] {
  const to = plan.destination ?? (plan.destinations.length ? plan.destinations.join(', ') : '(no destination)');
  const out: string[] = [`${OPERATION_LABELS[kind]}: ${plan.source} -> ${to}`, ''];

  if (plan.warnings.length) {
    out.push('Warnings:');
    for (const w of plan.warnings) out.push(`  ! ${w}`);
    out.push('');
  }

  if (kind === 'unplanned_failover') {
    out.push(
      plan.dataLossWindowSeconds === null
        ? 'Data-loss window: unknown (a share has no complete snapshot set at the destination)'
        : `Data-loss window: up to ${duration(plan.dataLossWindowSeconds)}: changes made on ${plan.source} after its shares' recovery points below are lost`,
    );
  } else if (kind === 'planned_failover' || kind === 'failback') {
    out.push('Data-loss window: none (writes stop first, then a final sync carries the last changes)');
  }

  out.push(`Readiness: ${plan.readiness.ok ? 'ready' : 'NOT READY'}`);
  for (const c of plan.readiness.checks) out.push(`  ${mark(c.ok ? 'ok' : 'failed')} ${c.name}: ${c.message}`);
  out.push('');

  out.push(`Shares (${plan.shares.length}) and the recovery point clients get:`);
  const rows = table(plan.shares, [
    { header: 'POLICY', value: (s) => s.policy },
    { header: 'SHARE', value: (s) => s.share },
    { header: 'TARGET', value: (s) => s.targetShare },
    { header: 'DESTINATION', value: (s) => s.destination },
    {
      header: 'RECOVERY POINT',
      value: (s) =>
        s.recoveryPoint
          ? `${time(s.recoveryPoint.createdAt)} (${duration(ageNow(s.recoveryPoint, now))} old)`
          : 'none: no complete snapshot set',
    },
  ]);
  for (const r of rows) out.push(`  ${r}`);
  out.push('');

  out.push(`Clients: ${plan.redirect.summary}`);
  for (const r of plan.redirect.records) {
    out.push(`  DNS ${r.name}: ${r.before.join(', ') || '(none)'} -> ${r.after.join(', ') || '(none)'}`);
  }
  for (const s of plan.redirect.spns) out.push(`  SPN ${s.spn}: ${s.from ?? '(none)'} -> ${s.to}`);
  out.push('');

  out.push('Steps:');
  plan.steps.forEach((s, i) =>
    out.push(`  ${String(i + 1).padStart(2)}. ${s.name}${s.description ? `: ${s.description}` : ''}`),
  );
  out.push('');

  out.push(
    plan.estimatedSeconds === null
      ? `Estimated time: unknown (${plan.estimateBasis})`
      : `Estimated time: ${duration(plan.estimatedSeconds)} (${plan.estimateBasis})`,
  );
  return out;
}

/** The age of a recovery point now, not when the plan was computed (a prompt can wait a while). */
function ageNow(p: { createdAt: string; ageSeconds: number }, now: number): number {
  const t = new Date(p.createdAt).getTime();
  return Number.isNaN(t) ? p.ageSeconds : Math.max(p.ageSeconds, (now - t) / 1000);
}
