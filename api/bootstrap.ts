// The first admin token. `npm start` (embedded default) calls ensureBootstrapToken: when the database holds no token
// at all, it creates 'bootstrap-admin' and writes the token to <DATA_DIR>/admin-token (mode 0600), logging only the
// file's path. For a server deployment, scripts/create-token.ts prints one (docs/api.md).
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../infra/database';
import { createToken } from './routes/tokens';

export async function ensureBootstrapToken(db: Db, dataDir: string): Promise<string | null> {
  if ((await db.apiToken.count()) > 0) return null;
  const t = await createToken(db, 'bootstrap-admin', 'admin');
  const file = path.join(dataDir, 'admin-token');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, `${t.token}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return file;
}
