// /file-servers: register with FSVM gateways (checked), update, remove, list with protection overview, details;
// /file-servers/:name/shares: shares live from the gateways (cached), share details with replication history.
import { z } from 'zod';
import type { Db } from '../../infra/database';
import { policiesUsingShares } from '../../infra/share-usage';
import { NotFoundError, ValidationError } from '../../domain/errors';
import { DnsName, FileServerName, IpAddress, NodeId, ShareName, Text } from '../../domain/names';
import type { ApiRoutes } from '../http';
import type { WorkflowPort } from '../temporal';
import type { FileServerService } from '../services/file-servers';
import type { ShareOperations } from '../services/share-operations';
import type { ShareService } from '../services/shares';
import { CreateShareRequest } from '../../domain/shares';
import { FileServerStatus, FsvmView, fsvmView, IsoDate, iso, num, OperationRef } from '../views';
import { jobSummary, JobSummary } from './jobs';
import { serverRoles, statusView } from '../../store/file-server-status';

const GatewayUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .max(2048)
  .refine((u) => !/^https?:\/\/[^/]*@/.test(u), 'must not contain credentials (give the token separately)')
  .transform((u) => u.replace(/\/+$/, ''));

/** A file server's status is derived from its shares' roles and fences; a request that sets it is refused. */
const KeptBySystem = z
  .unknown()
  .refine((v) => v === undefined, {
    message: 'is kept by the system (from the policies and the failovers); do not send it',
  })
  .optional()
  .describe('Refused: the status is derived (active, standby, fenced)');

const Fence = z
  .object({
    since: IsoDate,
    reason: z.string().nullable(),
    mode: z.string().nullable().describe('read_only or off'),
    enforcedAt: IsoDate.nullable().describe('When every fenced share was confirmed; null while an FSVM is away'),
  })
  .nullable();

const Roles = z.object({
  primaryShares: z.number().describe('Protected shares whose clients write here now'),
  replicaShares: z.number().describe('Protected shares this server holds the replica of'),
});

const FsvmInput = z.strictObject({
  nodeId: NodeId.optional().describe('Expected node id; checked against the gateway'),
  gatewayUrl: GatewayUrl,
  token: z.string().min(16).max(4096).describe('Bearer token of the gateway (stored encrypted, never returned)'),
});

const RegisterBody = z
  .strictObject({
    name: FileServerName,
    site: Text(100),
    dnsName: DnsName,
    addresses: z
      .array(IpAddress)
      .max(64)
      .default([])
      .describe("Client-facing addresses (its FSVMs' external addresses): where a redirect points clients"),
    status: KeptBySystem,
    fsvms: z.array(FsvmInput).min(1).max(64),
  })
  .meta({ id: 'RegisterFileServerRequest' });

const UpdateBody = z
  .strictObject({
    site: Text(100).optional(),
    dnsName: DnsName.optional(),
    addresses: z.array(IpAddress).max(64).optional(),
    status: KeptBySystem,
    fsvms: z.array(FsvmInput).min(1).max(64).optional().describe('The complete new list (every gateway is checked)'),
  })
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change')
  .meta({ id: 'UpdateFileServerRequest' });

const NameParams = z.strictObject({ name: FileServerName });
const ShareParams = z.strictObject({ name: FileServerName, share: ShareName });

export const FileServerDetails = z
  .object({
    id: z.string(),
    name: z.string(),
    site: z.string(),
    dnsName: z.string(),
    addresses: z.array(z.string()),
    directory: z
      .object({ domain: z.string(), dnsZone: z.string(), computerAccount: z.string() })
      .nullable()
      .describe('Active Directory settings (GET .../directory for all of them); null: clients are not redirected'),
    status: FileServerStatus,
    roles: Roles,
    fence: Fence,
    fsvms: z.array(FsvmView),
    sharesRefreshedAt: IsoDate.nullable(),
    policies: z.array(
      z.object({ name: z.string(), role: z.enum(['source', 'destination']), peer: z.string(), status: z.string() }),
    ),
    recentOperations: z.array(
      z.object({ id: z.string(), kind: z.string(), state: z.string(), createdAt: IsoDate, workflowId: z.string() }),
    ),
    createdAt: IsoDate,
    updatedAt: IsoDate,
  })
  .meta({ id: 'FileServerDetails' });

const ActionName = z.enum(['planned_failover', 'unplanned_failover', 'resume_replication', 'failback', 'dr_readiness']);
export const FileServerOverview = z
  .object({
    name: z.string(),
    site: z.string(),
    dnsName: z.string(),
    status: FileServerStatus,
    roles: Roles,
    fence: Fence,
    fsvms: z.object({ total: z.number(), healthy: z.number() }),
    shares: z.number(),
    protection: z.array(
      z.object({
        role: z.enum(['source', 'destination']),
        source: z.object({ name: z.string(), status: FileServerStatus }),
        destination: z.object({ name: z.string(), status: FileServerStatus }),
        policies: z.array(z.object({ name: z.string(), status: z.string() })),
        shares: z.array(
          z.object({
            policy: z.string(),
            share: z.string(),
            primary: z.enum(['source', 'destination']).describe('The side clients write to now'),
            paused: z.boolean().describe('Replication paused (by a failover, until replication resumes)'),
          }),
        ),
        runningOperation: z.object({ id: z.string(), kind: z.string(), state: z.string() }).nullable(),
        availableActions: z.array(ActionName),
      }),
    ),
  })
  .meta({ id: 'FileServerOverview' });

const ShareView = z
  .object({
    name: z.string(),
    kind: z.enum(['standard', 'distributed']),
    accessMode: z.enum(['read_write', 'read_only', 'off']),
    portions: z.record(z.string(), z.string()).describe('portion name -> node id ("" is a standard share\'s root)'),
    sizeBytes: z.number().nullable(),
    protectedBy: z
      .array(
        z.object({ policy: z.string(), role: z.enum(['source', 'target']), peerShare: z.string(), peer: z.string() }),
      )
      .describe('Policies replicating this share (as source) or into it (as target)'),
  })
  .meta({ id: 'Share' });

export const ShareList = z.object({
  fileServer: z.string(),
  refreshedAt: IsoDate.nullable(),
  stale: z.boolean().describe('true: a gateway did not answer and the last good list is shown'),
  errors: z.array(z.object({ nodeId: z.string(), gatewayUrl: z.string(), message: z.string() })),
  shares: z.array(ShareView),
});

export const ShareDetails = ShareView.extend({
  fileServer: z.string(),
  refreshedAt: IsoDate,
  history: z.array(JobSummary).describe('The latest replication jobs of the share (newest first, at most 50)'),
}).meta({ id: 'ShareDetails' });

export interface FileServerRouteDeps {
  db: Db;
  fileServers: FileServerService;
  shares: ShareService;
  shareOperations: ShareOperations;
  workflows: WorkflowPort;
}

export function fileServerRoutes(api: ApiRoutes, deps: FileServerRouteDeps): void {
  const { db } = deps;

  async function details(name: string): Promise<z.infer<typeof FileServerDetails>> {
    const fs = await deps.fileServers.getByName(name);
    const policies = await db.replicationPolicy.findMany({
      where: { OR: [{ sourceFileServerId: fs.id }, { destFileServerId: fs.id }] },
      include: { source: { select: { name: true } }, destination: { select: { name: true } } },
      orderBy: { name: 'asc' },
    });
    const [ops, roles] = await Promise.all([
      db.operation.findMany({ where: { fileServers: { has: name } }, orderBy: { createdAt: 'desc' }, take: 10 }),
      serverRoles(db),
    ]);
    const r = roles.get(fs.id);
    return {
      id: fs.id,
      name: fs.name,
      site: fs.site,
      dnsName: fs.dnsName,
      addresses: fs.addresses,
      directory: fs.directory
        ? { domain: fs.directory.domain, dnsZone: fs.directory.dnsZone, computerAccount: fs.directory.computerAccount }
        : null,
      ...statusView(r),
      fsvms: fs.fsvms.map(fsvmView),
      sharesRefreshedAt: iso(fs.sharesRefreshedAt),
      policies: policies.map((p) => ({
        name: p.name,
        role: p.sourceFileServerId === fs.id ? ('source' as const) : ('destination' as const),
        peer: p.sourceFileServerId === fs.id ? p.destination.name : p.source.name,
        status: p.status,
      })),
      recentOperations: ops.map((o) => ({
        id: o.id,
        kind: o.kind,
        state: o.state,
        createdAt: o.createdAt.toISOString(),
        workflowId: o.workflowId,
      })),
      createdAt: fs.createdAt.toISOString(),
      updatedAt: fs.updatedAt.toISOString(),
    };
  }

  async function protectedBy(fileServerName: string, shareNames: string[]) {
    return policiesUsingShares(db, fileServerName, shareNames);
  }

  function shareView(
    s: {
      name: string;
      kind: 'standard' | 'distributed';
      accessMode: 'read_write' | 'read_only' | 'off';
      portions: unknown;
      sizeBytes: bigint | null;
    },
    prot: z.infer<typeof ShareView>['protectedBy'],
  ): z.infer<typeof ShareView> {
    return {
      name: s.name,
      kind: s.kind,
      accessMode: s.accessMode,
      portions: (s.portions ?? {}) as Record<string, string>,
      sizeBytes: num(s.sizeBytes),
      protectedBy: prot,
    };
  }

  api.add({
    method: 'get',
    path: '/file-servers',
    role: 'viewer',
    tag: 'File servers',
    summary: 'List file servers with their protection overview and available actions',
    responses: { 200: { description: 'File servers', schema: z.object({ items: z.array(FileServerOverview) }) } },
    handler: async () => ({ status: 200, body: { items: await deps.fileServers.list() } }),
  });

  api.add({
    method: 'post',
    path: '/file-servers',
    role: 'admin',
    tag: 'File servers',
    summary: 'Register a file server with its FSVM gateways',
    description: "Each gateway's health is called with the given token before anything is stored.",
    body: RegisterBody,
    responses: {
      201: { description: 'Registered', schema: FileServerDetails },
      409: { description: 'A file server with that name exists' },
      502: { description: 'A gateway did not answer' },
    },
    handler: async ({ body }) => {
      await deps.fileServers.register(body);
      return { status: 201, body: await details(body.name), target: `file-server/${body.name}` };
    },
  });

  api.add({
    method: 'get',
    path: '/file-servers/:name',
    role: 'viewer',
    tag: 'File servers',
    summary: 'File server details',
    params: NameParams,
    query: z.strictObject({
      refresh: z
        .enum(['true', 'false'])
        .optional()
        .transform((v) => v === 'true')
        .describe("true: call every FSVM's health now and record it"),
    }),
    responses: { 200: { description: 'Details', schema: FileServerDetails }, 404: { description: 'Unknown' } },
    handler: async ({ params, query }) => {
      if (query.refresh) await deps.fileServers.refreshHealth(params.name);
      return { status: 200, body: await details(params.name) };
    },
  });

  api.add({
    method: 'patch',
    path: '/file-servers/:name',
    role: 'admin',
    tag: 'File servers',
    summary: 'Update a file server (site, DNS name, addresses, FSVMs)',
    params: NameParams,
    body: UpdateBody,
    responses: { 200: { description: 'Updated', schema: FileServerDetails }, 404: { description: 'Unknown' } },
    handler: async ({ params, body }) => {
      await deps.fileServers.update(params.name, body);
      return { status: 200, body: await details(params.name), target: `file-server/${params.name}` };
    },
  });

  api.add({
    method: 'delete',
    path: '/file-servers/:name',
    role: 'admin',
    tag: 'File servers',
    summary: 'Remove a file server (refused while a policy uses it)',
    params: NameParams,
    responses: { 204: { description: 'Removed' }, 404: { description: 'Unknown' }, 409: { description: 'In use' } },
    handler: async ({ params }) => {
      await deps.fileServers.remove(params.name);
      return { status: 204, target: `file-server/${params.name}` };
    },
  });

  api.add({
    method: 'get',
    path: '/file-servers/:name/shares',
    role: 'viewer',
    tag: 'Shares',
    summary: "A file server's shares, live from its gateways (cached)",
    params: NameParams,
    query: z.strictObject({
      refresh: z
        .enum(['true', 'false'])
        .optional()
        .transform((v) => v === 'true')
        .describe('true: ask the gateways now instead of using a recent cache'),
    }),
    responses: { 200: { description: 'Shares', schema: ShareList }, 404: { description: 'Unknown file server' } },
    handler: async ({ params, query }) => {
      const listing = await deps.shares.list(params.name, { refresh: query.refresh });
      const prot = await protectedBy(
        params.name,
        listing.shares.map((s) => s.name),
      );
      return {
        status: 200,
        body: {
          fileServer: params.name,
          refreshedAt: iso(listing.refreshedAt),
          stale: listing.stale,
          errors: listing.errors,
          shares: listing.shares.map((s) => shareView(s, prot.get(s.name) ?? [])),
        },
      };
    },
  });

  api.add({
    method: 'get',
    path: '/file-servers/:name/shares/:share',
    role: 'viewer',
    tag: 'Shares',
    summary: 'Share details with its replication history',
    params: ShareParams,
    responses: { 200: { description: 'Share', schema: ShareDetails }, 404: { description: 'Unknown' } },
    handler: async ({ params }) => {
      await deps.shares.list(params.name);
      const share = await db.share.findFirst({ where: { name: params.share, fileServer: { name: params.name } } });
      if (!share) throw new NotFoundError(`share '${params.share}' does not exist on file server '${params.name}'`);
      const prot = await protectedBy(params.name, [share.name]);
      const history = await db.job.findMany({
        where: {
          OR: [
            { sourceFileServer: params.name, share: params.share },
            { destFileServer: params.name, targetShare: params.share },
          ],
        },
        include: { policy: { select: { name: true } } },
        orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
        take: 50,
      });
      return {
        status: 200,
        body: {
          ...shareView(share, prot.get(share.name) ?? []),
          fileServer: params.name,
          refreshedAt: share.refreshedAt.toISOString(),
          history: history.map((j) => jobSummary(j)),
        },
      };
    },
  });

  const ShareAccepted = OperationRef.extend({ fileServer: z.string(), share: z.string() }).meta({
    id: 'ShareAccepted',
  });

  api.add({
    method: 'post',
    path: '/file-servers/:name/shares',
    role: 'admin',
    tag: 'Shares',
    summary: 'Create a share (starts createShareWorkflow)',
    description:
      'A standard share on one FSVM (`nodeId`, default the first), or a distributed share whose top-level folders ' +
      '(`portions`) are placed on chosen FSVMs. The workflow checks the FSVMs, creates the share on each and ' +
      'refreshes the share list; a failure removes what the run created.',
    params: NameParams,
    body: CreateShareRequest,
    responses: {
      202: { description: 'Accepted: the workflow started', schema: ShareAccepted },
      404: { description: 'Unknown file server' },
      409: { description: 'The share exists, or an operation on it is under way' },
    },
    handler: async ({ params, body, principal }) => {
      const r = await deps.shareOperations.create(params.name, body, principal);
      return {
        status: 202,
        body: { ...r, workflowUrl: deps.workflows.link(r.workflowId), fileServer: params.name, share: body.name },
        target: `file-server/${params.name}/share/${body.name}`,
      };
    },
  });

  api.add({
    method: 'delete',
    path: '/file-servers/:name/shares/:share',
    role: 'admin',
    tag: 'Shares',
    summary: 'Delete a share with its data and snapshots (starts deleteShareWorkflow)',
    description: 'Refused while a policy replicates the share or into it. `confirm` must repeat the share name.',
    params: ShareParams,
    query: z.strictObject({ confirm: z.string().max(100).describe('The share name again') }),
    responses: {
      202: { description: 'Accepted: the workflow started', schema: ShareAccepted },
      404: { description: 'Unknown file server or share' },
      409: { description: 'A policy uses the share, or an operation on it is under way' },
    },
    handler: async ({ params, query, principal }) => {
      if (query.confirm !== params.share) {
        throw new ValidationError(`confirm must repeat the share name '${params.share}'`, [
          { path: 'query.confirm', message: `must be '${params.share}'` },
        ]);
      }
      const r = await deps.shareOperations.remove(params.name, params.share, principal);
      return {
        status: 202,
        body: { ...r, workflowUrl: deps.workflows.link(r.workflowId), fileServer: params.name, share: params.share },
        target: `file-server/${params.name}/share/${params.share}`,
      };
    },
  });
}
