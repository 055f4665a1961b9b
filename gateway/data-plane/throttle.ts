// A bandwidth limit for one stream: a Transform that lets bytes through at `bytesPerSec` at most (0 = unlimited).
// The pace is kept on a monotonic clock that never lags the present by more than BURST_MS: time the stream spent
// blocked downstream (a slow receiver, a full socket) or waiting for its source earns no credit, so a stall is never
// followed by a catch-up burst at line speed, which is what a limit set to spare a WAN link must prevent.
import { performance } from 'node:perf_hooks';
import { Transform, type TransformCallback } from 'node:stream';

const SLICE = 64 * 1024;
/** At most this much time's worth of bytes goes out at once (after a pause, or at the start). */
export const BURST_MS = 100;

export class Throttle extends Transform {
  /** When the next slice may go out (performance.now() time). */
  private due = -Infinity;

  constructor(private readonly bytesPerSec: number) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.bytesPerSec) {
      cb(null, chunk);
      return;
    }
    void this.pace(chunk).then(
      () => cb(),
      (err: Error) => cb(err),
    );
  }

  private async pace(chunk: Buffer): Promise<void> {
    for (let i = 0; i < chunk.length; i += SLICE) {
      const part = chunk.subarray(i, i + SLICE);
      const now = performance.now();
      this.due = Math.max(this.due, now - BURST_MS);
      const wait = this.due - now;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.due += (part.length / this.bytesPerSec) * 1000;
      this.push(part);
    }
  }
}
