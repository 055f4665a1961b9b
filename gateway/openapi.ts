// The OpenAPI 3.1 document of the gateway API, generated from the contract's zod schemas (served at /v1/openapi.json).
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import * as c from '../domain/gateway-contract';

type Method = 'get' | 'put' | 'post' | 'delete';

export function buildOpenApi(): unknown {
  const reg = new OpenAPIRegistry();
  reg.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  const problem = { description: 'problem', content: { 'application/problem+json': { schema: c.GatewayProblem } } };
  const add = (
    method: Method,
    path: string,
    summary: string,
    response: z.ZodType | null,
    opts: { body?: z.ZodType; params?: string[]; query?: z.ZodObject; peer?: boolean; status?: number } = {},
  ): void => {
    const params = opts.params?.length
      ? z.object(Object.fromEntries(opts.params.map((p) => [p, z.string()])))
      : undefined;
    reg.registerPath({
      method,
      path,
      summary: opts.peer ? `${summary} (data plane: peer token and ${c.PEER_NODE_HEADER} header)` : summary,
      security: [{ bearer: [] }],
      request: {
        ...(params ? { params } : {}),
        ...(opts.query ? { query: opts.query } : {}),
        ...(opts.body ? { body: { content: { 'application/json': { schema: opts.body } } } } : {}),
      },
      responses: {
        [opts.status ?? 200]: response
          ? { description: 'ok', content: { 'application/json': { schema: response } } }
          : { description: 'done' },
        400: problem,
        401: problem,
        404: problem,
        409: problem,
      },
    });
  };
  const portionQ = z.object({ portion: z.string().optional() });
  add('get', '/v1/health', 'Health and capacity', c.GatewayHealth);
  add('get', '/v1/shares', 'Shares on this FSVM', c.ShareList);
  add('get', '/v1/shares/{share}', 'One share, without sizes (404 when not on this FSVM)', c.GatewayShareInfo, {
    params: ['share'],
  });
  add('put', '/v1/shares/{share}', 'Create a share (idempotent)', c.GatewayShare, {
    params: ['share'],
    body: c.CreateShareRequest,
  });
  add('delete', '/v1/shares/{share}', 'Delete a share, its data and snapshots', null, {
    params: ['share'],
    query: c.DeleteShareQuery,
    status: 204,
  });
  add('put', '/v1/shares/{share}/access', 'Set the access mode for protocol clients', c.GatewayShare, {
    params: ['share'],
    body: c.SetAccessRequest,
  });
  add('get', '/v1/shares/{share}/snapshots', 'Complete snapshots, oldest first', c.SnapshotList, {
    params: ['share'],
    query: portionQ,
  });
  add(
    'post',
    '/v1/shares/{share}/snapshots',
    'Take a snapshot of every portion held here (idempotent)',
    c.SnapshotList,
    {
      params: ['share'],
      body: c.CreateSnapshotRequest,
      status: 201,
    },
  );
  add('delete', '/v1/shares/{share}/snapshots/{snapshot}', 'Delete a snapshot (idempotent)', null, {
    params: ['share', 'snapshot'],
    query: portionQ,
    status: 204,
  });
  add('post', '/v1/shares/{share}/rollback', 'Roll the share back to a snapshot', c.GatewayShare, {
    params: ['share'],
    body: c.RollbackRequest,
  });
  add(
    'get',
    '/v1/shares/{share}/digest',
    "Digest of a portion's tree, live or a snapshot (paths, types, modes, sizes, mtimes to the µs, link targets; content=true adds sha256s)",
    c.PortionDigest,
    { params: ['share'], query: c.DigestQuery },
  );
  add('get', '/v1/shares/{share}/open-files', 'SMB clients with files open on a share', c.ShareOpenFiles, {
    params: ['share'],
  });
  add('post', '/v1/snapshots/prune', 'Delete expired snapshots', c.PruneResult, { body: c.PruneRequest });
  add('get', '/v1/negotiation/{share}', 'Snapshots this side has (base vs incremental)', c.NegotiationInfo, {
    params: ['share'],
    query: portionQ,
  });
  add('post', '/v1/transfers', 'Send a snapshot to a peer FSVM (idempotent by id)', c.TransferStatus, {
    body: c.StartTransferRequest,
    status: 202,
  });
  add('get', '/v1/transfers', 'Transfers of this sender', c.TransferList);
  add('get', '/v1/transfers/{id}', 'Progress of a transfer', c.TransferStatus, { params: ['id'] });
  add('post', '/v1/transfers/{id}/cancel', 'Cancel a transfer', c.TransferStatus, { params: ['id'] });
  add('get', '/v1/receives', 'Receives of this FSVM', c.ReceiveList);
  add('get', '/v1/receives/{id}', 'State of a receive', c.ReceiveStatus, { params: ['id'] });
  add('put', '/v1/receives/{id}', 'Prepare a receive', c.ReceiveStatus, {
    params: ['id'],
    body: c.PrepareReceiveRequest,
    peer: true,
  });
  add('put', '/v1/receives/{id}/data', 'Stream bytes from `offset` on (application/octet-stream)', c.ReceiveStatus, {
    params: ['id'],
    query: c.ReceiveDataQuery,
    peer: true,
  });
  add('post', '/v1/receives/{id}/complete', 'Declare the stream whole; verified, then applied', c.ReceiveStatus, {
    params: ['id'],
    body: c.CompleteReceiveRequest,
    peer: true,
  });
  add(
    'post',
    '/v1/receives/{id}/commit',
    'Publish a received snapshot; 409 when that would overwrite a read_write share, unless force is true',
    c.ReceiveStatus,
    { params: ['id'], body: c.CommitReceiveRequest },
  );
  add('delete', '/v1/receives/{id}', 'Abandon a receive', c.ReceiveStatus, { params: ['id'] });
  return new OpenApiGeneratorV31(reg.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'fs-dr FSVM gateway', version: '1' },
  });
}
