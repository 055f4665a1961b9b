// Secrets at rest (gateway tokens, AD passwords): AES-256-GCM with one key from SECRETS_KEY (base64 or hex of 32
// bytes), SECRETS_KEY_FILE, or, on the embedded default only, a key generated once into <DATA_DIR>/secrets.key
// (mode 0600). Sealed values look like `v1:<iv>:<tag>:<ciphertext>` (base64url); they are never returned by the API
// and never logged. Losing the key makes stored secrets unreadable: back it up with the database.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from './config';

export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
}

export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

/** Accepts 32 bytes as base64 / base64url (43-44 chars) or hex (64 chars). */
export function parseKey(text: string, where: string): Buffer {
  const t = text.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(t)) key = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (!key || key.length !== 32) {
    throw new SecretKeyError(
      `${where}: must be 32 bytes as base64 or 64 hex digits (e.g. \`openssl rand -base64 32\`)`,
    );
  }
  return key;
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new SecretKeyError('secrets key must be 32 bytes');
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', iv, cipher.getAuthTag(), ct]
        .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
        .join(':');
    },
    open(sealed) {
      const [v, iv, tag, ct] = sealed.split(':');
      if (v !== 'v1' || iv === undefined || tag === undefined || ct === undefined) {
        throw new SecretKeyError('sealed secret has an unknown format');
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
      } catch {
        // Never echo the sealed value or the key.
        throw new SecretKeyError('cannot decrypt a stored secret: was SECRETS_KEY changed?');
      }
    },
  };
}

/**
 * The key the configuration names. With none configured (embedded default; production refuses that in loadConfig),
 * generates one into <dataDir>/secrets.key with mode 0600 the first time and reuses it afterwards.
 */
export function loadSecretKey(config: Pick<Config, 'secrets' | 'dataDir'>): { key: Buffer; source: string } {
  if (config.secrets.key) return { key: parseKey(config.secrets.key, 'SECRETS_KEY'), source: 'SECRETS_KEY' };
  if (config.secrets.keyFile) {
    let text: string;
    try {
      text = fs.readFileSync(config.secrets.keyFile, 'utf8');
    } catch (err) {
      throw new SecretKeyError(
        `SECRETS_KEY_FILE: cannot read ${config.secrets.keyFile} (${(err as NodeJS.ErrnoException).code})`,
      );
    }
    return { key: parseKey(text, `SECRETS_KEY_FILE ${config.secrets.keyFile}`), source: config.secrets.keyFile };
  }
  const file = path.join(config.dataDir, 'secrets.key');
  fs.mkdirSync(config.dataDir, { recursive: true });
  try {
    // 'wx': never overwrite a key that exists (a concurrent start may have just written it).
    fs.writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o077) fs.chmodSync(file, 0o600);
  return { key: parseKey(fs.readFileSync(file, 'utf8'), file), source: file };
}
