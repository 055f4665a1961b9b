// The OpenAPI 3 document, generated from the same zod schemas the routes validate with (api/http.ts registers each
// route), and a self-contained docs page rendered on the server (no CDN, no script).
import { OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';

export function createRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API token (fsdr_...). Roles: viewer (read), operator (run operations), admin (configure).',
  });
  return registry;
}

export function generateDocument(registry: OpenAPIRegistry): ReturnType<OpenApiGeneratorV3['generateDocument']> {
  return new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: {
      title: 'fs-dr admin API',
      version: '1',
      description:
        'File servers, shares, replication policies, jobs and DR operations. Errors use one problem format ' +
        '(type, title, status, detail, errors[]). Every call except /healthz, this document and its docs page needs ' +
        'a bearer token.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
  });
}

const esc = (s: string | number | undefined): string =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

type Doc = ReturnType<typeof generateDocument>;

export function renderDocsPage(doc: Doc): string {
  const ops: string[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
      const op = (
        item as Record<
          string,
          {
            summary?: string;
            description?: string;
            tags?: string[];
            requestBody?: unknown;
            responses?: unknown;
            parameters?: unknown;
          }
        >
      )[method];
      if (!op) continue;
      ops.push(`<section><h3><code class="m ${method}">${method.toUpperCase()}</code> <code>${esc(path)}</code></h3>
<p>${esc(op.summary)}</p><p class="d">${esc(op.description)}</p>
<details><summary>parameters, body and responses</summary><pre>${esc(
        JSON.stringify({ parameters: op.parameters, requestBody: op.requestBody, responses: op.responses }, null, 2),
      )}</pre></details></section>`);
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(doc.info.title)}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code.m{padding:0 .3rem;border-radius:3px;color:#fff;background:#555}.get{background:#2a7}.post{background:#27c}
.patch{background:#c82}.delete{background:#c33}section{border-top:1px solid #ddd}pre{background:#f6f6f6;padding:.5rem;overflow:auto}
.d{color:#555;white-space:pre-wrap}</style></head><body><h1>${esc(doc.info.title)} v${esc(doc.info.version)}</h1>
<p>${esc(doc.info.description)}</p><p>Machine-readable: <a href="openapi.json">openapi.json</a></p>
<h2>Components</h2><details><summary>schemas</summary><pre>${esc(JSON.stringify(doc.components?.schemas ?? {}, null, 2))}</pre></details>
<h2>Operations</h2>${ops.join('\n')}</body></html>`;
}
