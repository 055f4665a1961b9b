// Creating and deleting shares on a registered file server: the request is checked against the file server's FSVMs,
// its share cache and the policies (400 naming the field, 404, 409 with the reason), recorded as an operation with
// its steps pending, and carried out by a share workflow, so the gateways are called by activities only.
import type { Db } from '../../infra/database';
import { policiesUsingShares, shareInUse } from '../../infra/share-usage';
import { ConflictError, NotFoundError, ValidationError, type FieldError } from '../../domain/errors';
import { FILE_SERVERS, OPERATION_KIND, SHARE } from '../../domain/search-attributes';
import {
  placementsOf,
  SHARE_WORKFLOW_TYPES,
  shareWorkflowId,
  type CreateShareRequest,
  type CreateShareWorkflowInput,
  type DeleteShareWorkflowInput,
} from '../../domain/shares';
import type { Principal } from '../auth';
import type { WorkflowPort } from '../temporal';
import { ACTIVE_OPERATION_STATES } from './protection';
import { lockAdmission, pendingSteps } from './policies';
import type { ShareService } from './shares';

export function createShareOperations(deps: { db: Db; workflows: WorkflowPort; shares: ShareService }) {
  const { db, workflows } = deps;

  async function fileServer(name: string) {
    const fs = await db.fileServer.findUnique({
      where: { name },
      include: { fsvms: { select: { nodeId: true }, orderBy: { nodeId: 'asc' } } },
    });
    if (!fs) throw new NotFoundError(`file server '${name}' is not registered`);
    return fs;
  }

  /** Records the operation (refused while another operation on the same share is pending or running). */
  async function record<I extends CreateShareWorkflowInput | DeleteShareWorkflowInput>(
    kind: 'share_create' | 'share_delete',
    fileServerName: string,
    share: string,
    by: string,
    inputFor: (operationId: string) => I,
  ) {
    return db.$transaction(async (tx) => {
      await lockAdmission(tx);
      const busy = await tx.operation.findFirst({
        where: {
          kind: { in: ['share_create', 'share_delete'] },
          state: { in: ACTIVE_OPERATION_STATES },
          sourceFileServer: fileServerName,
          input: { path: ['share'], equals: share },
        },
      });
      if (busy) {
        throw new ConflictError(
          `share '${share}' on '${fileServerName}' has a ${busy.kind} operation ${busy.state} (${busy.id})`,
        );
      }
      const op = await tx.operation.create({
        data: {
          kind,
          sourceFileServer: fileServerName,
          steps: pendingSteps(kind),
          workflowId: 'pending',
          requestedBy: by,
        },
      });
      const workflowId = shareWorkflowId(fileServerName, share, kind === 'share_create' ? 'create' : 'delete', op.id);
      const input = inputFor(op.id);
      // Written in the same transaction: a concurrent request on the same share finds it by input.share.
      await tx.operation.update({ where: { id: op.id }, data: { workflowId, input } });
      return { operationId: op.id, workflowId, input };
    });
  }

  async function start(
    op: { operationId: string; workflowId: string; input: CreateShareWorkflowInput | DeleteShareWorkflowInput },
    workflowType: string,
    kind: string,
  ) {
    const { input } = op;
    try {
      await workflows.start({
        workflowType,
        workflowId: op.workflowId,
        input,
        searchAttributes: [
          { key: FILE_SERVERS, value: [input.fileServer] },
          { key: SHARE, value: input.share },
          { key: OPERATION_KIND, value: kind },
        ],
        memo: { operationId: op.operationId, requestedBy: input.requestedBy },
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : 'could not start the workflow';
      await db.operation.update({
        where: { id: op.operationId },
        data: { state: 'failed', error: message.slice(0, 1000) },
      });
      throw err;
    }
    return { operationId: op.operationId, workflowId: op.workflowId };
  }

  return {
    async create(fileServerName: string, req: CreateShareRequest, principal: Principal) {
      const fs = await fileServer(fileServerName);
      const nodes = fs.fsvms.map((f) => f.nodeId);
      if (!nodes.length) throw new ConflictError(`file server '${fileServerName}' has no FSVMs`);
      const fields: FieldError[] = [];
      const unknown = (nodeId: string) =>
        `file server '${fileServerName}' has no FSVM '${nodeId}' (it has ${nodes.map((n) => `'${n}'`).join(', ')})`;
      if (req.kind === 'standard' && req.nodeId && !nodes.includes(req.nodeId))
        fields.push({ path: 'body.nodeId', message: unknown(req.nodeId) });
      if (req.kind === 'distributed') {
        req.portions.forEach((p, i) => {
          if (!nodes.includes(p.nodeId)) fields.push({ path: `body.portions.${i}.nodeId`, message: unknown(p.nodeId) });
        });
      }
      if (fields.length) throw new ValidationError(fields.map((f) => f.message).join('; '), fields);
      const listing = await deps.shares.list(fileServerName);
      if (listing.shares.some((s) => s.name === req.name)) {
        throw new ConflictError(`share '${req.name}' already exists on file server '${fileServerName}'`);
      }
      const op = await record(
        'share_create',
        fileServerName,
        req.name,
        principal.name,
        (operationId): CreateShareWorkflowInput => ({
          operationId,
          fileServer: fileServerName,
          share: req.name,
          kind: req.kind,
          placements: placementsOf(req, nodes[0]!),
          requestedBy: principal.name,
        }),
      );
      return start(op, SHARE_WORKFLOW_TYPES.create, 'share_create');
    },

    async remove(fileServerName: string, share: string, principal: Principal) {
      await fileServer(fileServerName);
      const listing = await deps.shares.list(fileServerName);
      if (!listing.shares.some((s) => s.name === share)) {
        throw new NotFoundError(`share '${share}' does not exist on file server '${fileServerName}'`);
      }
      const uses = (await policiesUsingShares(db, fileServerName, [share])).get(share) ?? [];
      if (uses.length) throw new ConflictError(shareInUse(fileServerName, share, uses));
      const op = await record(
        'share_delete',
        fileServerName,
        share,
        principal.name,
        (operationId): DeleteShareWorkflowInput => ({
          operationId,
          fileServer: fileServerName,
          share,
          requestedBy: principal.name,
        }),
      );
      return start(op, SHARE_WORKFLOW_TYPES.delete, 'share_delete');
    },
  };
}

export type ShareOperations = ReturnType<typeof createShareOperations>;
