// The sending side of the data plane. A transfer is persisted in <root>/state/transfers/<id>.json and survives a
// restart of the agent (it is picked up again at start). Each attempt asks the receiver for its offset (prepare is
// idempotent), re-creates the same deterministic stream and sends it from that offset on: the portable stream starts
// there; a btrfs/zfs stream is regenerated from its start, skipped up to the offset, and its last bytes before the
// offset are re-sent for the receiver to compare (the splice is checked). Once the stream is whole the receiver checks
// its length and digest (see StreamDigestKind). Dropped connections are retried with backoff; integrity and
// validation failures are final. At most `maxStreams` transfers run at once; the rest wait in the queue.
import fs from 'node:fs/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors';
import {
  GatewayProblem,
  ReceiveStatus,
  STREAM_OVERLAP_BYTES,
  type PrepareReceiveRequest,
  type StartTransferRequest,
  type TransferStatus,
} from '../../domain/gateway-contract';
import type { Logger } from '../../infra/logger';
import type { TlsMaterial } from '../../infra/tls';
import type { PortionRef } from '../layout';
import type { ShareRegistry } from '../shares/registry';
import type { SnapshotDriver } from '../snapshot-drivers/driver';
import type { SnapshotStore } from '../snapshots';
import { errorMessage, readJson, sleep, writeFileAtomic } from '../util';
import { peerOrigin } from '../config';
import { PeerClient, PeerHttpError } from './peer';
import { Throttle } from './throttle';

export interface TransferRecord extends Omit<TransferStatus, 'rateBytesPerSec'> {
  bandwidthLimit: number;
}

interface Running {
  abort: AbortController;
  samples: { t: number; bytes: number }[];
  /** When the stream last went forward (or the attempt began): what the stall watchdog measures from. */
  progressAt: number;
}

/** An attempt that made no progress for the stall timeout: its connection is dropped, the next one resumes. */
class StalledError extends Error {}

/** Attempts in a row that reached the peer and still moved nothing: then the transfer fails. */
const MAX_IDLE_ATTEMPTS = 20;

/** Codes of a connection that could not be made or was lost: the network, not the peer's answer. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Whether an attempt failed because the peer could not be reached (or the link stalled), rather than on an answer
 * of the peer or on this agent's side. Asked only of attempts the peer never answered: a peer that answers and then
 * drops every stream is failing, not away. Such an outage is waited out (up to the outage limit): what the receiver
 * holds stays valid, and the next attempt resumes from its offset.
 */
function isNetworkFailure(err: unknown): boolean {
  if (err instanceof StalledError) return true;
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++, e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return true;
  }
  return false;
}

/** Records that the stream went out up to `pos` (progress and the rate's samples). */
function advance(r: TransferRecord, run: Running, pos: number): void {
  if (pos <= r.bytesSent) return;
  r.bytesSent = pos;
  const now = Date.now();
  run.progressAt = now;
  run.samples.push({ t: now, bytes: pos });
  while (run.samples.length > 2 && run.samples[0]!.t < now - 5000) run.samples.shift();
}

/** The first line a connection carries (the receiver's answer on an upgraded data request). */
function firstLine(sock: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    sock.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) resolve(text.slice(0, nl));
    });
    sock.on('error', reject);
    sock.on('close', () => reject(new Error('the receiver closed the stream without an answer')));
    sock.resume();
  });
}

export class Sender {
  private readonly records = new Map<string, TransferRecord>();
  private readonly running = new Map<string, Running>();
  /** Peers that answered an upgraded data request as a plain one (an older agent, a proxy): sent chunked. */
  private readonly noUpgrade = new Set<string>();
  private readonly dir: string;
  private stopped = false;

  constructor(
    stateDir: string,
    private readonly opts: {
      nodeId: string;
      /** Read at each use: the pair secrets are reloaded on SIGHUP (see Gateway.reloadSecrets). */
      peers: { peerTokens: Map<string, string[]>; peerUrls: Map<string, string>; tls?: TlsMaterial };
      defaultBandwidthLimit: number;
      maxStreams: number;
      stallTimeoutMs: number;
      /** How long a peer may stay unreachable before its transfers fail (GATEWAY_PEER_OUTAGE_LIMIT). */
      peerOutageLimitMs: number;
    },
    private readonly driver: SnapshotDriver,
    private readonly store: SnapshotStore,
    private readonly registry: ShareRegistry,
    private readonly log: Logger,
  ) {
    this.dir = path.join(stateDir, 'transfers');
  }

  /** Loads persisted transfers and resumes the unfinished ones. */
  async load(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    for (const f of await fs.readdir(this.dir)) {
      if (!f.endsWith('.json')) continue;
      const r = await readJson<TransferRecord>(path.join(this.dir, f));
      if (!r) continue;
      if (r.state === 'running') r.state = 'queued';
      this.records.set(r.transferId, r);
    }
    this.pump();
  }

  /** Stops running transfers without failing them (agent shutdown): they resume at the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const r of this.running.values()) r.abort.abort(new Error('agent shutting down'));
    const deadline = Date.now() + 5000;
    while (this.running.size && Date.now() < deadline) await sleep(20);
  }

  activeCount(): number {
    return this.running.size;
  }

  busyShare(share: string): boolean {
    return [...this.records.values()].some((r) => r.share === share && (r.state === 'running' || r.state === 'queued'));
  }

  list(): TransferStatus[] {
    return [...this.records.values()].map((r) => this.status(r));
  }

  get(id: string): TransferStatus {
    const r = this.records.get(id);
    if (!r) throw new NotFoundError(`transfer ${id} does not exist`);
    return this.status(r);
  }

  private status(r: TransferRecord): TransferStatus {
    const run = this.running.get(r.transferId);
    let rate = 0;
    if (run && run.samples.length > 1) {
      const a = run.samples[0]!;
      const b = run.samples[run.samples.length - 1]!;
      rate = b.t > a.t ? ((b.bytes - a.bytes) * 1000) / (b.t - a.t) : 0;
    }
    const { bandwidthLimit: _bw, ...rest } = r;
    return { ...rest, rateBytesPerSec: Math.max(0, Math.round(rate)) };
  }

  private async persist(r: TransferRecord): Promise<void> {
    await writeFileAtomic(path.join(this.dir, `${r.transferId}.json`), JSON.stringify(r));
  }

  /**
   * The pinned address of the peer a transfer goes to: the orchestrator names the node, this agent's configuration
   * (GATEWAY_PEERS) says where it is. A request that names another address is refused: the pair secret never goes
   * anywhere else.
   */
  private pinnedUrl(target: StartTransferRequest['target']): string {
    const url = this.opts.peers.peerUrls.get(target.nodeId);
    if (!url || !this.opts.peers.peerTokens.has(target.nodeId)) {
      throw new ValidationError(`node ${target.nodeId} is not a peer this FSVM may send to (GATEWAY_PEERS)`, [
        { path: 'target.nodeId', message: 'not a configured peer of this FSVM' },
      ]);
    }
    if (target.url !== undefined && peerOrigin(target.url) !== url) {
      throw new ValidationError(
        `target.url ${JSON.stringify(target.url)} is not the address of peer ${target.nodeId} in this agent's ` +
          'configuration; name the node only, the agent knows where it is',
        [{ path: 'target.url', message: `not the configured address of peer ${target.nodeId}` }],
      );
    }
    return url;
  }

  async start(req: StartTransferRequest): Promise<TransferStatus> {
    const url = this.pinnedUrl(req.target);
    const existing = this.records.get(req.transferId);
    if (existing) {
      const same =
        existing.share === req.share &&
        existing.portion === req.portion &&
        existing.snapshotId === req.snapshotId &&
        existing.baseSnapshotId === (req.baseSnapshotId ?? null) &&
        existing.target.share === req.target.share &&
        existing.target.portion === req.target.portion &&
        existing.target.nodeId === req.target.nodeId;
      if (!same) throw new ConflictError(`transfer ${req.transferId} exists with other parameters`);
      return this.status(existing);
    }
    const share = this.registry.get(req.share);
    if (!share) throw new NotFoundError(`share ${req.share} does not exist on this FSVM`);
    if (!share.portions.includes(req.portion)) {
      throw new NotFoundError(`share ${req.share} has no portion ${JSON.stringify(req.portion)} on this FSVM`);
    }
    const p: PortionRef = { share: req.share, portion: req.portion };
    const snap = await this.store.require(p, req.snapshotId);
    if (req.baseSnapshotId) {
      if (req.baseSnapshotId === req.snapshotId)
        throw new ValidationError('base snapshot must differ from the snapshot');
      const base = await this.store.require(p, req.baseSnapshotId, 'base snapshot');
      if (base.createdAt >= snap.createdAt) {
        throw new ValidationError(`base snapshot ${base.id} is not older than snapshot ${snap.id}`, [
          { path: 'baseSnapshotId', message: 'must be older than snapshotId' },
        ]);
      }
    }
    const r: TransferRecord = {
      transferId: req.transferId,
      share: req.share,
      portion: req.portion,
      snapshotId: req.snapshotId,
      baseSnapshotId: req.baseSnapshotId ?? null,
      target: { url, nodeId: req.target.nodeId, share: req.target.share, portion: req.target.portion },
      state: 'queued',
      bytesTotal: null,
      bytesSent: 0,
      resumes: 0,
      resumedFrom: null,
      error: null,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      bandwidthLimit: req.bandwidthLimit ?? this.opts.defaultBandwidthLimit,
    };
    await this.persist(r);
    this.records.set(r.transferId, r);
    this.log.info(
      { transferId: r.transferId, share: r.share, snapshot: r.snapshotId, base: r.baseSnapshotId },
      'transfer queued',
    );
    this.pump();
    return this.status(r);
  }

  async cancel(id: string): Promise<TransferStatus> {
    const r = this.records.get(id);
    if (!r) throw new NotFoundError(`transfer ${id} does not exist`);
    if (r.state === 'succeeded' || r.state === 'failed' || r.state === 'cancelled') return this.status(r);
    const run = this.running.get(id);
    await this.finish(r, 'cancelled', 'cancelled by request');
    run?.abort.abort(new Error('cancelled'));
    // Tell the receiver to free what it staged; if it is unreachable it keeps an orphan it reports as receiving.
    await Promise.resolve()
      .then(() => this.peer(r).json('DELETE', `/receives/${encodeURIComponent(id)}`, undefined))
      .catch((err: unknown) =>
        this.log.warn({ transferId: id, err: errorMessage(err) }, 'receiver not told of cancel'),
      );
    return this.status(r);
  }

  /**
   * The peer as this agent's configuration has it now: a transfer recorded before a change of GATEWAY_PEERS goes to
   * the node's new address, and one whose node was removed fails (see execute).
   */
  private peer(r: TransferRecord): PeerClient {
    const url = this.opts.peers.peerUrls.get(r.target.nodeId);
    const tokens = this.opts.peers.peerTokens.get(r.target.nodeId);
    if (!url || !tokens?.length) {
      throw new ValidationError(`node ${r.target.nodeId} is no longer a configured peer of this FSVM (GATEWAY_PEERS)`);
    }
    return new PeerClient(this.opts.nodeId, { url, nodeId: r.target.nodeId, tokens, tls: this.opts.peers.tls });
  }

  private pump(): void {
    if (this.stopped) return;
    for (const r of this.records.values()) {
      if (this.running.size >= this.opts.maxStreams) return;
      if (r.state !== 'queued' || this.running.has(r.transferId)) continue;
      const run: Running = { abort: new AbortController(), samples: [], progressAt: Date.now() };
      this.running.set(r.transferId, run);
      void this.execute(r, run).finally(() => {
        this.running.delete(r.transferId);
        this.pump();
      });
    }
  }

  private async finish(
    r: TransferRecord,
    state: 'succeeded' | 'failed' | 'cancelled',
    error: string | null,
    extra: object = {},
  ): Promise<void> {
    r.state = state;
    r.error = error;
    r.finishedAt = new Date().toISOString();
    await this.persist(r);
    const level = state === 'succeeded' ? 'info' : 'warn';
    this.log[level](
      { transferId: r.transferId, state, error, bytes: r.bytesSent, resumes: r.resumes, ...extra },
      'transfer finished',
    );
  }

  private async execute(r: TransferRecord, run: Running): Promise<void> {
    r.state = 'running';
    await this.persist(r);
    let peer: PeerClient;
    try {
      peer = this.peer(r);
    } catch (err) {
      await this.finish(r, 'failed', errorMessage(err));
      return;
    }
    const p: PortionRef = { share: r.share, portion: r.portion };
    let idle = 0;
    /** Since when every attempt has failed to reach the peer (null: the last one reached it, or moved bytes). */
    let unreachableSince: number | null = null;
    let outageAttempts = 0;
    /** When an outage was last logged at warn level: a long one says so once a minute, not at every attempt. */
    let outageLoggedAt = 0;
    let attempt = 0;
    while (!run.abort.signal.aborted) {
      attempt++;
      const before = r.bytesSent;
      /** Whether the peer answered this attempt's prepare: then a later failure is not an outage. */
      let reached = false;
      // The stall watchdog: a cut link loses packets without a word to either end, and TCP would wait out its own
      // retransmissions (many minutes) before giving up. An attempt whose prepare or stream goes nowhere for the
      // stall timeout is cut off; the next one asks the receiver for its offset and resumes from there.
      const cut = new AbortController();
      const signal = AbortSignal.any([run.abort.signal, cut.signal]);
      let watching = true;
      run.progressAt = Date.now();
      const watchdog = setInterval(
        () => {
          if (!watching || Date.now() - run.progressAt <= this.opts.stallTimeoutMs) return;
          cut.abort(
            new StalledError(
              `no progress for ${Math.round(this.opts.stallTimeoutMs / 1000)} s: connection to ${r.target.nodeId} dropped`,
            ),
          );
        },
        Math.min(1000, this.opts.stallTimeoutMs / 4),
      );
      try {
        const snap = await this.store.require(p, r.snapshotId);
        const prep: PrepareReceiveRequest = {
          share: r.target.share,
          portion: r.target.portion,
          snapshotId: r.snapshotId,
          ...(r.baseSnapshotId ? { baseSnapshotId: r.baseSnapshotId } : {}),
          driver: this.driver.name,
          createdAt: snap.createdAt,
          expiresAt: snap.expiresAt,
          sizeBytes: snap.sizeBytes,
        };
        const st = ReceiveStatus.parse(
          await peer.json('PUT', `/receives/${encodeURIComponent(r.transferId)}`, prep, signal),
        );
        reached = true;
        if (st.state === 'received' || st.state === 'committed') {
          await this.finish(r, 'succeeded', null);
          return;
        }
        if (st.state === 'failed') throw new PeerHttpError(422, `receiver: ${st.error ?? 'receive failed'}`);
        const offset = st.receivedBytes;
        if (offset > 0 || attempt > 1) {
          r.resumes += 1;
          r.resumedFrom = offset;
          this.log.info({ transferId: r.transferId, offset }, 'resuming stream');
        }
        r.bytesSent = offset;
        const sent =
          (offset === 0 && r.bandwidthLimit === 0 && (await this.sendUpgraded(r, run, peer, p, signal))) ||
          (await this.sendChunked(r, run, peer, p, offset, signal));
        // The receiver checks the whole stream before it answers complete: that takes as long as it takes.
        watching = false;
        r.bytesTotal = sent.totalBytes;
        r.bytesSent = sent.totalBytes;
        const done = ReceiveStatus.parse(
          await peer.json(
            'POST',
            `/receives/${encodeURIComponent(r.transferId)}/complete`,
            sent.digest === undefined
              ? { totalBytes: sent.totalBytes, digest: 'native' }
              : { totalBytes: sent.totalBytes, sha256: sent.digest, digest: 'records-sha256' },
            run.abort.signal,
          ),
        );
        if (done.state === 'received' || done.state === 'committed') {
          await this.finish(r, 'succeeded', null, peer.cipher ? { tls: peer.cipher } : {});
          return;
        }
        throw new Error(`receiver answered complete with state ${done.state}`);
      } catch (caught) {
        if (run.abort.signal.aborted) return; // cancelled or shutting down: state already set (or resumed later)
        const err: unknown = cut.signal.aborted ? cut.signal.reason : caught;
        if (err instanceof PeerHttpError && err.fatal) {
          await this.finish(r, 'failed', err.detail);
          return;
        }
        if (err instanceof NotFoundError || err instanceof ValidationError) {
          await this.finish(r, 'failed', err.message);
          return;
        }
        // A network outage (a peer down, a cut link) is waited out without counting attempts, up to the outage limit
        // (and as long as the snapshot lives: an expired one is pruned, and the next attempt fails on it): a long WAN
        // outage then resumes the stream where the receiver has it, instead of failing the transfer and sending
        // the portion again from its first byte under a new transfer. Failures the peer answers count as before.
        if (r.bytesSent > before) {
          idle = 0;
          unreachableSince = null;
          outageAttempts = 0;
        } else if (!reached && isNetworkFailure(err)) {
          unreachableSince ??= Date.now();
          outageAttempts++;
        } else {
          idle++;
          unreachableSince = null;
          outageAttempts = 0;
        }
        if (idle >= MAX_IDLE_ATTEMPTS) {
          await this.finish(r, 'failed', `no progress after ${idle} attempts: ${errorMessage(err)}`);
          return;
        }
        if (unreachableSince !== null && Date.now() - unreachableSince >= this.opts.peerOutageLimitMs) {
          const seconds = Math.round((Date.now() - unreachableSince) / 1000);
          await this.finish(
            r,
            'failed',
            `peer ${r.target.nodeId} unreachable for ${seconds} s (${outageAttempts} attempts; GATEWAY_PEER_OUTAGE_LIMIT): ${errorMessage(err)}`,
          );
          return;
        }
        // Backoff, at most 5 s and never longer than the stall timeout: the link is tried again about as often as
        // a stalled attempt would be given up on.
        const backoff = Math.min(5000, this.opts.stallTimeoutMs, 250 * 2 ** Math.min(idle + outageAttempts, 5));
        const wait = err instanceof PeerHttpError && err.status === 409 ? 200 : backoff;
        const quiet = outageAttempts > 3 && Date.now() - outageLoggedAt < 60_000;
        if (!quiet && outageAttempts > 0) outageLoggedAt = Date.now();
        this.log[quiet ? 'debug' : 'warn'](
          {
            transferId: r.transferId,
            err: errorMessage(err),
            retryInMs: wait,
            ...(unreachableSince === null
              ? {}
              : { unreachableForS: Math.round((Date.now() - unreachableSince) / 1000), attempts: outageAttempts }),
          },
          'stream interrupted',
        );
        await this.persist(r).catch(() => undefined);
        await sleep(wait);
      } finally {
        clearInterval(watchdog);
      }
    }
  }

  /** Sends the stream from `offset` as the body of a chunked data request (any driver, any offset, paced or not). */
  private async sendChunked(
    r: TransferRecord,
    run: Running,
    peer: PeerClient,
    p: PortionRef,
    offset: number,
    signal: AbortSignal,
  ): Promise<{ totalBytes: number; digest: string | undefined }> {
    const sent = await this.driver.send(p, r.snapshotId, r.baseSnapshotId ?? undefined, offset);
    const { stream, totalBytes } = sent;
    if (totalBytes !== null) r.bytesTotal = totalBytes;
    // A stream regenerated from before the offset (btrfs, zfs) re-sends its last bytes before it: the overlap.
    const from = sent.startsAt < offset ? Math.max(sent.startsAt, offset - STREAM_OVERLAP_BYTES) : offset;
    let pos = sent.startsAt; // where the next byte read from the driver is in the stream
    let sentPos = from; // where the next byte handed to the network is
    const progress = (n: number): void => {
      sentPos += n;
      advance(r, run, sentPos);
      this.store.touch();
    };
    const paced = r.bandwidthLimit > 0;
    // Unpaced, one Transform skips what comes before `from` and records progress (each stage costs per chunk);
    // paced, progress is recorded after the Throttle, so that it reports what went out.
    const skipper = new Transform({
      highWaterMark: 1024 * 1024,
      transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback) {
        const start = pos;
        pos += chunk.length;
        if (pos <= from) {
          run.progressAt = Date.now(); // regenerating the stream up to the offset is going forward too
          cb();
          return;
        }
        const out = start >= from ? chunk : chunk.subarray(from - start);
        if (!paced) progress(out.length);
        cb(null, out);
      },
    });
    let body: Readable = stream.pipe(skipper);
    if (paced) {
      const throttle = new Throttle(r.bandwidthLimit);
      const counter = new Transform({
        transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback) {
          progress(chunk.length);
          cb(null, chunk);
        },
      });
      body = skipper.pipe(throttle).pipe(counter);
      throttle.on('error', (err) => body.destroy(err));
    }
    stream.on('error', (err) => body.destroy(err));
    skipper.on('error', (err) => body.destroy(err));
    const persistTimer = setInterval(() => void this.persist(r).catch(() => undefined), 2000);
    try {
      await peer.stream(`/receives/${encodeURIComponent(r.transferId)}/data?offset=${from}`, body, signal);
    } finally {
      clearInterval(persistTimer);
      stream.destroy();
    }
    if (pos < offset) throw new PeerHttpError(422, 'the stream is shorter than what the receiver already has');
    return { totalBytes: pos, digest: sent.digest };
  }

  /**
   * Sends a whole stream through a data request upgraded to a raw stream: the driver's tool (`btrfs send`) writes
   * straight into the connection, so no byte goes through this process. Resolves undefined when the driver has no
   * such tool, the link is TLS, or the receiver does not offer the upgrade (the caller sends it chunked). The length
   * is the receiver's count of a connection the sender half-closed after the tool exited 0, and `receive` checks the
   * stream's own checksums; progress is the receiver's, asked every second.
   */
  private async sendUpgraded(
    r: TransferRecord,
    run: Running,
    peer: PeerClient,
    p: PortionRef,
    signal: AbortSignal,
  ): Promise<{ totalBytes: number; digest: undefined } | undefined> {
    if (!this.driver.sendInto || this.noUpgrade.has(peer.baseUrl) || !peer.baseUrl.startsWith('http:'))
      return undefined;
    const path = `/receives/${encodeURIComponent(r.transferId)}`;
    const sock = await peer.upgrade(`${path}/data?offset=0`, signal);
    if (!sock) {
      this.noUpgrade.add(peer.baseUrl);
      return undefined;
    }
    // A reset shows in the tool's exit code or in the missing answer; unlistened, it would end the agent.
    sock.on('error', () => undefined);
    const child = this.driver.sendInto(p, r.snapshotId, r.baseSnapshotId ?? undefined, sock);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((res) => {
      child.on('error', (err) => {
        stderr += err.message;
        res(null);
      });
      // 'exit', not 'close': 'close' would wait for the connection, which this side ends only after the exit
      child.on('exit', (code) => res(code));
    });
    const onAbort = (): void => {
      child.kill('SIGKILL');
      sock.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const poll = setInterval(() => {
      void peer
        .json('GET', path, undefined, signal)
        .then((st) => {
          advance(r, run, ReceiveStatus.parse(st).receivedBytes);
          this.store.touch();
        })
        .catch(() => undefined);
    }, 1000);
    const persistTimer = setInterval(() => void this.persist(r).catch(() => undefined), 2000);
    try {
      const code = await exited;
      if (code !== 0) {
        throw new Error(`${this.driver.name} send failed (exit ${code}): ${stderr.trim() || 'no message'}`);
      }
      // Read only now: spawning stopped this process reading a connection it shares with the tool.
      const answer = firstLine(sock);
      sock.end(); // the whole stream is written: half-close, the receiver answers
      const msg = JSON.parse(await answer) as { status?: unknown; problem?: unknown };
      if (msg.problem) {
        const problem = GatewayProblem.parse(msg.problem);
        throw new PeerHttpError(problem.status, problem.detail ?? problem.title);
      }
      const totalBytes = ReceiveStatus.parse(msg.status).receivedBytes;
      this.log.info({ transferId: r.transferId, bytes: totalBytes }, 'stream written by the tool into the connection');
      return { totalBytes, digest: undefined };
    } finally {
      clearInterval(poll);
      clearInterval(persistTimer);
      signal.removeEventListener('abort', onAbort);
      child.kill('SIGKILL');
      sock.destroy();
    }
  }
}
