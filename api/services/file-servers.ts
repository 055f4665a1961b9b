// File servers and their FSVM gateways: registration (each gateway's health is checked with the given token before
// anything is stored), update, removal (refused while a policy uses the file server), list with the protection
// overview and details. Gateway tokens are sealed (infra/secrets.ts) and never returned; Active Directory settings
// have their own service (directory-settings.ts).
import type { Db } from '../../infra/database';
import type { SecretBox } from '../../infra/secrets';
import { ConflictError, DomainError, NotFoundError, ValidationError, type FieldError } from '../../domain/errors';
import type { GatewayHealth } from '../../domain/gateway-contract';
import type { GatewayFactory } from '../gateways';
import { availableActions } from '../../domain/operation-rules';
import { serverRoles, shareStates, statusView } from '../../store/file-server-status';
import { ACTIVE_OPERATION_STATES } from './protection';
import type { FsvmName } from '../../domain/directory';
import { settingsProblems } from './directory-settings';

export interface FsvmInput {
  nodeId?: string;
  gatewayUrl: string;
  token: string;
}

export interface RegisterFileServer {
  name: string;
  site: string;
  dnsName: string;
  addresses: string[];
  fsvms: FsvmInput[];
}

export interface UpdateFileServer {
  site?: string;
  dnsName?: string;
  addresses?: string[];
  fsvms?: FsvmInput[];
}

export interface FileServerServiceDeps {
  db: Db;
  secrets: SecretBox;
  gateways: GatewayFactory;
  gatewayTimeoutMs: number;
}

type CheckedFsvm = { nodeId: string; gatewayUrl: string; token: string; health: GatewayHealth };

export function createFileServerService(deps: FileServerServiceDeps) {
  const { db } = deps;

  /** Calls every gateway's health with its token (in parallel, outside any transaction); names each one that fails. */
  async function checkGateways(fsvms: FsvmInput[]): Promise<CheckedFsvm[]> {
    const results = await Promise.allSettled(
      fsvms.map((f) =>
        deps.gateways({ url: f.gatewayUrl, token: f.token }).health({ timeoutMs: deps.gatewayTimeoutMs }),
      ),
    );
    const fields: FieldError[] = [];
    let unavailable: DomainError | undefined;
    const checked: CheckedFsvm[] = [];
    results.forEach((r, i) => {
      const f = fsvms[i]!;
      if (r.status === 'rejected') {
        const err: unknown = r.reason;
        if (err instanceof ValidationError) fields.push({ path: `body.fsvms.${i}.token`, message: err.message });
        else if (err instanceof NotFoundError) {
          fields.push({
            path: `body.fsvms.${i}.gatewayUrl`,
            message: `${f.gatewayUrl} is not an FSVM gateway (no /v1/health)`,
          });
        } else if (err instanceof DomainError) unavailable ??= err;
        else unavailable ??= new ValidationError(`gateway ${f.gatewayUrl} could not be checked`);
        return;
      }
      if (f.nodeId && r.value.nodeId !== f.nodeId) {
        fields.push({
          path: `body.fsvms.${i}.nodeId`,
          message: `gateway ${f.gatewayUrl} reports node '${r.value.nodeId}', not '${f.nodeId}'`,
        });
      }
      checked.push({ nodeId: r.value.nodeId, gatewayUrl: f.gatewayUrl, token: f.token, health: r.value });
    });
    if (fields.length) throw new ValidationError(fields.map((e) => e.message).join('; '), fields);
    if (unavailable) throw unavailable;
    const seen = new Map<string, number>();
    checked.forEach((c, i) => {
      const prev = seen.get(c.nodeId);
      if (prev !== undefined) {
        fields.push({
          path: `body.fsvms.${i}.gatewayUrl`,
          message: `gateways ${checked[prev]!.gatewayUrl} and ${c.gatewayUrl} are both node '${c.nodeId}'`,
        });
      }
      seen.set(c.nodeId, i);
    });
    if (fields.length) throw new ValidationError(fields.map((e) => e.message).join('; '), fields);
    return checked;
  }

  function fsvmRows(checked: CheckedFsvm[]) {
    const now = new Date();
    return checked.map((c) => ({
      nodeId: c.nodeId,
      gatewayUrl: c.gatewayUrl,
      gatewayTokenEnc: deps.secrets.seal(c.token),
      health: c.health.status === 'ok' ? ('healthy' as const) : ('degraded' as const),
      lastSeenAt: now,
      lastError: null,
    }));
  }

  async function getByName(name: string) {
    const fs = await db.fileServer.findUnique({
      where: { name },
      include: { fsvms: { orderBy: { nodeId: 'asc' } }, directory: true },
    });
    if (!fs) throw new NotFoundError(`file server '${name}' is not registered`);
    return fs;
  }

  /** Calls every FSVM's health now (in parallel, outside any transaction) and records health, last seen, last error. */
  async function refreshHealth(name: string): Promise<void> {
    const fs = await getByName(name);
    const results = await Promise.allSettled(
      fs.fsvms.map((f) =>
        deps
          .gateways({ url: f.gatewayUrl, token: deps.secrets.open(f.gatewayTokenEnc) })
          .health({ timeoutMs: deps.gatewayTimeoutMs }),
      ),
    );
    const now = new Date();
    await Promise.all(
      results.map((r, i) => {
        const f = fs.fsvms[i]!;
        if (r.status === 'fulfilled') {
          const health = r.value.nodeId !== f.nodeId ? 'degraded' : r.value.status === 'ok' ? 'healthy' : 'degraded';
          const lastError = r.value.nodeId !== f.nodeId ? `gateway now reports node '${r.value.nodeId}'` : null;
          return db.fsvm.update({ where: { id: f.id }, data: { health, lastSeenAt: now, lastError } });
        }
        const message = r.reason instanceof DomainError ? r.reason.message : 'gateway call failed';
        return db.fsvm.update({ where: { id: f.id }, data: { health: 'down', lastError: message.slice(0, 500) } });
      }),
    );
  }

  return {
    getByName,
    refreshHealth,

    async register(req: RegisterFileServer) {
      if (await db.fileServer.findUnique({ where: { name: req.name }, select: { id: true } })) {
        throw new ConflictError(`file server '${req.name}' is already registered`);
      }
      const checked = await checkGateways(req.fsvms);
      await db.fileServer.create({
        data: {
          name: req.name,
          site: req.site,
          dnsName: req.dnsName,
          addresses: req.addresses,
          fsvms: { create: fsvmRows(checked) },
        },
      });
      return getByName(req.name);
    },

    async update(name: string, req: UpdateFileServer) {
      const current = await getByName(name);
      if (current.directory && (req.dnsName !== undefined || req.addresses !== undefined)) {
        // The directory settings name the zone of the file server's name and its FSVMs' addresses: keep them true.
        const problems = settingsProblems(
          { dnsName: req.dnsName ?? current.dnsName, addresses: req.addresses ?? current.addresses },
          { dnsZone: current.directory.dnsZone, fsvmNames: current.directory.fsvmNames as unknown as FsvmName[] },
          { zone: 'body.dnsName', fsvmName: () => 'body.dnsName', fsvmAddress: () => 'body.addresses' },
        );
        if (problems.length)
          throw new ValidationError(problems.map((p) => `${p.path}: ${p.message}`).join('; '), problems);
      }
      const checked = req.fsvms ? await checkGateways(req.fsvms) : undefined;
      await db.$transaction(async (tx) => {
        await tx.fileServer.update({
          where: { id: current.id },
          data: {
            site: req.site,
            dnsName: req.dnsName,
            addresses: req.addresses,
          },
        });
        if (checked) {
          await tx.fsvm.deleteMany({ where: { fileServerId: current.id } });
          await tx.fsvm.createMany({ data: fsvmRows(checked).map((r) => ({ ...r, fileServerId: current.id })) });
          await tx.fileServer.update({ where: { id: current.id }, data: { sharesRefreshedAt: null } });
        }
      });
      return getByName(name);
    },

    async remove(name: string) {
      const fs = await getByName(name);
      const policies = await db.replicationPolicy.findMany({
        where: { OR: [{ sourceFileServerId: fs.id }, { destFileServerId: fs.id }] },
        select: { name: true },
        orderBy: { name: 'asc' },
      });
      if (policies.length) {
        throw new ConflictError(
          `file server '${name}' is used by ${policies.length === 1 ? 'policy' : 'policies'} ${policies
            .map((p) => `'${p.name}'`)
            .join(', ')}; delete ${policies.length === 1 ? 'it' : 'them'} first`,
        );
      }
      const running = await db.operation.findFirst({
        where: { state: { in: ACTIVE_OPERATION_STATES }, fileServers: { has: name } },
      });
      if (running)
        throw new ConflictError(`file server '${name}' has a ${running.kind} operation running (${running.id})`);
      await db.fileServer.delete({ where: { id: fs.id } });
    },

    /** Every file server with its protection overview: one entry per (source, destination) pair it is part of. */
    async list() {
      const [servers, roles, shares, running] = await Promise.all([
        db.fileServer.findMany({
          orderBy: { name: 'asc' },
          include: { fsvms: { select: { health: true } }, _count: { select: { shares: true } } },
        }),
        serverRoles(db),
        shareStates(db),
        db.operation.findMany({
          where: { state: { in: ACTIVE_OPERATION_STATES } },
          select: { id: true, kind: true, state: true, fileServers: true },
        }),
      ]);
      const statusOf = (id: string) => roles.get(id)?.status ?? 'active';
      return servers.map((s) => {
        const pairs = new Map<string, typeof shares>();
        for (const sh of shares) {
          if (sh.sourceId !== s.id && sh.destinationId !== s.id) continue;
          const key = `${sh.sourceId}/${sh.destinationId}`;
          pairs.set(key, [...(pairs.get(key) ?? []), sh]);
        }
        const health = s.fsvms.map((f) => f.health);
        const r = roles.get(s.id);
        return {
          name: s.name,
          site: s.site,
          dnsName: s.dnsName,
          ...statusView(r),
          fsvms: { total: health.length, healthy: health.filter((h) => h === 'healthy').length },
          shares: s._count.shares,
          protection: [...pairs.values()].map((pairShares) => {
            const first = pairShares[0]!;
            const onPair = running.filter(
              (o) => o.fileServers.includes(first.source) && o.fileServers.includes(first.destination),
            );
            // A readiness check blocks only another readiness check; anything else blocks every action.
            const blocking = onPair.find((o) => o.kind !== 'dr_readiness');
            const op = blocking ?? onPair[0];
            const actions = blocking
              ? []
              : availableActions(pairShares, { sourceFenced: roles.get(first.sourceId)?.fenced != null });
            const policies = [...new Map(pairShares.map((x) => [x.policy, x])).values()];
            return {
              role: first.sourceId === s.id ? ('source' as const) : ('destination' as const),
              source: { name: first.source, status: statusOf(first.sourceId) },
              destination: { name: first.destination, status: statusOf(first.destinationId) },
              policies: policies.map((p) => ({ name: p.policy, status: p.policyStatus })),
              shares: pairShares.map((x) => ({
                policy: x.policy,
                share: x.sourceShare,
                primary: x.primary,
                paused: x.paused,
              })),
              runningOperation: op ? { id: op.id, kind: op.kind, state: op.state } : null,
              availableActions: op ? actions.filter((a) => a !== 'dr_readiness') : actions,
            };
          }),
        };
      });
    },
  };
}

export type FileServerService = ReturnType<typeof createFileServerService>;
