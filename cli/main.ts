// `fsdr` (node dist/cli/main.js; `npx fsdr` in a checkout runs this file through cli/bin.js): runs one command and
// ends with the exit code scripts rely on (cli/exit-codes.ts). Errors are printed in words on stderr.
import { CommanderError } from 'commander';
import { CliError, EXIT } from './exit-codes';
import { buildProgram } from './program';

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander printed the message (and the usage line) already.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
      if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return EXIT.usage;
    }
    if (err instanceof CliError) {
      process.stderr.write(`fsdr: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(
      `fsdr: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return EXIT.failed;
  }
}

// A reader that stops early (fsdr jobs list | head) closes the pipe: end quietly, as a shell tool does.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok);
  throw err;
});

void run(process.argv).then((code) => {
  process.exitCode = code;
});
