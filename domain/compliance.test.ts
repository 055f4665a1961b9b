import { complianceCounts, rpoCompliance } from './compliance';

describe('RPO compliance', () => {
  const now = new Date('2026-12-06T03:00:00Z');
  it('is unknown without a recovery point, compliant within the RPO, violated beyond it', () => {
    expect(rpoCompliance(null, 300, now)).toBe('unknown');
    expect(rpoCompliance(new Date(now.getTime() - 300_000), 300, now)).toBe('compliant');
    expect(rpoCompliance(new Date(now.getTime() - 300_001), 300, now)).toBe('violated');
  });
  it('counts shares per state', () => {
    expect(complianceCounts(['compliant', 'unknown', 'compliant'])).toEqual({ compliant: 2, violated: 0, unknown: 1 });
  });
});
