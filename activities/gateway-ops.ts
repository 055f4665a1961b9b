// The gateway calls the orchestrator's activities make beyond health and shares, over the client's generic call()
// and the contract's own schemas (domain/gateway-contract.ts), so an answer of the wrong shape fails loudly.
import { z } from 'zod';
import {
  GatewaySnapshot,
  NegotiationInfo,
  ReceiveStatus,
  SnapshotList,
  TransferStatus,
  type StartTransferRequest,
} from '../domain/gateway-contract';
import type { GatewayClient } from '../gateway/client';

const enc = encodeURIComponent;
const NoContent = z.unknown();

export const gatewayOps = {
  deleteShare: (c: GatewayClient, share: string) =>
    c.call('DELETE', `/shares/${enc(share)}?confirm=${enc(share)}`, NoContent),

  createSnapshot: async (c: GatewayClient, share: string, snapshotId: string, expiresAt?: string) =>
    (
      await c.call('POST', `/shares/${enc(share)}/snapshots`, z.object({ snapshots: z.array(GatewaySnapshot) }), {
        snapshotId,
        ...(expiresAt ? { expiresAt } : {}),
      })
    ).snapshots,

  listSnapshots: async (c: GatewayClient, share: string) =>
    (await c.call('GET', `/shares/${enc(share)}/snapshots`, SnapshotList)).snapshots,

  deleteSnapshot: (c: GatewayClient, share: string, snapshotId: string) =>
    c.call('DELETE', `/shares/${enc(share)}/snapshots/${enc(snapshotId)}`, NoContent),

  negotiation: (c: GatewayClient, share: string, portion: string) =>
    c.call('GET', `/negotiation/${enc(share)}?portion=${enc(portion)}`, NegotiationInfo),

  startTransfer: (c: GatewayClient, req: StartTransferRequest) => c.call('POST', '/transfers', TransferStatus, req),

  transferStatus: (c: GatewayClient, id: string) => c.call('GET', `/transfers/${enc(id)}`, TransferStatus),

  cancelTransfer: (c: GatewayClient, id: string) => c.call('POST', `/transfers/${enc(id)}/cancel`, TransferStatus),

  receiveStatus: (c: GatewayClient, id: string) => c.call('GET', `/receives/${enc(id)}`, ReceiveStatus.optional()),

  commitReceive: (c: GatewayClient, id: string) =>
    c.call('POST', `/receives/${enc(id)}/commit`, ReceiveStatus, { updateLive: true }),
};
