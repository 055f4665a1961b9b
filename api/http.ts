// Thin routes: each route is declared once with its zod schemas (params, query, body, responses), its role and a
// handler returning { status, body }. The declaration registers the Express handler AND the OpenAPI path, so the
// document cannot drift from what is enforced. Mutating calls are audited here (success) and in the error handler
// (failure), before the answer is sent.
//
// Documented answers: a route declares its successes and the errors its own logic can answer; `add` documents the
// ones every route of its kind can answer (400, 401, 403, 429; 413 and 415 for the body of a mutating call), and every
// error with the problem body (application/problem+json), so a client and a fuzzer read the same contract.
import { Router, type Request, type Response } from 'express';
import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ValidationError, type FieldError } from '../domain/errors';
import { requireRole, type Principal, type Role } from './auth';
import type { AuditLog } from './audit';
import { Problem } from './problem';

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';

export interface RouteResult {
  status: number;
  body?: unknown;
  /** A plain-text answer with this content type instead of JSON (Prometheus metrics). */
  text?: { contentType: string; content: string };
  /** What the call acted on, for the audit log (defaults to the request path). */
  target?: string;
  /** A long-lived answer that the route writes itself (server-sent events); status and body are then unused. */
  stream?: (res: Response) => void;
}

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  req: Request;
}

export interface ResponseSpec {
  description: string;
  /** The body of a success; errors always have the problem body. */
  schema?: z.ZodType;
  /** Default application/json (a stream or the metrics text say theirs). */
  contentType?: string;
}

/** What a route that starts, signals or runs a workflow answers when it cannot (api/temporal.ts). */
export const WORKFLOWS_UNAVAILABLE: Record<number, ResponseSpec> = {
  503: { description: 'Temporal is unavailable, or no worker polls the task queue' },
};

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: Method;
  /** Express-style path relative to /api/v1, e.g. /policies/:name */
  path: string;
  role: Role;
  tag: string;
  summary: string;
  description?: string;
  params?: P;
  query?: Q;
  body?: B;
  responses: Record<number, ResponseSpec>;
  handler: (ctx: RouteContext<z.infer<P>, z.infer<Q>, z.infer<B>>) => Promise<RouteResult>;
}

export function fieldErrors(where: string, error: z.ZodError): FieldError[] {
  return error.issues.slice(0, 50).map((i) => ({
    path: [where, ...i.path.map(String)].join('.'),
    message: i.message,
  }));
}

export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const errors = fieldErrors(where, r.error);
    throw new ValidationError(`invalid ${where}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
  }
  return r.data;
}

export const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const JSON_TYPE = 'application/json';

/**
 * A path parameter names one resource exactly: a schema that normalizes its value (trims it, say) would make
 * `/file-servers/fs-a%20` act on fs-a. Such a value is refused instead, naming the parameter.
 */
function exactParams<T>(parsed: T, raw: Record<string, unknown>): T {
  const fields: FieldError[] = [];
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof v === 'string' && raw[k] !== undefined && raw[k] !== v) {
      fields.push({
        path: `params.${k}`,
        message: `must be the exact name, without surrounding spaces (sent ${JSON.stringify(raw[k]).slice(0, 200)})`,
      });
    }
  }
  if (fields.length) {
    throw new ValidationError(`invalid params: ${fields.map((e) => `${e.path}: ${e.message}`).join('; ')}`, fields);
  }
  return parsed;
}

export class ApiRoutes {
  readonly router = Router();
  constructor(
    private readonly registry: OpenAPIRegistry,
    private readonly audit: AuditLog,
    private readonly prefix = '/api/v1',
  ) {}

  add<P extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined, B extends z.ZodType = z.ZodUndefined>(
    spec: RouteSpec<P, Q, B>,
  ): void {
    const openapiPath = `${this.prefix}${spec.path.replace(/:([A-Za-z]+)/g, '{$1}')}`;
    const request: RouteConfig['request'] = {};
    if (spec.params) request.params = spec.params as never;
    if (spec.query) request.query = spec.query as never;
    if (spec.body) request.body = { required: true, content: { 'application/json': { schema: spec.body } } };
    const problemResponse = (description: string) => ({
      description,
      content: { 'application/problem+json': { schema: Problem } },
    });
    const responses: RouteConfig['responses'] = {};
    for (const [code, r] of Object.entries(spec.responses)) {
      if (Number(code) >= 400) responses[code] = problemResponse(r.description);
      else if (r.schema) {
        responses[code] = {
          description: r.description,
          content: { [r.contentType ?? JSON_TYPE]: { schema: r.schema } },
        };
      } else responses[code] = { description: r.description };
    }
    responses['400'] ??= problemResponse('Invalid request (per-field errors)');
    responses['401'] = problemResponse('No valid bearer token');
    responses['403'] = problemResponse(`The token's role is below '${spec.role}'`);
    responses['429'] = problemResponse('Too many failed authentications');
    if (MUTATING.has(spec.method.toUpperCase())) {
      responses['413'] = problemResponse('The body is larger than the limit');
      responses['415'] = problemResponse('A body that is not JSON (application/json, UTF-8, without content-encoding)');
    }
    this.registry.registerPath({
      method: spec.method,
      path: openapiPath,
      tags: [spec.tag],
      summary: spec.summary,
      description: `${spec.description ? `${spec.description}\n\n` : ''}Role: ${spec.role}.`,
      security: [{ bearer: [] }],
      request,
      responses,
    });

    const action = `${spec.method.toUpperCase()} ${spec.path}`;
    this.router[spec.method](spec.path, async (req: Request, res: Response) => {
      res.locals.action = action;
      const principal = requireRole(res.locals.principal as Principal | undefined, spec.role);
      const params = spec.params ? exactParams(parseOrThrow(spec.params, req.params, 'params'), req.params) : undefined;
      const query = spec.query ? parseOrThrow(spec.query, req.query, 'query') : undefined;
      if (!spec.query && Object.keys(req.query).length) {
        throw new ValidationError('this call takes no query parameters', [
          {
            path: 'query',
            message: `unknown parameter(s): ${Object.keys(req.query).slice(0, 5).join(', ')}`.slice(0, 300),
          },
        ]);
      }
      let body: unknown = undefined;
      if (spec.body) body = parseOrThrow(spec.body, req.body ?? undefined, 'body');
      else if (MUTATING.has(req.method) && req.body !== undefined && !isEmptyBody(req.body)) {
        throw new ValidationError('this call takes no body', [{ path: 'body', message: 'must be empty' }]);
      }
      const result = await spec.handler({
        params: params as z.infer<P>,
        query: query as z.infer<Q>,
        body: body as z.infer<B>,
        principal,
        req,
      });
      if (MUTATING.has(req.method)) {
        await this.audit.record({
          actor: principal.name,
          action,
          target: result.target ?? req.path,
          result: 'succeeded',
          detail: { status: result.status },
        });
        res.locals.audited = true;
      }
      if (result.stream) result.stream(res);
      else if (result.text) res.status(result.status).type(result.text.contentType).send(result.text.content);
      else if (result.body === undefined) res.status(result.status).end();
      else res.status(result.status).json(result.body);
    });
  }
}

function isEmptyBody(b: unknown): boolean {
  return typeof b === 'object' && b !== null && !Array.isArray(b) && Object.keys(b).length === 0;
}
