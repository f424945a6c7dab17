import { existsSync, readFileSync } from 'fs';
import { join } from 'path';

/**
 * Files the constructs ship in ConfigMaps (scripts, the Galera agent bundle). They live in `assets/<family>/` at the
 * package root, two levels above both `lib/<family>` (sources, tests) and `dist/<family>` (published JavaScript).
 *
 * @param hint what to do when a file is missing (a generated file names its build step)
 */
export function readAssets(family: string, files: readonly string[], hint = 'the package is incomplete'): Record<string, string> {
  return Object.fromEntries(files.map((file) => {
    const path = join(__dirname, '..', '..', 'assets', family, file);
    if (!existsSync(path)) throw new Error(`${path} is missing: ${hint}`);
    return [file, readFileSync(path, 'utf8')];
  }));
}
