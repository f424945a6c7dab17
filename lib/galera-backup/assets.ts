import { readAssets } from '../common/assets';

/** The scripts the sidecar and the job run (assets/galera-backup), by file name. */
export function galeraBackupScripts(): Record<string, string> {
  return readAssets('galera-backup', ['common.sh', 'serve.sh', 'backup.sh', 'restore.sh', 'drill.sh', 'archive.sh']);
}
