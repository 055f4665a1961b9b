import {
  completeSets,
  isReplicationSetId,
  newestComplete,
  recoveryPointAgeSeconds,
  retainedSetId,
} from './recovery-points';
import { snapshotSetId, snapshotsToPrune } from './replication';

const at = (m: number) => new Date(Date.UTC(2026, 11, 6, 3, m));

describe('recovery points', () => {
  const sets = [
    { setId: 'fsdr-a', createdAt: at(0), complete: true },
    { setId: 'fsdr-b', createdAt: at(5), complete: true },
    { setId: 'fsdr-c', createdAt: at(10), complete: false }, // half received: never a recovery point
  ];

  it('is the newest complete set, never a newer incomplete one', () => {
    expect(newestComplete(sets)?.setId).toBe('fsdr-b');
    expect(newestComplete(sets.filter((s) => !s.complete))).toBeUndefined();
    expect(newestComplete([])).toBeUndefined();
  });

  it('lists the complete sets newest first, and ages them', () => {
    expect(completeSets(sets).map((s) => s.setId)).toEqual(['fsdr-b', 'fsdr-a']);
    expect(recoveryPointAgeSeconds(at(5), at(7))).toBe(120);
    expect(recoveryPointAgeSeconds(at(7), at(5))).toBe(0);
  });

  it('keeps retained sets out of retention pruning', () => {
    const rep = snapshotSetId(at(0), '0190-aaaa-bbbb-cccc-0123456789ab');
    const safety = retainedSetId('safety', at(1), '0123456789abcdef');
    expect(isReplicationSetId(rep)).toBe(true);
    expect(safety).toBe('fsdr-safety-20261206T030100Z-456789abcdef');
    expect(isReplicationSetId(safety)).toBe(false);
    const snaps = [
      { id: rep, createdAt: at(0).toISOString() },
      { id: safety, createdAt: at(1).toISOString() },
      { id: snapshotSetId(at(2), 'ffff'), createdAt: at(2).toISOString() },
    ];
    expect(snapshotsToPrune(snaps, 1, [])).toEqual([rep]);
  });
});
