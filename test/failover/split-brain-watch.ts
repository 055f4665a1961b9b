// The "at most one read-write copy" invariant, watched from outside the orchestrator: every 100 ms, every FSVM of
// both sites is asked for the access mode of its shares, and a protected share whose source copy and target copy are
// both read-write anywhere at the same moment is recorded as a violation.
import type { Agent } from '../gateway/helpers';

export interface WatchedPair {
  sourceShare: string;
  targetShare: string;
}

export interface SplitBrainWatch {
  /** Samples taken, and the moments both copies of a share were read-write. */
  stop(): Promise<{ samples: number; violations: string[] }>;
  /** The same so far, while the watch goes on. */
  seen(): { samples: number; violations: string[] };
}

export function watchSplitBrain(
  sides: { source: Agent[]; destination: Agent[] },
  pairs: WatchedPair[],
  everyMs = 100,
): SplitBrainWatch {
  let running = true;
  let samples = 0;
  const violations: string[] = [];
  const writable = async (agents: Agent[], names: string[]) => {
    const rw = new Set<string>();
    await Promise.all(
      agents.flatMap((a) =>
        names.map(async (name) => {
          // One share without sizes (cheap); an FSVM that does not answer (a test restarts it) serves no client.
          const s = await a.client.findShare(name, { timeoutMs: 2000 }).catch(() => undefined);
          if (s?.accessMode === 'read_write') rw.add(name);
        }),
      ),
    );
    return rw;
  };
  const loop = (async () => {
    while (running) {
      const [a, b] = await Promise.all([
        writable(
          sides.source,
          pairs.map((p) => p.sourceShare),
        ),
        writable(
          sides.destination,
          pairs.map((p) => p.targetShare),
        ),
      ]);
      samples++;
      for (const p of pairs) {
        if (a.has(p.sourceShare) && b.has(p.targetShare))
          violations.push(`${new Date().toISOString()}: '${p.sourceShare}' and '${p.targetShare}' both read-write`);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { samples, violations };
    },
    seen: () => ({ samples, violations: [...violations] }),
  };
}
