// The `fsdr` command tree (commander: parsing, generated help, errors), its global options and help texts. A usage
// error prints commander's message, the command's usage line and where the help is, and exits 2.
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { registerFileServers } from './commands/file-servers';
import { registerJobs } from './commands/jobs';
import { registerOperations } from './commands/operations';
import { registerPolicies } from './commands/policies';
import { registerTokens } from './commands/tokens';
import { configPath } from './config';
import { EXIT_CODES_HELP } from './exit-codes';

/** The package version, from the checkout (cli/) or a build (dist/cli/). */
function version(): string {
  for (const p of [path.join(__dirname, '..', 'package.json'), path.join(__dirname, '..', '..', 'package.json')]) {
    try {
      return (JSON.parse(fs.readFileSync(p, 'utf8')) as { version: string }).version;
    } catch {
      // try the next
    }
  }
  return 'unknown';
}

const CONNECTION_HELP = `Connection, first match wins:
  --url and --token; FSDR_URL and FSDR_TOKEN; the profile file, which fsdr login writes (mode 0600):
  ${configPath()} (FSDR_CONFIG names another; --profile or FSDR_PROFILE picks a profile).
  Prefer FSDR_TOKEN or the profile file to --token, which other users can see in the process list.`;

export function fullName(c: Command): string {
  const names: string[] = [];
  for (let x: Command | null = c; x; x = x.parent) names.unshift(x.name());
  return names.join(' ');
}

export function buildProgram(): Command {
  const program = new Command('fsdr')
    .description('Operate fs-dr (disaster recovery for file servers) through its REST API')
    .version(version(), '-V, --version')
    .option('--url <url>', 'the API, e.g. http://127.0.0.1:8080 (FSDR_URL)')
    .option('--token <token>', 'the API token (FSDR_TOKEN or fsdr login are safer: others see flags in ps)')
    .option('--profile <name>', 'the profile of the profile file to use (FSDR_PROFILE)')
    .option('--json', "print the API's JSON answer (one document)")
    .option('-q, --quiet', 'print ids only, one a line')
    .option('-v, --verbose', 'trace each API call (never the token) and the Idempotency-Key on stderr')
    .exitOverride()
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError(true)
    .addHelpText('after', `\n${CONNECTION_HELP}\n\n${EXIT_CODES_HELP}\n`);

  registerFileServers(program);
  registerOperations(program);
  registerPolicies(program);
  registerJobs(program);
  registerTokens(program);

  // Every command (they inherit exitOverride from the program) ends a usage error with its own usage line.
  const visit = (c: Command) => {
    c.showHelpAfterError(`Usage: ${fullName(c)} ${c.usage()}\nRun '${fullName(c)} --help' for details.`);
    c.commands.forEach(visit);
  };
  visit(program);
  return program;
}
