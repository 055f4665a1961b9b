// --watch: follows a job or an operation until it ends, with live progress bars on a terminal (cli-progress) and one
// line per change otherwise (a log, a CI job). It polls the resource's own GET once a second instead of reading the
// server-sent events stream: GET /operations/{id} carries what a watcher needs in one answer (the steps, the final
// delta's jobs with their percent, the workflow's status; the stream's operation events have no jobs), a poll needs no
// reconnect or resync logic across API restarts and proxies, and it costs one indexed query a second, while job
// progress is itself written at most every 2 s. A failed poll (no answer, 5xx) is retried for a minute.
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { JobDetails, OperationStatus } from './api-types';
import { ApiError, seg, type ApiClient } from './client';
import { CliError, EXIT } from './exit-codes';
import { bytes, duration, elapsed, mark, rate, words } from './format';
import type { Output } from './output';
import { ENDED_STATES, OPERATION_LABELS } from './operations-meta';

export interface WatchOptions {
  intervalMs?: number;
  /** How long polls may fail in a row before the watch gives up (exit 6). */
  giveUpMs?: number;
}

type Stream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Polls `load` until `ended`, calling `show` with every answer; Ctrl-C stops the watch (not what is watched). */
async function poll<T>(
  load: () => Promise<T>,
  ended: (v: T) => boolean,
  show: (v: T) => void,
  o: WatchOptions & { out: Output; onInterrupt: () => string },
): Promise<T> {
  const interval = o.intervalMs ?? 1000;
  const giveUp = o.giveUpMs ?? 60_000;
  let interrupted = false;
  let wake: (() => void) | undefined;
  const onSigint = () => {
    interrupted = true;
    wake?.();
  };
  process.on('SIGINT', onSigint);
  let failingSince: number | null = null;
  try {
    for (;;) {
      if (interrupted) throw new CliError(o.onInterrupt(), EXIT.interrupted);
      let v: T | undefined;
      try {
        v = await load();
        if (failingSince !== null) o.out.warn('fsdr: the API answers again');
        failingSince = null;
      } catch (err) {
        const transient = !(err instanceof ApiError) || err.status >= 500;
        if (!transient) throw err;
        if (failingSince === null) {
          failingSince = Date.now();
          o.out.warn(`fsdr: ${(err as Error).message.split('\n')[0]}; retrying for ${duration(giveUp / 1000)}`);
        } else if (Date.now() - failingSince > giveUp) throw err;
      }
      if (v !== undefined) {
        show(v);
        if (ended(v)) return v;
      }
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, interval);
      });
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function bars(stream: Stream): MultiBar {
  return new MultiBar(
    {
      stream,
      format: ' {label} |{bar}| {detail}',
      barsize: 20,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      autopadding: true,
      fps: 10,
      forceRedraw: true,
    },
    Presets.shades_classic,
  );
}

/** Writes what was logged since the last frame, then the final frame, and gives the terminal back. */
function stopBars(multi: MultiBar | undefined): void {
  if (!multi) return;
  multi.update();
  multi.stop();
}

function pad(label: string, width: number): string {
  return label.length > width ? `${label.slice(0, width - 1)}~` : label.padEnd(width);
}

function jobDetail(
  j: { state: string; percent: number; bytesSynced: number; bytesTotal: number },
  bps?: number | null,
) {
  const amount = j.bytesTotal ? `${bytes(j.bytesSynced)} / ${bytes(j.bytesTotal)}` : bytes(j.bytesSynced);
  return `${String(j.percent).padStart(3)}%  ${amount}${bps ? `  ${rate(bps)}` : ''}  ${words(j.state)}`;
}

/** Follows a job until it ends; returns its last state. */
export async function watchJob(client: ApiClient, id: string, out: Output, o: WatchOptions = {}): Promise<JobDetails> {
  const stream = out.infoStream as Stream;
  const tty = stream.isTTY === true;
  const multi = tty ? bars(stream) : undefined;
  let main: SingleBar | undefined;
  const subs = new Map<string, SingleBar>();
  let lastLine = '';
  let lastDecile = -1;
  try {
    return await poll(
      () => client.get<JobDetails>(`/jobs/${seg(id)}`),
      (j) => ENDED_STATES.has(j.state),
      (j) => {
        const label = `${j.share} ${j.source} -> ${j.destination}`;
        if (multi) {
          const detail = jobDetail(j, j.averageThroughputBps);
          if (!main) main = multi.create(100, j.percent, { label: pad(label, 24), detail });
          else main.update(j.percent, { detail });
          if (j.subJobs.length > 1) {
            for (const s of j.subJobs) {
              const pct = s.bytesTotal
                ? Math.floor((100 * s.bytesSynced) / s.bytesTotal)
                : s.state === 'succeeded'
                  ? 100
                  : 0;
              const d = jobDetail({ ...s, percent: pct }, s.throughputBps);
              const l = pad(`  ${s.sourceNodeId} -> ${s.destNodeId}${s.portion ? ` ${s.portion}` : ''}`, 24);
              const bar = subs.get(s.id);
              if (bar) bar.update(pct, { detail: d });
              else subs.set(s.id, multi.create(100, pct, { label: l, detail: d }));
            }
          }
          return;
        }
        // Lines: every change of state and every 10 % step, so a log stays short.
        const decile = Math.floor(j.percent / 10);
        const line = `${label}: ${words(j.state)} ${j.percent}% (${bytes(j.bytesSynced)} of ${bytes(j.bytesTotal)}${j.averageThroughputBps ? `, ${rate(j.averageThroughputBps)}` : ''})`;
        const key = `${j.state}|${decile}`;
        if (key !== lastLine || (ENDED_STATES.has(j.state) && decile !== lastDecile)) out.info(line);
        lastLine = key;
        lastDecile = decile;
      },
      {
        ...o,
        out,
        onInterrupt: () => `stopped watching; the job goes on: fsdr jobs show ${id} --watch`,
      },
    );
  } finally {
    stopBars(multi);
  }
}

/** Follows an operation until it ends; returns its last state. */
export async function watchOperation(
  client: ApiClient,
  id: string,
  out: Output,
  o: WatchOptions = {},
): Promise<OperationStatus> {
  const stream = out.infoStream as Stream;
  const multi = stream.isTTY === true ? bars(stream) : undefined;
  let stepsBar: SingleBar | undefined;
  const jobBars = new Map<string, SingleBar>();
  const seen = new Map<string, string>();
  const jobSeen = new Map<string, string>();
  let stateSeen = '';
  const log = (line: string) => (multi ? multi.log(`${line}\n`) : out.info(line));
  try {
    return await poll(
      () => client.get<OperationStatus>(`/operations/${seg(id)}`),
      (op) => ENDED_STATES.has(op.state),
      (op) => {
        if (op.state !== stateSeen) {
          stateSeen = op.state;
          log(`${OPERATION_LABELS[op.kind]} ${op.id}: ${words(op.state)}${waitingFor(op)}`);
        }
        for (const s of op.steps) {
          const key = `${s.state}|${s.detail ?? ''}`;
          if (seen.get(s.name) === key) continue;
          const before = seen.get(s.name);
          seen.set(s.name, key);
          if (before === undefined && s.state === 'pending') continue;
          const took = s.endedAt ? ` (${duration(elapsed(s.startedAt, s.endedAt))})` : '';
          log(`  ${mark(s.state)} ${s.name}${took}${s.detail ? `: ${s.detail}` : ''}`);
        }
        const done = op.steps.filter((s) => s.state !== 'pending' && s.state !== 'running').length;
        const current = op.steps.find((s) => s.state === 'running')?.name ?? words(op.state);
        if (multi) {
          const detail = `${done}/${op.steps.length}  ${current}`;
          if (!stepsBar) stepsBar = multi.create(op.steps.length || 1, done, { label: pad('steps', 24), detail });
          else stepsBar.update(done, { detail });
          for (const j of op.jobs) {
            const bar = jobBars.get(j.id);
            if (bar) bar.update(j.percent, { detail: jobDetail(j) });
            else
              jobBars.set(j.id, multi.create(100, j.percent, { label: pad(`  ${j.share}`, 24), detail: jobDetail(j) }));
          }
          return;
        }
        for (const j of op.jobs) {
          const key = `${j.state}|${Math.floor(j.percent / 25)}`;
          if (jobSeen.get(j.id) === key) continue;
          jobSeen.set(j.id, key);
          out.info(`     ${j.share}: ${jobDetail(j).trim()}`);
        }
      },
      {
        ...o,
        out,
        onInterrupt: () =>
          `stopped watching; the operation goes on: fsdr operations show ${id} --watch (cancel it: fsdr operations cancel ${id})`,
      },
    );
  } finally {
    stopBars(multi);
  }
}

function waitingFor(op: OperationStatus): string {
  if (op.state === 'awaiting_approval') return ` (a second admin approves it: fsdr operations approve ${op.id})`;
  if (op.state === 'scheduled' && op.startAt) return ` (starts at ${op.startAt})`;
  return '';
}
