// The snapshot catalog of this FSVM: a snapshot exists for clients of the API only once its meta.json is written
// (after the driver finished taking or receiving it), so partial snapshots are never listed, used as a base or
// rolled back to. One lock per portion serialises create, delete, rollback and commit.
import fs from 'node:fs/promises';
import { ConflictError, NotFoundError } from '../domain/errors';
import type { SnapshotDriver } from './snapshot-drivers/driver';
import type { Layout, PortionRef } from './layout';
import type { Logger } from '../infra/logger';
import { KeyedMutex, WalkStoppedError, errorMessage, exists, readJson, treeSize, writeFileAtomic } from './util';

export interface SnapshotMeta {
  id: string;
  share: string;
  portion: string;
  createdAt: string;
  expiresAt: string | null;
  origin: 'local' | 'received';
  /** null until measured (see measure()). */
  sizeBytes: number | null;
  completedAt: string;
}

const key = (p: PortionRef): string => `${p.share}\0${p.portion}`;

/** How long this FSVM must have been quiet before snapshot sizes are measured (see SnapshotStore.measure). */
export const MEASURE_AFTER_QUIET_MS = 3000;

export class SnapshotStore {
  readonly locks = new KeyedMutex();
  /** Snapshots being received (share\0portion\0id), kept by the receiver: they must not be taken or deleted here. */
  readonly receiving = new Set<string>();
  /** Snapshots waiting to be measured, by receivingKey. */
  private readonly unmeasured = new Map<string, { p: PortionRef; id: string }>();
  private lastActivity = 0;
  private measuring = false;
  private measureTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly layout: Layout,
    private readonly driver: SnapshotDriver,
    private readonly log?: Logger,
    private readonly measureAfterQuietMs = MEASURE_AFTER_QUIET_MS,
  ) {}

  /**
   * Queues a snapshot whose size is not known yet for measuring. Sizes are informational, and a walk of a fresh
   * snapshot's uncached inodes (btrfs: 0.14-0.58 s for 10k files) competes with replication for the event loop and
   * the disk: measured right away, it made an incremental's snapshot, transfer and commit 0.15-0.2 s slower. So
   * measuring waits until this FSVM has been quiet for MEASURE_AFTER_QUIET_MS, and a walk under way gives way to the
   * next sign of activity (it is started again later).
   */
  measure(p: PortionRef, id: string): void {
    this.unmeasured.set(SnapshotStore.receivingKey(p, id), { p, id });
    this.touch();
    this.scheduleMeasuring();
  }

  /** Measures the snapshots whose size was not recorded before a restart. */
  async measureMissing(portions: PortionRef[]): Promise<void> {
    for (const p of portions) for (const m of await this.list(p)) if (m.sizeBytes === null) this.measure(p, m.id);
  }

  /** Replication did something on this FSVM (an API request, a transfer's progress): measuring waits. */
  touch(): void {
    this.lastActivity = Date.now();
  }

  /** Stops measuring (the agent stops). */
  close(): void {
    this.closed = true;
    clearTimeout(this.measureTimer);
    this.measureTimer = undefined;
  }

  private scheduleMeasuring(): void {
    if (this.closed || this.measuring || this.measureTimer || !this.unmeasured.size) return;
    const wait = Math.max(0, this.lastActivity + this.measureAfterQuietMs - Date.now());
    this.measureTimer = setTimeout(() => {
      this.measureTimer = undefined;
      void this.measureNext();
    }, wait);
    this.measureTimer.unref();
  }

  private async measureNext(): Promise<void> {
    const [k, next] = this.unmeasured.entries().next().value ?? [];
    if (!k || !next || Date.now() - this.lastActivity < this.measureAfterQuietMs) {
      this.scheduleMeasuring();
      return;
    }
    const { p, id } = next;
    this.measuring = true;
    const started = this.lastActivity;
    try {
      const size = await treeSize(this.layout.snapshotData(p, id), () => this.closed || this.lastActivity !== started);
      this.unmeasured.delete(k);
      // the lock without withLock's touch: writing a size is not activity (it would delay the next one)
      await this.locks.run(key(p), async () => {
        const meta = await this.get(p, id);
        if (!meta || meta.sizeBytes !== null) return;
        await writeFileAtomic(this.layout.snapshotMeta(p, id), JSON.stringify({ ...meta, sizeBytes: size }, null, 2));
      });
    } catch (err) {
      if (!(err instanceof WalkStoppedError)) {
        this.unmeasured.delete(k);
        this.log?.warn(
          { share: p.share, portion: p.portion, snapshot: id, err: errorMessage(err) },
          'size not measured',
        );
      }
    } finally {
      this.measuring = false;
      this.scheduleMeasuring();
    }
  }

  static receivingKey(p: PortionRef, id: string): string {
    return `${key(p)}\0${id}`;
  }

  withLock<T>(p: PortionRef, fn: () => Promise<T>): Promise<T> {
    this.touch();
    return this.locks.run(key(p), fn);
  }

  async get(p: PortionRef, id: string): Promise<SnapshotMeta | undefined> {
    return readJson<SnapshotMeta>(this.layout.snapshotMeta(p, id));
  }

  async require(p: PortionRef, id: string, what = 'snapshot'): Promise<SnapshotMeta> {
    const m = await this.get(p, id);
    if (!m) throw new NotFoundError(`${what} ${id} does not exist for ${p.share}${p.portion ? `/${p.portion}` : ''}`);
    return m;
  }

  /** Complete snapshots, oldest first. */
  async list(p: PortionRef): Promise<SnapshotMeta[]> {
    let names: string[];
    try {
      // snapshot ids never start with a dot: dot names are a driver's (the portable content store and marker)
      names = (await fs.readdir(this.layout.portionSnapshots(p))).filter((n) => !n.startsWith('.'));
    } catch {
      return [];
    }
    const metas = await Promise.all(
      names.map((n) => readJson<SnapshotMeta>(`${this.layout.portionSnapshots(p)}/${n}/meta.json`)),
    );
    return metas
      .filter((m): m is SnapshotMeta => m !== undefined)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async create(p: PortionRef, id: string, expiresAt: string | null): Promise<SnapshotMeta> {
    return this.withLock(p, async () => {
      const existing = await this.get(p, id);
      if (existing) return existing;
      if (this.receiving.has(SnapshotStore.receivingKey(p, id))) {
        throw new ConflictError(`snapshot ${id} is being received into ${p.share}; it cannot be taken here`);
      }
      const dir = this.layout.snapshotDir(p, id);
      if (await exists(dir)) await this.driver.deleteSnapshot(p, id); // left over by a crash: never complete
      await fs.mkdir(dir, { recursive: true });
      const previous = (await this.list(p)).at(-1);
      const createdAt = new Date().toISOString();
      try {
        const { sizeBytes } = await this.driver.createSnapshot(p, id, previous?.id);
        const meta: SnapshotMeta = {
          id,
          share: p.share,
          portion: p.portion,
          createdAt,
          expiresAt,
          origin: 'local',
          sizeBytes,
          completedAt: new Date().toISOString(),
        };
        await writeFileAtomic(this.layout.snapshotMeta(p, id), JSON.stringify(meta, null, 2));
        if (sizeBytes === null) this.measure(p, id);
        return meta;
      } catch (err) {
        await this.driver.deleteSnapshot(p, id).catch(() => undefined);
        throw err;
      }
    });
  }

  /** Publishes a snapshot whose data the receiver has applied: from now on it is listed and usable. */
  async publish(meta: SnapshotMeta): Promise<void> {
    await writeFileAtomic(this.layout.snapshotMeta(meta, meta.id), JSON.stringify(meta, null, 2));
    if (meta.sizeBytes === null) this.measure(meta, meta.id);
  }

  /** Deletes a snapshot (idempotent: false when it did not exist). */
  async delete(p: PortionRef, id: string): Promise<boolean> {
    return this.withLock(p, async () => {
      if (this.receiving.has(SnapshotStore.receivingKey(p, id))) {
        throw new ConflictError(`snapshot ${id} of ${p.share} is being received; cancel the receive first`);
      }
      const had = (await this.get(p, id)) !== undefined;
      // meta.json goes first: a crash half-way leaves an unlisted directory, cleaned up at the next start.
      await fs.rm(this.layout.snapshotMeta(p, id), { force: true });
      if (await exists(this.layout.snapshotDir(p, id))) await this.driver.deleteSnapshot(p, id);
      return had;
    });
  }

  async rollback(p: PortionRef, id: string): Promise<void> {
    await this.withLock(p, async () => {
      await this.require(p, id);
      await this.driver.rollback(p, id);
    });
  }

  /** Removes snapshot directories without meta.json that no receive owns (left by a crash). */
  async cleanupPartial(portions: PortionRef[]): Promise<string[]> {
    const removed: string[] = [];
    for (const p of portions) {
      let names: string[];
      try {
        names = await fs.readdir(this.layout.portionSnapshots(p));
      } catch {
        continue;
      }
      for (const n of names) {
        if (n.startsWith('.')) continue; // not a snapshot (see list)
        if (this.receiving.has(SnapshotStore.receivingKey(p, n))) continue;
        if (await exists(this.layout.snapshotMeta(p, n))) continue;
        await this.driver.deleteSnapshot(p, n).catch(() => undefined);
        removed.push(`${p.share}/${p.portion || '_root'}/${n}`);
      }
    }
    return removed;
  }
}
