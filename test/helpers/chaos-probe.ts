// Loaded with `--import` into a worker process under the chaos harness (test/helpers/chaos.ts); the production entry
// point (workers/main.ts) runs unchanged after it. Over the process's IPC channel it
// - holds every activity at its start, and again after its function returned (before the result goes to the
//   server), until the harness answers: the harness SIGKILLs the process instead of answering when that is where the
//   kill must land, so the kill is exact rather than "some milliseconds after the start";
// - holds `worker.run()` (polling) until the harness says go, so the harness keeps a worker that has done all of its
//   start-up (modules, migrations, connections, workflow bundle) ready to take over the moment it kills the other.
// The held activity and the held worker are the only differences from a plain worker; nothing else is touched.
import { performance } from 'node:perf_hooks';
import { Worker, type ActivityInterceptorsFactory } from '@temporalio/worker';

export interface ProbedActivity {
  workflowId: string;
  runId: string;
  workflowType: string;
  activityType: string;
  activityId: string;
  attempt: number;
  isLocal: boolean;
}

/** Messages the probe sends: an activity at a phase (answered by `{ type: 'continue', id }`), or the worker held. */
export type ProbeMessage =
  { type: 'activity'; id: number; phase: 'start' | 'end'; at: number; activity: ProbedActivity } | { type: 'held' };

/** Messages the harness sends. */
export type HarnessMessage = { type: 'continue'; id: number } | { type: 'go' };

const send = process.send?.bind(process);
if (!send) throw new Error('the chaos probe runs only in a worker process spawned with an IPC channel');

let nextId = 0;
const waiting = new Map<number, () => void>();
let go!: () => void;
const released = new Promise<void>((resolve) => (go = resolve));
process.on('message', (m: HarnessMessage) => {
  if (m.type === 'go') go();
  else {
    waiting.get(m.id)?.();
    waiting.delete(m.id);
  }
});
// The harness (the test process) went away: a worker it controlled must not live on.
process.on('disconnect', () => process.exit(1));

/** Epoch milliseconds with sub-millisecond precision, comparable across processes of the machine. */
export const preciseNow = (): number => performance.timeOrigin + performance.now();

function ask(phase: 'start' | 'end', activity: ProbedActivity): Promise<void> {
  const id = ++nextId;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    send!({ type: 'activity', id, phase, at: preciseNow(), activity } satisfies ProbeMessage);
  });
}

const probe: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const i = ctx.info;
      const activity: ProbedActivity = {
        workflowId: i.workflowExecution?.workflowId ?? '',
        runId: i.workflowExecution?.runId ?? '',
        workflowType: i.workflowType ?? '',
        activityType: i.activityType,
        activityId: i.activityId,
        attempt: i.attempt,
        isLocal: i.isLocal,
      };
      await ask('start', activity);
      try {
        return await next(input);
      } finally {
        await ask('end', activity);
      }
    },
  },
});

const create = Worker.create.bind(Worker);
Worker.create = async (options) => {
  const worker = await create({
    ...options,
    interceptors: { ...options.interceptors, activity: [...(options.interceptors?.activity ?? []), probe] },
  });
  const run = worker.run.bind(worker);
  worker.run = async () => {
    send({ type: 'held' } satisfies ProbeMessage);
    await released;
    return run();
  };
  return worker;
};
