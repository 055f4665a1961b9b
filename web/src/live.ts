// Live updates pushed by the API (GET /api/v1/events, read with fetch so the bearer header goes with it). When the
// stream cannot be had (a proxy that buffers, an old API, a network problem) the UI falls back to polling: views
// reload every few seconds until the stream is back. A revoked token ends the stream and returns to sign-in.
import { readEventStream } from './sse';
import type { JobSummary, Operation } from './types';

export type ChangeTopic = 'policies' | 'fileServers' | 'alerts';
export type LiveEvent =
  | { type: 'job'; data: JobSummary }
  | { type: 'operation'; data: Operation }
  | { type: 'changed'; data: { topics: ChangeTopic[] } }
  /** The stream (re)connected: whatever happened meanwhile is unknown, so views reload. */
  | { type: 'resync' };
export type LiveMode = 'connecting' | 'live' | 'polling';

export const POLL_MS = 3000;

class LiveConnection {
  mode: LiveMode = 'connecting';
  private readonly listeners = new Set<(e: LiveEvent) => void>();
  private readonly modeListeners = new Set<(m: LiveMode) => void>();
  private abort?: AbortController;
  private retry?: ReturnType<typeof setTimeout>;
  private failures = 0;

  subscribe(fn: (e: LiveEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onMode(fn: (m: LiveMode) => void): () => void {
    this.modeListeners.add(fn);
    return () => this.modeListeners.delete(fn);
  }

  start(token: string, onUnauthorized: (message: string) => void): void {
    this.stop();
    const abort = new AbortController();
    this.abort = abort;
    void this.run(token, abort, onUnauthorized);
  }

  stop(): void {
    this.abort?.abort();
    this.abort = undefined;
    if (this.retry) clearTimeout(this.retry);
    this.setMode('connecting');
  }

  private setMode(m: LiveMode): void {
    if (this.mode === m) return;
    this.mode = m;
    for (const fn of this.modeListeners) fn(m);
  }

  private emit(e: LiveEvent): void {
    for (const fn of this.listeners) fn(e);
  }

  private async run(token: string, abort: AbortController, onUnauthorized: (message: string) => void) {
    let renew = false;
    try {
      const res = await fetch('/api/v1/events', {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        signal: abort.signal,
        cache: 'no-store',
      });
      if (res.status === 401) {
        onUnauthorized('the token is not valid any more');
        return;
      }
      if (!res.ok || !res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) {
        throw new Error(`the event stream answered ${res.status}`);
      }
      await readEventStream(
        res.body,
        (m) => {
          if (m.event === 'ready') {
            this.failures = 0;
            this.setMode('live');
            this.emit({ type: 'resync' });
          } else if (m.event === 'unauthorized') {
            onUnauthorized((JSON.parse(m.data) as { detail?: string }).detail ?? 'the token was revoked');
          } else if (m.event === 'reconnect') {
            renew = true;
          } else if (m.event === 'job' || m.event === 'operation' || m.event === 'changed') {
            this.emit({ type: m.event, data: JSON.parse(m.data) as never });
          }
        },
        abort.signal,
      );
    } catch {
      // handled below: fall back to polling and try again later
    }
    if (abort.signal.aborted || this.abort !== abort) return;
    if (!renew) {
      this.failures++;
      this.setMode('polling');
    }
    const wait = renew ? 0 : Math.min(30_000, 2000 * 2 ** Math.min(this.failures - 1, 4));
    this.retry = setTimeout(() => {
      if (this.abort === abort) void this.run(token, abort, onUnauthorized);
    }, wait);
  }
}

export const live = new LiveConnection();
