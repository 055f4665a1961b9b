// RPO compliance of every protected share (a share is compliant while its newest complete destination set is
// younger than its RPO) and the alerts an operator sees when one falls out: logged, and kept in the admin database
// for the API (GET /api/v1/alerts) until the share is back within its RPO.
import { log } from '@temporalio/activity';
import { isRpoCompliant } from '../domain/replication';
import type { Db } from '../infra/database';

export interface ComplianceReport {
  shares: number;
  compliant: number;
  raised: { policy: string; share: string }[];
  cleared: { policy: string; share: string }[];
}

export function createComplianceActivities(deps: { db: Db }) {
  const { db } = deps;
  return {
    async checkRpoCompliance(): Promise<ComplianceReport> {
      const now = new Date();
      const shares = await db.policyShare.findMany({
        where: { policy: { status: 'active' } },
        select: {
          sourceShare: true,
          lastCompleteAt: true,
          policy: { select: { id: true, name: true, rpoSeconds: true, createdAt: true } },
        },
      });
      const open = await db.rpoAlert.findMany({ where: { clearedAt: null } });
      const openKey = new Map(open.map((a) => [`${a.policyId}/${a.share}`, a]));
      const report: ComplianceReport = { shares: shares.length, compliant: 0, raised: [], cleared: [] };
      for (const s of shares) {
        const { policy } = s;
        // A new policy's first base copy gets one RPO before its share counts as out of compliance.
        const since = s.lastCompleteAt ?? policy.createdAt;
        const compliant = isRpoCompliant(since, policy.rpoSeconds, now);
        const key = `${policy.id}/${s.sourceShare}`;
        const alert = openKey.get(key);
        openKey.delete(key);
        if (compliant) {
          report.compliant++;
          if (alert) {
            await db.rpoAlert.update({ where: { id: alert.id }, data: { clearedAt: now } });
            report.cleared.push({ policy: policy.name, share: s.sourceShare });
            log.info('RPO compliance restored', { alert: 'rpo_recovered', policy: policy.name, share: s.sourceShare });
          }
          continue;
        }
        if (alert) continue;
        const ageSeconds = Math.round((now.getTime() - since.getTime()) / 1000);
        const message = s.lastCompleteAt
          ? `share '${s.sourceShare}' of policy '${policy.name}': newest complete set is ${ageSeconds}s old, RPO ${policy.rpoSeconds}s`
          : `share '${s.sourceShare}' of policy '${policy.name}': no complete set ${ageSeconds}s after protection began, RPO ${policy.rpoSeconds}s`;
        await db.rpoAlert.create({
          data: {
            policyId: policy.id,
            policyName: policy.name,
            share: s.sourceShare,
            rpoSeconds: policy.rpoSeconds,
            lastCompleteAt: s.lastCompleteAt,
            message,
          },
        });
        report.raised.push({ policy: policy.name, share: s.sourceShare });
        log.warn(message, { alert: 'rpo_violation', policy: policy.name, share: s.sourceShare, ageSeconds });
      }
      // Alerts of shares that left their policy (or whose policy is no longer active) are closed.
      for (const stale of openKey.values())
        await db.rpoAlert.update({ where: { id: stale.id }, data: { clearedAt: now } });
      return report;
    },
  };
}

export type ComplianceActivities = ReturnType<typeof createComplianceActivities>;
