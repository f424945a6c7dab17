import { createHash } from 'crypto';

/**
 * A short, stable hash of rendered configuration, for the pod template's config-hash annotation. Keys are
 * sorted so the hash depends only on content, never on insertion order.
 */
export function configHash(...configs: ReadonlyArray<Readonly<Record<string, string>>>): string {
  const hash = createHash('sha256');
  for (const config of configs) {
    for (const key of Object.keys(config).sort()) {
      hash.update(key).update('\0').update(config[key]).update('\0');
    }
    hash.update('\x01');
  }
  return hash.digest('hex').slice(0, 16);
}
