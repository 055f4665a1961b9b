// Step-by-step status of operations (seed 000 [0206]: the task stays "in progress" until it completes, then
// "succeeded" or "failed" with the reason). The API shows these steps; the workflow history has the full detail.
import type { Prisma } from '../prisma/generated/client';
import type { Db } from '../infra/database';

export type StepState = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'compensated';

interface Step {
  name: string;
  state: StepState;
  startedAt: string | null;
  endedAt: string | null;
  detail: string | null;
}

export function createOperationActivities(deps: { db: Db }) {
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
        await tx.operation.update({
          where: { id: input.operationId },
          data: {
            steps: steps as unknown as Prisma.InputJsonValue,
            state: op.state === 'pending' ? 'running' : undefined,
          },
        });
      });
    },

    async finishOperation(input: { operationId: string; state: 'succeeded' | 'failed' | 'cancelled'; error?: string }) {
      await deps.db.operation.updateMany({
        where: { id: input.operationId },
        data: { state: input.state, error: input.error ?? null },
      });
    },
  };
}

export type OperationActivities = ReturnType<typeof createOperationActivities>;
