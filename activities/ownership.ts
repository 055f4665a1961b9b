// Which FSVM holds each portion now, asked of the gateways (seed 003: after a takeover, the new owner) and merged by
// domain/ownership.ts. FSVMs that do not answer are reported as down, never as owning nothing: a caller decides
// whether their portions wait (replication) or the question fails (policy validation).
import { GatewayUnavailable } from '../domain/errors';
import { mergeShareOwnership, type FsvmShareReport, type ShareOwnership } from '../domain/ownership';
import type { GatewayDirectory } from './gateway-directory';

export interface OwnershipView {
  /** Every FSVM of the file server, by node id. */
  nodes: string[];
  shares: Map<string, ShareOwnership>;
  /** FSVMs that did not answer. */
  down: string[];
}

/**
 * Asks every FSVM of the file server. With `share`, only about that share (a cheap lookup without sizes, for every
 * replication run); without, for all shares with their sizes (policy validation).
 */
export async function portionOwners(
  gateways: GatewayDirectory,
  fileServer: string,
  opts: { share?: string; timeoutMs?: number } = {},
): Promise<OwnershipView> {
  const fsvms = await gateways.fsvms(fileServer);
  const down: string[] = [];
  const reports = await Promise.all(
    fsvms.map(async (f): Promise<FsvmShareReport | undefined> => {
      try {
        const client = await gateways.client(fileServer, f.nodeId);
        if (opts.share === undefined) {
          return { nodeId: f.nodeId, shares: await client.listShares({ timeoutMs: opts.timeoutMs }) };
        }
        const s = await client.findShare(opts.share, { timeoutMs: opts.timeoutMs ?? 5000 });
        return { nodeId: f.nodeId, shares: s ? [s] : [] };
      } catch (err) {
        if (!(err instanceof GatewayUnavailable)) throw err;
        down.push(f.nodeId);
        return undefined;
      }
    }),
  );
  return {
    nodes: fsvms.map((f) => f.nodeId),
    shares: mergeShareOwnership(reports.filter((r): r is FsvmShareReport => r !== undefined)),
    down: down.sort(),
  };
}
