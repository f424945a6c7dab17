import { existsSync, readFileSync } from 'fs';
import { join } from 'path';

/**
 * The scripts ProxySqlLayer ships in a ConfigMap. They live in `assets/proxysql/` at the package root, two levels
 * above both `lib/proxysql` (sources, tests) and `dist/proxysql` (the published JavaScript).
 */
export const PROXYSQL_SCRIPTS = ['start.sh', 'admin.sh'] as const;

/** The scripts, by file name. */
export function proxySqlScripts(): Record<string, string> {
  return Object.fromEntries(PROXYSQL_SCRIPTS.map((file) => {
    const path = join(__dirname, '..', '..', 'assets', 'proxysql', file);
    if (!existsSync(path)) throw new Error(`${path} is missing: the package is incomplete`);
    return [file, readFileSync(path, 'utf8')];
  }));
}
