// Starts the real components the tests share: ONE Temporal dev server (from an existing CLI binary: the SDK's
// download cannot work offline) and ONE PostgreSQL server with a migrated template database, and bundles the
// workflow code and the web UI once. Test files get their own database (cloned from the template) and their own task
// queue. A Samba AD DC is started on first use by a test file and stopped here at the end
// (test/helpers/domain-controller.ts).
// In CI (CI=true) a component that cannot start fails the run; nothing is skipped.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startEmbeddedPostgres } from '../../infra/embedded-postgres';
import { applyMigrations } from '../../infra/migrate';
import { resolveTemporalCli, startDevServer } from '../../infra/temporal-dev-server';
import { stopSharedDomainController } from '../helpers/domain-controller';
import { buildWeb } from '../../scripts/build-web';
import { freePort } from '../helpers/ports';
import { TEMPLATE_DB, type TestEnvironment } from '../helpers/environment';

export default async function globalSetup(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-test-'));
  const cli = resolveTemporalCli(process.env.TEMPORAL_CLI_PATH);
  if (cli.kind !== 'path') {
    throw new Error('tests need the Temporal CLI: run scripts/ensure-tools.sh (or set TEMPORAL_CLI_PATH)');
  }
  const [pgPort, temporalPort] = [await freePort(), await freePort()];
  const started = Date.now();
  const [pg, temporal, bundle] = await Promise.all([
    startEmbeddedPostgres({ dataDir: path.join(root, 'pg'), port: pgPort, database: TEMPLATE_DB }),
    startDevServer({
      cliPath: cli.path,
      dbFile: path.join(root, 'temporal.sqlite'),
      port: temporalPort,
      uiPort: 0,
      ui: false,
      namespace: 'default',
    }),
    bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quietBundlerLogger }),
    // The web UI the API serves (the browser tests use it); `npx jest` alone must not depend on a prior build.
    buildWeb(),
  ]);
  await applyMigrations(pg.url);
  const bundlePath = path.join(root, 'workflow-bundle.js');
  fs.writeFileSync(bundlePath, bundle.code);

  const env: TestEnvironment = {
    root,
    temporalAddress: temporal.address,
    temporalCli: cli.path,
    pgAdminUrl: pg.adminUrl,
    pgTemplateUrl: pg.url,
    workflowBundlePath: bundlePath,
  };
  process.env.FSDR_TEST_ENV = JSON.stringify(env);
  (globalThis as Record<string, unknown>).__fsdrStop = async () => {
    // The Samba AD DC is started lazily by the first test file that needs one (test/helpers/domain-controller.ts).
    await stopSharedDomainController(root).catch((err: unknown) => console.error(`[global-teardown] ${String(err)}`));
    await temporal.stop();
    await pg.destroy();
    fs.rmSync(root, { recursive: true, force: true });
  };
  if (process.env.CI)
    console.log(
      `\n[global-setup] Temporal ${temporal.address}, PostgreSQL :${pgPort}, bundle ready in ${Date.now() - started} ms`,
    );
}

const quietBundlerLogger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
  log: () => undefined,
};
