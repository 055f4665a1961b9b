// Where the agent keeps what on disk, and the one function every path goes through. Names are validated with the
// contract's patterns by the routes; here every joined path is checked again to resolve strictly under the data
// root, so no name or stream entry can reach outside it.
//
//   <root>/shares/<share>[/<portion>]                  live data served to clients (btrfs: a subvolume per portion)
//   <root>/snapshots/<share>/<portion|_root>/<id>/      one snapshot: data/ (+ manifest.jsonl), meta.json when complete
//   <root>/incoming/<transferId>/                      staged streams of receives under way
//   <root>/state/                                      shares.json, transfers/*.json, receives/*.json
//   <root>/tmp/                                        scratch on the same filesystem (atomic renames)
import path from 'node:path';
import { ValidationError } from '../domain/errors';

export interface PortionRef {
  share: string;
  /** '' for the root portion of a standard share */
  portion: string;
}

export function portionLabel(p: PortionRef): string {
  return p.portion ? `${p.share}/${p.portion}` : p.share;
}

const SAFE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/;

/** Joins name segments under `base`, refusing anything that is not one plain name or resolves elsewhere. */
export function safeJoin(base: string, ...segments: string[]): string {
  for (const s of segments) {
    if (!SAFE_SEGMENT.test(s) || s.includes('..'))
      throw new ValidationError(`unsafe path segment: ${JSON.stringify(s)}`);
  }
  const target = path.resolve(base, ...segments);
  if (target !== base && !target.startsWith(base + path.sep)) throw new ValidationError('path escapes the data root');
  return target;
}

/** Resolves a relative path from a stream or manifest ("a/b/c") under `base`; refuses absolute paths, "..", "." and empty parts. */
export function safeRelative(base: string, rel: string): string {
  if (rel === '') return base;
  const parts = rel.split('/');
  for (const p of parts) {
    if (p === '' || p === '.' || p === '..' || p.includes('\0'))
      throw new ValidationError(`unsafe entry path ${JSON.stringify(rel)}`);
  }
  const target = path.resolve(base, ...parts);
  if (!target.startsWith(base + path.sep))
    throw new ValidationError(`entry path escapes its tree: ${JSON.stringify(rel)}`);
  return target;
}

export class Layout {
  readonly shares: string;
  readonly snapshots: string;
  readonly incoming: string;
  readonly state: string;
  readonly tmp: string;

  constructor(readonly root: string) {
    this.shares = path.join(root, 'shares');
    this.snapshots = path.join(root, 'snapshots');
    this.incoming = path.join(root, 'incoming');
    this.state = path.join(root, 'state');
    this.tmp = path.join(root, 'tmp');
  }

  shareDir(share: string): string {
    return safeJoin(this.shares, share);
  }

  livePath(p: PortionRef): string {
    return p.portion ? safeJoin(this.shares, p.share, p.portion) : safeJoin(this.shares, p.share);
  }

  portionSnapshots(p: PortionRef): string {
    return safeJoin(this.snapshots, p.share, p.portion || '_root');
  }

  shareSnapshots(share: string): string {
    return safeJoin(this.snapshots, share);
  }

  snapshotDir(p: PortionRef, id: string): string {
    return safeJoin(this.portionSnapshots(p), id);
  }

  snapshotData(p: PortionRef, id: string): string {
    return path.join(this.snapshotDir(p, id), 'data');
  }

  snapshotMeta(p: PortionRef, id: string): string {
    return path.join(this.snapshotDir(p, id), 'meta.json');
  }

  snapshotManifest(p: PortionRef, id: string): string {
    return path.join(this.snapshotDir(p, id), 'manifest.jsonl');
  }

  incomingDir(transferId: string): string {
    return safeJoin(this.incoming, transferId);
  }
}
