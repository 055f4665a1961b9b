// Input read from files ('-' is standard input): request bodies as JSON or YAML, and secrets (a gateway's or the
// API's token), which never travel as flags because flags show in `ps` and shell histories.
import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { CliError, EXIT } from './exit-codes';

function readText(file: string, what: string): string {
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${what} from ${file}: ${(err as Error).message}`, EXIT.usage);
  }
}

/** A request body from a JSON or YAML file; a file that does not parse is a usage error. */
export function readBodyFile(file: string): Record<string, unknown> {
  const text = readText(file, 'the request body');
  let doc: unknown;
  try {
    doc = parseYaml(text); // JSON is YAML too
  } catch (err) {
    throw new CliError(`${file} is neither JSON nor YAML: ${(err as Error).message}`, EXIT.usage);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new CliError(`${file} must hold one object (the request body), e.g. name: gold`, EXIT.usage);
  }
  return doc as Record<string, unknown>;
}

/** A secret: the file's content without surrounding blanks; an empty file is a usage error. */
export function readSecret(file: string, what: string): string {
  const v = readText(file, what).trim();
  if (!v) throw new CliError(`${file} is empty: it must hold ${what}`, EXIT.usage);
  return v;
}
