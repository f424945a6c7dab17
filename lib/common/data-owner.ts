import { k8s } from '../k8s';
import { toResourceRequirements } from './resources';
import { CapabilityGrant, rootContainerSecurityContext } from './security';

/**
 * The init container that hands a hostPath data directory to the daemon's user, once: fsGroup does not apply to
 * hostPath volumes. It runs as root with CHOWN as its only capability. Without FOWNER, root may chmod only what
 * root owns, so the directory is first taken by root (chown needs only CHOWN, whoever owned it: a left-over
 * distribution package's data dir belongs to another uid), then its mode set, then given to the daemon. It does
 * nothing when the directory is already handed over (every restart after the first).
 */
export function dataOwnerInitContainer(options: {
  image: string;
  /** The daemon's uid (and gid). */
  uid: number;
  /** Where the data volume is mounted. */
  dataDir: string;
  dataMount: k8s.VolumeMount;
  /** Env the mount needs (e.g. POD_NAME for a `subPathExpr`). */
  env?: k8s.EnvVar[];
  /** Who the directory is for, in the capability's reason. */
  user: string;
}): { container: k8s.Container; grant: CapabilityGrant } {
  const grant: CapabilityGrant = {
    capability: 'CHOWN',
    reason: `init container data-owner: give the hostPath data directory to the ${options.user} user (fsGroup does not apply to hostPath)`,
  };
  const d = options.dataDir;
  return {
    grant,
    container: {
      name: 'data-owner',
      image: options.image,
      imagePullPolicy: 'IfNotPresent',
      command: ['sh', '-c', `[ "$(stat -c %u ${d})" = ${options.uid} ] || { chown 0:0 ${d} && chmod 0750 ${d} && chown ${options.uid}:${options.uid} ${d}; }`],
      ...(options.env ? { env: options.env } : {}),
      resources: toResourceRequirements({ cpuRequestMillis: 10, cpuLimitMillis: 100, memoryRequestMiB: 16, memoryLimitMiB: 32 }),
      volumeMounts: [options.dataMount],
      securityContext: rootContainerSecurityContext([grant]),
    },
  };
}
