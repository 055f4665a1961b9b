// How the API reaches FSVM gateways: a factory so tests (and a later mTLS transport) can swap the client.
import { GatewayClient } from '../gateway/client';
import type { GatewayHealth, GatewayShare } from '../domain/gateway-contract';

export interface GatewayPort {
  health(opts?: { timeoutMs?: number }): Promise<GatewayHealth>;
  listShares(opts?: { timeoutMs?: number }): Promise<GatewayShare[]>;
}

export type GatewayFactory = (endpoint: { url: string; token: string }) => GatewayPort;

/** Clients that verify https gateways against the CA bundle `ca()` gives at each call (reloaded on SIGHUP). */
export const gatewayFactoryWith =
  (ca?: () => Buffer | undefined): GatewayFactory =>
  (endpoint) => {
    const bundle = ca?.();
    return new GatewayClient({ ...endpoint, ...(bundle ? { ca: bundle } : {}) });
  };
