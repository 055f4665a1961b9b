// What a planned failover asks of a share before and after its final delta, answered without changing anything: the
// digest of a portion's tree (live or a snapshot; see tree-digest.ts) and the SMB clients with files open on it (see
// smb-status.ts).
import type { z } from 'zod';
import { ValidationError } from '../domain/errors';
import type { DigestQuery, PortionDigest, ShareOpenFiles } from '../domain/gateway-contract';
import type { Gateway } from './app';
import { digestTree } from './tree-digest';

export async function portionDigest(
  gw: Gateway,
  share: string,
  q: z.infer<typeof DigestQuery>,
): Promise<PortionDigest> {
  const s = gw.requireShare(share);
  if (s.kind === 'distributed' && q.portion === '') {
    throw new ValidationError(`share ${share} is distributed: name one of its portions`, [
      { path: 'portion', message: `required for a distributed share (here: ${s.portions.join(', ') || 'none'})` },
    ]);
  }
  gw.requirePortion(share, q.portion);
  const p = { share, portion: q.portion };
  const snapshotId = q.snapshot ?? null;
  if (snapshotId !== null) await gw.store.require(p, snapshotId);
  const tree = await gw.driver.readableTree(p, snapshotId);
  const result = await digestTree(tree, { content: q.content === 'true', live: snapshotId === null });
  return { share, portion: q.portion, snapshotId, ...result };
}

export async function shareOpenFiles(gw: Gateway, share: string): Promise<ShareOpenFiles> {
  const s = gw.requireShare(share);
  if (!gw.samba) return { share, smb: false, openFiles: [], sessions: 0 };
  return { share, smb: true, ...(await gw.samba.openFiles(share, gw.sharePath(s))) };
}
