import { readAssets } from '../common/assets';

/** The scripts ProxySqlLayer ships in a ConfigMap (assets/proxysql). */
export const PROXYSQL_SCRIPTS = ['start.sh', 'admin.sh'] as const;

/** The scripts, by file name. */
export function proxySqlScripts(): Record<string, string> {
  return readAssets('proxysql', PROXYSQL_SCRIPTS);
}
