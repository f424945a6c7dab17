import { readAssets, tlsPairCheckScripts } from '../common/assets';

/** The broker container's command script (assets/rabbitmq): `bash <scriptDir>/start.sh`. */
export const START_SCRIPT = 'start.sh';

/** Sourced by start.sh and post-start.sh: the release line a data dir last ran, and the upgrade verdict. */
export const RELEASE_LIBRARY = 'release.sh';
/** Started by start.sh in the background: records the release on the data dir, enables the feature flags. */
export const POST_START_SCRIPT = 'post-start.sh';

/** Sourced by start.sh (the passwords from their files), and started by it beside the broker: applies a changed password live. */
export const CREDENTIALS_SCRIPT = 'credentials.sh';

/** The broker's scripts, by file name. */
export function rabbitScripts(): Record<string, string> {
  return readAssets('rabbitmq', [START_SCRIPT, RELEASE_LIBRARY, POST_START_SCRIPT, CREDENTIALS_SCRIPT]);
}

/** With TLS, the container command: installs the checked certificate copy, starts tls-reload.sh, execs start.sh. */
export const TLS_START_SCRIPT = 'tls-start.sh';
/** With TLS: the certificate functions (check, install) and the watcher loop that applies a renewed Secret. */
export const TLS_RELOAD_SCRIPT = 'tls-reload.sh';

/**
 * The TLS scripts, by file name (added to the scripts ConfigMap with `tls` only: without it the ConfigMap is
 * unchanged), with the shared certificate-pair check tls-reload.sh runs.
 */
export function rabbitTlsScripts(): Record<string, string> {
  return { ...readAssets('rabbitmq', [TLS_START_SCRIPT, TLS_RELOAD_SCRIPT]), ...tlsPairCheckScripts() };
}
