// The btrfs snapshot driver: each share portion is a subvolume; a snapshot is a read-only snapshot subvolume at
// snapshots/<share>/<portion>/<id>/data; streams are `btrfs send [-p base]`, applied with `btrfs receive`, which
// creates <id>/data (btrfs refuses to move a read-only subvolume, so it is received in place and stays unlisted
// until the snapshot store writes its meta.json on commit). The data root must be on one btrfs filesystem.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type { Layout, PortionRef } from '../layout';
import { exists, run, runWithInput, treeSize } from '../util';
import type { ReadableTree, SendStream, SnapshotDriver } from './driver';
import { swapIntoPlace } from './swap';

/** Is `p` a btrfs subvolume (its root inode is always 256)? */
async function isSubvolume(p: string): Promise<boolean> {
  try {
    const st = await fs.stat(p);
    return st.isDirectory() && st.ino === 256;
  } catch {
    return false;
  }
}

export class BtrfsDriver implements SnapshotDriver {
  readonly name = 'btrfs' as const;

  constructor(
    readonly layout: Layout,
    private readonly btrfs = 'btrfs',
  ) {}

  async init(): Promise<void> {
    await fs.mkdir(this.layout.root, { recursive: true });
    const { stdout } = await run(['stat', '-f', '-c', '%T', this.layout.root]);
    if (stdout.trim() !== 'btrfs') {
      throw new Error(
        `GATEWAY_DRIVER=btrfs needs GATEWAY_DATA_ROOT on btrfs; ${this.layout.root} is on ${stdout.trim()}`,
      );
    }
    await run([this.btrfs, '--version']);
  }

  livePath(p: PortionRef): string {
    return this.layout.livePath(p);
  }

  async createPortion(p: PortionRef): Promise<void> {
    const live = this.livePath(p);
    if (await isSubvolume(live)) return;
    if (await exists(live)) throw new Error(`${live} exists and is not a btrfs subvolume`);
    await fs.mkdir(path.dirname(live), { recursive: true });
    await run([this.btrfs, 'subvolume', 'create', live]);
  }

  private async deleteSubvolume(p: string): Promise<void> {
    if (await isSubvolume(p)) await run([this.btrfs, 'subvolume', 'delete', p]);
  }

  async deletePortion(p: PortionRef): Promise<void> {
    await this.deleteSubvolume(this.livePath(p));
    await fs.rm(this.livePath(p), { recursive: true, force: true });
  }

  async createSnapshot(p: PortionRef, id: string): Promise<{ sizeBytes: null }> {
    const data = this.layout.snapshotData(p, id);
    await this.deleteSubvolume(data);
    await run([this.btrfs, 'subvolume', 'snapshot', '-r', this.livePath(p), data]);
    return { sizeBytes: null }; // a walk of the new subvolume: measured in the background
  }

  async readableTree(p: PortionRef, snapshotId: string | null): Promise<ReadableTree> {
    // a snapshot is its read-only subvolume: walked like the live one
    return { kind: 'dir', root: snapshotId === null ? this.livePath(p) : this.layout.snapshotData(p, snapshotId) };
  }

  async deleteSnapshot(p: PortionRef, id: string): Promise<void> {
    await this.deleteSubvolume(this.layout.snapshotData(p, id));
    await fs.rm(this.layout.snapshotDir(p, id), { recursive: true, force: true });
  }

  async rollback(p: PortionRef, id: string): Promise<void> {
    const live = this.livePath(p);
    await fs.mkdir(this.layout.tmp, { recursive: true });
    const tag = randomBytes(6).toString('hex');
    const fresh = path.join(this.layout.tmp, `rollback-${tag}`);
    const old = path.join(this.layout.tmp, `old-${tag}`);
    await run([this.btrfs, 'subvolume', 'snapshot', this.layout.snapshotData(p, id), fresh]);
    try {
      swapIntoPlace(fresh, live, old);
    } finally {
      await this.deleteSubvolume(old);
      await this.deleteSubvolume(fresh);
    }
  }

  private sendArgv(p: PortionRef, id: string, baseId: string | undefined): string[] {
    const argv = ['send', '-q'];
    if (baseId) argv.push('-p', this.layout.snapshotData(p, baseId));
    argv.push(this.layout.snapshotData(p, id));
    return argv;
  }

  sendInto(p: PortionRef, id: string, baseId: string | undefined, out: Socket): ChildProcess {
    return spawn(this.btrfs, this.sendArgv(p, id, baseId), { stdio: ['ignore', out, 'pipe'] });
  }

  async send(p: PortionRef, id: string, baseId: string | undefined): Promise<SendStream> {
    const child = spawn(this.btrfs, this.sendArgv(p, id, baseId), { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.pipe(out, { end: false });
    let exited = false;
    child.on('error', (err) => out.destroy(err));
    child.on('close', (code) => {
      exited = true;
      if (code === 0) out.end();
      else out.destroy(new Error(`btrfs send failed (exit ${code}): ${stderr.trim()}`));
    });
    // A consumer that stops early (cancel, dropped connection) must not leave btrfs send running.
    out.on('close', () => {
      if (!exited) child.kill('SIGKILL');
    });
    return { stream: out, totalBytes: null, startsAt: 0 };
  }

  /**
   * Runs a `btrfs receive` into the snapshot's directory (`apply` gets that directory): whatever a failed receive
   * left is deleted, and the subvolume it must create (<id>/data) is checked. Returns that subvolume's path.
   */
  private async receiveInto(
    p: PortionRef,
    id: string,
    apply: (dir: string) => Promise<unknown>,
    missing = 'btrfs receive did not create the expected subvolume',
  ): Promise<string> {
    const data = this.layout.snapshotData(p, id);
    await this.deleteSubvolume(data);
    try {
      await apply(this.layout.snapshotDir(p, id));
    } catch (err) {
      await this.deleteSubvolume(data);
      throw err;
    }
    if (!(await isSubvolume(data))) throw new Error(missing);
    return data;
  }

  async receiveStream(
    p: PortionRef,
    id: string,
    _baseId: string | undefined,
    stream: Readable,
  ): Promise<{ sizeBytes: number }> {
    // the stream goes straight into btrfs receive: one write per byte, as with a raw send | receive
    const data = await this.receiveInto(p, id, (dir) => runWithInput([this.btrfs, 'receive', '-q', dir], stream));
    return { sizeBytes: await treeSize(data) };
  }

  async receiveFrom(
    p: PortionRef,
    id: string,
    _baseId: string | undefined,
    fifo: string,
    launch: (argv: string[]) => Promise<void>,
  ): Promise<{ sizeBytes: null }> {
    // -e: stop at the stream's end command (the FIFO stays open between the sender's connections)
    await this.receiveInto(p, id, (dir) => launch([this.btrfs, 'receive', '-q', '-e', '-f', fifo, dir]));
    return { sizeBytes: null }; // the sender's, or measured in the background
  }

  async adoptReceive(p: PortionRef, id: string, ended: Promise<string>): Promise<{ sizeBytes: null }> {
    const messages = await ended;
    const data = this.layout.snapshotData(p, id);
    // `btrfs receive` makes the subvolume read-only (after setting its received UUID) only once it applied the end
    // of the stream: a receive killed or failed before leaves it writable
    const ro = (await isSubvolume(data))
      ? (await run([this.btrfs, 'property', 'get', '-ts', data, 'ro'])).stdout.trim()
      : '';
    if (ro === 'ro=true') return { sizeBytes: null };
    await this.deleteSubvolume(data);
    throw new Error(`btrfs receive ended before the end of the stream: ${messages.trim() || 'no message'}`);
  }

  async receive(
    p: PortionRef,
    id: string,
    _baseId: string | undefined,
    streamFile: string,
  ): Promise<{ sizeBytes: number }> {
    const data = await this.receiveInto(
      p,
      id,
      (dir) => run([this.btrfs, 'receive', '-q', '-f', streamFile, dir]),
      'btrfs receive did not create the expected subvolume (was the stream sent from a snapshot named data?)',
    );
    return { sizeBytes: await treeSize(data) };
  }
}
