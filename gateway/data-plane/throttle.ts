// A bandwidth limit for one stream: a Transform that lets bytes through at `bytesPerSec` at most (0 = unlimited).
import { Transform, type TransformCallback } from 'node:stream';

const SLICE = 64 * 1024;

export class Throttle extends Transform {
  private readonly started = Date.now();
  private passed = 0;

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
      this.passed += part.length;
      const due = this.started + (this.passed / this.bytesPerSec) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.push(part);
    }
  }
}
