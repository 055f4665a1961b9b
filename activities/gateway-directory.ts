// Finds the FSVM gateways of a file server in the admin database and builds their clients. Tokens are decrypted
// here, inside activities, so they never appear in workflow inputs, results or histories.
import { NotFoundError } from '../domain/errors';
import { GatewayClient } from '../gateway/client';
import type { Db } from '../infra/database';
import type { SecretBox } from '../infra/secrets';

export interface FsvmRef {
  nodeId: string;
  url: string;
}

export interface GatewayDirectory {
  fsvms(fileServer: string): Promise<FsvmRef[]>;
  client(fileServer: string, nodeId: string): Promise<GatewayClient>;
}

/**
 * Every step of every run asks for gateways, several times: the rows of a file server are kept this long, so a busy
 * worker reads each file server once per interval instead of once per call. A changed gateway URL or token is seen
 * within it.
 */
const ROWS_TTL_MS = 2000;

type FsvmRow = { nodeId: string; gatewayUrl: string; gatewayTokenEnc: string };

export function createGatewayDirectory(deps: {
  db: Db;
  secrets: SecretBox;
  timeoutMs?: number;
  rowsTtlMs?: number;
  /** The CA bundle https gateways' certificates must chain to (GATEWAY_CA_FILE); unset: the system's trust. */
  gatewayCa?: () => Buffer | undefined;
}): GatewayDirectory {
  const ttl = deps.rowsTtlMs ?? ROWS_TTL_MS;
  const cache = new Map<string, { at: number; rows: Promise<FsvmRow[]> }>();
  function rows(fileServer: string): Promise<FsvmRow[]> {
    const hit = cache.get(fileServer);
    if (hit && Date.now() - hit.at < ttl) return hit.rows;
    const fresh = read(fileServer);
    cache.set(fileServer, { at: Date.now(), rows: fresh });
    // A failed read (unknown file server, database down) is not remembered.
    fresh.catch(() => {
      if (cache.get(fileServer)?.rows === fresh) cache.delete(fileServer);
    });
    return fresh;
  }
  async function read(fileServer: string): Promise<FsvmRow[]> {
    const fs = await deps.db.fileServer.findUnique({
      where: { name: fileServer },
      select: {
        fsvms: { select: { nodeId: true, gatewayUrl: true, gatewayTokenEnc: true }, orderBy: { nodeId: 'asc' } },
      },
    });
    if (!fs) throw new NotFoundError(`file server '${fileServer}' is not registered`);
    return fs.fsvms;
  }
  return {
    async fsvms(fileServer) {
      return (await rows(fileServer)).map((f) => ({ nodeId: f.nodeId, url: f.gatewayUrl }));
    },
    async client(fileServer, nodeId) {
      const fsvm = (await rows(fileServer)).find((f) => f.nodeId === nodeId);
      if (!fsvm) throw new NotFoundError(`file server '${fileServer}' has no FSVM '${nodeId}'`);
      const ca = deps.gatewayCa?.();
      return new GatewayClient(
        { url: fsvm.gatewayUrl, token: deps.secrets.open(fsvm.gatewayTokenEnc), ...(ca ? { ca } : {}) },
        { timeoutMs: deps.timeoutMs ?? 15_000 },
      );
    },
  };
}
