// `npm run bench -- <name> [--quick] [other flags]`: runs bench/<name>.ts. Each benchmark prints readable figures as
// it goes and returns its named figures; the runner prints them as ONE JSON object on the very last line, so scripts
// (and the README's tables) can read results without parsing prose.
import fs from 'node:fs';
import path from 'node:path';

export interface BenchContext {
  quick: boolean;
  /** Flags after the name, e.g. ['--shares', '50'] */
  args: string[];
  log: (line: string) => void;
  /**
   * Registers a clean-up (stop a process, remove a directory) that also runs when the benchmark is interrupted
   * (Ctrl-C, SIGTERM), so an interrupted run leaves no servers behind. Clean-ups run newest first.
   */
  onInterrupt: (cleanup: () => Promise<unknown> | void) => void;
}

export type BenchFigures = Record<string, number | string | boolean | null | number[]>;
export type Benchmark = (ctx: BenchContext) => Promise<BenchFigures>;

function available(): string[] {
  return fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.ts') && !['run.ts'].includes(f) && !f.endsWith('.test.ts') && !f.startsWith('_'))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort();
}

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  const names = available();
  if (!name || !names.includes(name)) {
    console.error(`usage: npm run bench -- <name> [--quick]\nbenchmarks: ${names.join(', ')}`);
    process.exit(2);
  }
  const mod = (await import(path.join(__dirname, `${name}.ts`))) as { default: Benchmark };
  const started = Date.now();
  const cleanups: (() => Promise<unknown> | void)[] = [];
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`${signal}: stopping what the benchmark started`);
      void (async () => {
        for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
        process.exit(130);
      })();
    });
  }
  const figures = await mod.default({
    quick: rest.includes('--quick'),
    args: rest.filter((a) => a !== '--quick'),
    log: (line) => console.log(line),
    onInterrupt: (cleanup) => void cleanups.push(cleanup),
  });
  console.log(
    JSON.stringify({
      bench: name,
      quick: rest.includes('--quick'),
      seconds: (Date.now() - started) / 1000,
      ...figures,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
