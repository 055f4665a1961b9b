// Bounded, trimmed field types shared by the API's request schemas and the workflows' inputs. Names are safe-name
// patterns (no spaces, quotes, slashes or control characters), free text refuses control/format characters (bidi
// overrides, zero-width characters) so what an operator reads in a list is what was stored.
import { z } from 'zod';
import { NodeId, ShareName } from './gateway-contract';

export { NodeId, ShareName };

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const NAME_HELP = 'letters, digits, _ . - (max 63), starting with a letter or digit';

export const FileServerName = z.string().trim().regex(NAME, NAME_HELP);
export const PolicyName = z.string().trim().regex(NAME, NAME_HELP);
export const TokenName = z.string().trim().regex(NAME, NAME_HELP);

/** One line of free text: trimmed, no control or invisible formatting characters. */
export function Text(max: number) {
  return (
    z
      .string()
      .trim()
      .min(1)
      .max(max)
      .regex(/^[^\p{C}]*$/u, 'must not contain control or invisible formatting characters')
      // The generator would write the pattern with its flag (`...$/u`), which matches nothing; JSON Schema patterns are
      // Unicode-aware as they are.
      .meta({ pattern: '^[^\\p{C}]*$' })
  );
}

export const DnsName = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(
    // No length look-ahead: max(253) bounds it, and it makes schema-driven generators (the fuzzer) crawl.
    /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
    'must be a DNS host name, e.g. fs1.corp.example.com',
  );

export const IpAddress = z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' });

/** sAMAccountName of a computer account: up to 15 characters and a trailing $. */
export const AdComputerAccount = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}\$$/, 'must be a computer account name like FS1$');

export const Uuid = z.uuid({ error: 'must be a UUID' });

export const RpoMinutes = z
  .number()
  .int()
  .min(1)
  .max(10_080)
  .describe('Recovery point objective in minutes (1..10080; seed 000 [0214] cites 2-minute RPOs)');
export const RetentionCount = z.number().int().min(1).max(100).describe('Complete snapshot sets kept per share');
