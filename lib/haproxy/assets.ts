import { readAssets } from '../common/assets';

/** The reloader sidecar's script (assets/haproxy), by file name. */
export const RELOADER_SCRIPT = 'reloader.js';

/** The reloader sidecar's files, by file name. */
export function haproxyReloaderScripts(): Record<string, string> {
  return readAssets('haproxy', [RELOADER_SCRIPT]);
}
