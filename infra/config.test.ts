import { ConfigError, loadConfig } from './config';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('needs nothing for the embedded default', () => {
    const cfg = loadConfig({});
    expect(cfg.temporal.address).toBeUndefined();
    expect(cfg.database.url).toBeUndefined();
    expect(cfg.temporal.uiUrl).toBe('http://127.0.0.1:8233');
    expect(cfg.api).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(cfg.temporal.taskQueue).toBe('fs-dr');
  });

  it('names every bad variable at once', () => {
    const found = problems({
      API_PORT: '99999',
      LOG_LEVEL: 'loud',
      DATABASE_URL: 'mysql://x',
      TEMPORAL_ADDRESS: 'a b',
    });
    expect(found.map((p) => p.split(':')[0]).sort()).toEqual([
      'API_PORT',
      'DATABASE_URL',
      'LOG_LEVEL',
      'TEMPORAL_ADDRESS',
    ]);
  });

  it('requires external services and a key in production', () => {
    expect(problems({ NODE_ENV: 'production' }).join('\n')).toMatch(
      /TEMPORAL_ADDRESS[\s\S]*DATABASE_URL[\s\S]*SECRETS_KEY/,
    );
    expect(
      problems({
        NODE_ENV: 'production',
        TEMPORAL_ADDRESS: 'temporal:7233',
        DATABASE_URL: 'postgresql://u:p@db/fsdr',
        SECRETS_KEY_FILE: '/run/secrets/key',
      }),
    ).toEqual([]);
  });

  it('never echoes a secret value in its error', () => {
    const err = (() => {
      try {
        loadConfig({
          DATABASE_URL: 'postgresql://admin:hunter2',
          SECRETS_KEY: 'k',
          SECRETS_KEY_FILE: '/k',
          API_PORT: 'x',
        });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toMatch(/SECRETS_KEY and SECRETS_KEY_FILE/);
    expect(err?.message).not.toContain('hunter2');
  });

  it('treats empty variables (as in a copied .env.example) as unset', () => {
    const cfg = loadConfig({ TEMPORAL_ADDRESS: '', DATABASE_URL: '', TEMPORAL_UI_URL: '', TEMPORAL_CLI_PATH: '' });
    expect(cfg.temporal.address).toBeUndefined();
    expect(cfg.database.url).toBeUndefined();
  });

  it('runs the demo on the embedded default only, unless DEMO says otherwise, and never in production', () => {
    expect(loadConfig({}).demo).toEqual({ enabled: true, dir: expect.stringMatching(/\.data\/demo$/) });
    expect(loadConfig({ DEMO: 'off' }).demo.enabled).toBe(false);
    expect(loadConfig({ TEMPORAL_ADDRESS: 't:7233' }).demo.enabled).toBe(false);
    expect(loadConfig({ DATABASE_URL: 'postgresql://x/y', DEMO: 'on' }).demo.enabled).toBe(true);
    expect(problems({ DEMO: 'yes' })).toEqual(['DEMO: must be auto, on or off']);
    expect(problems({ NODE_ENV: 'production', DEMO: 'on' })).toContain(
      'DEMO: the demo cannot run with NODE_ENV=production',
    );
    expect(
      loadConfig({
        NODE_ENV: 'production',
        TEMPORAL_ADDRESS: 't:7233',
        DATABASE_URL: 'postgresql://x/y',
        SECRETS_KEY: 'k',
      }).demo.enabled,
    ).toBe(false);
  });
  it('serves plain HTTP off loopback only outside production; API TLS takes both files', () => {
    const prod = {
      NODE_ENV: 'production',
      TEMPORAL_ADDRESS: 't:7233',
      DATABASE_URL: 'postgresql://x/y',
      SECRETS_KEY: 'k',
    };
    expect(loadConfig({ ...prod }).api).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(problems({ ...prod, API_HOST: '0.0.0.0' }).join('\n')).toMatch(
      /API_HOST: plain HTTP on 0\.0\.0\.0 is refused with NODE_ENV=production/,
    );
    expect(loadConfig({ API_HOST: '0.0.0.0' }).api.host).toBe('0.0.0.0'); // development: allowed
    expect(
      loadConfig({ ...prod, API_HOST: '0.0.0.0', API_TLS_CERT_FILE: '/etc/fsdr/api.pem', API_TLS_KEY_FILE: '/k' }).api,
    ).toEqual({ host: '0.0.0.0', port: 8080, tls: { certFile: '/etc/fsdr/api.pem', keyFile: '/k' } });
    expect(problems({ API_TLS_CERT_FILE: '/etc/fsdr/api.pem' })).toEqual([
      'API_TLS_CERT_FILE and API_TLS_KEY_FILE: set both or neither',
    ]);
    expect(loadConfig({ GATEWAY_CA_FILE: '/etc/fsdr/ca.pem' }).gateways).toEqual({ caFile: '/etc/fsdr/ca.pem' });
  });
});
