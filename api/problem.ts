// The one JSON problem format of the API (RFC 9457 style) and the one error handler that maps the closed set of
// domain errors (domain/errors.ts) and the HTTP layer's own errors to it. Clients never see a stack trace, SQL or a
// secret: anything unexpected is a 500 with a generic detail and is logged server-side with the request id.
import type { ErrorRequestHandler, Request, Response } from 'express';
import { z } from 'zod';
import { DomainError, type DomainErrorCode, type FieldError } from '../domain/errors';
import { unexpectedMediaType } from '../infra/http-server';
import type { Logger } from '../infra/logger';
import { IdempotencyMismatch } from './services/operations';
import { TemporalUnavailable, WorkerUnavailable, WorkflowRunFailed, WorkflowTimeout } from './temporal';

export const Problem = z
  .object({
    type: z.string().describe('A stable URI naming the kind of problem, e.g. urn:fs-dr:problem:conflict'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem' });
export type Problem = z.infer<typeof Problem>;

const BY_CODE: Record<DomainErrorCode, { status: number; title: string; slug: string }> = {
  VALIDATION: { status: 400, title: 'Invalid request', slug: 'validation' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication required', slug: 'unauthenticated' },
  FORBIDDEN: { status: 403, title: 'Forbidden', slug: 'forbidden' },
  NOT_FOUND: { status: 404, title: 'Not found', slug: 'not-found' },
  CONFLICT: { status: 409, title: 'Conflict', slug: 'conflict' },
  GATEWAY_UNAVAILABLE: { status: 502, title: 'File server gateway unavailable', slug: 'gateway-unavailable' },
  DIRECTORY_ERROR: { status: 502, title: 'Directory service error', slug: 'directory-error' },
};

const HTTP_TITLES: Record<number, { title: string; slug: string }> = {
  400: { title: 'Invalid request', slug: 'validation' },
  404: { title: 'Not found', slug: 'not-found' },
  405: { title: 'Method not allowed', slug: 'method-not-allowed' },
  408: { title: 'Request timeout', slug: 'request-timeout' },
  413: { title: 'Request body too large', slug: 'payload-too-large' },
  415: { title: 'Unsupported media type', slug: 'unsupported-media-type' },
  429: { title: 'Too many requests', slug: 'rate-limited' },
  431: { title: 'Request header fields too large', slug: 'headers-too-large' },
};

/** The problem of an HTTP-layer refusal (parser, body reader, content negotiation) with its status's title. */
export function httpProblem(status: number, detail: string): Problem {
  const t = HTTP_TITLES[status] ?? { title: 'Invalid request', slug: 'validation' };
  return problem(status, t.title, t.slug, detail);
}

export function problem(status: number, title: string, slug: string, detail?: string, errors?: FieldError[]): Problem {
  return {
    type: `urn:fs-dr:problem:${slug}`,
    title,
    status,
    ...(detail ? { detail } : {}),
    ...(errors ? { errors } : {}),
  };
}

export function sendProblem(res: Response, p: Problem, headers: Record<string, string> = {}): void {
  res.status(p.status).set(headers).type('application/problem+json').send(JSON.stringify(p));
}

/** A request body in another media type than the route reads (415): its content would be ignored. */
export class UnsupportedMediaType extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedMediaType';
  }
}

/** Refuses a body that is not JSON (415), rather than going on as if none had been sent. */
export function requireJsonBody(req: Request): void {
  const wrong = unexpectedMediaType(req, 'application/json');
  if (wrong) throw new UnsupportedMediaType(wrong);
}

/** What an error becomes for the client. Unknown errors become an opaque 500. */
export function toProblem(err: unknown): Problem {
  if (err instanceof DomainError) {
    const m = BY_CODE[err.code];
    const fields = err.code === 'VALIDATION' ? (err as unknown as { fields: FieldError[] }).fields : undefined;
    return problem(m.status, m.title, m.slug, err.message, fields?.length ? fields : undefined);
  }
  if (err instanceof UnsupportedMediaType) return httpProblem(415, err.message);
  if (err instanceof IdempotencyMismatch) {
    return problem(422, 'Idempotency-Key reused', 'idempotency-key-reused', err.message);
  }
  if (err instanceof WorkflowRunFailed) {
    return problem(502, 'Workflow failed', 'workflow-failed', err.message);
  }
  if (err instanceof WorkerUnavailable) {
    return problem(503, 'No worker available', 'no-worker', err.message);
  }
  if (err instanceof WorkflowTimeout)
    return problem(504, 'Workflow did not answer in time', 'workflow-timeout', err.message);
  if (err instanceof TemporalUnavailable) {
    return problem(
      503,
      'Workflow service unavailable',
      'temporal-unavailable',
      'Temporal cannot be reached; retry later',
    );
  }
  // Prisma: a unique constraint raced past the service's own check.
  if (isPrismaCode(err, 'P2002')) return problem(409, 'Conflict', 'conflict', 'the resource already exists');
  if (isPrismaCode(err, 'P2025')) return problem(404, 'Not found', 'not-found', 'the resource no longer exists');
  // The HTTP layer's own errors (body-parser, URI decoding): http-errors with a 4xx status and an `expose` flag.
  const e = err as { status?: unknown; statusCode?: unknown; type?: unknown; expose?: unknown } | null;
  const status = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 0;
  if (status >= 400 && status < 500) {
    const t = HTTP_TITLES[status] ?? { title: 'Invalid request', slug: 'validation' };
    let detail: string | undefined;
    if (e?.type === 'entity.parse.failed') detail = 'the body is not valid JSON';
    else if (e?.type === 'entity.too.large') detail = 'the body exceeds the size limit';
    else if (status === 400 && e?.type === undefined) detail = 'the request URL is malformed';
    else if (e?.type === 'charset.unsupported' || e?.type === 'encoding.unsupported')
      detail = 'the body must be UTF-8 JSON';
    return problem(status, t.title, t.slug, detail);
  }
  return problem(500, 'Internal error', 'internal', 'an unexpected error occurred; the server log has the details');
}

function isPrismaCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code && 'clientVersion' in err;
}

export interface ErrorHandlerDeps {
  logger: Logger;
  /** Called before the problem is sent, e.g. to audit a failed mutating call. */
  onError?: (req: Request, res: Response, p: Problem) => Promise<void>;
}

export function errorHandler(deps: ErrorHandlerDeps): ErrorRequestHandler {
  return async (err: unknown, req, res, _next) => {
    const p = toProblem(err);
    if (p.status >= 500) {
      deps.logger.error({ err, method: req.method, path: req.path }, 'request failed');
    }
    if (deps.onError) {
      try {
        await deps.onError(req, res, p);
      } catch (auditErr) {
        deps.logger.error({ err: auditErr }, 'could not record the audit entry of a failed request');
      }
    }
    if (res.headersSent) return;
    sendProblem(res, p);
  };
}
