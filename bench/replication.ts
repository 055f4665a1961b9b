// `npm run bench -- replication [--quick] [--size-mib N] [--small-files N] [--reps N] [--no-btrfs] [--dir /path]`
// Generates a data set (default about 1 GiB: 10k small files plus a few large ones), replicates it between two agent
// processes on loopback (portable driver: base, then incrementals of small changes, then the rename of the folder
// that holds the large files), and compares with the yardsticks run on the same data, disk and run: a tar-to-tar pipe
// (base), `rsync -a` (incremental, rename) and raw `btrfs send | btrfs receive` between two loop-mounted btrfs images
// (btrfs driver), and the portable base copy with the data plane on mutual TLS against plain HTTP (same agents, same
// data, restarted with and without certificates in turn; the cipher suite that ran is printed). Peak RSS of both
// agents is read from /proc (VmHWM). The last line (printed by bench/run.ts) is one
// JSON object with the figures. Base copies and their yardsticks run --reps times (default 3, --quick 2),
// interleaved, as do the incrementals (a new change each round) and rsync, and the figures are the medians: on a
// shared VM one pair of runs can differ by 2x either way.
import { execFileSync, execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSync } from 'esbuild';
import type { TransferStatus } from '../domain/gateway-contract';
import { REPO, agentUrl, startAgent, transferEnded, type Agent } from '../test/gateway/helpers';
import { freePort } from '../test/helpers/ports';
import { createCertificateAuthority, issueFsvmCertificate } from '../infra/tls-certificates';
import type { BenchContext, BenchFigures } from './run';

const MiB = 1024 * 1024;
const PAIR = 'bench-pair-token-0123456789';
/** BENCH_CPU_PROF=<dir>: both agents write V8 CPU profiles there when they stop (open in Chrome DevTools). */
const nodeArgs = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function peakRssMb(pid: number | undefined): number {
  if (!pid) return NaN;
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

function timed(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function timedAsync(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** Writes the data set; returns its size in bytes. Incompressible content, names spread over 100 directories. */
function generate(root: string, smallFiles: number, totalBytes: number): number {
  const pool = randomBytes(64 * MiB);
  let written = 0;
  for (let i = 0; i < smallFiles; i++) {
    const size = 1024 + ((i * 7919) % (15 * 1024));
    const dir = path.join(root, `d${i % 100}`);
    if (i < 100) fs.mkdirSync(dir, { recursive: true });
    const off = (i * 4099) % (pool.length - size);
    fs.writeFileSync(path.join(dir, `f${i}.dat`), pool.subarray(off, off + size));
    written += size;
  }
  const large = Math.max(0, totalBytes - written);
  const count = large > 0 ? Math.max(1, Math.min(4, Math.round(large / (64 * MiB)))) : 0;
  fs.mkdirSync(path.join(root, 'large'), { recursive: true });
  for (let j = 0; j < count; j++) {
    const size = Math.floor(large / count);
    const fd = fs.openSync(path.join(root, 'large', `big${j}.bin`), 'w');
    let done = 0;
    while (done < size) {
      const n = Math.min(8 * MiB, size - done);
      const off = ((j * 13 + done / MiB) * 65537) % (pool.length - n);
      fs.writeSync(fd, pool.subarray(off, off + n));
      done += n;
    }
    fs.closeSync(fd);
    written += size;
  }
  return written;
}

/**
 * A small change: rewritten, new, deleted and renamed files (round r renames directory d(99-r)), one chmod. Returns
 * the bytes of changed content.
 */
function change(root: string, smallFiles: number, round: number): number {
  let changed = 0;
  const n = Math.max(10, Math.round(smallFiles / 50));
  for (let i = 0; i < n; i++) {
    const p = path.join(root, `d${(i * 3) % 100}`, `f${(i * 3) % smallFiles}.dat`);
    if (!fs.existsSync(p)) continue;
    const data = randomBytes(fs.statSync(p).size);
    fs.writeFileSync(p, data);
    changed += data.length;
  }
  fs.mkdirSync(path.join(root, 'new'), { recursive: true });
  for (let i = 0; i < Math.max(5, Math.round(n / 4)); i++) {
    const data = randomBytes(256 * 1024);
    fs.writeFileSync(path.join(root, 'new', `n${i}.bin`), data);
    changed += data.length;
  }
  for (let i = 1; i < n; i += 2)
    fs.rmSync(path.join(root, `d${(i * 7) % 100}`, `f${(i * 7) % smallFiles}.dat`), { force: true });
  fs.renameSync(path.join(root, `d${99 - round}`), path.join(root, `d${99 - round}-renamed`));
  fs.chmodSync(path.join(root, 'd1'), 0o750);
  return changed;
}

const finished = (a: Agent, id: string): Promise<TransferStatus> => transferEnded(a, id, 3_600_000, 50);

async function replicate(
  a: Agent,
  b: Agent,
  id: string,
  snapshotId: string,
  base?: string,
  targetShare = 'bench',
): Promise<TransferStatus> {
  await a.client.startTransfer({
    transferId: id,
    share: 'bench',
    snapshotId,
    ...(base ? { baseSnapshotId: base } : {}),
    target: { nodeId: b.nodeId, share: targetShare },
  });
  const t = await finished(a, id);
  if (t.state !== 'succeeded') throw new Error(`transfer ${id} ${t.state}: ${t.error}`);
  return t;
}

/**
 * A transfer's duration as the sending agent recorded it (queued to finished, ms resolution): polling for the end
 * would add up to a poll interval, and polling often would load the agents being measured.
 */
function agentSeconds(t: TransferStatus): number {
  return (Date.parse(t.finishedAt!) - Date.parse(t.startedAt)) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * One more base of s1 from `a` into a fresh share of `b`, timed, then deleted (its snapshot published without
 * touching the share, then deleted) so that the next sample starts from the same free space.
 */
async function extraBase(a: Agent, b: Agent, id: string): Promise<number> {
  await b.client.createShare(id, { accessMode: 'read_only' });
  execSync('sync');
  const s = agentSeconds(await replicate(a, b, id, 's1', undefined, id));
  await b.client.commitReceive(id, { updateLive: false });
  await b.client.deleteSnapshot(id, 's1');
  await b.client.deleteShare(id);
  return s;
}

/**
 * The agent as deployed runs compiled JavaScript (`node dist/gateway/main.js`), not through tsx, whose loader adds
 * ~30 MB of RSS and its own CPU: the benchmark compiles `gateway/main.ts` the same way (one bundle of the agent's
 * own code, its packages left to node_modules) and runs that.
 */
function compileAgent(): string {
  const out = path.join(REPO, 'dist/bench/gateway-main.js');
  buildSync({
    entryPoints: [path.join(REPO, 'gateway/main.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outfile: out,
    logLevel: 'warning',
  });
  return out;
}
let compiledAgent: string | undefined;
/** Each agent's port by node id, chosen at its first use: a sender pins its peers' addresses before they start. */
const ports = new Map<string, Promise<number>>();
function portOf(nodeId: string): Promise<number> {
  if (!ports.has(nodeId)) ports.set(nodeId, freePort());
  return ports.get(nodeId)!;
}

async function agent(
  name: string,
  dir: string,
  driver: 'portable' | 'btrfs',
  peers: string[],
  o: { env?: Record<string, string>; tls?: BenchTls } = {},
) {
  const nodeId = `bench-${name}`;
  return startAgent({
    nodeId,
    port: await portOf(nodeId),
    dataRoot: path.join(dir, name),
    driver,
    peers: Object.fromEntries(peers.map((p) => [p, PAIR])),
    peerUrls: Object.fromEntries(
      await Promise.all(peers.map(async (p) => [p, agentUrl(await portOf(p), o.tls !== undefined)])),
    ),
    ...(o.tls ? { tls: o.tls(nodeId) } : {}),
    nodeArgs,
    entry: (compiledAgent ??= compileAgent()),
    env: { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', ...o.env },
  });
}

/** The TLS files of a bench agent by node id (its certificate names fs-test and the node, as startAgent runs it). */
type BenchTls = (nodeId: string) => { certFile: string; keyFile: string; caFile: string };

/** A CA and a certificate for each bench agent, made with openssl under `dir`. */
async function benchTls(dir: string): Promise<BenchTls> {
  const ca = await createCertificateAuthority(path.join(dir, 'ca'), { name: 'ca', commonName: 'fs-dr bench CA' });
  const certs = path.join(dir, 'certs');
  for (const nodeId of ['bench-a', 'bench-b'])
    await issueFsvmCertificate(ca, certs, { fileServer: 'fs-test', nodeId, hosts: ['127.0.0.1'] });
  return (nodeId) => ({
    certFile: path.join(certs, `${nodeId}.pem`),
    keyFile: path.join(certs, `${nodeId}.key`),
    caFile: ca.certFile,
  });
}

async function agents(
  root: string,
  driver: 'portable' | 'btrfs',
  rootB = root,
  o: { env?: Record<string, string>; tls?: BenchTls } = {},
): Promise<[Agent, Agent]> {
  const a = await agent('a', root, driver, ['bench-b', 'bench-c'], o);
  const b = await agent('b', rootB, driver, ['bench-a'], o);
  await a.client.createShare('bench');
  await b.client.createShare('bench', { accessMode: 'read_only' });
  return [a, b];
}

/** Makes a filesystem on a sparse image file under `dir` (btrfs unless told) and loop-mounts it; returns the mount. */
function mountImage(dir: string, name: string, bytes: number, mkfs = ['mkfs.btrfs', '-q']): string {
  const img = path.join(dir, `${name}.img`);
  const mnt = path.join(dir, name);
  fs.mkdirSync(mnt, { recursive: true });
  fs.writeFileSync(img, '');
  fs.truncateSync(img, bytes);
  execFileSync(mkfs[0]!, [...mkfs.slice(1), img], { stdio: 'pipe' });
  execFileSync('mount', ['-o', 'loop', img, mnt]);
  return mnt;
}

/**
 * A fresh ext4 filesystem for the portable half (a loop-mounted sparse image, inode tables and journal written by
 * mkfs, not lazily in the background), or undefined when that cannot be had (not root, no mkfs.ext4). Why: on this
 * VM's root filesystem the cost of creating a file depends on its directory's block group by up to 30x (25 µs against
 * 400-800 µs per create, the same loop of creates in two directories; mkdir, rename and link are fast in both), so
 * the same run of ours or of a yardstick varied 2-4x with where its directories landed. On a fresh filesystem both
 * get the same allocator, as on a file server's own data volume.
 */
function freshExt4(parent: string, bytes: number, cleanups: (() => void)[]): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  let mnt: string;
  try {
    mnt = mountImage(parent, 'portable-ext4', bytes, [
      'mkfs.ext4',
      '-q',
      '-F',
      '-E',
      'lazy_itable_init=0,lazy_journal_init=0',
    ]);
  } catch {
    return undefined; // the image is removed with the work directory
  }
  cleanups.push(() => void execFileSync('umount', [mnt]));
  return mnt;
}

export default async function replication(ctx: BenchContext): Promise<BenchFigures> {
  const sizeMiB = Number(arg(ctx.args, '--size-mib') ?? (ctx.quick ? 160 : 1024));
  const smallFiles = Number(arg(ctx.args, '--small-files') ?? (ctx.quick ? 2000 : 10000));
  // The data set spreads small files over 100 directories and the change renames one of them.
  if (!Number.isInteger(smallFiles) || smallFiles < 100) throw new Error('--small-files must be an integer >= 100');
  if (!(sizeMiB > 0)) throw new Error('--size-mib must be a positive number');
  const reps = Number(arg(ctx.args, '--reps') ?? (ctx.quick ? 2 : 3));
  if (!Number.isInteger(reps) || reps < 1 || reps > 20) throw new Error('--reps must be an integer from 1 to 20');
  const withBtrfs = !ctx.args.includes('--no-btrfs');
  const dirArg = arg(ctx.args, '--dir');
  const work = fs.mkdtempSync(path.join(dirArg ?? os.tmpdir(), 'bench-repl-'));
  const cleanups: (() => Promise<void> | void)[] = [() => fs.rmSync(work, { recursive: true, force: true })];
  const figures: BenchFigures = {};
  try {
    // ---- portable driver: base ------------------------------------------------------------------------------
    // a's live tree and store, b's store and live tree, one more base and two tar copies at a time: ~7x the data
    const ext4 = dirArg ? undefined : freshExt4(work, (sizeMiB * 8 + 1024) * MiB, cleanups);
    const pwork = ext4 ?? work;
    ctx.log(`portable driver and its yardsticks on ${ext4 ? 'a fresh ext4 filesystem (loop-mounted image)' : pwork}`);
    figures.portable_fs = ext4 ? 'fresh ext4 image' : pwork;
    const [a, b] = await agents(pwork, 'portable');
    cleanups.push(
      () => a.stop(),
      () => b.stop(),
    );
    const live = path.join(a.dataRoot, 'shares/bench');
    ctx.log(`generating ${sizeMiB} MiB (${smallFiles} small files + large ones) in ${live}`);
    const bytes = generate(live, smallFiles, sizeMiB * MiB);
    execSync('sync');
    const snapS = await timedAsync(() => a.client.createSnapshot('bench', { snapshotId: 's1' }));
    ctx.log(`snapshot s1: ${snapS.toFixed(2)} s`);
    // the yardstick (tar) starts from a synced disk too: the snapshot's copy must not be written back during the base
    execSync('sync');
    const baseSamples = [agentSeconds(await replicate(a, b, 't-base', 's1'))];
    const commitS = await timedAsync(() => b.client.commitReceive('t-base'));
    // tar never syncs; the receiver syncs the filesystem once before it reports a snapshot received: each tar copy is
    // also timed up to the end of a sync after it (its data on disk, as ours is when it reports)
    const rawSamples: number[] = [];
    const rawSyncSamples: number[] = [];
    const tarInto = (dst: string): number => {
      fs.mkdirSync(dst);
      execSync('sync');
      const t = timed(() => execSync(`tar -C '${live}' -cf - . | tar -C '${dst}' -xf -`, { stdio: 'pipe' }));
      rawSyncSamples.push(t + timed(() => execFileSync('sync', ['-f', dst])));
      return t;
    };
    const rawDst = path.join(pwork, 'raw-copy');
    rawSamples.push(tarInto(rawDst));
    for (let i = 1; i < reps; i++) {
      const tarDst = path.join(pwork, `raw-copy-${i}`);
      const ours = () => extraBase(a, b, `rep${i}`);
      // alternate which of the two goes first
      if (i % 2) baseSamples.push(await ours());
      rawSamples.push(tarInto(tarDst));
      if (!(i % 2)) baseSamples.push(await ours());
      fs.rmSync(tarDst, { recursive: true, force: true });
    }
    const baseS = median(baseSamples);
    const rawS = median(rawSamples);
    const rawSyncS = median(rawSyncSamples);
    const baseMBps = bytes / MiB / baseS;
    const rawMBps = bytes / MiB / rawS;
    ctx.log(
      `base: ${(bytes / MiB).toFixed(0)} MiB in ${baseS.toFixed(2)} s = ${baseMBps.toFixed(1)} MiB/s (commit ${commitS.toFixed(2)} s; samples ${baseSamples.map((x) => x.toFixed(2)).join(', ')})`,
    );
    ctx.log(
      `tar | tar: ${rawS.toFixed(2)} s = ${rawMBps.toFixed(1)} MiB/s (samples ${rawSamples.map((x) => x.toFixed(2)).join(', ')}; ` +
        `with a sync ${rawSyncSamples.map((x) => x.toFixed(2)).join(', ')})`,
    );

    // ---- portable driver: incremental, --reps rounds of a new change each --------------------------------------
    // rsync copies the same change from the live tree into the tar copy, right after ours (both find the tree cached)
    let changed = 0;
    let incrWire = 0;
    const incrSamples: number[] = [];
    const rsyncSamples: number[] = [];
    const rsyncSyncSamples: number[] = [];
    let xferS = 0;
    for (let i = 0; i < reps; i++) {
      const [snap, base] = [`s${i + 2}`, `s${i + 1}`];
      changed = change(live, smallFiles, i);
      execSync('sync');
      const snapS2 = await timedAsync(() => a.client.createSnapshot('bench', { snapshotId: snap }));
      const incr = await replicate(a, b, `t-incr${i}`, snap, base);
      xferS = agentSeconds(incr);
      incrWire = incr.bytesSent;
      const commitS2 = await timedAsync(() => b.client.commitReceive(`t-incr${i}`));
      incrSamples.push(snapS2 + xferS + commitS2);
      execSync('sync');
      rsyncSamples.push(timed(() => execFileSync('rsync', ['-a', '--delete', `${live}/`, `${rawDst}/`])));
      rsyncSyncSamples.push(rsyncSamples[i]! + timed(() => execFileSync('sync', ['-f', rawDst])));
      ctx.log(
        `incremental ${i + 1}: changed ${(changed / MiB).toFixed(1)} MiB, wire ${(incrWire / MiB).toFixed(1)} MiB, ` +
          `snapshot ${snapS2.toFixed(2)} + transfer ${xferS.toFixed(2)} + commit ${commitS2.toFixed(2)} = ${incrSamples[i]!.toFixed(2)} s; rsync -a ${rsyncSamples[i]!.toFixed(2)} s (${rsyncSyncSamples[i]!.toFixed(2)} s with a sync)`,
      );
    }
    const incrS = median(incrSamples);
    const rsyncS = median(rsyncSamples);
    const rsyncSyncS = median(rsyncSyncSamples);

    // ---- portable driver: a folder renamed (the one with the large files) ----------------------------------------
    // Ours recognises the files by inode and moves them on the replica; rsync -a, without --fuzzy, copies them again.
    const renamed = [path.join(live, 'large'), path.join(live, 'large-renamed')] as const;
    const renameBytes = fs.readdirSync(renamed[0]).reduce((n, f) => n + fs.statSync(path.join(renamed[0], f)).size, 0);
    fs.renameSync(...renamed);
    execSync('sync');
    const rnSnap = `s${reps + 2}`;
    const rnSnapS = await timedAsync(() => a.client.createSnapshot('bench', { snapshotId: rnSnap }));
    const rn = await replicate(a, b, 't-rename', rnSnap, `s${reps + 1}`);
    const rnCommitS = await timedAsync(() => b.client.commitReceive('t-rename'));
    const renameS = rnSnapS + agentSeconds(rn) + rnCommitS;
    execSync('sync');
    const rsyncRenameS = timed(() => execFileSync('rsync', ['-a', '--delete', `${live}/`, `${rawDst}/`]));
    ctx.log(
      `folder of ${(renameBytes / MiB).toFixed(0)} MiB renamed: wire ${(rn.bytesSent / 1024).toFixed(0)} KiB, ` +
        `snapshot ${rnSnapS.toFixed(2)} + transfer ${agentSeconds(rn).toFixed(2)} + commit ${rnCommitS.toFixed(2)} = ` +
        `${renameS.toFixed(2)} s; rsync -a ${rsyncRenameS.toFixed(2)} s`,
    );
    const same = execSync(`diff -r '${live}' '${path.join(b.dataRoot, 'shares/bench')}' && echo same`, {
      maxBuffer: 64 * MiB,
    })
      .toString()
      .trim();
    Object.assign(figures, {
      data_bytes: bytes,
      snapshot_s: +snapS.toFixed(3),
      base_s: +baseS.toFixed(3),
      base_MBps: +baseMBps.toFixed(1),
      raw_copy_MBps: +rawMBps.toFixed(1),
      base_ratio: +(baseMBps / rawMBps).toFixed(3),
      base_ratio_samples: baseSamples.map((x, i) => +(rawSamples[i]! / x).toFixed(3)),
      raw_copy_sync_MBps: +(bytes / MiB / rawSyncS).toFixed(1),
      base_ratio_vs_synced: +(rawSyncS / baseS).toFixed(3),
      // what base_ratio tar itself reaches when it ends with its data on disk (as a receiver must before it reports)
      raw_copy_sync_ratio: +median(rawSamples.map((x, i) => x / rawSyncSamples[i]!)).toFixed(3),
      commit_s: +commitS.toFixed(3),
      incr_changed_bytes: changed,
      incr_wire_bytes: incrWire,
      incr_wire_ratio: +(incrWire / changed).toFixed(3),
      incr_s: +incrS.toFixed(3),
      incr_transfer_s: +xferS.toFixed(3),
      rsync_incr_s: +rsyncS.toFixed(3),
      incr_vs_rsync: +(incrS / rsyncS).toFixed(3),
      incr_vs_rsync_samples: incrSamples.map((x, i) => +(x / rsyncSamples[i]!).toFixed(3)),
      rsync_incr_sync_s: +rsyncSyncS.toFixed(3),
      incr_vs_rsync_synced: +(incrS / rsyncSyncS).toFixed(3),
      rename_bytes: renameBytes,
      rename_wire_bytes: rn.bytesSent,
      rename_s: +renameS.toFixed(3),
      rsync_rename_s: +rsyncRenameS.toFixed(3),
      rename_vs_rsync: +(renameS / rsyncRenameS).toFixed(3),
      replica_identical: same.endsWith('same'),
      sender_peak_rss_mb: peakRssMb(a.proc.pid),
      receiver_peak_rss_mb: peakRssMb(b.proc.pid),
    });
    if (process.env.BENCH_LOG_LEVEL) ctx.log(`sender log:\n${a.output()}receiver log:\n${b.output()}`);
    await a.stop();
    await b.stop();

    // ---- the data plane on TLS (mutual, between pinned peers) vs plain HTTP ---------------------------------------
    // The same agents on the same data, restarted with and without TLS in turn (which goes first alternates): a base
    // copy of s1 each time. Both go chunked (the upgraded stream is plain HTTP only; the portable driver never uses it).
    const tls = await benchTls(path.join(work, 'tls'));
    const plainSamples: number[] = [];
    const tlsSamples: number[] = [];
    let cipher = '';
    for (let i = 0; i < reps; i++) {
      for (const secure of i % 2 ? [true, false] : [false, true]) {
        const [x, y] = await agents(pwork, 'portable', pwork, {
          env: { LOG_LEVEL: 'info' },
          ...(secure ? { tls } : {}),
        });
        try {
          const s = await extraBase(x, y, `${secure ? 'tls' : 'plain'}${i}`);
          (secure ? tlsSamples : plainSamples).push(s);
          if (secure) cipher = /"transferId":"tls\d+"[^\n]*"tls":"([^"]+)"/.exec(x.output())?.[1] ?? cipher;
        } finally {
          await x.stop();
          await y.stop();
        }
      }
    }
    const plainS = median(plainSamples);
    const tlsS = median(tlsSamples);
    ctx.log(
      `data plane on TLS (${cipher || 'cipher not logged'}): base ${(bytes / MiB / tlsS).toFixed(1)} MiB/s vs plain ` +
        `HTTP ${(bytes / MiB / plainS).toFixed(1)} MiB/s = ${(plainS / tlsS).toFixed(2)}x (goal >= 0.8; samples TLS ` +
        `${tlsSamples.map((x) => x.toFixed(2)).join(', ')}, plain ${plainSamples.map((x) => x.toFixed(2)).join(', ')})`,
    );
    Object.assign(figures, {
      tls_cipher: cipher,
      tls_base_s: +tlsS.toFixed(3),
      plain_base_s: +plainS.toFixed(3),
      tls_ratio: +(plainS / tlsS).toFixed(3),
      tls_ratio_samples: tlsSamples.map((x, i) => +(plainSamples[i]! / x).toFixed(3)),
    });

    // ---- btrfs driver vs raw btrfs send | receive ---------------------------------------------------------------
    if (withBtrfs) {
      // b holds s1 to s4, the raw incrementals, one more copy at a time (deleted after each sample) and, with the
      // spool, the stream
      const imgBytes = Math.max(768 * MiB, Math.ceil(sizeMiB * 5.5) * MiB);
      const mA = mountImage(work, 'btrfs-a', imgBytes);
      cleanups.push(() => void execFileSync('umount', [mA]));
      const mB = mountImage(work, 'btrfs-b', imgBytes);
      cleanups.push(() => void execFileSync('umount', [mB]));
      const [ba, bb] = await agents(mA, 'btrfs', mB);
      cleanups.push(
        () => ba.stop(),
        () => bb.stop(),
      );
      const bl = path.join(ba.dataRoot, 'shares/bench');
      generate(bl, smallFiles, sizeMiB * MiB);
      execSync('sync');
      await ba.client.createSnapshot('bench', { snapshotId: 's1' });
      const snapPath = path.join(ba.dataRoot, 'snapshots/bench/_root/s1/data');
      // waits until deleted subvolumes are cleaned up (their space back), so that every sample starts alike; the
      // commit wakes the cleaner at once instead of at its next 30 s interval
      const cleaned = (mnt: string): void => {
        execFileSync('btrfs', ['filesystem', 'sync', mnt], { stdio: 'pipe' });
        execFileSync('btrfs', ['subvolume', 'sync', mnt], { stdio: 'pipe' });
      };
      const rawSyncSamples: number[] = [];
      const rawOnce = (i: number): number => {
        const rawTarget = path.join(mB, `raw${i}`);
        fs.mkdirSync(rawTarget);
        execSync('sync');
        const t = timed(() =>
          execSync(`btrfs send -q '${snapPath}' | btrfs receive -q '${rawTarget}'`, { stdio: 'pipe' }),
        );
        // the receiver syncs once before it reports a snapshot received; raw send | receive does not
        rawSyncSamples.push(t + timed(() => execFileSync('sync', ['-f', rawTarget])));
        execFileSync('btrfs', ['subvolume', 'delete', path.join(rawTarget, 'data')], { stdio: 'pipe' });
        cleaned(mB);
        return t;
      };
      const afterDelete = async <T>(p: Promise<T>): Promise<T> => {
        const v = await p;
        cleaned(mB);
        return v;
      };
      execSync('sync');
      const oursSamples = [agentSeconds(await replicate(ba, bb, 't-btrfs', 's1'))];
      const rawSamples = [rawOnce(0)];
      for (let i = 1; i < reps; i++) {
        // alternate which of the two goes first
        if (i % 2) oursSamples.push(await afterDelete(extraBase(ba, bb, `rep${i}`)));
        rawSamples.push(rawOnce(i));
        if (!(i % 2)) oursSamples.push(await afterDelete(extraBase(ba, bb, `rep${i}`)));
      }
      const oursS = median(oursSamples);
      const rawBtrfsS = median(rawSamples);
      const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
      ctx.log(
        `btrfs: ours ${oursS.toFixed(2)} s (${list(oursSamples)}), raw send|receive ${rawBtrfsS.toFixed(2)} s ` +
          `(${list(rawSamples)}; with a sync ${list(rawSyncSamples)})`,
      );
      // btrfs incremental: the same kinds of change, snapshot + transfer + commit as for the portable driver
      await bb.client.commitReceive('t-btrfs');
      let bChanged = 0;
      let bWire = 0;
      const bIncrSamples: number[] = [];
      const bXferSamples: number[] = [];
      // the tool's own floor: raw `btrfs send -p | btrfs receive` of the same change, between the same images
      const snapData = (id: string) => path.join(ba.dataRoot, `snapshots/bench/_root/${id}/data`);
      const rawInto = (i: number) => {
        const dir = path.join(mB, `raw-incr${i}`);
        fs.mkdirSync(dir);
        return dir;
      };
      execSync(`btrfs send -q '${snapData('s1')}' | btrfs receive -q '${rawInto(1)}'`, { stdio: 'pipe' });
      const rawIncrSamples: number[] = [];
      for (let i = 0; i < reps; i++) {
        const [snap, base] = [`s${i + 2}`, `s${i + 1}`];
        bChanged = change(bl, smallFiles, i);
        execSync('sync');
        const bSnapS = await timedAsync(() => ba.client.createSnapshot('bench', { snapshotId: snap }));
        const bIncr = await replicate(ba, bb, `t-btrfs-incr${i}`, snap, base);
        const bXferS = agentSeconds(bIncr);
        bWire = bIncr.bytesSent;
        const bCommitS = await timedAsync(() => bb.client.commitReceive(`t-btrfs-incr${i}`));
        bIncrSamples.push(bSnapS + bXferS + bCommitS);
        bXferSamples.push(bXferS);
        const target = rawInto(i + 2);
        execSync('sync');
        rawIncrSamples.push(
          timed(() =>
            execSync(`btrfs send -q -p '${snapData(base)}' '${snapData(snap)}' | btrfs receive -q '${target}'`, {
              stdio: 'pipe',
            }),
          ),
        );
        ctx.log(
          `btrfs incremental ${i + 1}: changed ${(bChanged / MiB).toFixed(1)} MiB, wire ${(bWire / MiB).toFixed(1)} MiB, ` +
            `snapshot ${bSnapS.toFixed(2)} + transfer ${bXferS.toFixed(2)} + commit ${bCommitS.toFixed(2)} = ${bIncrSamples[i]!.toFixed(2)} s; ` +
            `raw send -p | receive ${rawIncrSamples[i]!.toFixed(2)} s`,
        );
      }
      const bIncrS = median(bIncrSamples);
      // the same base copies into a receiver with GATEWAY_RECEIVE_SPOOL=on (a second write of the stream, which lets
      // the splice of every resume be checked): a second receiver, bench-c, a peer the sender has pinned too
      const bc = await agent('c', mB, 'btrfs', ['bench-a'], { env: { GATEWAY_RECEIVE_SPOOL: 'on' } });
      cleanups.push(() => bc.stop());
      const spoolSamples: number[] = [];
      for (let i = 0; i < reps; i++) spoolSamples.push(await afterDelete(extraBase(ba, bc, `spool${i}`)));
      await bc.stop();
      const spoolS = median(spoolSamples);
      ctx.log(`btrfs, receiver with a spool: ${spoolS.toFixed(2)} s (${list(spoolSamples)})`);
      const bSame = execSync(`diff -r '${bl}' '${path.join(bb.dataRoot, 'shares/bench')}' && echo same`, {
        maxBuffer: 64 * MiB,
      })
        .toString()
        .trim();
      if (process.env.BENCH_LOG_LEVEL) ctx.log(`btrfs sender log:\n${ba.output()}receiver log:\n${bb.output()}`);
      Object.assign(figures, {
        btrfs_s: +oursS.toFixed(3),
        btrfs_raw_s: +rawBtrfsS.toFixed(3),
        btrfs_ratio: +(rawBtrfsS / oursS).toFixed(3),
        btrfs_ratio_samples: oursSamples.map((x, i) => +(rawSamples[i]! / x).toFixed(3)),
        btrfs_ratio_vs_synced: +(median(rawSyncSamples) / oursS).toFixed(3),
        btrfs_spool_s: +spoolS.toFixed(3),
        btrfs_ratio_spool: +(rawBtrfsS / spoolS).toFixed(3),
        btrfs_incr_changed_bytes: bChanged,
        btrfs_incr_wire_bytes: bWire,
        btrfs_incr_s: +bIncrS.toFixed(3),
        btrfs_incr_transfer_s: +median(bXferSamples).toFixed(3),
        btrfs_incr_raw_s: +median(rawIncrSamples).toFixed(3),
        btrfs_incr_raw_vs_rsync: +(median(rawIncrSamples) / (figures.rsync_incr_s as number)).toFixed(3),
        btrfs_incr_vs_rsync: +(bIncrS / (figures.rsync_incr_s as number)).toFixed(3),
        btrfs_replica_identical: bSame.endsWith('same'),
        btrfs_sender_peak_rss_mb: peakRssMb(ba.proc.pid),
        btrfs_receiver_peak_rss_mb: peakRssMb(bb.proc.pid),
      });
    }
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        ctx.log(`cleanup: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  return figures;
}
