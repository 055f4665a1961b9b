// Portion ownership (seed 003): which FSVM of a file server holds each portion of each share, from what every FSVM's
// gateway reports. A standard share has one portion ("" = its root) on one FSVM; a distributed share has its top-level
// folders spread over several. After a takeover the new owner reports the portion, so asking the gateways is the only
// truth; this module is the one place their answers are merged (the worker's activities and the API's share cache
// both call it).
import type { GatewayShare } from './gateway-contract';

export interface FsvmShareReport {
  nodeId: string;
  shares: {
    name: string;
    kind: GatewayShare['kind'];
    accessMode: GatewayShare['accessMode'];
    portions: { name: string; sizeBytes?: number }[];
  }[];
}

export interface ShareOwnership {
  name: string;
  kind: GatewayShare['kind'];
  /**
   * The most permissive access mode any FSVM reports (read_write > read_only > off): while a change is under way on
   * some FSVMs, the share counts as writable if any part of it is (what matters for "one read-write copy").
   */
  accessMode: GatewayShare['accessMode'];
  /** portion -> node id. */
  owners: Map<string, string>;
  /** Sum of the portions' sizes where the FSVMs reported them. */
  sizeBytes: number;
}

const PERMISSIVENESS: Record<GatewayShare['accessMode'], number> = { off: 0, read_only: 1, read_write: 2 };

/**
 * Merges the FSVMs' reports into one view per share. Reports are taken in node id order so that a portion two FSVMs
 * both claim (a takeover in progress) goes to the same one every time.
 */
export function mergeShareOwnership(reports: readonly FsvmShareReport[]): Map<string, ShareOwnership> {
  const merged = new Map<string, ShareOwnership>();
  for (const r of [...reports].sort((a, b) => a.nodeId.localeCompare(b.nodeId))) {
    for (const s of r.shares) {
      let m = merged.get(s.name);
      if (!m) {
        m = { name: s.name, kind: s.kind, accessMode: s.accessMode, owners: new Map(), sizeBytes: 0 };
        merged.set(s.name, m);
      }
      if (s.kind === 'distributed') m.kind = 'distributed';
      if (PERMISSIVENESS[s.accessMode] > PERMISSIVENESS[m.accessMode]) m.accessMode = s.accessMode;
      for (const p of s.portions) {
        if (!m.owners.has(p.name)) m.owners.set(p.name, r.nodeId);
        m.sizeBytes += p.sizeBytes ?? 0;
      }
    }
  }
  return merged;
}
