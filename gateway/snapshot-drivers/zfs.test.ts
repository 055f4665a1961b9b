// ZFS cannot run here (no kernel module), so this checks what the driver would do: the exact command lines for each
// operation and the parsing of `zfs list` output, with a recording fake in place of the zfs binary.
import { PassThrough } from 'node:stream';
import { Layout } from '../layout';
import { ZfsDriver, parseSnapshotList, zfsCommands, type ZfsExec } from './zfs';

function fakeZfs(existing: Set<string>, list: string): { exec: ZfsExec; calls: string[][] } {
  const calls: string[][] = [];
  const exec: ZfsExec = {
    async run(argv, stdinFile) {
      calls.push(stdinFile ? [...argv, `< ${stdinFile}`] : argv);
      if (argv[1] === 'list' && argv.includes('name') && !argv.includes('snapshot')) {
        if (!existing.has(argv.at(-1)!)) throw new Error('dataset does not exist');
        return `${argv.at(-1)}\n`;
      }
      if (argv[1] === 'list') return list;
      return '';
    },
    stream(argv) {
      calls.push(argv);
      const s = new PassThrough();
      s.end('stream');
      return s;
    },
  };
  return { exec, calls };
}

const LIST = 'tank/fsdr/eng@s1\t1700000000\t1048576\ntank/fsdr/eng@s2\t1700000600\t2097152\n';

describe('zfs driver (command lines and parsing)', () => {
  const layout = new Layout('/srv/fsdr');

  it('builds argv arrays for every operation', () => {
    expect(zfsCommands.create('tank/fsdr/eng', '/srv/fsdr/shares/eng')).toEqual([
      'zfs',
      'create',
      '-p',
      '-o',
      'mountpoint=/srv/fsdr/shares/eng',
      'tank/fsdr/eng',
    ]);
    expect(zfsCommands.snapshot('tank/fsdr/eng', 's1')).toEqual(['zfs', 'snapshot', 'tank/fsdr/eng@s1']);
    expect(zfsCommands.send('tank/fsdr/eng', 's2')).toEqual(['zfs', 'send', 'tank/fsdr/eng@s2']);
    expect(zfsCommands.send('tank/fsdr/eng', 's2', 's1')).toEqual(['zfs', 'send', '-i', '@s1', 'tank/fsdr/eng@s2']);
    expect(zfsCommands.receive('tank/fsdr/eng')).toEqual(['zfs', 'receive', '-u', '-F', 'tank/fsdr/eng']);
    expect(zfsCommands.rollback('tank/fsdr/eng', 's2')).toEqual(['zfs', 'rollback', 'tank/fsdr/eng@s2']);
    expect(zfsCommands.setReadonly('tank/fsdr/eng', true)).toEqual(['zfs', 'set', 'readonly=on', 'tank/fsdr/eng']);
    expect(zfsCommands.destroySnapshot('tank/fsdr/eng', 's1')).toEqual(['zfs', 'destroy', 'tank/fsdr/eng@s1']);
    expect(zfsCommands.listSnapshots('tank/fsdr/eng')).toEqual([
      'zfs',
      'list',
      '-H',
      '-p',
      '-t',
      'snapshot',
      '-d',
      '1',
      '-o',
      'name,creation,referenced',
      'tank/fsdr/eng',
    ]);
  });

  it('parses zfs list output, oldest first, and refuses garbage', () => {
    expect(parseSnapshotList(LIST.split('\n').reverse().join('\n'))).toEqual([
      { dataset: 'tank/fsdr/eng', id: 's1', createdAt: new Date(1_700_000_000_000), referencedBytes: 1048576 },
      { dataset: 'tank/fsdr/eng', id: 's2', createdAt: new Date(1_700_000_600_000), referencedBytes: 2097152 },
    ]);
    expect(parseSnapshotList('')).toEqual([]);
    expect(() => parseSnapshotList('tank/fsdr/eng\tnot-a-number\t1')).toThrow(/unexpected zfs list line/);
  });

  it('runs the expected commands for create, snapshot, send, receive and rollback', async () => {
    const { exec, calls } = fakeZfs(new Set(['tank/fsdr']), LIST);
    const d = new ZfsDriver(layout, 'tank/fsdr', exec);
    await d.init();
    await d.createPortion({ share: 'eng', portion: '' });
    await d.createPortion({ share: 'home', portion: 'alice' });
    expect(await d.createSnapshot({ share: 'eng', portion: '' }, 's2')).toEqual({ sizeBytes: 2097152 });
    await d.send({ share: 'eng', portion: '' }, 's2', 's1');
    await d.receive({ share: 'eng', portion: '' }, 's2', 's1', '/srv/fsdr/incoming/t1/stream');
    await d.rollback({ share: 'eng', portion: '' }, 's2');
    await expect(d.rollback({ share: 'eng', portion: '' }, 's1')).rejects.toThrow(/newest snapshot/);
    const mutating = calls.filter((c) => c[1] !== 'list');
    expect(mutating).toEqual([
      ['zfs', 'create', '-p', '-o', 'mountpoint=/srv/fsdr/shares/eng', 'tank/fsdr/eng'],
      ['zfs', 'create', '-p', '-o', 'mountpoint=/srv/fsdr/shares/home/alice', 'tank/fsdr/home/alice'],
      ['zfs', 'snapshot', 'tank/fsdr/eng@s2'],
      ['zfs', 'send', '-i', '@s1', 'tank/fsdr/eng@s2'],
      ['zfs', 'receive', '-u', '-F', 'tank/fsdr/eng', '< /srv/fsdr/incoming/t1/stream'],
      ['zfs', 'rollback', 'tank/fsdr/eng@s2'],
    ]);
  });

  it("reads a snapshot for its digest under the dataset's .zfs/snapshot, and leaves .zfs out of the live tree", async () => {
    const d = new ZfsDriver(layout, 'tank/fsdr', fakeZfs(new Set(), '').exec);
    const p = { share: 'home', portion: 'alice' };
    expect(await d.readableTree(p, 's1')).toEqual({
      kind: 'dir',
      root: '/srv/fsdr/shares/home/alice/.zfs/snapshot/s1',
    });
    expect(await d.readableTree(p, null)).toEqual({
      kind: 'dir',
      root: '/srv/fsdr/shares/home/alice',
      skipAtRoot: ['.zfs'],
    });
  });

  it('refuses dataset names a share name could not produce', () => {
    const d = new ZfsDriver(layout, 'tank/fsdr', fakeZfs(new Set(), '').exec);
    expect(() => d.dataset({ share: 'a b', portion: '' })).toThrow(/unsafe dataset/);
    expect(() => d.dataset({ share: '..', portion: '' })).toThrow(/unsafe dataset/);
  });
});
