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

export function createGatewayDirectory(deps: { db: Db; secrets: SecretBox; timeoutMs?: number }): GatewayDirectory {
  async function rows(fileServer: string) {
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
      return new GatewayClient(
        { url: fsvm.gatewayUrl, token: deps.secrets.open(fsvm.gatewayTokenEnc) },
        { timeoutMs: deps.timeoutMs ?? 15_000 },
      );
    },
  };
}
