// The ZFS snapshot driver: each share portion is a dataset under GATEWAY_ZFS_DATASET mounted at the portion's live
// path; snapshots are `<dataset>@<id>`; streams are `zfs send [-i @base]`, applied with `zfs receive -u -F`.
// ZFS cannot run on the development machines (no kernel module), so the command lines this driver builds and the
// output it parses are what its tests check; see docs/gateway.md for what that means for an operator.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { ConflictError } from '../../domain/errors';
import type { Layout, PortionRef } from '../layout';
import { CommandError, run, runWithInput } from '../util';
import type { ReadableTree, SendStream, SnapshotDriver } from './driver';

const DATASET = /^[A-Za-z0-9][A-Za-z0-9_.:/-]*$/;

/** The command lines of the driver, as argv arrays (never a shell string). */
export const zfsCommands = {
  create: (ds: string, mountpoint: string) => ['zfs', 'create', '-p', '-o', `mountpoint=${mountpoint}`, ds],
  destroy: (ds: string) => ['zfs', 'destroy', '-r', ds],
  snapshot: (ds: string, id: string) => ['zfs', 'snapshot', `${ds}@${id}`],
  destroySnapshot: (ds: string, id: string) => ['zfs', 'destroy', `${ds}@${id}`],
  listSnapshots: (ds: string) => [
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
    ds,
  ],
  exists: (name: string) => ['zfs', 'list', '-H', '-o', 'name', name],
  send: (ds: string, id: string, baseId?: string) =>
    baseId ? ['zfs', 'send', '-i', `@${baseId}`, `${ds}@${id}`] : ['zfs', 'send', `${ds}@${id}`],
  receive: (ds: string) => ['zfs', 'receive', '-u', '-F', ds],
  rollback: (ds: string, id: string) => ['zfs', 'rollback', `${ds}@${id}`],
  setReadonly: (ds: string, on: boolean) => ['zfs', 'set', `readonly=${on ? 'on' : 'off'}`, ds],
  mount: (ds: string) => ['zfs', 'mount', ds],
};

export interface ZfsSnapshotInfo {
  dataset: string;
  id: string;
  createdAt: Date;
  referencedBytes: number;
}

/** Parses `zfs list -H -p -t snapshot -o name,creation,referenced` (tab-separated, seconds, bytes). */
export function parseSnapshotList(stdout: string): ZfsSnapshotInfo[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      const [name, creation, referenced] = line.split('\t');
      const at = name?.indexOf('@') ?? -1;
      if (!name || at < 1 || !creation || !referenced || !/^\d+$/.test(creation) || !/^\d+$/.test(referenced)) {
        throw new Error(`unexpected zfs list line: ${JSON.stringify(line)}`);
      }
      return {
        dataset: name.slice(0, at),
        id: name.slice(at + 1),
        createdAt: new Date(Number(creation) * 1000),
        referencedBytes: Number(referenced),
      };
    })
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

export interface ZfsExec {
  run(argv: string[], stdinFile?: string): Promise<string>;
  stream(argv: string[]): NodeJS.ReadableStream & { destroy(err?: Error): void };
  /** Runs a command reading `input` on its stdin (default: gateway/util.ts runWithInput). */
  runWithInput?(argv: string[], input: Readable): Promise<void>;
}

export const systemZfsExec: ZfsExec = {
  async run(argv, stdinFile) {
    if (!stdinFile) return (await run(argv)).stdout;
    return new Promise((resolve, reject) => {
      const [cmd, ...args] = argv;
      const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', (e) => reject(new CommandError(argv, null, e.message)));
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new CommandError(argv, code, err))));
      child.stdin.on('error', () => undefined);
      createReadStream(stdinFile).pipe(child.stdin);
    });
  },
  stream(argv) {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    let err = '';
    let exited = false;
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.pipe(out, { end: false });
    child.on('error', (e) => out.destroy(e));
    child.on('close', (code) => {
      exited = true;
      if (code === 0) out.end();
      else out.destroy(new CommandError(argv, code, err));
    });
    out.on('close', () => {
      if (!exited) child.kill('SIGKILL');
    });
    return out;
  },
};

export class ZfsDriver implements SnapshotDriver {
  readonly name = 'zfs' as const;

  constructor(
    readonly layout: Layout,
    private readonly rootDataset: string,
    private readonly exec: ZfsExec = systemZfsExec,
  ) {}

  dataset(p: PortionRef): string {
    const ds = p.portion ? `${this.rootDataset}/${p.share}/${p.portion}` : `${this.rootDataset}/${p.share}`;
    if (!DATASET.test(ds) || ds.includes('..')) throw new Error(`unsafe dataset name ${ds}`);
    return ds;
  }

  async init(): Promise<void> {
    await this.exec.run(zfsCommands.exists(this.rootDataset));
  }

  livePath(p: PortionRef): string {
    return this.layout.livePath(p);
  }

  private async has(name: string): Promise<boolean> {
    try {
      await this.exec.run(zfsCommands.exists(name));
      return true;
    } catch {
      return false;
    }
  }

  async createPortion(p: PortionRef): Promise<void> {
    const ds = this.dataset(p);
    if (await this.has(ds)) return;
    await this.exec.run(zfsCommands.create(ds, this.livePath(p)));
  }

  async deletePortion(p: PortionRef): Promise<void> {
    const ds = this.dataset(p);
    if (await this.has(ds)) await this.exec.run(zfsCommands.destroy(ds));
  }

  async listSnapshots(p: PortionRef): Promise<ZfsSnapshotInfo[]> {
    return parseSnapshotList(await this.exec.run(zfsCommands.listSnapshots(this.dataset(p))));
  }

  async createSnapshot(p: PortionRef, id: string): Promise<{ sizeBytes: number }> {
    const ds = this.dataset(p);
    if (!(await this.has(`${ds}@${id}`))) await this.exec.run(zfsCommands.snapshot(ds, id));
    const info = (await this.listSnapshots(p)).find((s) => s.id === id);
    return { sizeBytes: info?.referencedBytes ?? 0 };
  }

  async readableTree(p: PortionRef, snapshotId: string | null): Promise<ReadableTree> {
    // the dataset is mounted at the live path; its snapshots are reachable (mounted on access) under .zfs/snapshot,
    // which a walk of the live tree leaves out (listed when snapdir=visible)
    const live = this.livePath(p);
    return snapshotId === null
      ? { kind: 'dir', root: live, skipAtRoot: ['.zfs'] }
      : { kind: 'dir', root: path.join(live, '.zfs', 'snapshot', snapshotId) };
  }

  async deleteSnapshot(p: PortionRef, id: string): Promise<void> {
    const ds = this.dataset(p);
    if (await this.has(`${ds}@${id}`)) await this.exec.run(zfsCommands.destroySnapshot(ds, id));
    await fs.rm(this.layout.snapshotDir(p, id), { recursive: true, force: true });
  }

  async rollback(p: PortionRef, id: string): Promise<void> {
    const snaps = await this.listSnapshots(p);
    if (snaps.at(-1)?.id !== id) {
      // `zfs rollback -r` would destroy the newer snapshots: an operator decides that, not a request.
      throw new ConflictError(
        `zfs can only roll back to the newest snapshot of ${this.dataset(p)}; delete the newer ones first`,
      );
    }
    await this.exec.run(zfsCommands.rollback(this.dataset(p), id));
  }

  async send(p: PortionRef, id: string, baseId: string | undefined): Promise<SendStream> {
    const stream = this.exec.stream(zfsCommands.send(this.dataset(p), id, baseId));
    return { stream: stream as unknown as Readable, totalBytes: null, startsAt: 0 };
  }

  async receiveStream(
    p: PortionRef,
    id: string,
    _baseId: string | undefined,
    stream: Readable,
  ): Promise<{ sizeBytes: number }> {
    const ds = this.dataset(p);
    await (this.exec.runWithInput ?? runWithInput)(zfsCommands.receive(ds), stream);
    const info = (await this.listSnapshots(p)).find((s) => s.id === id);
    if (!info) throw new Error(`zfs receive did not create ${ds}@${id}`);
    return { sizeBytes: info.referencedBytes };
  }

  async receive(
    p: PortionRef,
    id: string,
    _baseId: string | undefined,
    streamFile: string,
  ): Promise<{ sizeBytes: number }> {
    const ds = this.dataset(p);
    await this.exec.run(zfsCommands.receive(ds), streamFile);
    const info = (await this.listSnapshots(p)).find((s) => s.id === id);
    if (!info) throw new Error(`zfs receive did not create ${ds}@${id}`);
    return { sizeBytes: info.referencedBytes };
  }
}
