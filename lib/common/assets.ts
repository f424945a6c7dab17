import { existsSync, readFileSync } from 'fs';
import { join } from 'path';

/**
 * Files the constructs ship in ConfigMaps (scripts, the Galera agent bundle). They live in `assets/<family>/` at the
 * package root, two levels above both `lib/<family>` (sources, tests) and `dist/<family>` (published JavaScript).
 *
 * @param hint what to do when a file is missing (a generated file names its build step)
 */
export function readAssets(family: string, files: readonly string[], hint = 'the package is incomplete'): Record<string, string> {
  return Object.fromEntries(files.map((file) => [file, readAsset(join(__dirname, '..', '..', 'assets', family, file), hint)]));
}

/** Files already read: they do not change while an app synthesizes, and a chart may hold many constructs. */
const cache = new Map<string, string>();

function readAsset(path: string, hint: string): string {
  let text = cache.get(path);
  if (text === undefined) {
    if (!existsSync(path)) throw new Error(`${path} is missing: ${hint}`);
    text = readFileSync(path, 'utf8');
    cache.set(path, text);
  }
  return text;
}
