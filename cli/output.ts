// What a command prints, in one of three modes: human (tables and sentences, the default), --json (the API's JSON, one
// document on stdout) and --quiet (ids only, one a line). Whatever is not the result (a plan, a prompt, progress)
// goes to stdout for a person and to stderr in the other modes, so that stdout stays parseable. Errors go to stderr.

export type Mode = 'human' | 'json' | 'quiet';

export interface Streams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export class Output {
  constructor(
    readonly mode: Mode,
    readonly streams: Streams = process,
    readonly verbose = false,
  ) {}

  /** The result for a person (human mode only). */
  line(text = ''): void {
    if (this.mode === 'human') this.streams.stdout.write(`${text}\n`);
  }

  /** Information around the result (a plan, progress lines): stdout for a person, stderr otherwise. */
  info(text = ''): void {
    (this.mode === 'human' ? this.streams.stdout : this.streams.stderr).write(`${text}\n`);
  }

  /** The stream `info` writes to. */
  get infoStream(): Streams['stdout'] {
    return this.mode === 'human' ? this.streams.stdout : this.streams.stderr;
  }

  /** A warning or trace on stderr. */
  warn(text: string): void {
    this.streams.stderr.write(`${text}\n`);
  }

  trace(text: string): void {
    if (this.verbose) this.streams.stderr.write(`fsdr: ${text}\n`);
  }

  /** The API's JSON (--json). */
  json(doc: unknown): void {
    if (this.mode === 'json') this.streams.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  }

  /** Ids, one a line (--quiet). */
  ids(ids: string[]): void {
    if (this.mode === 'quiet') for (const id of ids) this.streams.stdout.write(`${id}\n`);
  }

  /** One result in all three modes: the document, its id, or the human lines. */
  result(doc: unknown, ids: string[], human: () => void): void {
    if (this.mode === 'json') this.json(doc);
    else if (this.mode === 'quiet') this.ids(ids);
    else human();
  }

  table<T>(rows: T[], columns: Column<T>[], empty = '(none)'): void {
    if (this.mode !== 'human') return;
    if (!rows.length) {
      this.line(empty);
      return;
    }
    for (const l of table(rows, columns)) this.line(l);
  }
}

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | null | undefined;
  align?: 'left' | 'right';
}

/** Left-aligned columns (numbers right-aligned when asked), two spaces apart, no trailing blanks. */
export function table<T>(rows: T[], columns: Column<T>[]): string[] {
  const cells = rows.map((r) => columns.map((c) => clean(c.value(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const render = (values: string[]) =>
    values
      .map((v, i) => (columns[i]!.align === 'right' ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [render(columns.map((c) => c.header)), ...cells.map(render)];
}

/** One line of text: control characters (a stray newline, an escape sequence) cannot break the table. */
function clean(v: string | number | null | undefined): string {
  if (v === null || v === undefined || v === '') return '-';
  return String(v).replace(/[\p{Cc}]/gu, ' ');
}
