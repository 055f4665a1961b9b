// Puts a tree built beside a portion's live tree in its place, the old one moved aside for the caller to remove.
// Linux can exchange two paths in one call (renameat2 with RENAME_EXCHANGE), which Node does not offer: so the two
// renames run back to back in one synchronous step, the parent made beforehand, and no callback runs between them
// (with an await between them, a client connecting under load could find the share missing for milliseconds).
import fs from 'node:fs';
import path from 'node:path';

export function swapIntoPlace(fresh: string, live: string, old: string): void {
  fs.mkdirSync(path.dirname(live), { recursive: true });
  let movedAside = false;
  try {
    fs.renameSync(live, old);
    movedAside = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    fs.renameSync(fresh, live);
  } catch (err) {
    if (movedAside) fs.renameSync(old, live); // the previous tree back where clients had it
    throw err;
  }
}
