// DR operations (planned/unplanned failover, resume replication, failback, readiness check): validation against the
// file servers' states and the policies of the pair, 409 when a conflicting operation runs on the same pair, an
// Operation row with its steps 'pending', then the workflow started by type name with a deterministic id.
import type { Db } from '../../infra/database';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors';
import {
  OPERATION_WORKFLOW_TYPES,
  operationWorkflowId,
  type OperationKindName,
  type OperationWorkflowInput,
} from '../../domain/operations';
import { FILE_SERVERS, OPERATION_KIND, POLICY } from '../../domain/search-attributes';
import type { Principal } from '../auth';
import type { WorkflowPort } from '../temporal';
import { ACTIVE_OPERATION_STATES } from './protection';
import { FAILOVER_KINDS, lockAdmission, pendingSteps } from './policies';

export interface OperationRequest {
  source: string;
  destination: string;
  policies?: string[];
  confirmDataLoss?: true;
}

type Status = 'active' | 'standby' | 'failed';

/** null when the kind may run with these statuses, else why not. */
export function statusPrecondition(
  kind: OperationKindName,
  src: { name: string; status: Status },
  dst: { name: string; status: Status },
): string | null {
  const is = (fs: { name: string; status: Status }, ...want: Status[]) =>
    want.includes(fs.status)
      ? null
      : `file server '${fs.name}' is ${fs.status}, a ${kind} needs it ${want.join(' or ')}`;
  switch (kind) {
    case 'planned_failover':
      return is(src, 'active') ?? is(dst, 'standby') ?? null;
    case 'unplanned_failover':
      return is(dst, 'standby');
    case 'resume_replication':
    case 'failback':
      return is(dst, 'active') ?? is(src, 'standby');
    case 'dr_readiness':
      return null;
  }
}

export function createOperationService(deps: { db: Db; workflows: WorkflowPort }) {
  const { db, workflows } = deps;

  return {
    async start(kind: OperationKindName, req: OperationRequest, principal: Principal) {
      const [src, dst] = await Promise.all([
        db.fileServer.findUnique({ where: { name: req.source } }),
        db.fileServer.findUnique({ where: { name: req.destination } }),
      ]);
      const fields = [
        ...(src ? [] : [{ path: 'body.source', message: `file server '${req.source}' is not registered` }]),
        ...(dst ? [] : [{ path: 'body.destination', message: `file server '${req.destination}' is not registered` }]),
      ];
      if (!src || !dst) throw new ValidationError(fields.map((f) => f.message).join('; '), fields);

      const result = await db.$transaction(async (tx) => {
        await lockAdmission(tx);
        const pairPolicies = await tx.replicationPolicy.findMany({
          where: { sourceFileServerId: src.id, destFileServerId: dst.id },
          include: { shares: { orderBy: { sourceShare: 'asc' } } },
          orderBy: { name: 'asc' },
        });
        let chosen = pairPolicies;
        if (req.policies) {
          const unknown = req.policies
            .map((n, i) => ({ n, i }))
            .filter(({ n }) => !pairPolicies.some((p) => p.name === n));
          if (unknown.length) {
            const f = unknown.map(({ n, i }) => ({
              path: `body.policies.${i}`,
              message: `policy '${n}' does not replicate '${req.source}' to '${req.destination}'`,
            }));
            throw new ValidationError(f.map((x) => x.message).join('; '), f);
          }
          chosen = pairPolicies.filter((p) => req.policies!.includes(p.name));
        }
        if (!chosen.length) throw new ConflictError(`no policy replicates '${req.source}' to '${req.destination}'`);
        const notReady = chosen.filter(
          (p) => p.status !== 'active' && !(kind === 'dr_readiness' && p.status !== 'deleting'),
        );
        if (notReady.length) {
          throw new ConflictError(
            `a ${kind} needs active policies: ${notReady.map((p) => `policy '${p.name}' is ${p.status}`).join(', ')}`,
          );
        }
        const why = statusPrecondition(kind, src, dst);
        if (why) throw new ConflictError(why);
        const conflicting = await tx.operation.findFirst({
          where: {
            state: { in: ACTIVE_OPERATION_STATES },
            kind: kind === 'dr_readiness' ? 'dr_readiness' : { not: 'dr_readiness' },
            OR: [
              { sourceFileServer: src.name, destFileServer: dst.name },
              { sourceFileServer: dst.name, destFileServer: src.name },
            ],
          },
          orderBy: { createdAt: 'asc' },
        });
        if (conflicting) {
          throw new ConflictError(
            `a ${conflicting.kind} operation (${conflicting.id}) is already ${conflicting.state} between '${conflicting.sourceFileServer}' and '${conflicting.destFileServer}'`,
          );
        }
        const op = await tx.operation.create({
          data: {
            kind,
            sourceFileServer: src.name,
            destFileServer: dst.name,
            policyId: chosen.length === 1 ? chosen[0]!.id : null,
            steps: pendingSteps(kind),
            workflowId: 'pending',
            requestedBy: principal.name,
          },
        });
        const workflowId = operationWorkflowId(kind, op.id);
        const input: OperationWorkflowInput = {
          operationId: op.id,
          kind,
          source: src.name,
          destination: dst.name,
          requestedBy: principal.name,
          policies: chosen.map((p) => ({
            id: p.id,
            name: p.name,
            version: p.version,
            shares: p.shares.map((s) => ({ sourceShare: s.sourceShare, targetShare: s.targetShare })),
          })),
          ...(kind === 'unplanned_failover' ? { confirmDataLoss: true } : {}),
        };
        await tx.operation.update({ where: { id: op.id }, data: { workflowId, input } });
        return { op, workflowId, input, policyNames: chosen.map((p) => p.name) };
      });
      try {
        await workflows.start({
          workflowType: OPERATION_WORKFLOW_TYPES[kind],
          workflowId: result.workflowId,
          input: result.input,
          searchAttributes: [
            { key: FILE_SERVERS, value: [src.name, dst.name] },
            { key: OPERATION_KIND, value: kind },
            ...(result.policyNames.length === 1 ? [{ key: POLICY, value: result.policyNames[0]! }] : []),
          ],
          memo: { operationId: result.op.id, requestedBy: principal.name },
        });
      } catch (err) {
        await db.operation.update({
          where: { id: result.op.id },
          data: { state: 'failed', error: (err instanceof Error ? err.message : 'could not start').slice(0, 1000) },
        });
        throw err;
      }
      return { operationId: result.op.id, workflowId: result.workflowId };
    },

    /**
     * Cancels a pending or running operation: its workflow undoes what it did before its point of no return and
     * records the operation cancelled. An operation whose workflow is not running (it never started, or ended without
     * recording its end) is recorded cancelled here.
     */
    async cancel(id: string, principal: Principal) {
      const op = await db.operation.findUnique({ where: { id } });
      if (!op) throw new NotFoundError(`operation ${id} does not exist`);
      if (!ACTIVE_OPERATION_STATES.includes(op.state)) {
        throw new ConflictError(`operation ${id} has already ended (${op.state}); there is nothing to cancel`);
      }
      const running = await workflows.cancel(op.workflowId);
      if (!running) {
        await db.operation.updateMany({
          where: { id, state: { in: ACTIVE_OPERATION_STATES } },
          data: { state: 'cancelled', error: `cancelled by '${principal.name}' while its workflow was not running` },
        });
      }
      return { workflowRunning: running };
    },
  };
}

export { FAILOVER_KINDS };
export type OperationService = ReturnType<typeof createOperationService>;
