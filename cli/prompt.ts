// The confirmation of a change: the operator types the file server's (or policy's) name. --yes confirms for scripts;
// without a terminal to ask on and without --yes the command refuses, so a script never hangs on a prompt nor goes
// ahead unconfirmed.
import readline from 'node:readline';
import { Writable } from 'node:stream';
import { CliError, EXIT } from './exit-codes';
import type { Output } from './output';

export interface ConfirmOptions {
  /** What must be typed. */
  expected: string;
  /** What is confirmed, e.g. "the planned failover of fs-a". */
  what: string;
  yes: boolean;
  out: Output;
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

export async function confirmByName(o: ConfirmOptions): Promise<void> {
  if (o.yes) return;
  const stdin = o.stdin ?? process.stdin;
  if (!stdin.isTTY) {
    throw new CliError(
      `refusing to start ${o.what} without a confirmation: there is no terminal to ask on; pass --yes to confirm`,
      EXIT.usage,
    );
  }
  const answer = await ask(
    stdin,
    o.out.infoStream,
    `Type '${o.expected}' to start ${o.what} (anything else cancels): `,
  );
  if (answer === null) {
    o.out.info('');
    throw new CliError(`cancelled: nothing was started`, EXIT.usage);
  }
  if (answer.trim() !== o.expected) {
    throw new CliError(
      `not confirmed: you typed '${answer.trim()}', not '${o.expected}'; nothing was started`,
      EXIT.usage,
    );
  }
}

/** One line from the terminal, or null on Ctrl-C or Ctrl-D. */
function ask(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, question: string): Promise<string | null> {
  const rl = readline.createInterface({ input, output, terminal: true });
  return new Promise<string | null>((resolve) => {
    let done = false;
    const finish = (v: string | null) => {
      if (done) return;
      done = true;
      rl.close();
      resolve(v);
    };
    rl.on('SIGINT', () => finish(null));
    rl.on('close', () => finish(null));
    rl.question(question, (a) => finish(a));
  });
}

/** A secret typed on the terminal without echo (the token at login). */
export async function readHidden(
  question: string,
  out: Output,
  stdin: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin,
): Promise<string> {
  if (!stdin.isTTY) {
    throw new CliError(
      'there is no terminal to ask for the token on: use --token-file <path> (- for standard input)',
      EXIT.usage,
    );
  }
  out.infoStream.write(question);
  const silent = new Writable({ write: (_chunk, _enc, cb) => cb() });
  const answer = await ask(stdin, silent, '');
  out.infoStream.write('\n');
  if (!answer?.trim()) throw new CliError('no token given', EXIT.usage);
  return answer.trim();
}
