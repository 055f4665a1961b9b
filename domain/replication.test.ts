import {
  newestCommonSnapshot,
  planDatasetMap,
  scheduleId,
  scheduleTiming,
  snapshotSetId,
  snapshotsToPrune,
  transferId,
} from './replication';

describe('scheduleTiming', () => {
  it('replicates every 3/4 of the RPO with at most a tenth of it (30 s at most) as jitter', () => {
    expect(scheduleTiming(120, 'x')).toMatchObject({ intervalMs: 90_000, jitterMs: 12_000 });
    expect(scheduleTiming(3600, 'x')).toMatchObject({ intervalMs: 2_700_000, jitterMs: 30_000 });
  });

  it('spreads 500 shares evenly over the interval instead of starting them all at once, each at a stable phase', () => {
    const ids = Array.from({ length: 500 }, (_, i) =>
      scheduleId(`bench-${Math.floor(i / 100)}`, `s${String(i).padStart(4, '0')}`),
    );
    const offsets = ids.map((id) => scheduleTiming(120, id).offsetMs);
    expect(offsets.every((o) => o >= 0 && o < 90_000 && o % 1000 === 0)).toBe(true);
    // Ten slices of 9 s each hold their fair share (50) within 30 %; nearly every second of the interval is used.
    const slices = Array.from({ length: 10 }, (_, k) => offsets.filter((o) => Math.floor(o / 9000) === k).length);
    for (const n of slices) {
      expect(n).toBeGreaterThanOrEqual(35);
      expect(n).toBeLessThanOrEqual(65);
    }
    expect(new Set(offsets).size).toBeGreaterThan(80);
    expect(scheduleTiming(120, ids[7]!).offsetMs).toBe(offsets[7]);
  });
});

describe('planDatasetMap', () => {
  it('maps a standard share one to one and keeps portions of one source FSVM together', () => {
    const map = planDatasetMap(
      [
        { portion: 'alice', sourceNode: 'a1' },
        { portion: 'bob', sourceNode: 'a1' },
        { portion: 'carol', sourceNode: 'a2' },
        { portion: 'dave', sourceNode: 'a2' },
      ],
      ['b1', 'b2'],
    );
    const dest = Object.fromEntries(map.map((m) => [m.portion, m.destNode]));
    expect(dest.alice).toBe(dest.bob);
    expect(dest.carol).toBe(dest.dave);
    expect(dest.alice).not.toBe(dest.carol);
  });

  it('balances when the destination has fewer FSVMs', () => {
    const portions = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'].map((p, i) => ({ portion: p, sourceNode: `a${i % 3}` }));
    const map = planDatasetMap(portions, ['b1', 'b2']);
    const counts = map.reduce<Record<string, number>>((c, m) => ({ ...c, [m.destNode]: (c[m.destNode] ?? 0) + 1 }), {});
    expect(counts).toEqual({ b1: 3, b2: 3 });
  });

  it('spreads over more destination FSVMs than source FSVMs', () => {
    const portions = ['p1', 'p2', 'p3', 'p4'].map((p) => ({ portion: p, sourceNode: 'a1' }));
    const map = planDatasetMap(portions, ['b1', 'b2', 'b3', 'b4']);
    expect(new Set(map.map((m) => m.destNode)).size).toBeGreaterThanOrEqual(2);
    expect(
      Math.max(...['b1', 'b2', 'b3', 'b4'].map((b) => map.filter((m) => m.destNode === b).length)),
    ).toBeLessThanOrEqual(2);
  });

  it('keeps existing placements (their snapshots live there) and follows a portion to its new source FSVM', () => {
    const map = planDatasetMap(
      [
        { portion: 'alice', sourceNode: 'a2' }, // moved from a1 after a takeover
        { portion: 'new', sourceNode: 'a1' },
      ],
      ['b1', 'b2'],
      [{ portion: 'alice', sourceNode: 'a1', destNode: 'b2' }],
    );
    expect(map.find((m) => m.portion === 'alice')).toEqual({ portion: 'alice', sourceNode: 'a2', destNode: 'b2' });
    expect(map.find((m) => m.portion === 'new')?.destNode).toBe('b1');
  });

  it('is deterministic', () => {
    const portions = ['x', 'y', 'z'].map((p, i) => ({ portion: p, sourceNode: `a${i}` }));
    expect(planDatasetMap(portions, ['b2', 'b1'])).toEqual(planDatasetMap([...portions].reverse(), ['b1', 'b2']));
  });
});

describe('negotiation and pruning', () => {
  const snaps = [
    { id: 'fsdr-20260101T000000Z-aaaaaaaa', createdAt: '2026-01-01T00:00:00Z' },
    { id: 'fsdr-20260101T000500Z-bbbbbbbb', createdAt: '2026-01-01T00:05:00Z' },
    { id: 'fsdr-20260101T001000Z-cccccccc', createdAt: '2026-01-01T00:10:00Z' },
  ];

  it('picks the newest snapshot both sides have, or none for a base copy', () => {
    expect(newestCommonSnapshot(snaps, [{ id: snaps[0]!.id }, { id: snaps[1]!.id }])).toBe(snaps[1]!.id);
    expect(newestCommonSnapshot(snaps, [])).toBeUndefined();
  });

  it('keeps the newest sets and never prunes a protected one or a snapshot it did not make', () => {
    const withManual = [...snaps, { id: 'manual-before-upgrade', createdAt: '2025-12-01T00:00:00Z' }];
    expect(snapshotsToPrune(withManual, 1, [snaps[0]!.id])).toEqual([snaps[1]!.id]);
    expect(snapshotsToPrune(withManual, 5, [])).toEqual([]);
  });

  it('names sets by time and run, and transfers by set and portion', () => {
    const id = snapshotSetId(new Date('2026-11-22T02:45:00.123Z'), '0192f3a4-bc56-7def-8123-456789abcdef');
    expect(id).toBe('fsdr-20261122T024500Z-456789abcdef');
    // Runs started in the same millisecond share the leading (timestamp) digits of their UUIDv7 run ids.
    expect(snapshotSetId(new Date(0), '0192f3a4-bc56-7def-8123-000000000001')).not.toBe(
      snapshotSetId(new Date(0), '0192f3a4-bc56-7def-8123-000000000002'),
    );
    expect(transferId(id, 'eng', '')).toBe(`${id}.eng.root`);
    expect(transferId(id, 'home', 'alice')).toBe(`${id}.home.p-alice`);
  });
});
