// Where the demo's file servers keep their data. Each demo FSVM's smbd serves its shares to clients as Samba's guest
// account (`nobody`), which must be able to traverse every folder down to a share. A project cloned into a folder only
// root may enter (a root home directory, any `mktemp -d` folder) offers it none, and opening the user's folders is not
// ours to do; so, as root and only then, the demo's folder (DATA_DIR/demo) is placed under the state folder
// (<state>/demo/<key>, <key> taken from the real path asked for; <state> as for the embedded PostgreSQL,
// /var/lib/fs-dr unless EMBEDDED_PG_STATE_DIR says otherwise) and DATA_DIR/demo becomes a symlink to it. A demo folder
// already in place is moved there. Removing DATA_DIR removes the link; the next start from that path begins a new
// demo, as it would have in DATA_DIR.
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { canReach, ensureOpenDir, stateDir, type RunAs } from '../infra/embedded-postgres-placement';

/** Samba's default guest account, as the demo's smb.conf leaves it. */
const GUEST = 'nobody';

function guestAccount(): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const uid = spawnSync('id', ['-u', GUEST], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', GUEST], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined; // no such user: smbd's guest access fails either way
  return { name: GUEST, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export interface DemoPlace {
  /** The folder the demo runs in (a real path). */
  dir: string;
  /** Why it is not the folder asked for; undefined when it is. */
  relocated?: string;
}

/** The folder the demo asked for as `dir` runs in; see the header. */
export function placeDemoData(dir: string): DemoPlace {
  const wanted = path.resolve(dir);
  const guest = guestAccount();
  const existing = fs.existsSync(wanted) ? fs.realpathSync(wanted) : undefined;
  if (!guest || canReach(guest, path.dirname(existing ?? wanted))) return { dir: existing ?? wanted };

  const why = `the demo's smbds serve shares as '${guest.name}', who cannot reach ${path.dirname(wanted)}`;
  const linkStat = fs.lstatSync(wanted, { throwIfNoEntry: false });
  if (existing && linkStat?.isSymbolicLink()) {
    throw new Error(`${wanted} is a link to ${existing}, but ${why}: remove the link to begin a new demo`);
  }
  const home = path.join(
    stateDir(),
    'demo',
    createHash('sha256')
      .update(path.join(fs.realpathSync(path.dirname(wanted)), path.basename(wanted)))
      .digest('hex')
      .slice(0, 16),
  );
  // Orphaned (its link went with a removed DATA_DIR): begin afresh, as DATA_DIR would have.
  fs.rmSync(home, { recursive: true, force: true });
  ensureOpenDir(path.dirname(home));
  ensureOpenDir(home);
  // cp -a: the demo DC's sysvol keeps its ACLs in extended attributes
  if (existing) execFileSync('cp', ['-a', `${existing}/.`, home]);
  fs.chmodSync(home, 0o755);
  if (linkStat) fs.rmSync(wanted, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(wanted), { recursive: true });
  fs.symlinkSync(home, wanted);
  return { dir: home, relocated: `${why}; ${wanted} links here` };
}
