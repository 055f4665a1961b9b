// Builds the admin web UI (web/: TypeScript + Preact) into static files under dist/web, which the API serves at `/`:
// one bundled, minified app.js (no CDN, no external fonts), app.css and index.html. esbuild (already the project's
// bundler for tests and benchmarks) does it in well under a second, so `npm start` and `npm test` build it every time.
// Usage: tsx scripts/build-web.ts [output dir]   (default dist/web)
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const ROOT = path.resolve(__dirname, '..');

export async function buildWeb(out = path.join(ROOT, 'dist', 'web')): Promise<string> {
  // Built beside the target and swapped in, so an API serving the old build never sees a half-written one.
  const staging = `${out}.building-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  await build({
    entryPoints: { app: path.join(ROOT, 'web', 'src', 'main.tsx') },
    bundle: true,
    outdir: staging,
    format: 'esm',
    target: ['es2020'],
    minify: true,
    sourcemap: 'linked',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'linked',
    logLevel: 'warning',
    tsconfig: path.join(ROOT, 'web', 'tsconfig.json'),
  });
  fs.copyFileSync(path.join(ROOT, 'web', 'index.html'), path.join(staging, 'index.html'));
  const old = `${out}.old-${process.pid}`;
  if (fs.existsSync(out)) fs.renameSync(out, old);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.renameSync(staging, out);
  fs.rmSync(old, { recursive: true, force: true });
  return out;
}

if (require.main === module) {
  const started = Date.now();
  buildWeb(process.argv[2] ? path.resolve(process.argv[2]) : undefined)
    .then((out) =>
      console.log(`web UI built into ${path.relative(process.cwd(), out) || '.'} in ${Date.now() - started} ms`),
    )
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    });
}
