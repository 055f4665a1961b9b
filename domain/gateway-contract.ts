// The FSVM gateway's REST contract (version 1): zod schemas shared by the gateway agent (gateway/), its typed client
// (gateway/client.ts, used by activities and the API) and the gateway's OpenAPI document. Pure: importable anywhere.
import { z } from 'zod';

export const GATEWAY_API_PREFIX = '/v1';

/** Share and portion names: what SMB/NFS accept as share names, minus anything a path or shell could misread. */
export const ShareName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/, 'letters, digits, _ . - (max 80), starting with a letter or digit')
  .refine((s) => !s.includes('..'), 'must not contain ..');
export const PortionName = ShareName;
export const SnapshotId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'letters, digits, _ . : - (max 128)')
  .refine((s) => !s.includes('..'), 'must not contain ..');
export const NodeId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);

export const SnapshotDriverName = z.enum(['btrfs', 'portable', 'zfs']);
export const AccessMode = z.enum(['read_write', 'read_only', 'off']);
export type AccessMode = z.infer<typeof AccessMode>;
export const ShareKind = z.enum(['standard', 'distributed']);

/** GET /v1/health */
export const GatewayHealth = z.object({
  status: z.enum(['ok', 'degraded']),
  fileServerId: z.string(),
  nodeId: NodeId,
  version: z.string(),
  driver: SnapshotDriverName,
  capacity: z.object({ totalBytes: z.number().int().nonnegative(), freeBytes: z.number().int().nonnegative() }),
  /** 1-minute load average of the node. */
  load: z.number().nonnegative(),
  activeTransfers: z.number().int().nonnegative(),
});
export type GatewayHealth = z.infer<typeof GatewayHealth>;

/** The portions of a share this FSVM holds. A standard share has exactly one portion, named "" (the share root). */
export const SharePortion = z.object({
  name: z.union([PortionName, z.literal('')]),
  sizeBytes: z.number().int().nonnegative(),
});

export const GatewayShare = z.object({
  name: ShareName,
  kind: ShareKind,
  accessMode: AccessMode,
  portions: z.array(SharePortion),
});
export type GatewayShare = z.infer<typeof GatewayShare>;

/** GET /v1/shares */
export const ShareList = z.object({ shares: z.array(GatewayShare) });

/** PUT /v1/shares/:share (idempotent create). For a distributed share, `portions` names the portions this FSVM holds. */
export const CreateShareRequest = z
  .object({
    kind: ShareKind.default('standard'),
    portions: z.array(PortionName).max(1000).optional(),
    accessMode: AccessMode.default('read_write'),
  })
  .strict();

/** PUT /v1/shares/:share/access */
export const SetAccessRequest = z.object({ mode: AccessMode }).strict();

/** One problem format for every gateway error (RFC 9457 style). */
export const GatewayProblem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type GatewayProblem = z.infer<typeof GatewayProblem>;
