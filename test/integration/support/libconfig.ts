/**
 * The real libconfig parser (Debian libconfig-dev, what ProxySQL embeds) as a checker: libconfig-check.c compiled
 * at test time prints the parsed tree as JSON with libconfig's own types.
 */
import { spawnSync } from 'child_process';
import { join } from 'path';

export type Scalar = { int: number } | { int64: string } | { float: number } | { bool: boolean } | { string: string };
export type Tree = Scalar | Tree[] | { [name: string]: Tree };

/** Compiles the checker into `dir`; returns its path. */
export function compileLibconfigChecker(dir: string): string {
  const checker = join(dir, 'libconfig-check');
  const cc = spawnSync('gcc', ['-Wall', '-Werror', '-o', checker, join(__dirname, 'libconfig-check.c'), '-lconfig'], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cannot compile the libconfig checker: ${cc.stderr}`);
  return checker;
}

/** The parsed tree of `file`; throws with libconfig's own message when it does not parse. */
export function parseLibconfig(checker: string, file: string): Record<string, Tree> {
  const r = spawnSync(checker, [file], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`libconfig rejects ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
