import { performance } from 'node:perf_hooks';
import { BURST_MS, Throttle } from './throttle';

const KiB = 1024;
const SLICE = 64 * KiB;

/** The least time `bytes` may take at `rate` bytes/s: the last slice goes out when the ones before it are paid for. */
function leastMs(bytes: number, rate: number): number {
  return ((bytes - SLICE) / rate) * 1000 - BURST_MS - 15;
}

/** Writes `bytes` into the throttle and resolves when they have all come out, with the time it took (ms). */
function pass(t: Throttle, bytes: number): Promise<number> {
  const start = performance.now();
  let out = 0;
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer): void => {
      out += c.length;
      if (out >= bytes) {
        t.off('data', onData);
        resolve(performance.now() - start);
      }
    };
    t.on('data', onData);
    t.once('error', reject);
    t.write(Buffer.alloc(bytes));
  });
}

describe('Throttle', () => {
  it('holds a stream to its rate', async () => {
    const t = new Throttle(1024 * KiB);
    expect(await pass(t, 512 * KiB)).toBeGreaterThanOrEqual(leastMs(512 * KiB, 1024 * KiB));
    t.destroy();
  });

  it('gives no credit for time the stream was idle: no catch-up burst after a stall', async () => {
    const t = new Throttle(1024 * KiB);
    await pass(t, 128 * KiB);
    await new Promise((r) => setTimeout(r, 1000)); // a stalled receiver, or a source with nothing to send
    // with the idle second credited, these 512 KiB would go out at once
    expect(await pass(t, 512 * KiB)).toBeGreaterThanOrEqual(leastMs(512 * KiB, 1024 * KiB));
    t.destroy();
  });

  it('passes everything through at once without a limit', async () => {
    const t = new Throttle(0);
    expect(await pass(t, 4096 * KiB)).toBeLessThan(1000);
    t.destroy();
  });
});
