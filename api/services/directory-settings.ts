// Directory settings of a file server (how fs-dr redirects its clients through Active Directory): stored with the
// bind password sealed (infra/secrets.ts), never returned. The checks that need the file server's own data live
// here (its name and FSVM names inside the zone, FSVM addresses among its addresses); the directory itself is only
// ever contacted by the check workflow's activity, never from the API.
import type { Db } from '../../infra/database';
import type { SecretBox } from '../../infra/secrets';
import { NotFoundError, ValidationError, type FieldError } from '../../domain/errors';
import { defaultSpns, nameInZone, type FsvmName } from '../../domain/directory';

export interface DirectorySettingsInput {
  domain: string;
  servers: string[];
  plainLdap?: boolean;
  bindUser: string;
  bindPassword?: string;
  caCertificates?: string;
  dnsZone: string;
  computerAccount: string;
  spns?: string[];
  fsvmNames?: FsvmName[];
}

/** Problems of settings against the file server's name and addresses (empty: consistent). */
export function settingsProblems(
  fs: { dnsName: string; addresses: string[] },
  s: { dnsZone: string; fsvmNames: FsvmName[] },
  paths: { zone: string; fsvmName: (i: number) => string; fsvmAddress: (i: number, j: number) => string },
): FieldError[] {
  const problems: FieldError[] = [];
  if (nameInZone(fs.dnsName, s.dnsZone) === null) {
    problems.push({
      path: paths.zone,
      message: `the file server's name '${fs.dnsName}' is not inside zone '${s.dnsZone}'`,
    });
  }
  const seen = new Set([fs.dnsName.toLowerCase()]);
  const known = new Set(fs.addresses.map((a) => a.toLowerCase()));
  s.fsvmNames.forEach((f, i) => {
    if (nameInZone(f.name, s.dnsZone) === null) {
      problems.push({ path: paths.fsvmName(i), message: `'${f.name}' is not inside zone '${s.dnsZone}'` });
    }
    if (seen.has(f.name.toLowerCase())) {
      problems.push({ path: paths.fsvmName(i), message: `'${f.name}' is named twice` });
    }
    seen.add(f.name.toLowerCase());
    f.addresses.forEach((a, j) => {
      if (!known.has(a.toLowerCase())) {
        problems.push({
          path: paths.fsvmAddress(i, j),
          message: `${a} is not one of the file server's addresses (${fs.addresses.join(', ') || 'none'})`,
        });
      }
    });
  });
  return problems;
}

function fail(problems: FieldError[]): never {
  throw new ValidationError(problems.map((p) => `${p.path}: ${p.message}`).join('; '), problems);
}

export function createDirectorySettingsService(deps: { db: Db; secrets: SecretBox }) {
  const { db } = deps;

  async function fileServer(name: string) {
    const fs = await db.fileServer.findUnique({ where: { name }, include: { directory: true } });
    if (!fs) throw new NotFoundError(`file server '${name}' is not registered`);
    return fs;
  }

  function view(
    fs: { name: string; dnsName: string },
    s: NonNullable<Awaited<ReturnType<typeof fileServer>>['directory']>,
  ) {
    return {
      fileServer: fs.name,
      domain: s.domain,
      servers: s.servers,
      plainLdap: s.plainLdap,
      bindUser: s.bindUser,
      bindPasswordSet: true,
      caCertificates: s.caCertificates,
      dnsZone: s.dnsZone,
      clientName: fs.dnsName,
      computerAccount: s.computerAccount,
      spns: s.spns.length ? s.spns : defaultSpns(fs.dnsName),
      spnsDefault: s.spns.length === 0,
      fsvmNames: (s.fsvmNames ?? []) as unknown as FsvmName[],
      updatedAt: s.updatedAt.toISOString(),
    };
  }

  return {
    async get(name: string) {
      const fs = await fileServer(name);
      if (!fs.directory) throw new NotFoundError(`file server '${name}' has no directory settings`);
      return view(fs, fs.directory);
    },

    async put(name: string, input: DirectorySettingsInput) {
      const fs = await fileServer(name);
      const fsvmNames = (input.fsvmNames ?? []).map((f) => ({ name: f.name, addresses: f.addresses }));
      const problems = settingsProblems(
        fs,
        { dnsZone: input.dnsZone, fsvmNames },
        {
          zone: 'body.dnsZone',
          fsvmName: (i) => `body.fsvmNames.${i}.name`,
          fsvmAddress: (i, j) => `body.fsvmNames.${i}.addresses.${j}`,
        },
      );
      if (!input.bindPassword && !fs.directory) {
        problems.push({
          path: 'body.bindPassword',
          message: 'required when the file server has no directory settings yet',
        });
      }
      if (problems.length) fail(problems);
      const data = {
        domain: input.domain,
        servers: input.servers,
        plainLdap: input.plainLdap ?? false,
        bindUser: input.bindUser,
        caCertificates: input.caCertificates ?? null,
        dnsZone: input.dnsZone,
        computerAccount: input.computerAccount,
        spns: input.spns ?? [],
        fsvmNames,
      };
      const sealed = input.bindPassword ? deps.secrets.seal(input.bindPassword) : undefined;
      const saved = fs.directory
        ? await db.directorySettings.update({
            where: { fileServerId: fs.id },
            data: { ...data, ...(sealed ? { bindPasswordEnc: sealed } : {}) },
          })
        : await db.directorySettings.create({ data: { fileServerId: fs.id, ...data, bindPasswordEnc: sealed! } });
      return view(fs, saved);
    },

    async remove(name: string) {
      const fs = await fileServer(name);
      if (!fs.directory) throw new NotFoundError(`file server '${name}' has no directory settings`);
      await db.directorySettings.delete({ where: { fileServerId: fs.id } });
    },

    /** Whether the file server has directory settings (NotFound for an unknown file server). */
    async configured(name: string): Promise<boolean> {
      return (await fileServer(name)).directory !== null;
    },
  };
}

export type DirectorySettingsService = ReturnType<typeof createDirectorySettingsService>;
