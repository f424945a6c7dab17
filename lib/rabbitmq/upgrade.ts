/**
 * Which RabbitMQ release-line changes a cluster can make by a rolling upgrade (one broker at a time). RabbitMQ's
 * rolling-upgrade guide: rolling upgrades do not skip versions, except patch releases (3.12 -> 4.0 directly is not
 * supported), every stable feature flag must be enabled before the next line starts, and there is no downgrade.
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s. The preflight CLI bundles it.
 */
import type { UpgradeVerdict } from '../galera/upgrade';

/**
 * Every RabbitMQ release line in order, so that a skip is seen even across lines this library does not deploy
 * (3.11 and 3.12 sit between the Debian 3.10 and 3.13).
 */
export const RABBITMQ_LINES: readonly string[] = ['3.8', '3.9', '3.10', '3.11', '3.12', '3.13', '4.0', '4.1', '4.2', '4.3'];

/** Whether a rolling change of the release line from `from` to `to` is supported, and the path when it is not. */
export function rabbitUpgradeVerdict(from: string, to: string): UpgradeVerdict {
  const i = RABBITMQ_LINES.indexOf(from);
  const j = RABBITMQ_LINES.indexOf(to);
  if (i < 0 || j < 0) {
    return { status: 'warn', message: `RabbitMQ ${from} -> ${to}: an unknown release line; check the rolling-upgrade table of rabbitmq.com/docs/upgrade` };
  }
  if (j < i) {
    return { status: 'refuse', message: `RabbitMQ ${from} -> ${to} is a downgrade: a broker does not start on data written by a newer line; keep ${from}` };
  }
  if (j > i + 1) {
    const path = RABBITMQ_LINES.slice(i, j + 1).join(' -> ');
    return {
      status: 'refuse',
      message: `RabbitMQ ${from} -> ${to} skips ${RABBITMQ_LINES.slice(i + 1, j).join(', ')}: rolling upgrades do not skip release lines; upgrade ${path}, `
        + 'one apply per step, enabling every stable feature flag (rabbitmqctl enable_feature_flag all) after each',
    };
  }
  if (j === i) return { status: 'ok', message: `RabbitMQ ${from}: same release line` };
  const major = from.startsWith('3.') && to.startsWith('4.')
    ? '; 4.0 removed classic mirroring: the notification queues become quorum queues (README, "Day 2: RabbitMQ 3.13 -> 4.x")'
    : '';
  // A warning: the plan cannot see the feature flags, and the upgrade fails without them.
  return {
    status: 'warn',
    message: `RabbitMQ ${from} -> ${to}: the next release line; before applying, every stable feature flag must be enabled on ${from} `
      + `(the brokers do it after each roll, once all run one line; on a cluster upgraded before that, rabbitmqctl enable_feature_flag all), `
      + `and the brokers enable ${to}'s once the last one runs it${major}`,
  };
}
