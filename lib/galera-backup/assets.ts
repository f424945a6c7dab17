import { readAssets, tlsPairCheckScripts } from '../common/assets';

/**
 * The scripts the sidecar and the jobs run (assets/galera-backup), by file name. With TLS, also the sidecar's TLS
 * listener (listen.sh) and the certificate-pair check it runs before it serves a renewed certificate.
 */
export function galeraBackupScripts(tls: boolean): Record<string, string> {
  return {
    ...readAssets('galera-backup', ['common.sh', 'serve.sh', 'backup.sh', 'restore.sh', 'drill.sh', 'archive.sh', ...(tls ? ['listen.sh'] : [])]),
    ...(tls ? tlsPairCheckScripts() : {}),
  };
}
