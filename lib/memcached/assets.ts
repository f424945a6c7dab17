import { readAssets } from '../common/assets';

/** The certificate reloader sidecar's script (assets/memcached). */
export const CERT_RELOADER_SCRIPT = 'cert-reloader.js';

/** The reloader's files, by file name (the ConfigMap's data). */
export function memcachedReloaderScripts(): Record<string, string> {
  return readAssets('memcached', [CERT_RELOADER_SCRIPT]);
}
