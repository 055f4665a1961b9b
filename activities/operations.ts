// Step-by-step status of operations (seed 000 [0206]: the task stays "in progress" until it completes, then
// "succeeded" or "failed" with the reason). The API shows these steps; the workflow history has the full detail.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { log } from '@temporalio/activity';
import type { Prisma } from '../prisma/generated/client';
import type { Db } from '../infra/database';

/** An operation younger than this is left alone: its workflow may be about to start or to record its first step. */
const RECONCILE_AFTER_MS = 30_000;
/** A workflow task that failed this many times in a row (e.g. a type no worker registers) will not succeed alone. */
const STUCK_WORKFLOW_TASK_ATTEMPTS = 3;

export interface ReconcileResult {
  ended: { operationId: string; state: 'failed' | 'cancelled'; reason: string }[];
}

export type StepState = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'compensated';

interface Step {
  name: string;
  state: StepState;
  startedAt: string | null;
  endedAt: string | null;
  detail: string | null;
}

export function createOperationActivities(deps: { db: Db; temporal: Client }) {
  return {
    async setOperationStep(input: {
      operationId: string;
      step: string;
      state: StepState;
      detail?: string;
    }): Promise<void> {
      await deps.db.$transaction(async (tx) => {
        // Row lock: parallel branches of one workflow may report steps at the same time.
        await tx.$executeRaw`SELECT 1 FROM "Operation" WHERE id = ${input.operationId}::uuid FOR UPDATE`;
        const op = await tx.operation.findUnique({
          where: { id: input.operationId },
          select: { steps: true, state: true },
        });
        if (!op) return; // operation rows are never deleted while their workflow runs; nothing to report to
        const steps = (Array.isArray(op.steps) ? op.steps : []) as unknown as Step[];
        const now = new Date().toISOString();
        let step = steps.find((s) => s.name === input.step);
        if (!step) {
          step = { name: input.step, state: 'pending', startedAt: null, endedAt: null, detail: null };
          steps.push(step);
        }
        step.state = input.state;
        if (input.state === 'running') step.startedAt ??= now;
        else if (input.state !== 'pending') step.endedAt = now;
        if (input.detail !== undefined) step.detail = input.detail;
        const starting = op.state === 'pending' || op.state === 'scheduled' || op.state === 'awaiting_approval';
        await tx.operation.update({
          where: { id: input.operationId },
          data: {
            steps: steps as unknown as Prisma.InputJsonValue,
            ...(starting && input.state === 'running' ? { state: 'running', startedAt: new Date() } : {}),
          },
        });
      });
    },

    async finishOperation(input: { operationId: string; state: 'succeeded' | 'failed' | 'cancelled'; error?: string }) {
      await deps.db.operation.updateMany({
        where: { id: input.operationId },
        data: { state: input.state, error: input.error ?? null, endedAt: new Date() },
      });
    },

    /** An operation waiting for its approval or its start time, and the approval when it comes. */
    async setOperationGate(input: {
      operationId: string;
      state: 'awaiting_approval' | 'scheduled' | 'pending';
      approvedBy?: string;
    }) {
      await deps.db.operation.updateMany({
        where: { id: input.operationId, state: { in: ['pending', 'awaiting_approval', 'scheduled'] } },
        data: {
          state: input.state,
          ...(input.approvedBy ? { approvedBy: input.approvedBy, approvedAt: new Date() } : {}),
        },
      });
    },

    /**
     * Every operation ends: one whose workflow is gone (never started, terminated from the Web UI, ended without
     * recording its end) or can never make progress (its workflow task fails again and again, e.g. a workflow type no
     * worker registers) is recorded failed (or cancelled) with the reason, and a stuck workflow is terminated. Run by
     * the monitor loop; without it such an operation would stay pending and block its pair of file servers.
     */
    async reconcileOperations(): Promise<ReconcileResult> {
      const active = await deps.db.operation.findMany({
        where: {
          state: { in: ['pending', 'awaiting_approval', 'scheduled', 'running'] },
          createdAt: { lt: new Date(Date.now() - RECONCILE_AFTER_MS) },
        },
        select: { id: true, workflowId: true, kind: true },
      });
      const result: ReconcileResult = { ended: [] };
      for (const op of active) {
        let end: { state: 'failed' | 'cancelled'; reason: string } | undefined;
        try {
          const handle = deps.temporal.workflow.getHandle(op.workflowId);
          const d = await handle.describe();
          const status = d.status.name;
          if (status === 'CANCELLED') end = { state: 'cancelled', reason: 'its workflow was cancelled' };
          else if (status !== 'RUNNING') {
            end = { state: 'failed', reason: `its workflow ended ${status} without recording the operation's end` };
          } else if ((d.raw.pendingWorkflowTask?.attempt ?? 0) >= STUCK_WORKFLOW_TASK_ATTEMPTS) {
            // Stuck only if its workflow task failed (a worker ran it and could not: an unknown type, a
            // nondeterminism). A task that timed out was held by a worker that died or was slow: the next worker
            // takes it and the operation goes on; terminating it would leave a failover half done.
            const history = await handle.fetchHistory();
            const lastEnd = [...(history.events ?? [])]
              .reverse()
              .find((e) => e.workflowTaskFailedEventAttributes || e.workflowTaskTimedOutEventAttributes);
            const lastFailure = lastEnd?.workflowTaskFailedEventAttributes;
            if (lastFailure) {
              const message = lastFailure.failure?.message;
              const reason =
                `no worker could run its workflow (type '${d.type}' on task queue '${d.taskQueue}'): its workflow ` +
                `task failed ${d.raw.pendingWorkflowTask?.attempt} times in a row` +
                (message ? ` (${message.split('\n')[0]!.slice(0, 300)})` : '');
              await handle.terminate(reason);
              end = { state: 'failed', reason };
            }
          }
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          end = { state: 'failed', reason: 'its workflow does not exist (it could not be started)' };
        }
        if (!end) continue;
        const updated = await deps.db.operation.updateMany({
          where: { id: op.id, state: { in: ['pending', 'awaiting_approval', 'scheduled', 'running'] } },
          data: { state: end.state, error: end.reason, endedAt: new Date() },
        });
        if (updated.count) {
          result.ended.push({ operationId: op.id, ...end });
          log.warn(`operation ${op.id} (${op.kind}) ended ${end.state}: ${end.reason}`, { operationId: op.id });
        }
      }
      return result;
    },
  };
}

export type OperationActivities = ReturnType<typeof createOperationActivities>;
