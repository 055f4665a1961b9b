// Snapshot sizes that a driver leaves unknown (btrfs) are measured in the background, but only once replication on
// the FSVM is quiet: a walk of 10k fresh inodes made an incremental 0.15-0.2 s slower when it ran alongside.
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir, waitFor, writeFiles } from '../test/gateway/helpers';
import { Layout, type PortionRef } from './layout';
import type { SnapshotDriver } from './snapshot-drivers/driver';
import { PortableDriver } from './snapshot-drivers/portable';
import { SnapshotStore } from './snapshots';
import { WalkStoppedError, treeSize } from './util';

const P: PortionRef = { share: 'eng', portion: '' };
const QUIET_MS = 300;

/** Snapshots whose size the driver does not report, as with btrfs: a copy of the live tree under data/. */
function unsizedDriver(root: string): SnapshotDriver {
  const portable = new PortableDriver(new Layout(root));
  const driver: SnapshotDriver = Object.create(portable);
  driver.createSnapshot = async (p, id) => {
    fs.cpSync(portable.livePath(p), portable.layout.snapshotData(p, id), { recursive: true });
    return { sizeBytes: null };
  };
  return driver;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('snapshot sizes', () => {
  let root: string;
  let store: SnapshotStore;
  beforeEach(async () => {
    root = tmpDir('sizes');
    const driver = unsizedDriver(root);
    await driver.createPortion(P);
    writeFiles(driver.livePath(P), { 'a.txt': 'x'.repeat(1000), 'd/b.txt': 'y'.repeat(234) });
    store = new SnapshotStore(driver.layout, driver, undefined, QUIET_MS);
  });
  afterEach(() => {
    store.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const sizeOf = async (id: string) => (await store.get(P, id))?.sizeBytes;
  const measured = (id: string) =>
    waitFor(async () => (await sizeOf(id)) ?? undefined, `size of ${id}`, 20 * QUIET_MS, 20);

  it('are measured once the FSVM has been quiet, not while replication keeps it busy', async () => {
    expect((await store.create(P, 's1', null)).sizeBytes).toBeNull();
    // activity every 50 ms for 4 quiet periods: no walk yet
    let quietFrom = 0;
    for (let i = 0; i < (4 * QUIET_MS) / 50; i++) {
      store.touch();
      quietFrom = Date.now();
      await sleep(50);
    }
    expect(await sizeOf('s1')).toBeNull();
    expect(await measured('s1')).toBe(1234);
    expect(Date.now() - quietFrom).toBeGreaterThanOrEqual(QUIET_MS - 5);
  });

  it('are measured after a restart for the snapshots that were not', async () => {
    await store.create(P, 's1', null);
    store.close(); // the agent stopped before it measured
    expect(await sizeOf('s1')).toBeNull();
    const again = new SnapshotStore(new Layout(root), unsizedDriver(root), undefined, QUIET_MS);
    try {
      await again.measureMissing([P]);
      expect(await measured('s1')).toBe(1234);
    } finally {
      again.close();
    }
  });

  it('a walk gives way when asked', async () => {
    const dir = path.join(root, 'many');
    writeFiles(dir, Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`f${i}`, 'z'])));
    await expect(treeSize(dir)).resolves.toBe(1000);
    let asked = 0;
    await expect(treeSize(dir, () => ++asked > 2)).rejects.toBeInstanceOf(WalkStoppedError);
    expect(asked).toBe(3);
  });
});
