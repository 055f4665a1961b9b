// What the chaos harness passes to `--import` (after tsx): the probe, in the worker process's main thread only. The
// Temporal SDK's workflow threads inherit the process's flags, and the probe has nothing to do there.
import { isMainThread } from 'node:worker_threads';

if (isMainThread) await import('./chaos-probe.ts');
