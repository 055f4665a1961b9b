// /alerts: shares out of their RPO, raised and cleared by the RPO monitor (activities/compliance.ts); /metrics: the
// same state for Prometheus (bearer token of any role), computed from the admin database on each scrape.
import { z } from 'zod';
import { complianceCounts, type Compliance } from '../../domain/compliance';
import { protectedShares } from '../../store/protection';
import type { Db } from '../../infra/database';
import type { ApiRoutes } from '../http';
import { IsoDate, iso, Limit } from '../views';

export const AlertView = z
  .object({
    id: z.string(),
    policy: z.string(),
    share: z.string(),
    rpoSeconds: z.number(),
    lastCompleteAt: IsoDate.nullable(),
    raisedAt: IsoDate,
    clearedAt: IsoDate.nullable(),
    message: z.string(),
  })
  .meta({ id: 'RpoAlert' });

/** Prometheus label values: backslash, double quote and newline escaped. */
function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function alertRoutes(api: ApiRoutes, deps: { db: Db }): void {
  const { db } = deps;

  api.add({
    method: 'get',
    path: '/alerts',
    role: 'viewer',
    tag: 'Alerts',
    summary: 'Shares out of their RPO (open alerts, newest first; state=all includes cleared ones)',
    query: z.strictObject({ state: z.enum(['open', 'all']).default('open'), limit: Limit }),
    responses: { 200: { description: 'Alerts', schema: z.object({ alerts: z.array(AlertView) }) } },
    handler: async ({ query }) => {
      const rows = await db.rpoAlert.findMany({
        where: query.state === 'open' ? { clearedAt: null } : {},
        orderBy: [{ raisedAt: 'desc' }, { id: 'desc' }],
        take: query.limit,
      });
      return {
        status: 200,
        body: {
          alerts: rows.map((a) => ({
            id: a.id,
            policy: a.policyName,
            share: a.share,
            rpoSeconds: a.rpoSeconds,
            lastCompleteAt: iso(a.lastCompleteAt),
            raisedAt: a.raisedAt.toISOString(),
            clearedAt: iso(a.clearedAt),
            message: a.message,
          })),
        },
      };
    },
  });

  api.add({
    method: 'get',
    path: '/metrics',
    role: 'viewer',
    tag: 'Alerts',
    summary: 'Prometheus metrics: RPO compliance per share and policy, jobs by state, open alerts',
    responses: { 200: { description: 'Prometheus text exposition format 0.0.4' } },
    handler: async () => {
      const now = new Date();
      const [shares, jobs, openAlerts] = await Promise.all([
        protectedShares(db, { policy: { status: 'active' } }, now),
        db.job.groupBy({ by: ['state'], _count: { _all: true } }),
        db.rpoAlert.count({ where: { clearedAt: null } }),
      ]);
      const lines: string[] = [
        '# HELP fsdr_share_rpo_compliant 1 while the recovery point of the share is within its RPO, 0 once older (absent before the first complete set).',
        '# TYPE fsdr_share_rpo_compliant gauge',
      ];
      const missing: string[] = [
        '# HELP fsdr_share_recovery_point_missing 1 while the share has no complete snapshot set on its replica yet (compliance unknown).',
        '# TYPE fsdr_share_recovery_point_missing gauge',
      ];
      const age: string[] = [
        '# HELP fsdr_share_complete_set_age_seconds Age of the recovery point (newest complete set on the replica) of the share.',
        '# TYPE fsdr_share_complete_set_age_seconds gauge',
      ];
      const rpo: string[] = ['# HELP fsdr_share_rpo_seconds RPO of the share.', '# TYPE fsdr_share_rpo_seconds gauge'];
      const perPolicy = new Map<string, Record<Compliance, number>>();
      for (const s of shares) {
        const labels = `policy="${label(s.policyName)}",share="${label(s.sourceShare)}",source="${label(s.source)}",destination="${label(s.destination)}"`;
        if (s.compliance === 'unknown') missing.push(`fsdr_share_recovery_point_missing{${labels}} 1`);
        else {
          lines.push(`fsdr_share_rpo_compliant{${labels}} ${s.compliance === 'compliant' ? 1 : 0}`);
          missing.push(`fsdr_share_recovery_point_missing{${labels}} 0`);
        }
        if (s.ageSeconds !== null) age.push(`fsdr_share_complete_set_age_seconds{${labels}} ${s.ageSeconds}`);
        rpo.push(`fsdr_share_rpo_seconds{${labels}} ${s.rpoSeconds}`);
        const c = perPolicy.get(s.policyName) ?? complianceCounts([]);
        c[s.compliance]++;
        perPolicy.set(s.policyName, c);
      }
      const policy = [
        "# HELP fsdr_policy_compliant_ratio Share of the policy's shares with a recovery point within their RPO (shares without one count as not compliant).",
        '# TYPE fsdr_policy_compliant_ratio gauge',
        ...[...perPolicy].map(
          ([name, c]) =>
            `fsdr_policy_compliant_ratio{policy="${label(name)}"} ${c.compliant / (c.compliant + c.violated + c.unknown)}`,
        ),
      ];
      const jobLines = [
        '# HELP fsdr_jobs Replication jobs recorded, by state.',
        '# TYPE fsdr_jobs gauge',
        ...jobs.map((j) => `fsdr_jobs{state="${j.state}"} ${j._count._all}`),
      ];
      const alerts = [
        '# HELP fsdr_rpo_alerts_open Open RPO alerts.',
        '# TYPE fsdr_rpo_alerts_open gauge',
        `fsdr_rpo_alerts_open ${openAlerts}`,
      ];
      return {
        status: 200,
        text: {
          contentType: 'text/plain; version=0.0.4; charset=utf-8',
          content: [...lines, ...missing, ...age, ...rpo, ...policy, ...jobLines, ...alerts].join('\n') + '\n',
        },
      };
    },
  });
}
