// The folder this installation lives in (the one holding package.json), whether the code runs from source (tsx) or
// compiled (dist/): files that are not compiled (scripts, the built web UI) are found from it.
import fs from 'node:fs';
import path from 'node:path';

export function installationRoot(from = __dirname): string {
  let dir = from;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(__dirname, '..');
    dir = up;
  }
  return dir;
}
