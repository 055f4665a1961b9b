// The gateway's routes, each declared once: who may call it (the orchestrator's control token, a peer's pair token, or
// either), its zod schemas (params, query, body) and its answers. The declaration registers the Express handler AND the
// OpenAPI path (gateway/openapi.ts), so the document cannot drift from what the agent enforces and answers.
//
// Order of work for every request: the token is checked first (an unauthenticated caller cannot make the agent read a
// body), then the body is read only by a route that takes one and only in its media type (415 otherwise: a
// `text/plain` body is never skipped as if none had been sent), then params, query and body are validated (400 naming
// the field), then the handler runs. Every error, whatever layer raised it, is the problem body (gateway/app.ts).
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ValidationError } from '../domain/errors';
import { GATEWAY_API_PREFIX, GatewayProblem, NodeId, PEER_NODE_HEADER } from '../domain/gateway-contract';
import { hasBody, unexpectedMediaType } from '../infra/http-server';
import { UnauthenticatedError, UnsupportedMediaType } from './errors';

export type CallerKind = 'control' | 'peer';
export type Caller = { kind: 'control' } | { kind: 'peer'; node: string };

/** The largest JSON body a control or peer request may carry. */
export const JSON_BODY_LIMIT = '1mb';

export interface GatewayResult {
  status: number;
  /** JSON answer; absent: no body. */
  body?: unknown;
}

export interface GatewayRouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  caller: Caller;
  req: Request;
  res: Response;
}

export interface GatewayRouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: 'get' | 'put' | 'post' | 'delete';
  /** Express-style path relative to /v1, e.g. /shares/:share */
  path: string;
  callers: CallerKind[];
  summary: string;
  params?: P;
  query?: Q;
  /** A JSON body (absent body: `{}`). */
  body?: B;
  /** The body is a byte stream of this media type, read by the handler (the data plane). */
  stream?: 'application/octet-stream';
  /** Successes (with their JSON schema, or none for an empty answer) and the errors this route's own logic answers. */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  handler: (ctx: GatewayRouteContext<z.infer<P>, z.infer<Q>, z.infer<B>>) => Promise<GatewayResult>;
}

export function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const fields = r.error.issues.slice(0, 50).map((i) => ({
    path: [where, ...i.path.map(String)].filter(Boolean).join('.'),
    message: i.message,
  }));
  throw new ValidationError(`invalid ${where}: ${fields.map((f) => `${f.path}: ${f.message}`).join('; ')}`, fields);
}

export class GatewayRoutes {
  readonly router = Router();
  constructor(
    private readonly registry: OpenAPIRegistry,
    private readonly authenticate: (req: Request) => Caller | undefined,
  ) {}

  add<P extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined, B extends z.ZodType = z.ZodUndefined>(
    spec: GatewayRouteSpec<P, Q, B>,
  ): void {
    this.document(spec);
    const json = express.json({ limit: JSON_BODY_LIMIT });
    const readBody = (req: Request, res: Response, next: NextFunction): void => {
      if (spec.stream) {
        const wrong = unexpectedMediaType(req, spec.stream);
        const encoding = req.headers['content-encoding'];
        if (wrong) throw new UnsupportedMediaType(wrong);
        if (encoding && encoding !== 'identity') {
          throw new UnsupportedMediaType(`content-encoding ${JSON.stringify(encoding)} is not supported here`);
        }
        return next();
      }
      if (!spec.body && !hasBody(req)) return next();
      const wrong = unexpectedMediaType(req, 'application/json');
      if (wrong) throw new UnsupportedMediaType(wrong);
      if (spec.body) return json(req, res, next);
      // A call without a body takes `{}` too (what clients send to a POST without parameters), nothing else.
      json(req, res, (err?: unknown) => {
        if (err) return next(err);
        const b: unknown = req.body;
        if (typeof b === 'object' && b !== null && !Array.isArray(b) && Object.keys(b).length === 0) return next();
        next(new ValidationError('this call takes no body', [{ path: 'body', message: 'must be empty or {}' }]));
      });
    };
    this.router[spec.method](
      spec.path,
      (req: Request, res: Response, next: NextFunction) => {
        const caller = this.authenticate(req);
        if (!caller || !spec.callers.includes(caller.kind)) throw new UnauthenticatedError();
        res.locals.caller = caller;
        next();
      },
      readBody,
      async (req: Request, res: Response) => {
        const params = spec.params ? parse(spec.params, req.params, 'params') : undefined;
        const query = parse(spec.query ?? z.object({}).strict(), req.query, 'query');
        const body = spec.body ? parse(spec.body, (req.body as unknown) ?? {}, 'body') : undefined;
        const result = await spec.handler({
          params: params as z.infer<P>,
          query: query as z.infer<Q>,
          body: body as z.infer<B>,
          caller: res.locals.caller as Caller,
          req,
          res,
        });
        if (result.body === undefined) res.status(result.status).end();
        else res.status(result.status).json(result.body);
      },
    );
  }

  private document(spec: GatewayRouteSpec<z.ZodType, z.ZodType, z.ZodType>): void {
    const problem = (description: string) => ({
      description,
      content: { 'application/problem+json': { schema: GatewayProblem } },
    });
    const responses: RouteConfig['responses'] = {};
    for (const [code, r] of Object.entries(spec.responses)) {
      if (Number(code) >= 400) responses[code] = problem(r.description);
      else if (r.schema)
        responses[code] = { description: r.description, content: { 'application/json': { schema: r.schema } } };
      else responses[code] = { description: r.description };
    }
    responses['400'] ??= problem('Invalid request (per-field errors), or a malformed URL');
    responses['401'] = problem(
      spec.callers.includes('peer') && !spec.callers.includes('control')
        ? `No valid pair token for the ${PEER_NODE_HEADER} node`
        : 'No valid bearer token',
    );
    if (spec.body || spec.stream) {
      responses['413'] = problem(`The body is larger than ${JSON_BODY_LIMIT}`);
      responses['415'] = problem(`A body that is not ${spec.stream ?? 'application/json'}, or an unsupported encoding`);
    }
    const peer = spec.callers.includes('peer');
    const control = spec.callers.includes('control');
    const headers = peer
      ? z.object({
          [PEER_NODE_HEADER]: control
            ? NodeId.optional().describe('Data plane callers: the sending node (selects its pair token)')
            : NodeId.describe('The sending node (selects its pair token)'),
        })
      : undefined;
    this.registry.registerPath({
      method: spec.method,
      path: `${GATEWAY_API_PREFIX}${spec.path.replace(/:([A-Za-z]+)/g, '{$1}')}`,
      summary: peer && !control ? `${spec.summary} (data plane: pair token and ${PEER_NODE_HEADER})` : spec.summary,
      security: [...(control ? [{ control: [] }] : []), ...(peer ? [{ peer: [] }] : [])],
      request: {
        ...(spec.params ? { params: spec.params as never } : {}),
        ...(spec.query ? { query: spec.query as never } : {}),
        ...(headers ? { headers: headers as never } : {}),
        ...(spec.body
          ? { body: { required: false, content: { 'application/json': { schema: spec.body } } } }
          : spec.stream
            ? {
                body: { required: true, content: { [spec.stream]: { schema: z.string().meta({ format: 'binary' }) } } },
              }
            : {}),
      },
      responses,
    });
  }
}
