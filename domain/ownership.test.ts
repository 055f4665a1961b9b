import { mergeShareOwnership } from './ownership';

describe('portion ownership', () => {
  it('merges the FSVMs reports: portions to their FSVM, sizes summed, kind and access from all', () => {
    const merged = mergeShareOwnership([
      {
        nodeId: 'n2',
        shares: [
          { name: 'home', kind: 'distributed', accessMode: 'read_write', portions: [{ name: 'bob', sizeBytes: 5 }] },
        ],
      },
      {
        nodeId: 'n1',
        shares: [
          { name: 'home', kind: 'distributed', accessMode: 'read_only', portions: [{ name: 'alice', sizeBytes: 7 }] },
          { name: 'eng', kind: 'standard', accessMode: 'read_only', portions: [{ name: '' }] },
        ],
      },
    ]);
    expect(Object.fromEntries(merged.get('home')!.owners)).toEqual({ alice: 'n1', bob: 'n2' });
    expect(merged.get('home')).toMatchObject({ kind: 'distributed', sizeBytes: 12, accessMode: 'read_write' });
    expect(merged.get('eng')).toMatchObject({ kind: 'standard', sizeBytes: 0, accessMode: 'read_only' });
  });

  it('gives a portion two FSVMs both report (a takeover under way) to the same one every time', () => {
    const report = (nodeId: string) => ({
      nodeId,
      shares: [{ name: 'eng', kind: 'standard' as const, accessMode: 'read_only' as const, portions: [{ name: '' }] }],
    });
    const a = mergeShareOwnership([report('n2'), report('n1')]);
    const b = mergeShareOwnership([report('n1'), report('n2')]);
    expect(a.get('eng')!.owners.get('')).toBe('n1');
    expect(b.get('eng')!.owners.get('')).toBe('n1');
  });
});
