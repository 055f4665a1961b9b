import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createSecretBox, loadSecretKey, parseKey, SecretKeyError } from './secrets';

describe('secrets', () => {
  const key = randomBytes(32);

  it('seals and opens; every seal differs; the plain text is not in the sealed value', () => {
    const box = createSecretBox(key);
    const a = box.seal('p@ss wörd');
    const b = box.seal('p@ss wörd');
    expect(a).not.toBe(b);
    expect(a).not.toContain('p@ss');
    expect(box.open(a)).toBe('p@ss wörd');
  });

  it('refuses a tampered value or another key without echoing it', () => {
    const sealed = createSecretBox(key).seal('secret-token');
    const other = createSecretBox(randomBytes(32));
    expect(() => other.open(sealed)).toThrow(SecretKeyError);
    const parts = sealed.split(':');
    parts[3] = Buffer.from('xxxx').toString('base64url');
    expect(() => createSecretBox(key).open(parts.join(':'))).toThrow(/cannot decrypt/);
    expect(() => createSecretBox(key).open('garbage')).toThrow(/unknown format/);
  });

  it('parses base64 and hex keys and names the variable on a bad one', () => {
    expect(parseKey(key.toString('base64'), 'X')).toEqual(key);
    expect(parseKey(key.toString('hex'), 'X')).toEqual(key);
    expect(parseKey(key.toString('base64url'), 'X')).toEqual(key);
    expect(() => parseKey('short', 'SECRETS_KEY')).toThrow(/^SECRETS_KEY: must be 32 bytes/);
  });

  it('generates a key once into <dataDir>/secrets.key with mode 0600 and reuses it', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-secrets-'));
    try {
      const first = loadSecretKey({ dataDir, secrets: {} });
      const file = path.join(dataDir, 'secrets.key');
      expect(first.source).toBe(file);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(loadSecretKey({ dataDir, secrets: {} }).key).toEqual(first.key);
      fs.writeFileSync(path.join(dataDir, 'k'), key.toString('hex'));
      expect(loadSecretKey({ dataDir, secrets: { keyFile: path.join(dataDir, 'k') } }).key).toEqual(key);
      expect(loadSecretKey({ dataDir, secrets: { key: key.toString('base64') } }).key).toEqual(key);
      expect(() => loadSecretKey({ dataDir, secrets: { keyFile: path.join(dataDir, 'missing') } })).toThrow(
        /SECRETS_KEY_FILE: cannot read .* \(ENOENT\)/,
      );
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
