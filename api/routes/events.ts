// GET /events: server-sent events of live changes (api/events.ts) for the web UI. The bearer token is checked like on
// every call (the browser reads the stream with fetch, since EventSource cannot send an Authorization header; a token
// never goes into a URL), and again every few seconds while the stream is open: a revoked token ends it with an
// `unauthorized` event. A stream also ends after a while with `reconnect`, so long-lived connections are renewed.
import type { Response } from 'express';
import { z } from 'zod';
import type { Db } from '../../infra/database';
import type { Principal } from '../auth';
import type { EventHub, LiveEvent } from '../events';
import type { ApiRoutes } from '../http';

export interface EventStreamOptions {
  /** How often the token is checked again (default 10 s). */
  recheckMs?: number;
  heartbeatMs?: number;
  /** The longest a stream stays open (default 30 min). */
  maxMs?: number;
}

/** One event of the stream (besides them, the stream sends `retry:` once and comment lines as heartbeats). */
const StreamEvent = z
  .object({
    event: z.enum(['ready', 'job', 'operation', 'changed', 'unauthorized', 'reconnect']),
    id: z.string().regex(/^\d+$/).describe('Sequence number of the event within this stream'),
    data: z.string().describe("The event's payload as JSON"),
    retry: z.number().int().optional().describe('How long a client waits before it reconnects (ms)'),
  })
  .meta({ id: 'LiveEvent' });

/** A stream whose client reads slower than this much of unsent data is closed (the client reconnects). */
const MAX_BUFFERED_BYTES = 1 << 20;

export function eventRoutes(api: ApiRoutes, deps: { db: Db; hub: EventHub } & EventStreamOptions): void {
  api.add({
    method: 'get',
    path: '/events',
    role: 'viewer',
    tag: 'Live',
    summary: 'Server-sent events: job progress, operation steps, and which lists changed',
    description:
      'text/event-stream. Events: `ready` (once), `job` (a job summary with bytesTotal and averageThroughputBps), ' +
      '`operation` (an operation with its steps), `changed` ({topics: policies | fileServers | alerts}: refetch ' +
      'those), `unauthorized` (the token was revoked; the stream ends), `reconnect` (the stream ends; open a new ' +
      'one). Read it with fetch and the Authorization header.',
    responses: { 200: { description: 'An event stream', schema: StreamEvent, contentType: 'text/event-stream' } },
    handler: async ({ principal }) => ({ status: 200, stream: (res) => serve(res, principal, deps) }),
  });
}

function serve(res: Response, principal: Principal, deps: { db: Db; hub: EventHub } & EventStreamOptions): void {
  let seq = 0;
  let closed = false;
  const send = (event: string, data: unknown) => {
    if (closed) return;
    res.write(`event: ${event}\nid: ${++seq}\ndata: ${JSON.stringify(data)}\n\n`);
    if (res.writableLength > MAX_BUFFERED_BYTES) close();
  };
  res.status(200).set({
    'content-type': 'text/event-stream; charset=utf-8',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  res.write('retry: 3000\n\n');
  send('ready', { intervalMs: deps.hub.intervalMs });
  const unsubscribe = deps.hub.subscribe((e: LiveEvent) => send(e.type, e.data));
  const heartbeat = setInterval(() => !closed && res.write(': keep-alive\n\n'), deps.heartbeatMs ?? 15_000);
  const recheck = setInterval(() => {
    void deps.db.apiToken
      .findUnique({ where: { id: principal.tokenId }, select: { revokedAt: true } })
      .then((t) => {
        if (t && !t.revokedAt) return;
        send('unauthorized', { detail: `token '${principal.name}' was revoked` });
        close();
      })
      .catch(() => undefined); // a database hiccup does not end the stream; the next check decides
  }, deps.recheckMs ?? 10_000);
  const expire = setTimeout(
    () => {
      send('reconnect', { detail: 'the stream is renewed periodically' });
      close();
    },
    deps.maxMs ?? 30 * 60_000,
  );
  function close(): void {
    if (closed) return;
    closed = true;
    unsubscribe();
    clearInterval(heartbeat);
    clearInterval(recheck);
    clearTimeout(expire);
    res.end();
  }
  res.on('close', close);
}
