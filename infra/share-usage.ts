// Which policies use a share of a file server: as their source (they protect it) or as their target (they replicate
// into it). One query for the API's share views and for the share workflows, which refuse to delete a share in use.
import type { Db } from './database';

export interface ShareUse {
  policy: string;
  role: 'source' | 'target';
  /** The share at the other end of the policy. */
  peerShare: string;
  /** The file server at the other end of the policy. */
  peer: string;
}

export async function policiesUsingShares(
  db: Db,
  fileServer: string,
  shares: string[],
): Promise<Map<string, ShareUse[]>> {
  const rows = await db.policyShare.findMany({
    where: {
      OR: [
        { sourceShare: { in: shares }, policy: { source: { name: fileServer } } },
        { targetShare: { in: shares }, policy: { destination: { name: fileServer } } },
      ],
    },
    include: { policy: { include: { source: { select: { name: true } }, destination: { select: { name: true } } } } },
    orderBy: [{ sourceShare: 'asc' }],
  });
  const out = new Map<string, ShareUse[]>();
  const add = (share: string, use: ShareUse) => out.set(share, [...(out.get(share) ?? []), use]);
  for (const r of rows) {
    const p = r.policy;
    if (p.source.name === fileServer && shares.includes(r.sourceShare))
      add(r.sourceShare, { policy: p.name, role: 'source', peerShare: r.targetShare, peer: p.destination.name });
    if (p.destination.name === fileServer && shares.includes(r.targetShare))
      add(r.targetShare, { policy: p.name, role: 'target', peerShare: r.sourceShare, peer: p.source.name });
  }
  return out;
}

/** Why a share in use may not be deleted, naming the policies. */
export function shareInUse(fileServer: string, share: string, uses: ShareUse[]): string {
  const names = [...new Set(uses.map((u) => `'${u.policy}'`))].join(', ');
  return `share '${share}' on '${fileServer}' is used by policy ${names}; remove it from the policy first`;
}
