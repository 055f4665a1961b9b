// Creates an API token and prints it once (only its SHA-256 is stored). The documented way to get the first admin
// token of a server deployment:  DATABASE_URL=postgresql://... npx tsx scripts/create-token.ts --name alice --role admin
import { ROLES, type Role } from '../api/auth';
import { createToken } from '../api/routes/tokens';
import { createDb, migrateDatabase } from '../infra/database';
import { TokenName } from '../domain/names';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const get = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const name = TokenName.safeParse(get('--name'));
  const role = get('--role') ?? 'admin';
  const url = process.env.DATABASE_URL;
  if (!name.success || !ROLES.includes(role as Role) || !url) {
    console.error(
      'usage: DATABASE_URL=postgresql://... npx tsx scripts/create-token.ts --name <name> [--role viewer|operator|admin]',
    );
    process.exit(2);
  }
  await migrateDatabase(url);
  const db = createDb(url);
  try {
    const t = await createToken(db, name.data, role as Role);
    console.log(t.token);
    console.error(`token '${t.name}' (${t.role}) created; store it now: it is not shown again`);
  } finally {
    await db.$disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
