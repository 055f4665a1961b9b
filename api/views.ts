// Response schemas shared by several routes, and the mappers from database rows to them (BigInt -> number, Date ->
// ISO string). Secrets never appear here: rows are mapped field by field.
import { z } from 'zod';

export const IsoDate = z.string().describe('ISO 8601 timestamp');
export const FileServerStatus = z
  .enum(['active', 'standby', 'fenced'])
  .describe(
    'Derived, never set: active while clients write to it (it is primary for a share, or protects nothing), standby while it only holds replicas, fenced after an unplanned failover left it behind',
  );
export const FsvmView = z
  .object({
    nodeId: z.string(),
    gatewayUrl: z.string(),
    health: z.enum(['unknown', 'healthy', 'degraded', 'down']),
    lastSeenAt: IsoDate.nullable(),
    lastError: z.string().nullable(),
  })
  .meta({ id: 'Fsvm' });

export const OperationRef = z.object({
  operationId: z.string(),
  workflowId: z.string(),
  workflowUrl: z.string().nullable().describe('Link into the Temporal Web UI'),
});

export function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

export function num(b: bigint | null | undefined): number | null {
  return b === null || b === undefined ? null : Number(b);
}

export function fsvmView(f: {
  nodeId: string;
  gatewayUrl: string;
  health: 'unknown' | 'healthy' | 'degraded' | 'down';
  lastSeenAt: Date | null;
  lastError: string | null;
}): z.infer<typeof FsvmView> {
  return {
    nodeId: f.nodeId,
    gatewayUrl: f.gatewayUrl,
    health: f.health,
    lastSeenAt: iso(f.lastSeenAt),
    lastError: f.lastError,
  };
}

/** Opaque keyset cursor over (timestamp desc, id desc). */
export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([at.toISOString(), id])).toString('base64url');
}

export const Cursor = z
  .string()
  .max(200)
  .transform((s, ctx) => {
    try {
      const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
      if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') {
        const at = new Date(v[0]);
        if (!Number.isNaN(at.getTime()) && /^[0-9a-f-]{36}$|^\d{1,20}$/.test(v[1])) return { at, id: v[1] };
      }
    } catch {
      // fall through
    }
    ctx.addIssue({ code: 'custom', message: 'not a cursor returned by this API' });
    return z.NEVER;
  });

export const Limit = z.coerce.number().int().min(1).max(200).default(50);
