/**
 * The GaleraBackup sidecar on the Galera harness's members: the command the construct renders into the members'
 * pods (socat forking serve.sh per connection), bound to the member's loopback address, with the shipped scripts,
 * run as the mysql user with the member's environment. Shared by the integration test and the benchmark.
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { BackupDestination, GaleraBackup, GaleraPetSet, GaleraStorage, Placement, SecretValue } from '../../../lib';
import { NODES } from '../../support/fixtures';
import { newChart, synth } from '../../support/harness';
import { GaleraTestCluster, Member } from '../galera-harness';

const BACKUP_ASSETS = path.resolve(__dirname, '../../../assets/galera-backup');

/** The sidecar's command as GaleraBackup renders it into the members' pods. */
export function sidecarCommand(): string[] {
  const chart = newChart('openstack');
  const secret = SecretValue.fromSecret('s', 'k');
  const galera = new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes(NODES), storage: GaleraStorage.storageClass({ storageClassName: 'x', size: '100Gi' }),
    credentials: { rootPassword: secret, sstPassword: secret, monitorPassword: secret },
  });
  new GaleraBackup(chart, 'backup', { galera, schedule: '@daily', destination: BackupDestination.volume({ claimName: 'b' }) });
  const sts = synth(chart).find((o) => o.kind === 'StatefulSet')!;
  return sts.spec.template.spec.containers.find((c: any) => c.name === 'backup').command;
}

/** Starts `member`'s sidecar (its own process group, killed with the cluster); its work dir is `<member>/tmp`. */
export function startBackupSidecar(cluster: GaleraTestCluster, member: Member, token: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  const uid = Number(execFileSync('id', ['-u', 'mysql']).toString());
  const gid = Number(execFileSync('id', ['-g', 'mysql']).toString());
  const work = path.join(member.dir, 'tmp');
  fs.mkdirSync(work, { recursive: true });
  fs.chownSync(work, uid, gid);
  const [command, listen, exec] = sidecarCommand();
  const args = [listen.replace(/^TCP-LISTEN:(\d+),/, `TCP-LISTEN:$1,bind=${member.ip},`), exec.replace('/opt/galera-backup', BACKUP_ASSETS)];
  const child = spawn(command, args, {
    uid, gid, detached: true,
    stdio: ['ignore', 'ignore', fs.openSync(path.join(cluster.root, `${member.name}.backup.log`), 'a')],
    env: {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      ...member.containerEnv(),
      GALERA_SCRIPTS_DIR: cluster.scriptsDir,
      BACKUP_TOKEN: token,
      BACKUP_WORK_DIR: work,
      ...env,
    },
  });
  cluster.processGroups.add(child.pid!);
  return child;
}

/** The pod is gone (scaled to 0): its sidecar with it (the whole process group, by its PID). */
export async function stopBackupSidecar(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid!, 'SIGKILL');
  await exited;
}
