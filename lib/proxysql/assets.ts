import { readAssets, tlsPairCheckScripts } from '../common/assets';

/** The scripts ProxySqlLayer ships in a ConfigMap (assets/proxysql). */
export const PROXYSQL_SCRIPTS = ['start.sh', 'admin.sh', 'credentials.sh'] as const;

/** The scripts, by file name. */
export function proxySqlScripts(): Record<string, string> {
  return readAssets('proxysql', PROXYSQL_SCRIPTS);
}

/**
 * The TLS script and the shared certificate-pair check it runs, shipped (and hashed into the pods) only with `tls`:
 * without it the ConfigMap is what it was.
 */
export function proxySqlTlsScripts(): Record<string, string> {
  return { ...readAssets('proxysql', ['tls.sh']), ...tlsPairCheckScripts() };
}
