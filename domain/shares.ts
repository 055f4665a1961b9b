// Shares created and deleted through the admin API (so an operator never calls a gateway with its token by hand):
// the request the API validates and the inputs of the share workflows. A standard share lives on one FSVM; a
// distributed share has its top-level folders (portions) placed on chosen FSVMs of the same file server.
import { z } from 'zod';
import { FileServerName, NodeId, ShareName, Uuid } from './names';
import { PortionName } from './gateway-contract';

export const SHARE_WORKFLOW_TYPES = { create: 'createShareWorkflow', delete: 'deleteShareWorkflow' } as const;

const StandardShare = z.strictObject({
  name: ShareName,
  kind: z.literal('standard'),
  nodeId: NodeId.optional().describe("The FSVM that holds the share (default: the file server's first FSVM)"),
});

const DistributedShare = z.strictObject({
  name: ShareName,
  kind: z.literal('distributed'),
  portions: z
    .array(
      z.strictObject({
        name: PortionName.describe('A top-level folder of the share'),
        nodeId: NodeId.describe('The FSVM that holds this folder'),
      }),
    )
    .min(1)
    .max(1000)
    .superRefine((portions, ctx) => {
      const seen = new Set<string>();
      portions.forEach((p, i) => {
        if (seen.has(p.name))
          ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `folder '${p.name}' is listed twice` });
        seen.add(p.name);
      });
    }),
});

export const CreateShareRequest = z
  .discriminatedUnion('kind', [StandardShare, DistributedShare], {
    error: "kind must be 'standard' or 'distributed'",
  })
  .meta({ id: 'CreateShareRequest' });
export type CreateShareRequest = z.infer<typeof CreateShareRequest>;

/** Which FSVM holds which portion ('' is a standard share's root). */
export const SharePlacement = z.object({ nodeId: NodeId, portions: z.array(z.union([PortionName, z.literal('')])) });
export type SharePlacement = z.infer<typeof SharePlacement>;

/** The placements a request asks for, one entry per FSVM. */
export function placementsOf(req: CreateShareRequest, defaultNode: string): SharePlacement[] {
  if (req.kind === 'standard') return [{ nodeId: req.nodeId ?? defaultNode, portions: [''] }];
  const byNode = new Map<string, string[]>();
  for (const p of req.portions) byNode.set(p.nodeId, [...(byNode.get(p.nodeId) ?? []), p.name]);
  return [...byNode].map(([nodeId, portions]) => ({ nodeId, portions: portions.sort() }));
}

export const CreateShareWorkflowInput = z.object({
  operationId: Uuid,
  fileServer: FileServerName,
  share: ShareName,
  kind: z.enum(['standard', 'distributed']),
  placements: z.array(SharePlacement).min(1),
  requestedBy: z.string(),
});
export type CreateShareWorkflowInput = z.infer<typeof CreateShareWorkflowInput>;

export const DeleteShareWorkflowInput = z.object({
  operationId: Uuid,
  fileServer: FileServerName,
  share: ShareName,
  requestedBy: z.string(),
});
export type DeleteShareWorkflowInput = z.infer<typeof DeleteShareWorkflowInput>;

export function shareWorkflowId(fileServer: string, share: string, action: 'create' | 'delete', operationId: string) {
  return `share/${fileServer}/${share}/${action}/${operationId}`;
}
