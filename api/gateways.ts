// How the API reaches FSVM gateways: a factory so tests (and a later mTLS transport) can swap the client.
import { GatewayClient } from '../gateway/client';
import type { GatewayHealth, GatewayShare } from '../domain/gateway-contract';

export interface GatewayPort {
  health(opts?: { timeoutMs?: number }): Promise<GatewayHealth>;
  listShares(opts?: { timeoutMs?: number }): Promise<GatewayShare[]>;
}

export type GatewayFactory = (endpoint: { url: string; token: string }) => GatewayPort;

export const defaultGatewayFactory: GatewayFactory = (endpoint) => new GatewayClient(endpoint);
