// /file-servers/:name/directory: the file server's Active Directory settings (how its clients are redirected: DNS
// records of its name, SPNs on its computer account) and the readiness check. The check runs as a workflow on a
// worker (checkDirectoryWorkflow); this route waits for its answer, bounded, and never talks to the directory itself.
import { randomUUID, X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { notConfiguredSummary, Spn, type DirectoryCheck } from '../../domain/directory';
import { AdComputerAccount, DnsName, FileServerName, IpAddress, Text } from '../../domain/names';
import { FILE_SERVERS } from '../../domain/search-attributes';
import type { ApiRoutes } from '../http';
import type { DirectorySettingsService } from '../services/directory-settings';
import { WorkflowTimeout, type WorkflowPort } from '../temporal';

const LDAP_URL_HELP = 'must be ldaps://host[:port] or ldap://host[:port] (no path, query or credentials)';
const LdapUrl = z
  .string()
  .trim()
  .max(2048)
  .refine((v) => {
    try {
      const u = new URL(v);
      return (
        (u.protocol === 'ldaps:' || u.protocol === 'ldap:') &&
        u.hostname !== '' &&
        !u.username &&
        !u.password &&
        (u.pathname === '' || u.pathname === '/') &&
        !u.search &&
        !u.hash &&
        /^[A-Za-z0-9.:[\]-]+$/.test(u.host)
      );
    } catch {
      return false;
    }
  }, LDAP_URL_HELP)
  .transform((v) => v.replace(/\/$/, ''));

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;
const PemCertificates = z
  .string()
  .max(65_536)
  .superRefine((pem, ctx) => {
    if (/PRIVATE KEY/.test(pem)) {
      ctx.addIssue({ code: 'custom', message: 'must hold CA certificates only, never a private key' });
      return;
    }
    const blocks = pem.match(PEM_BLOCK) ?? [];
    if (!blocks.length) {
      ctx.addIssue({ code: 'custom', message: 'must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)' });
      return;
    }
    blocks.forEach((b, i) => {
      try {
        new X509Certificate(b);
      } catch {
        ctx.addIssue({ code: 'custom', message: `certificate ${i + 1} is not a valid X.509 certificate` });
      }
    });
  })
  .transform((pem) => `${(pem.match(PEM_BLOCK) ?? []).join('\n')}\n`);

const FsvmNameInput = z.strictObject({
  name: DnsName.describe("One FSVM's DNS name (inside the zone)"),
  addresses: z.array(IpAddress).min(1).max(16).describe("Its client-facing addresses (among the file server's)"),
});

function settingsBody(production: boolean) {
  return z
    .strictObject({
      domain: DnsName.describe('AD DNS domain, e.g. corp.example.com'),
      servers: z
        .array(LdapUrl)
        .min(1)
        .max(8)
        .describe('Domain controllers, tried in order: ldaps://dc1.corp.example.com, or ldap://... with StartTLS'),
      plainLdap: z
        .boolean()
        .optional()
        .describe('ldap:// servers WITHOUT StartTLS (no encryption): only when set; refused with NODE_ENV=production'),
      bindUser: Text(256).describe('Simple-bind identity with rights on the zone and the computer accounts (UPN)'),
      bindPassword: z
        .string()
        .min(1)
        .max(1024)
        .optional()
        .describe('Stored encrypted, never returned; required the first time, kept when omitted later'),
      caCertificates: PemCertificates.optional().describe(
        "PEM certificate(s) of the CA(s) that issued the DCs' TLS certificates (required unless plainLdap)",
      ),
      dnsZone: DnsName.describe("AD-integrated DNS zone holding the file server's name"),
      computerAccount: AdComputerAccount.describe("The file server's computer account, e.g. FS1$"),
      spns: z
        .array(Spn)
        .max(32)
        .optional()
        .describe('SPNs a redirect moves; default: cifs/ and HOST/ with the short name and the FQDN'),
      fsvmNames: z.array(FsvmNameInput).max(64).optional().describe('Per-FSVM names a redirect moves too'),
    })
    .superRefine((b, ctx) => {
      const plainServers = b.servers.filter((s) => s.startsWith('ldap://'));
      if (b.plainLdap && production) {
        ctx.addIssue({
          code: 'custom',
          path: ['plainLdap'],
          message: 'plain LDAP is refused with NODE_ENV=production',
        });
      }
      if (b.plainLdap && !plainServers.length) {
        ctx.addIssue({ code: 'custom', path: ['plainLdap'], message: 'no ldap:// server to use it with' });
      }
      const allPlain = b.plainLdap === true && plainServers.length === b.servers.length;
      if (!b.caCertificates && !allPlain) {
        ctx.addIssue({
          code: 'custom',
          path: ['caCertificates'],
          message: "required: the CA certificate(s) to verify the domain controllers' TLS certificates",
        });
      }
    })
    .meta({ id: 'DirectorySettingsRequest' });
}

const SettingsView = z
  .object({
    fileServer: z.string(),
    domain: z.string(),
    servers: z.array(z.string()),
    plainLdap: z.boolean(),
    bindUser: z.string(),
    bindPasswordSet: z.boolean(),
    caCertificates: z.string().nullable(),
    dnsZone: z.string(),
    clientName: z.string().describe("The file server's client-facing name (its dnsName)"),
    computerAccount: z.string(),
    spns: z.array(z.string()).describe('The SPNs a redirect moves (the defaults when none were given)'),
    spnsDefault: z.boolean(),
    fsvmNames: z.array(z.object({ name: z.string(), addresses: z.array(z.string()) })),
    updatedAt: z.string(),
  })
  .meta({ id: 'DirectorySettings' });

const CheckView = z
  .object({
    fileServer: z.string(),
    configured: z.boolean(),
    ok: z.boolean(),
    summary: z.string().describe('In words: ready, or what does not work'),
    checks: z.array(z.object({ subject: z.string(), ok: z.boolean(), detail: z.string() })),
    workflowId: z.string().nullable(),
    workflowUrl: z.string().nullable(),
  })
  .meta({ id: 'DirectoryCheck' });

const NameParams = z.strictObject({ name: FileServerName });

export interface DirectoryRouteDeps {
  directory: DirectorySettingsService;
  workflows: WorkflowPort;
  production: boolean;
  /** How long the check route waits for the check workflow; default 30 s. */
  checkWaitMs: number;
}

export function directoryRoutes(api: ApiRoutes, deps: DirectoryRouteDeps): void {
  api.add({
    method: 'get',
    path: '/file-servers/:name/directory',
    role: 'viewer',
    tag: 'Directory',
    summary: "A file server's directory settings (without the password)",
    params: NameParams,
    responses: { 200: { description: 'Settings', schema: SettingsView }, 404: { description: 'None or unknown' } },
    handler: async ({ params }) => ({ status: 200, body: await deps.directory.get(params.name) }),
  });

  api.add({
    method: 'put',
    path: '/file-servers/:name/directory',
    role: 'admin',
    tag: 'Directory',
    summary: "Set a file server's directory settings (how its clients are redirected)",
    description:
      'The password is sealed and never returned. Nothing is sent to the directory here: POST .../directory/check tests the settings.',
    params: NameParams,
    body: settingsBody(deps.production),
    responses: { 200: { description: 'Stored', schema: SettingsView }, 404: { description: 'Unknown file server' } },
    handler: async ({ params, body }) => ({
      status: 200,
      body: await deps.directory.put(params.name, body),
      target: `file-server/${params.name}/directory`,
    }),
  });

  api.add({
    method: 'delete',
    path: '/file-servers/:name/directory',
    role: 'admin',
    tag: 'Directory',
    summary: "Remove a file server's directory settings (its clients are then not redirected)",
    params: NameParams,
    responses: { 204: { description: 'Removed' }, 404: { description: 'None or unknown' } },
    handler: async ({ params }) => {
      await deps.directory.remove(params.name);
      return { status: 204, target: `file-server/${params.name}/directory` };
    },
  });

  api.add({
    method: 'post',
    path: '/file-servers/:name/directory/check',
    role: 'operator',
    tag: 'Directory',
    summary: 'Check the directory settings: bind, zone, names, account, SPNs; answered in words',
    description:
      'Runs checkDirectoryWorkflow on a worker and waits for its answer (at most 30 s by default). Reads only.',
    params: NameParams,
    responses: {
      200: { description: 'What works and what does not', schema: CheckView },
      404: { description: 'Unknown file server' },
      503: { description: 'Temporal is unavailable, or no worker polls the task queue' },
      504: { description: 'The check did not finish in time' },
    },
    handler: async ({ params }) => {
      if (!(await deps.directory.configured(params.name))) {
        return {
          status: 200,
          body: {
            fileServer: params.name,
            configured: false,
            ok: false,
            summary: notConfiguredSummary(params.name),
            checks: [],
            workflowId: null,
            workflowUrl: null,
          },
          target: `file-server/${params.name}/directory`,
        };
      }
      const out = await deps.workflows.run(
        {
          workflowType: 'checkDirectoryWorkflow',
          workflowId: `directory-check/${params.name}/${randomUUID()}`,
          input: { fileServer: params.name },
          searchAttributes: [{ key: FILE_SERVERS, value: [params.name] }],
          executionTimeoutMs: 5 * 60_000,
        },
        deps.checkWaitMs,
      );
      if (out.status === 'timed_out') {
        throw new WorkflowTimeout(
          `the directory check of '${params.name}' did not finish within ${Math.round(deps.checkWaitMs / 1000)} s ` +
            `(is a worker running?); workflow ${out.workflowId}`,
        );
      }
      const link = deps.workflows.link(out.workflowId);
      if (out.status === 'failed') {
        return {
          status: 200,
          body: {
            fileServer: params.name,
            configured: true,
            ok: false,
            summary: `the check itself failed: ${out.message}`,
            checks: [],
            workflowId: out.workflowId,
            workflowUrl: link,
          },
          target: `file-server/${params.name}/directory`,
        };
      }
      return {
        status: 200,
        body: { ...(out.result as DirectoryCheck), workflowId: out.workflowId, workflowUrl: link },
        target: `file-server/${params.name}/directory`,
      };
    },
  });
}
