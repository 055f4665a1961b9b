// The admin web UI: the static files `npm run build:web` makes (dist/web), served at `/` behind a strict
// Content-Security-Policy (everything from this origin only: no inline script or style, no CDN, no external font) and
// the other headers the API sends. Without a build, `/` says how to make one instead of answering a bare 404.
import path from 'node:path';
import express, { type Express } from 'express';
import { installationRoot } from '../infra/installation';

export const WEB_SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/** dist/web of this installation (source or compiled). */
export function defaultWebRoot(): string {
  return path.join(installationRoot(), 'dist', 'web');
}

export function serveWeb(app: Express, root: string): void {
  app.use((req, res, next) => {
    if (req.path.startsWith('/api/') || req.path === '/healthz') return next();
    res.set(WEB_SECURITY_HEADERS);
    next();
  });
  app.use(
    express.static(root, {
      index: 'index.html',
      // Small files rebuilt in place: always revalidated (ETag), never served stale after an upgrade.
      setHeaders: (res) => res.set('cache-control', 'no-cache'),
    }),
  );
  app.get('/', (_req, res) => {
    res
      .status(503)
      .type('html')
      .send(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fs-dr</title></head><body>' +
          '<h1>The web UI is not built</h1><p>Run <code>npm run build:web</code> (or <code>npm run build</code>) ' +
          'and reload. The REST API works without it: <a href="/api/v1/docs">/api/v1/docs</a>.</p></body></html>',
      );
  });
}
