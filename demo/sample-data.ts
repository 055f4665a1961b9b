// Sample data of the demo shares, written once when a share is created, straight into its live tree on the FSVM
// (as a client on that FSVM would). Deterministic, so two demos hold the same bytes.
import fs from 'node:fs';
import path from 'node:path';

function bytes(n: number, seed: number): Buffer {
  const buf = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf.writeUInt32LE(x >>> 0, i);
  }
  return buf;
}

function write(root: string, files: Record<string, string | Buffer>): number {
  let total = 0;
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
    total += Buffer.byteLength(content);
  }
  return total;
}

/**
 * A project tree: plans, notes and a few binary drawings, and an `inbox` folder SMB clients of the demo may write to
 * (the demo's smbd maps guests to nobody; the mode is replicated with the folder).
 */
export function writeProjects(root: string): number {
  const files: Record<string, string | Buffer> = {
    'inbox/README.txt': 'SMB guests of the demo may write here: the folder follows the share through a failover.\n',
  };
  for (let p = 1; p <= 6; p++) {
    files[`project-${p}/README.md`] = `# Project ${p}\n\nOwner: team ${p % 3}\nStatus: active\n`;
    for (let n = 1; n <= 5; n++)
      files[`project-${p}/notes/meeting-${n}.txt`] = `Meeting ${n} of project ${p}\n`.repeat(200);
    files[`project-${p}/drawings/plan.bin`] = bytes(256 * 1024, p);
  }
  const total = write(root, files);
  fs.chmodSync(path.join(root, 'inbox'), 0o777);
  return total;
}

/** One user's home folder (a folder of the distributed share 'home'). */
export function writeHome(root: string, user: string): number {
  return write(root, {
    'documents/letter.txt': `Dear ${user},\n\nthis folder lives on its own FSVM.\n`,
    'documents/budget.csv': 'month,amount\n' + Array.from({ length: 500 }, (_, i) => `${i % 12},${i * 7}`).join('\n'),
    'photos/holiday.bin': bytes(512 * 1024, user.length),
  });
}

/** A large file or two: a base copy of them takes long enough to watch its progress. */
export function writeMedia(root: string, mib: number): number {
  return write(root, {
    'videos/keynote.bin': bytes((mib - 1) * 1024 * 1024, 7),
    'videos/trailer.bin': bytes(1024 * 1024, 8),
  });
}
