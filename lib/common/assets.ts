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

/**
 * The certificate-pair check (assets/common/tls-pair-check.sh: the key matches the certificate, valid now, chains to
 * the CA, optionally a TLS server certificate) that the bash TLS watchers share: RabbitMQ's tls-start.sh and
 * tls-reload.sh, ProxySQL's tls.sh. Each component ships it in its scripts ConfigMap beside them, with `tls` only.
 * memcached's reloader keeps its own check in Node (lib/memcached/assets.ts says why).
 */
export const TLS_PAIR_CHECK_SCRIPT = 'tls-pair-check.sh';

/** The shared certificate-pair check, by file name (for a scripts ConfigMap's data). */
export function tlsPairCheckScripts(): Record<string, string> {
  return readAssets('common', [TLS_PAIR_CHECK_SCRIPT]);
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
