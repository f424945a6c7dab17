/**
 * The broker users' passwords as files (a projected Secret volume) rather than env vars, so that a changed Secret
 * reaches the running brokers: the kubelet updates the files in place (no subPath), and credentials.sh, beside the
 * broker, applies a changed one with `rabbitmqctl change_password` (README, "Day 2: rotating a RabbitMQ password").
 * Plain data for the construct, like container.ts.
 */
import { secretFilesVolume } from '../common/secret';
import { k8s } from '../k8s';
import { ResolvedRabbitCluster } from './model';

/** Where the broker container finds one file per user, named after the user (user names are valid file names). */
export const RABBIT_CREDENTIALS_DIR = '/etc/rabbitmq-credentials';

/** The volume's name in the pod. */
export const RABBIT_CREDENTIALS_VOLUME = 'credentials';

/** Env var that tells start.sh and credentials.sh where the files are (unset: the passwords come as env vars). */
export const RABBIT_CREDENTIALS_ENV = 'RABBITMQ_CREDENTIALS_DIR';

/**
 * Every user's password Secret key as the file named after the user. Projected, so one volume takes keys of many
 * Secrets; mounted whole (a subPath mount would never be updated).
 */
export function credentialsVolume(c: ResolvedRabbitCluster): k8s.Volume {
  return secretFilesVolume(RABBIT_CREDENTIALS_VOLUME, c.users.map((u) => ({ secret: u.password, path: u.name })));
}

export function credentialsMount(): k8s.VolumeMount {
  return { name: RABBIT_CREDENTIALS_VOLUME, mountPath: RABBIT_CREDENTIALS_DIR, readOnly: true };
}
