// /tokens (admin): create (the token is shown once), list, revoke; /whoami (any role); /audit (admin).
import { z } from 'zod';
import type { Db } from '../../infra/database';
import { ConflictError, NotFoundError } from '../../domain/errors';
import { TokenName, Uuid } from '../../domain/names';
import { hashToken, newToken, ROLES } from '../auth';
import type { ApiRoutes } from '../http';
import { fetchSize, keysetPage } from '../pagination';
import { Cursor, IsoDate, iso, Limit } from '../views';

export const TokenView = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(ROLES),
    createdAt: IsoDate,
    lastUsedAt: IsoDate.nullable(),
    revokedAt: IsoDate.nullable(),
  })
  .meta({ id: 'ApiToken' });

function tokenView(t: {
  id: string;
  name: string;
  role: (typeof ROLES)[number];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}) {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    createdAt: t.createdAt.toISOString(),
    lastUsedAt: iso(t.lastUsedAt),
    revokedAt: iso(t.revokedAt),
  };
}

/** Creates a token and returns it with its secret (the only time the secret is visible). */
export async function createToken(db: Db, name: string, role: (typeof ROLES)[number]) {
  if (await db.apiToken.findUnique({ where: { name }, select: { id: true } })) {
    throw new ConflictError(`a token named '${name}' already exists`);
  }
  const token = newToken();
  const row = await db.apiToken.create({ data: { name, role, tokenHash: hashToken(token) } });
  return { ...tokenView(row), token };
}

export function tokenRoutes(api: ApiRoutes, deps: { db: Db; onRevoke?: (tokenId: string) => void }): void {
  const { db } = deps;

  api.add({
    method: 'get',
    path: '/whoami',
    role: 'viewer',
    tag: 'Auth',
    summary: 'The calling token and its role',
    responses: { 200: { description: 'Caller', schema: z.object({ name: z.string(), role: z.enum(ROLES) }) } },
    handler: async ({ principal }) =>
      Promise.resolve({ status: 200, body: { name: principal.name, role: principal.role } }),
  });

  api.add({
    method: 'get',
    path: '/tokens',
    role: 'admin',
    tag: 'Auth',
    summary: 'List API tokens (never their secrets)',
    responses: { 200: { description: 'Tokens', schema: z.object({ items: z.array(TokenView) }) } },
    handler: async () => ({
      status: 200,
      body: { items: (await db.apiToken.findMany({ orderBy: { name: 'asc' } })).map(tokenView) },
    }),
  });

  api.add({
    method: 'post',
    path: '/tokens',
    role: 'admin',
    tag: 'Auth',
    summary: 'Create an API token; the token is in this answer only',
    body: z.strictObject({ name: TokenName, role: z.enum(ROLES) }).meta({ id: 'CreateTokenRequest' }),
    responses: {
      201: { description: 'Created', schema: TokenView.extend({ token: z.string() }) },
      409: { description: 'Name taken' },
    },
    handler: async ({ body }) => ({
      status: 201,
      body: await createToken(db, body.name, body.role),
      target: `token/${body.name}`,
    }),
  });

  api.add({
    method: 'delete',
    path: '/tokens/:id',
    role: 'admin',
    tag: 'Auth',
    summary: 'Revoke an API token (it answers 401 from now on)',
    params: z.strictObject({ id: Uuid }),
    responses: { 204: { description: 'Revoked' }, 404: { description: 'Unknown token' } },
    handler: async ({ params }) => {
      const t = await db.apiToken.findUnique({ where: { id: params.id } });
      if (!t) throw new NotFoundError(`token ${params.id} does not exist`);
      if (!t.revokedAt) await db.apiToken.update({ where: { id: t.id }, data: { revokedAt: new Date() } });
      deps.onRevoke?.(t.id);
      return { status: 204, target: `token/${t.name}` };
    },
  });

  const AuditView = z.object({
    id: z.string(),
    at: IsoDate,
    actor: z.string(),
    action: z.string(),
    target: z.string().nullable(),
    result: z.string(),
    detail: z.unknown(),
  });

  api.add({
    method: 'get',
    path: '/audit',
    role: 'admin',
    tag: 'Auth',
    summary: 'The audit log, newest first: every mutating call (who, what, when, result)',
    query: z.strictObject({ actor: TokenName.optional(), limit: Limit, cursor: Cursor.optional() }),
    responses: {
      200: {
        description: 'Entries',
        schema: z.object({ items: z.array(AuditView), nextCursor: z.string().nullable() }),
      },
    },
    handler: async ({ query }) => {
      const rows = await db.auditEntry.findMany({
        where: {
          ...(query.actor ? { actor: query.actor } : {}),
          ...(query.cursor && /^\d+$/.test(query.cursor.id) ? { id: { lt: BigInt(query.cursor.id) } } : {}),
        },
        orderBy: { id: 'desc' },
        take: fetchSize(query.limit),
      });
      // Audit ids grow with time: the id alone orders the log, the cursor carries it.
      const page = keysetPage(rows, query.limit, (r) => ({ at: r.at, id: r.id.toString() }));
      return {
        status: 200,
        body: {
          items: page.items.map((r) => ({
            id: r.id.toString(),
            at: r.at.toISOString(),
            actor: r.actor,
            action: r.action,
            target: r.target,
            result: r.result,
            detail: r.detail,
          })),
          nextCursor: page.nextCursor,
        },
      };
    },
  });
}
