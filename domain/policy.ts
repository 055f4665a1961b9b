// Replication policy requests (API) and the inputs of the policy workflows (issue 5). One schema per boundary type:
// the API validates with the request schemas and starts the workflows with the *WorkflowInput types.
import { z } from 'zod';
import { FileServerName, PolicyName, RetentionCount, RpoMinutes, ShareName, Uuid } from './names';

export const POLICY_WORKFLOW_TYPES = {
  create: 'createPolicyWorkflow',
  update: 'updatePolicyWorkflow',
  delete: 'deletePolicyWorkflow',
} as const;

export const PolicyShareSpec = z.strictObject({
  source: ShareName.describe('Share on the source file server'),
  target: ShareName.optional().describe('Share on the destination (default: the same name); created if missing'),
});

function uniqueShares(shares: { source: string; target?: string }[], ctx: z.RefinementCtx): void {
  const sources = new Set<string>();
  const targets = new Set<string>();
  shares.forEach((s, i) => {
    const target = s.target ?? s.source;
    if (sources.has(s.source))
      ctx.addIssue({ code: 'custom', path: [i, 'source'], message: `share '${s.source}' is listed twice` });
    if (targets.has(target))
      ctx.addIssue({ code: 'custom', path: [i, 'target'], message: `target share '${target}' is listed twice` });
    sources.add(s.source);
    targets.add(target);
  });
}

export const PolicyShares = z.array(PolicyShareSpec).min(1).max(500).superRefine(uniqueShares);

export const CreatePolicyRequest = z
  .strictObject({
    name: PolicyName,
    source: FileServerName,
    destination: FileServerName,
    rpoMinutes: RpoMinutes,
    retentionCount: RetentionCount.default(3),
    shares: PolicyShares,
  })
  .superRefine((p, ctx) => {
    if (p.source === p.destination) {
      ctx.addIssue({ code: 'custom', path: ['destination'], message: 'must differ from source' });
    }
  })
  .meta({ id: 'CreatePolicyRequest' });
export type CreatePolicyRequest = z.infer<typeof CreatePolicyRequest>;

export const UpdatePolicyRequest = z
  .strictObject({
    rpoMinutes: RpoMinutes.optional(),
    retentionCount: RetentionCount.optional(),
    shares: PolicyShares.optional().describe('The complete new list of shares'),
  })
  .refine((u) => u.rpoMinutes !== undefined || u.retentionCount !== undefined || u.shares !== undefined, {
    message: 'give at least one of rpoMinutes, retentionCount, shares',
  })
  .meta({ id: 'UpdatePolicyRequest' });
export type UpdatePolicyRequest = z.infer<typeof UpdatePolicyRequest>;

export const PolicySharePair = z.object({ sourceShare: ShareName, targetShare: ShareName });
export const PolicySettings = z.object({
  rpoSeconds: z.number().int().positive(),
  retentionCount: z.number().int().positive(),
  shares: z.array(PolicySharePair),
});
export type PolicySettings = z.infer<typeof PolicySettings>;

const PolicyWorkflowBase = z.object({
  operationId: Uuid,
  policyId: Uuid,
  name: PolicyName,
  version: z.number().int().positive(),
  source: FileServerName,
  destination: FileServerName,
  requestedBy: z.string(),
});

export const CreatePolicyWorkflowInput = PolicyWorkflowBase.extend(PolicySettings.shape);
export type CreatePolicyWorkflowInput = z.infer<typeof CreatePolicyWorkflowInput>;

export const UpdatePolicyWorkflowInput = PolicyWorkflowBase.extend({
  /** The settings now recorded (version `version`). */
  settings: PolicySettings,
  /** The settings of version `version - 1`, to roll back to if the update fails. */
  previous: PolicySettings,
  addedShares: z.array(PolicySharePair),
  removedShares: z.array(PolicySharePair.extend({ targetCreated: z.boolean() })),
});
export type UpdatePolicyWorkflowInput = z.infer<typeof UpdatePolicyWorkflowInput>;

export const DeletePolicyWorkflowInput = PolicyWorkflowBase.extend({
  shares: z.array(PolicySharePair.extend({ targetCreated: z.boolean(), scheduleId: z.string().nullable() })),
});
export type DeletePolicyWorkflowInput = z.infer<typeof DeletePolicyWorkflowInput>;

export function policyWorkflowId(
  name: string,
  policyId: string,
  action: 'create' | 'update' | 'delete',
  version: number,
): string {
  // The policy's id, not only its name: workflow ids are unique per Temporal namespace, which several orchestrator
  // databases may share (test runs, staging beside production); a name is unique in one database only.
  return `policy/${name}/${action}/${version}/${policyId.slice(0, 8)}`;
}
