// Client redirection activities for the failover, failback and readiness workflows. Their inputs and results are plain
// JSON without secrets (they are stored in workflow histories): the bind password is read from the admin database
// and decrypted here, inside the activity, for the time of one call.
//
//   planRedirect(req)      what a redirect would change (names and SPNs, before and after); writes nothing
//   redirectClients(req)   applies it and returns the undo record (idempotent: a second call writes nothing)
//   undoRedirect(undo)     puts back exactly what the redirect found (idempotent)
//   checkDirectory(input)  readiness of the file server's directory settings, in words
//
// A file server without directory settings is never skipped silently: its plan, undo record and check all say
// "clients are not redirected: no directory configured".
import { DirectoryError, NotFoundError } from '../domain/errors';
import {
  defaultSpns,
  fsvmNameTargets,
  notConfiguredSummary,
  type DirectoryCheck,
  type FsvmName,
  type NameChange,
  type RedirectPlan,
  type RedirectRequest,
  type RedirectUndo,
  type SpnChange,
} from '../domain/directory';
import { checkDirectory as runChecks } from '../directory/check';
import { redirect, restore, type RedirectTarget } from '../directory/redirect';
import { withSession, type SessionOptions } from '../directory/session';
import type { Db } from '../infra/database';
import type { SecretBox } from '../infra/secrets';

export interface DirectoryActivityDeps {
  db: Db;
  secrets: SecretBox;
  /** NODE_ENV=production: plain LDAP is refused whatever the settings say. */
  production?: boolean;
  /** Per-DC connect (TCP, TLS, bind) and per-operation timeouts; defaults 5 s and 10 s. */
  directoryTimeouts?: { connectMs: number; operationMs: number };
}

export interface UndoResult {
  fileServer: string;
  summary: string;
  names: NameChange[];
  spns: SpnChange[];
  writes: number;
}

type Settings = NonNullable<Awaited<ReturnType<typeof loadFileServer>>['directory']>;

async function loadFileServer(db: Db, name: string) {
  const fs = await db.fileServer.findUnique({
    where: { name },
    select: { name: true, dnsName: true, addresses: true, directory: true },
  });
  if (!fs) throw new NotFoundError(`file server '${name}' is not registered`);
  return fs;
}

function fsvmNamesOf(settings: Settings | null): FsvmName[] {
  return Array.isArray(settings?.fsvmNames) ? (settings.fsvmNames as unknown as FsvmName[]) : [];
}

function describeNames(names: NameChange[]): string[] {
  return names
    .filter((n) => n.changes)
    .map((n) => `${n.name}: ${n.before.join(', ') || '(no record)'} -> ${n.after.join(', ') || '(no record)'}`);
}

function describeSpns(spns: SpnChange[]): string[] {
  const moved = spns.filter((x) => x.changes);
  if (!moved.length) return [];
  const groups = new Map<string, string[]>();
  for (const x of moved) {
    const k = `from ${x.before ?? 'nobody'} to ${x.after}`;
    groups.set(k, [...(groups.get(k) ?? []), x.spn]);
  }
  return [...groups.entries()].map(([k, list]) => `SPN${list.length > 1 ? 's' : ''} ${list.join(', ')} ${k}`);
}

export function createDirectoryActivities(deps: DirectoryActivityDeps) {
  function sessionOptions(settings: Settings): SessionOptions {
    return {
      servers: settings.servers,
      bindUser: settings.bindUser,
      bindPassword: deps.secrets.open(settings.bindPasswordEnc),
      caPem: settings.caCertificates,
      plainLdap: settings.plainLdap,
      production: deps.production ?? false,
      connectTimeoutMs: deps.directoryTimeouts?.connectMs,
      timeoutMs: deps.directoryTimeouts?.operationMs,
    };
  }

  function accountOf(fs: { name: string; directory: Settings | null }, role: string, n: Settings): string {
    if (!fs.directory) {
      throw new DirectoryError(
        'not_configured',
        `file server '${fs.name}' (${role}) has no directory settings: its computer account is needed for the SPNs`,
      );
    }
    if (fs.directory.domain.toLowerCase() !== n.domain.toLowerCase()) {
      throw new DirectoryError(
        'invalid_input',
        `file server '${fs.name}' (${role}) is in domain '${fs.directory.domain}', not '${n.domain}'`,
      );
    }
    return fs.directory.computerAccount;
  }

  /** N's settings and the target state of a redirect, or null when N has no directory settings. */
  async function targetOf(req: RedirectRequest): Promise<{ settings: Settings; target: RedirectTarget } | null> {
    const n = await loadFileServer(deps.db, req.fileServer);
    if (!n.directory) return null;
    const settings = n.directory;
    const x = req.to === n.name ? n : await loadFileServer(deps.db, req.to);
    const from =
      !req.from || req.from === n.name ? n : req.from === x.name ? x : await loadFileServer(deps.db, req.from);
    if (!x.addresses.length) {
      throw new DirectoryError(
        'not_configured',
        `file server '${x.name}' has no client-facing addresses to redirect to`,
      );
    }
    const account = x === n ? settings.computerAccount : accountOf(x, 'destination', settings);
    const fromAccount = from === n ? settings.computerAccount : accountOf(from, 'source', settings);
    const own = fsvmNamesOf(settings);
    const fsvmTargets = fsvmNameTargets(own, {
      fsvmNames: x === n ? own : fsvmNamesOf(x.directory),
      addresses: x.addresses,
    });
    return {
      settings,
      target: {
        zone: settings.dnsZone,
        names: [{ name: n.dnsName, addresses: x.addresses }, ...fsvmTargets],
        spns: settings.spns.length ? settings.spns : defaultSpns(n.dnsName),
        account,
        accounts: [settings.computerAccount, fromAccount, account],
      },
    };
  }

  function summaryOf(req: RedirectRequest, names: NameChange[], spns: SpnChange[], applied: boolean): string {
    const parts = [...describeNames(names), ...describeSpns(spns)];
    const whose = `clients of file server '${req.fileServer}'`;
    if (!parts.length) {
      return `${whose} already reach file server '${req.to}': ${names.map((n) => `${n.name} -> ${n.after.join(', ')}`).join('; ')}; SPNs on ${spns[0]?.after ?? 'the right account'}; nothing to change`;
    }
    return `${whose} ${applied ? 'redirected' : 'would be redirected'} to file server '${req.to}': ${parts.join('; ')}`;
  }

  return {
    async planRedirect(req: RedirectRequest): Promise<RedirectPlan> {
      const t = await targetOf(req);
      if (!t) {
        return {
          fileServer: req.fileServer,
          to: req.to,
          configured: false,
          summary: notConfiguredSummary(req.fileServer),
          names: [],
          spns: [],
          writes: 0,
        };
      }
      const out = await withSession(sessionOptions(t.settings), (s) => redirect(s, t.target, false));
      return {
        fileServer: req.fileServer,
        to: req.to,
        configured: true,
        summary: summaryOf(req, out.names, out.spns, false),
        names: out.names,
        spns: out.spns,
        writes: out.writes,
      };
    },

    async redirectClients(req: RedirectRequest): Promise<RedirectUndo> {
      const t = await targetOf(req);
      if (!t) {
        return {
          fileServer: req.fileServer,
          configured: false,
          summary: notConfiguredSummary(req.fileServer),
          zone: null,
          names: [],
          spns: [],
          accounts: [],
          writes: 0,
        };
      }
      const out = await withSession(sessionOptions(t.settings), (s) => redirect(s, t.target, true));
      return {
        fileServer: req.fileServer,
        configured: true,
        summary: summaryOf(req, out.names, out.spns, true),
        ...out.before,
        writes: out.writes,
      };
    },

    async undoRedirect(undo: RedirectUndo): Promise<UndoResult> {
      if (!undo.configured) {
        return { fileServer: undo.fileServer, summary: undo.summary, names: [], spns: [], writes: 0 };
      }
      const n = await loadFileServer(deps.db, undo.fileServer);
      if (!n.directory) {
        throw new DirectoryError(
          'not_configured',
          `file server '${undo.fileServer}' has no directory settings any more: the redirect cannot be undone`,
        );
      }
      const out = await withSession(sessionOptions(n.directory), (s) => restore(s, undo));
      const parts = [...describeNames(out.names), ...describeSpns(out.spns)];
      return {
        fileServer: undo.fileServer,
        summary: parts.length
          ? `redirect of file server '${undo.fileServer}' undone: ${parts.join('; ')}`
          : `nothing to undo for file server '${undo.fileServer}': names and SPNs are as before the redirect`,
        names: out.names,
        spns: out.spns,
        writes: out.writes,
      };
    },

    async checkDirectory(input: { fileServer: string }): Promise<DirectoryCheck> {
      const n = await loadFileServer(deps.db, input.fileServer);
      if (!n.directory) {
        return {
          fileServer: n.name,
          configured: false,
          ok: false,
          summary: notConfiguredSummary(n.name),
          checks: [],
        };
      }
      const settings = n.directory;
      const peers = await deps.db.directorySettings.findMany({
        select: { computerAccount: true, domain: true, fileServer: { select: { name: true } } },
      });
      const knownAccounts = new Map(
        peers
          .filter((p) => p.domain.toLowerCase() === settings.domain.toLowerCase())
          .map((p) => [p.computerAccount.toLowerCase(), p.fileServer.name]),
      );
      const checks = await runChecks({
        session: sessionOptions(settings),
        domain: settings.domain,
        zone: settings.dnsZone,
        account: settings.computerAccount,
        names: [n.dnsName, ...fsvmNamesOf(settings).map((f) => f.name)],
        spns: settings.spns.length ? settings.spns : defaultSpns(n.dnsName),
        knownAccounts,
      });
      // One DC down while another answers does not stop a redirect: it is reported, but as a warning.
      const isDc = (c: { subject: string }) => c.subject.startsWith('domain controller ');
      const anyDc = checks.some((c) => isDc(c) && c.ok);
      const failed = checks.filter((c) => !c.ok && !(anyDc && isDc(c)));
      const warnings = checks.filter((c) => !c.ok && anyDc && isDc(c));
      const list = (l: typeof checks) => l.map((c) => `${c.subject}: ${c.detail}`).join('; ');
      return {
        fileServer: n.name,
        configured: true,
        ok: failed.length === 0,
        summary: failed.length
          ? `clients of file server '${n.name}' cannot be redirected: ${list(failed)}`
          : `ready: a redirect can change ${n.dnsName} and move the SPNs of ${settings.computerAccount}` +
            (warnings.length ? `; but ${list(warnings)}` : ` (${checks.length} checks passed)`),
        checks,
      };
    },
  };
}

export type DirectoryActivities = ReturnType<typeof createDirectoryActivities>;
