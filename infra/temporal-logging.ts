// Routes the Temporal SDK's own log lines (worker state, failed activities, core warnings) into our pino logger, so
// every line a process writes has the same structured format. Must run before any worker or native connection.
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Logger } from './logger';

export function installSdkLogging(logger: Logger, opts: { verbose: boolean; handleSignals: boolean }): void {
  Runtime.install({
    // npm start owns the shutdown order (API, worker, then servers), so the SDK must not react to signals itself.
    ...(opts.handleSignals ? {} : { shutdownSignals: [] }),
    logger: new DefaultLogger(opts.verbose ? 'DEBUG' : 'WARN', (entry) =>
      logger[entry.level === 'ERROR' ? 'error' : entry.level === 'WARN' ? 'warn' : 'debug'](
        { component: 'temporal-sdk', ...entry.meta },
        entry.message,
      ),
    ),
  });
}
