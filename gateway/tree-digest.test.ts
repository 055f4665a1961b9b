// The tree digest on real trees: a walk and a portable snapshot's manifest agree, the documented encoding is what is
// hashed, the microsecond is the precision, and each kind of change shows (or, for what is left out, does not).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir, writeFiles } from '../test/gateway/helpers';
import { Layout } from './layout';
import { PortableDriver } from './snapshot-drivers/portable';
import { digestTree, TREE_DIGEST_ALGORITHM, TREE_DIGEST_CONTENT_ALGORITHM } from './tree-digest';

const P = { share: 'eng', portion: '' };

/** Sets a file's or symlink's mtime to the nanosecond (touch does; Node's utimes takes a double of seconds). */
function setMtime(p: string, seconds: number, nanos: number): void {
  execFileSync('touch', ['-h', '-m', '-d', `@${seconds}.${String(nanos).padStart(9, '0')}`, p]);
}

describe('tree digest', () => {
  let dir: string;
  let live: string;
  let driver: PortableDriver;
  const snapshot = async (id: string): Promise<void> => {
    fs.mkdirSync(driver.layout.snapshotDir(P, id), { recursive: true });
    await driver.createSnapshot(P, id, undefined);
  };
  const digestLive = (content = false) => digestTree({ kind: 'dir', root: live }, { content, live: true });

  beforeEach(async () => {
    dir = tmpDir('digest');
    driver = new PortableDriver(new Layout(dir));
    await driver.createPortion(P);
    live = driver.livePath(P);
    writeFiles(live, {
      'a.txt': 'alpha\n',
      'docs/b.md': 'bravo',
      'docs/deep/c.bin': Buffer.alloc(300 * 1024, 7), // over the size read synchronously
      'x-y/z': 'zulu',
    });
    fs.mkdirSync(path.join(live, 'empty'));
    fs.symlinkSync('docs/b.md', path.join(live, 'link'));
    fs.chmodSync(path.join(live, 'a.txt'), 0o640);
    fs.chmodSync(path.join(live, 'docs/b.md'), 0o4755);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('hashes the documented lines, in canonical order', async () => {
    const d = await digestLive();
    expect(d).toMatchObject({ algorithm: TREE_DIGEST_ALGORITHM, files: 4, directories: 4, symlinks: 1 });
    expect(d.bytes).toBe(6 + 5 + 300 * 1024 + 4);
    // the same, computed by hand from the description in tree-digest.ts
    const st = (rel: string) => fs.lstatSync(path.join(live, rel), { bigint: true });
    const mode = (rel: string) => Number(st(rel).mode & 0o7777n);
    const us = (rel: string) => Number(st(rel).mtimeNs / 1000n);
    const f = (rel: string) => ['f', rel, mode(rel), Number(st(rel).size), us(rel)];
    const lines = [
      ['d', '', mode('')],
      f('a.txt'),
      ['d', 'docs', mode('docs')],
      f('docs/b.md'),
      ['d', 'docs/deep', mode('docs/deep')],
      f('docs/deep/c.bin'),
      ['d', 'empty', mode('empty')],
      ['l', 'link', us('link'), 'docs/b.md'],
      ['d', 'x-y', mode('x-y')], // "x-y" after "link"; "docs/deep" before "docs2" would be: "/" ranks lowest
      f('x-y/z'),
    ];
    const expected = createHash('sha256')
      .update(lines.map((l) => JSON.stringify(l) + '\n').join(''))
      .digest('hex');
    expect(d.digest).toBe(expected);
  });

  it('a portable snapshot, read from its manifest, has the digest of the tree it was taken from', async () => {
    await snapshot('s1');
    const snap = await driver.readableTree(P, 's1');
    expect(snap.kind).toBe('manifest');
    for (const content of [false, true]) {
      const fromManifest = await digestTree(snap, { content, live: false });
      expect(fromManifest).toEqual(await digestLive(content));
    }
    // a deep check reads the content store: an altered object shows, the manifest alone would not
    const manifest = fs.readFileSync(driver.layout.snapshotManifest(P, 's1'), 'utf8');
    const h = /"p":"a.txt".*?"h":"([0-9a-f]{64})"/.exec(manifest)![1]!;
    const object = driver.objects.path(P, h);
    fs.chmodSync(object, 0o644);
    fs.writeFileSync(object, 'ALPHA\n');
    expect((await digestTree(snap, { content: false, live: false })).digest).toBe((await digestLive()).digest);
    expect((await digestTree(snap, { content: true, live: false })).digest).not.toBe((await digestLive(true)).digest);
    fs.rmSync(object);
    await expect(digestTree(snap, { content: true, live: false })).rejects.toThrow(/"a.txt".*missing from the store/);
  });

  it('compares mtimes to the microsecond', async () => {
    const file = path.join(live, 'a.txt');
    setMtime(file, 1_700_000_000, 123_456_100);
    const before = (await digestLive()).digest;
    setMtime(file, 1_700_000_000, 123_456_999); // the same microsecond
    expect((await digestLive()).digest).toBe(before);
    setMtime(file, 1_700_000_000, 123_457_000); // the next one
    expect((await digestLive()).digest).not.toBe(before);
  });

  it('changes with every change of an entry, and not with what it leaves out', async () => {
    const seen = new Set<string>();
    const changed = async (what: string, fn: () => void): Promise<void> => {
      fn();
      const d = (await digestLive()).digest;
      expect({ what, repeated: seen.has(d) }).toEqual({ what, repeated: false });
      seen.add(d);
    };
    const same = async (what: string, fn: () => void): Promise<void> => {
      const before = (await digestLive()).digest;
      fn();
      expect({ what, digest: (await digestLive()).digest }).toEqual({ what, digest: before });
    };
    seen.add((await digestLive()).digest);
    const a = path.join(live, 'a.txt');
    const keepingMtime = (p: string, fn: () => void) => () => {
      const st = fs.lstatSync(p, { bigint: true });
      fn();
      setMtime(p, Number(st.mtimeNs / 1_000_000_000n), Number(st.mtimeNs % 1_000_000_000n));
    };
    await changed(
      'a byte appended (same mtime)',
      keepingMtime(a, () => fs.appendFileSync(a, '!')),
    );
    await changed('mode', () => fs.chmodSync(a, 0o600));
    await changed('mtime', () => setMtime(a, 1_600_000_000, 0));
    await changed('rename', () => fs.renameSync(a, path.join(live, 'a2.txt')));
    await changed('new empty directory', () => fs.mkdirSync(path.join(live, 'docs/new')));
    await changed('directory mode', () => fs.chmodSync(path.join(live, 'docs/new'), 0o700));
    const link = path.join(live, 'link');
    await changed(
      'symlink retargeted (same mtime)',
      keepingMtime(link, () => {
        fs.unlinkSync(link);
        fs.symlinkSync('x-y/z', link);
      }),
    );
    await changed('file replaced by a directory', () => {
      fs.rmSync(path.join(live, 'x-y/z'));
      fs.mkdirSync(path.join(live, 'x-y/z'));
    });

    await same('a directory mtime', () => setMtime(path.join(live, 'docs'), 1_500_000_000, 0));
    await same("the agent's own files", () => {
      fs.writeFileSync(path.join(live, '.fsdr-commit-0a1b2c'), 'staged');
      fs.mkdirSync(path.join(live, 'docs/.fsdr-commit-dir'));
      fs.writeFileSync(path.join(live, 'docs/.fsdr-commit-dir/f'), 'x');
    });
    const c = path.join(live, 'docs/b.md');
    const content = (await digestLive(true)).digest;
    await same(
      'a content of the same size and mtime (metadata digest)',
      keepingMtime(c, () => fs.writeFileSync(c, 'BRAVO')),
    );
    expect((await digestLive(true)).digest).not.toBe(content);
    expect((await digestLive(true)).algorithm).toBe(TREE_DIGEST_CONTENT_ALGORITHM);
  });

  it('leaves out the names a driver marks as not data at the root only', async () => {
    const before = (await digestTree({ kind: 'dir', root: live, skipAtRoot: ['.zfs'] }, { content: false, live: true }))
      .digest;
    writeFiles(live, { '.zfs/snapshot/s1/a.txt': 'alpha\n' });
    const tree = { kind: 'dir' as const, root: live, skipAtRoot: ['.zfs'] };
    expect((await digestTree(tree, { content: false, live: true })).digest).toBe(before);
    writeFiles(live, { 'docs/.zfs': 'a user file of that name, deeper' });
    expect((await digestTree(tree, { content: false, live: true })).digest).not.toBe(before);
  });

  it('refuses a manifest out of canonical order', async () => {
    await snapshot('s1');
    const file = driver.layout.snapshotManifest(P, 's1');
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    fs.writeFileSync(file, [lines[0], lines[2], lines[1], ...lines.slice(3)].join('\n') + '\n');
    await expect(digestTree(await driver.readableTree(P, 's1'), { content: false, live: false })).rejects.toThrow(
      /not in canonical order/,
    );
  });
});
