import { estimateDuration } from './estimate';

describe('estimated duration of an operation', () => {
  const base = { source: 'fs-a', destinations: ['fs-b'], shares: 2, steps: 10 };
  it('is the median of the pair past operations of the same kind when there are some', () => {
    const e = estimateDuration({
      ...base,
      kind: 'planned_failover',
      pastOperationSeconds: [12, 8, 30],
      shareRunSeconds: new Map(),
    });
    expect(e.seconds).toBe(12);
    expect(e.basis).toBe(
      "median of the last 3 successful planned failover operation(s) between 'fs-a' and 'fs-b': 12 s, 8 s, 30 s",
    );
  });
  it('otherwise the slowest share median incremental run plus a second a step', () => {
    const e = estimateDuration({
      ...base,
      kind: 'failback',
      pastOperationSeconds: [],
      shareRunSeconds: new Map([
        ['eng', [1, 3, 2]],
        ['home', [5, 7]],
      ]),
    });
    expect(e.seconds).toBe(16);
    expect(e.basis).toMatch(/slowest share's median incremental run \(6 s, 2 share\(s\)/);
  });
  it('says so when nothing is known', () => {
    expect(
      estimateDuration({ ...base, kind: 'planned_failover', pastOperationSeconds: [], shareRunSeconds: new Map() })
        .seconds,
    ).toBeNull();
    expect(
      estimateDuration({ ...base, kind: 'unplanned_failover', pastOperationSeconds: [], shareRunSeconds: new Map() })
        .seconds,
    ).toBe(10);
  });
});
