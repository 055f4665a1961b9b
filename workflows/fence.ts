// The fence of a source an unplanned failover left behind (seed 000 [0224]): as soon as any of its FSVMs answers
// again, its shares whose clients moved away are set read-only (or off), before replication may resume there. One
// workflow per file server (id fence/<name>), started by the failover and left running after it; it ends when every
// FSVM has answered and confirmed, or when the fence is lifted (replication resumed).
import { continueAsNew, proxyActivities, sleep } from '@temporalio/workflow';
import type { FailoverActivities } from '../activities/failover';

const { enforceFence } = proxyActivities<FailoverActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 3 },
});

/** Passes per run before continuing as new (a site may stay away for days). */
const PASSES_PER_RUN = 500;

export async function fenceWorkflow(input: { fileServer: string; everyMs?: number }): Promise<{ shares: number }> {
  const every = input.everyMs ?? 2000;
  for (let pass = 1; ; pass++) {
    const r = await enforceFence({ fileServer: input.fileServer }).catch(() => undefined);
    if (r?.done) return { shares: r.shares };
    if (pass >= PASSES_PER_RUN) await continueAsNew<typeof fenceWorkflow>(input);
    // Quickly at first (the site may come back at once), then every `every` ms.
    await sleep(Math.min(every, 250 * pass));
  }
}
