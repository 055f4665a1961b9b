// Create and delete a share on a registered file server, step by step on the operation row. Creating is a saga: a
// share half-created (some FSVMs done) is removed again from exactly the FSVMs this run created it on. Deleting
// cannot be undone and is refused while a policy uses the share.
import { ApplicationFailure, CancellationScope, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { OperationActivities } from '../activities/operations';
import type { ShareActivities } from '../activities/shares';
import { FILE_SERVERS, OPERATION_KIND, SHARE } from '../domain/search-attributes';
import type { CreateShareWorkflowInput, DeleteShareWorkflowInput } from '../domain/shares';
import { reasonOf, Saga } from './saga';

const acts = proxyActivities<ShareActivities & OperationActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '20 seconds', maximumAttempts: 8 },
});

function tag(fileServer: string, share: string, kind: string) {
  upsertSearchAttributes([
    { key: FILE_SERVERS, value: [fileServer] },
    { key: SHARE, value: share },
    { key: OPERATION_KIND, value: kind },
  ]);
}

async function fail(operationId: string, reason: string, leftovers: string[]): Promise<never> {
  const detail = leftovers.length ? `${reason} (cleanup incomplete: ${leftovers.join('; ')})` : reason;
  await CancellationScope.nonCancellable(() => acts.finishOperation({ operationId, state: 'failed', error: detail }));
  throw ApplicationFailure.nonRetryable(detail, 'SHARE_FAILED');
}

export async function createShareWorkflow(input: CreateShareWorkflowInput): Promise<{ nodes: string[] }> {
  tag(input.fileServer, input.share, 'share_create');
  const saga = new Saga(input.operationId);
  try {
    await saga.step('check FSVMs', () =>
      acts.checkSharePlacement({ fileServer: input.fileServer, share: input.share, placements: input.placements }),
    );
    await saga.step('create share on FSVMs', async () => {
      for (const placement of input.placements) {
        // Registered before the call: a call that fails half-way may still have created the share there.
        saga.add('create share on FSVMs', () =>
          acts.deleteShareOnFsvms({ fileServer: input.fileServer, share: input.share, nodes: [placement.nodeId] }),
        );
        await acts.createShareOnFsvm({
          fileServer: input.fileServer,
          share: input.share,
          kind: input.kind,
          placement,
        });
      }
    });
    await saga.step('refresh share list', () => acts.invalidateShareCache({ fileServer: input.fileServer }));
  } catch (err) {
    const reason = reasonOf(err);
    const leftovers = await saga.compensate();
    await CancellationScope.nonCancellable(() => acts.invalidateShareCache({ fileServer: input.fileServer }));
    return fail(input.operationId, reason, leftovers);
  }
  await acts.finishOperation({ operationId: input.operationId, state: 'succeeded' });
  return { nodes: input.placements.map((p) => p.nodeId) };
}

export async function deleteShareWorkflow(input: DeleteShareWorkflowInput): Promise<{ nodes: string[] }> {
  tag(input.fileServer, input.share, 'share_delete');
  const saga = new Saga(input.operationId);
  let nodes: string[];
  try {
    await saga.step('check share is unprotected', () =>
      acts.assertShareUnprotected({ fileServer: input.fileServer, share: input.share }),
    );
    nodes = await saga.step('delete share on FSVMs', () =>
      acts.deleteShareOnFsvms({ fileServer: input.fileServer, share: input.share }),
    );
    await saga.step('refresh share list', () => acts.invalidateShareCache({ fileServer: input.fileServer }));
  } catch (err) {
    await CancellationScope.nonCancellable(() => acts.invalidateShareCache({ fileServer: input.fileServer }));
    return fail(input.operationId, reasonOf(err), []);
  }
  await acts.finishOperation({ operationId: input.operationId, state: 'succeeded' });
  return { nodes };
}
