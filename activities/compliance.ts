// The RPO alerts an operator sees when a protected share falls out of compliance (domain/compliance.ts: its recovery
// point is older than its RPO): logged, and kept in the admin database for the API (GET /api/v1/alerts) until the
// share is back within its RPO. Compliance itself comes from store/protection.ts, as in every other view.
import { log } from '@temporalio/activity';
import type { Db } from '../infra/database';
import { protectedShares } from '../store/protection';

export interface ComplianceReport {
  shares: number;
  compliant: number;
  violated: number;
  unknown: number;
  raised: { policy: string; share: string }[];
  cleared: { policy: string; share: string }[];
}

export function createComplianceActivities(deps: { db: Db }) {
  const { db } = deps;
  return {
    async checkRpoCompliance(): Promise<ComplianceReport> {
      const now = new Date();
      const shares = await protectedShares(db, { policy: { status: 'active' } }, now);
      const open = await db.rpoAlert.findMany({ where: { clearedAt: null } });
      const openKey = new Map(open.map((a) => [`${a.policyId}/${a.share}`, a]));
      const report: ComplianceReport = {
        shares: shares.length,
        compliant: 0,
        violated: 0,
        unknown: 0,
        raised: [],
        cleared: [],
      };
      for (const s of shares) {
        report[s.compliance]++;
        const key = `${s.policyId}/${s.sourceShare}`;
        const alert = openKey.get(key);
        openKey.delete(key);
        if (s.compliance !== 'violated') {
          if (alert) {
            await db.rpoAlert.update({ where: { id: alert.id }, data: { clearedAt: now } });
            report.cleared.push({ policy: s.policyName, share: s.sourceShare });
            log.info('RPO compliance restored', {
              alert: 'rpo_recovered',
              policy: s.policyName,
              share: s.sourceShare,
            });
          }
          continue;
        }
        if (alert) continue;
        const ageSeconds = Math.round(s.ageSeconds ?? 0);
        const message = `share '${s.sourceShare}' of policy '${s.policyName}': its recovery point is ${ageSeconds}s old, RPO ${s.rpoSeconds}s`;
        await db.rpoAlert.create({
          data: {
            policyId: s.policyId,
            policyName: s.policyName,
            share: s.sourceShare,
            rpoSeconds: s.rpoSeconds,
            lastCompleteAt: s.recoveryPoint?.createdAt ?? null,
            message,
          },
        });
        report.raised.push({ policy: s.policyName, share: s.sourceShare });
        log.warn(message, { alert: 'rpo_violation', policy: s.policyName, share: s.sourceShare, ageSeconds });
      }
      // Alerts of shares that left their policy (or whose policy is no longer active) are closed.
      for (const stale of openKey.values())
        await db.rpoAlert.update({ where: { id: stale.id }, data: { clearedAt: now } });
      return report;
    },
  };
}

export type ComplianceActivities = ReturnType<typeof createComplianceActivities>;
