// The exit codes scripts rely on (listed in `fsdr --help` and the README), and the one mapping from an API answer to
// them. A CliError carries the code it ends the process with; its message is printed as is, in words.

export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  conflict: 5,
  unreachable: 6,
  /** Ctrl-C while watching: what was started goes on. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `Exit codes:
    0  success
    1  the operation (or the job or operation watched) failed or was cancelled; an internal error of the API
    2  usage error: bad flags or arguments, input the API refused (400, 422), the confirmation not given
    3  authentication: no token, a token the API refused (401), a role too low for the call (403), too many
       failed sign-ins (429)
    4  not found: an unknown file server, share, policy, job, operation or token (404)
    5  conflict: another operation holds the file servers, or their state forbids the call (409)
    6  server unreachable: no answer from the API, or a service behind it is unavailable (502, 503, 504)
  130  interrupted (Ctrl-C) while watching: what was started goes on`;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The exit code of an HTTP error status. */
export function exitCodeOf(status: number): ExitCode {
  if (status === 401 || status === 403 || status === 429) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  if (status === 502 || status === 503 || status === 504) return EXIT.unreachable;
  if (status >= 400 && status < 500) return EXIT.usage;
  return EXIT.failed;
}
