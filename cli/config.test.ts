// Where fsdr finds its API and token: flags over environment over the profile file, named profiles, and a profile
// file only its owner can read.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configPath, readProfiles, resolveConnection, writeProfiles } from './config';
import { CliError } from './exit-codes';

describe('fsdr connection settings', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-config-'));
    file = path.join(dir, 'fsdr', 'config.json');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const env = (e: Record<string, string> = {}) => ({ FSDR_CONFIG: file, ...e });

  it('takes flags over the environment over the profile file, and names where the token came from', () => {
    writeProfiles(file, {
      current: 'site-a',
      profiles: {
        'site-a': { url: 'http://a.example:8080/', token: 'tok-a' },
        'site-b': { url: 'https://b.example/api/v1', token: 'tok-b' },
      },
    });
    expect(resolveConnection({}, env())).toEqual({
      url: 'http://a.example:8080',
      token: 'tok-a',
      source: `profile 'site-a' of ${file}`,
    });
    expect(resolveConnection({ profile: 'site-b' }, env())).toMatchObject({ url: 'https://b.example', token: 'tok-b' });
    expect(resolveConnection({}, env({ FSDR_PROFILE: 'site-b', FSDR_TOKEN: 'tok-env' }))).toEqual({
      url: 'https://b.example',
      token: 'tok-env',
      source: 'FSDR_TOKEN',
    });
    expect(resolveConnection({ url: 'http://c.example', token: 'tok-flag' }, env({ FSDR_TOKEN: 'x' }))).toEqual({
      url: 'http://c.example',
      token: 'tok-flag',
      source: '--token',
    });
  });

  it('refuses what it cannot use: no URL (2), no token (3), an unknown profile (2), a URL with credentials (2)', () => {
    const attempt = (flags: object, e: Record<string, string>) => {
      try {
        resolveConnection(flags, env(e));
      } catch (err) {
        return { code: (err as CliError).exitCode, message: (err as CliError).message };
      }
      return null;
    };
    expect(attempt({}, { FSDR_TOKEN: 't' })).toEqual({
      code: 2,
      message: `no API URL: pass --url, set FSDR_URL, or run fsdr login --url <url> (profile file ${file})`,
    });
    expect(attempt({}, { FSDR_URL: 'http://x' })).toEqual({
      code: 3,
      message: `no API token: pass --token, set FSDR_TOKEN, or run fsdr login (profile file ${file})`,
    });
    expect(attempt({ profile: 'nope' }, {})).toMatchObject({
      code: 2,
      message: expect.stringContaining("no profile 'nope'"),
    });
    expect(attempt({ url: 'http://me:pw@x' }, { FSDR_TOKEN: 't' })).toMatchObject({
      code: 2,
      message: 'the URL must not contain credentials: give the token',
    });
  });

  it('writes the profile file 0600 in a 0700 folder, whatever the umask or the mode of the file it replaces', () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '{"profiles":{}}', { mode: 0o644 });
    const old = process.umask(0);
    try {
      writeProfiles(file, { profiles: { default: { url: 'http://x', token: 't' } } });
    } finally {
      process.umask(old);
    }
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(readProfiles(file).profiles.default).toEqual({ url: 'http://x', token: 't' });

    fs.rmSync(path.dirname(file), { recursive: true });
    writeProfiles(file, { profiles: {} });
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
  });

  it('warns about a profile file others can read, and names a broken one', () => {
    writeProfiles(file, { profiles: {} });
    fs.chmodSync(file, 0o644);
    const warnings: string[] = [];
    readProfiles(file, (w) => warnings.push(w));
    expect(warnings).toEqual([`warning: ${file} holds API tokens and is readable by others (mode 644): chmod 600 it`]);
    fs.writeFileSync(file, '{ not json');
    expect(() => readProfiles(file)).toThrow(`${file} is not valid JSON`);
  });

  it('finds the file under FSDR_CONFIG, XDG_CONFIG_HOME or ~/.config', () => {
    expect(configPath({ FSDR_CONFIG: '/etc/fsdr.json', HOME: '/home/op' })).toBe('/etc/fsdr.json');
    expect(configPath({ XDG_CONFIG_HOME: '/x', HOME: '/home/op' })).toBe('/x/fsdr/config.json');
    expect(configPath({ HOME: '/home/op' })).toBe('/home/op/.config/fsdr/config.json');
  });
});
