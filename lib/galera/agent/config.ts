/**
 * The agent's configuration, from environment variables (the sidecar's `env`). Every problem is reported at once,
 * naming the variable, its value and the fix. Durations are in seconds and may be fractional.
 */
import { DEFAULT_JOIN_TURN_SECONDS } from './join-turn';
import { Problems } from './problems';
import { DEFAULT_BLOCK_AFTER_SECONDS, DEFAULT_PC_RECOVERY_SECONDS } from './election';

export interface AgentConfig {
  /** This member's pod name, e.g. `galera-2`. */
  readonly podName: string;
  readonly ordinal: number;
  readonly statefulSetName: string;
  readonly size: number;
  /** The base URL of every member's agent, by ordinal (own entry included, never polled). */
  readonly peerUrls: readonly string[];
  /** Listen address; undefined: every address (IPv6 and IPv4 where available). */
  readonly host?: string;
  /** Listen port; 0 picks a free one (tests). */
  readonly port: number;
  readonly runDir: string;
  readonly overrideFile: string;
  readonly pollSeconds: number;
  readonly peerTimeoutSeconds: number;
  /** How often Galera's view (view.json) is read between rounds for the writer's eviction (agent.ts). */
  readonly writerCheckSeconds: number;
  readonly wsrepStaleSeconds: number;
  readonly blockAfterSeconds: number;
  readonly pcRecoverySeconds: number;
  /** mariadbd running this long without reaching a Primary component (no transfer under way) is restarted. */
  readonly waitPrimarySeconds: number;
  /** A restart request still not acted on after this long is written again. */
  readonly restartRetrySeconds: number;
  /** How long one member's join holds the others', and how long a member stands in line at most (join-turn.ts). */
  readonly joinTurnSeconds: number;
  /**
   * With TLS: the mounted certificate and mariadbd's client address, so that /metrics reports the certificate that
   * is mounted and the one mariadbd serves (tls-watch.ts).
   */
  readonly tls?: {
    readonly certificateFile: string;
    readonly host: string;
    readonly port: number;
    readonly checkSeconds: number;
    readonly servedRecheckSeconds: number;
  };
}

/**
 * The default wait for a Primary is pc.recovery's time plus this margin (a stop, a bootstrap): the members that
 * pc.recovery or the election's bootstrap are about to bring into a Primary are left alone, and one stuck in a
 * saved view that cannot form a Primary (it does not merge into the new one) is restarted soon after.
 */
export const WAIT_PRIMARY_MARGIN_SECONDS = 30;
export const DEFAULT_RESTART_RETRY_SECONDS = 30;

export const DEFAULT_AGENT_PORT = 9200;
/** Reading two small files of the run directory (memory-backed) ten times a second costs nothing measurable. */
export const DEFAULT_WRITER_CHECK_SECONDS = 0.1;
/**
 * How often the agent reads the mounted certificate, and how often it reads the served one again while the two agree
 * (each read is a handshake mariadbd logs as an aborted connection): tls-watch.ts.
 */
export const DEFAULT_TLS_CHECK_SECONDS = 10;
export const DEFAULT_TLS_SERVED_RECHECK_SECONDS = 300;
export const DEFAULT_RUN_DIR = '/run/galera';
export const DEFAULT_OVERRIDE_FILE = '/etc/galera-recovery/bootstrap-from';

export function configFromEnv(env: NodeJS.ProcessEnv): AgentConfig {
  const v = new Problems('galera agent environment');
  const podName = env.POD_NAME ?? '';
  const podMatch = /^(.+)-(0|[1-9][0-9]*)$/.exec(podName);
  v.check(podMatch === null, 'POD_NAME', env.POD_NAME, 'must be the StatefulSet pod name, <statefulset>-<ordinal>');
  const statefulSetName = env.GALERA_STATEFULSET ?? podMatch?.[1] ?? '';
  if (podMatch !== null) {
    v.check(
      podMatch[1] !== statefulSetName,
      'GALERA_STATEFULSET',
      env.GALERA_STATEFULSET,
      `must be the prefix of POD_NAME (${JSON.stringify(podMatch[1])})`,
    );
  }
  const ordinal = podMatch === null ? 0 : Number(podMatch[2]);
  const size = integer(v, env, 'GALERA_CLUSTER_SIZE', undefined, 1);
  if (podMatch !== null && size > 0) {
    v.check(ordinal >= size, 'POD_NAME', podName, `has ordinal ${ordinal}, outside a cluster of ${size} (GALERA_CLUSTER_SIZE)`);
  }
  const port = integer(v, env, 'GALERA_AGENT_PORT', DEFAULT_AGENT_PORT, 0);
  v.check(port > 65535, 'GALERA_AGENT_PORT', env.GALERA_AGENT_PORT, 'must be a TCP port (1-65535)');

  const urls = peerUrls(v, env, size);
  const pollSeconds = duration(v, env, 'GALERA_POLL_SECONDS', 1);
  const peerTimeoutSeconds = duration(v, env, 'GALERA_PEER_TIMEOUT_SECONDS', 1);
  const wsrepStaleSeconds = duration(v, env, 'GALERA_WSREP_STALE_SECONDS', 5);
  const blockAfterSeconds = duration(v, env, 'GALERA_BLOCK_AFTER_SECONDS', DEFAULT_BLOCK_AFTER_SECONDS);
  const pcRecoverySeconds = duration(v, env, 'GALERA_PC_RECOVERY_SECONDS', DEFAULT_PC_RECOVERY_SECONDS);
  const config: AgentConfig = {
    podName,
    ordinal,
    statefulSetName,
    size,
    peerUrls: urls,
    ...(env.GALERA_AGENT_HOST ? { host: env.GALERA_AGENT_HOST } : {}),
    port,
    runDir: env.GALERA_RUN_DIR || DEFAULT_RUN_DIR,
    overrideFile: env.GALERA_OVERRIDE_FILE || DEFAULT_OVERRIDE_FILE,
    pollSeconds,
    peerTimeoutSeconds,
    writerCheckSeconds: duration(v, env, 'GALERA_WRITER_CHECK_SECONDS', DEFAULT_WRITER_CHECK_SECONDS),
    wsrepStaleSeconds,
    blockAfterSeconds,
    pcRecoverySeconds,
    waitPrimarySeconds: duration(v, env, 'GALERA_WAIT_PRIMARY_SECONDS', pcRecoverySeconds + WAIT_PRIMARY_MARGIN_SECONDS),
    restartRetrySeconds: duration(v, env, 'GALERA_RESTART_RETRY_SECONDS', DEFAULT_RESTART_RETRY_SECONDS),
    joinTurnSeconds: duration(v, env, 'GALERA_JOIN_TURN_SECONDS', DEFAULT_JOIN_TURN_SECONDS),
    ...(env.GALERA_TLS_CERTIFICATE ? {
      tls: {
        certificateFile: env.GALERA_TLS_CERTIFICATE,
        host: env.GALERA_MYSQL_HOST || '127.0.0.1',
        port: integer(v, env, 'GALERA_MYSQL_PORT', 3306, 1),
        checkSeconds: duration(v, env, 'GALERA_TLS_CHECK_SECONDS', DEFAULT_TLS_CHECK_SECONDS),
        servedRecheckSeconds: duration(v, env, 'GALERA_TLS_SERVED_RECHECK_SECONDS', DEFAULT_TLS_SERVED_RECHECK_SECONDS),
      },
    } : {}),
  };
  v.throwIfAny();
  return config;
}

/**
 * `GALERA_PEER_URLS`: one base URL per ordinal, comma-separated. The construct builds it from its member model
 * (each member's peer DNS name), so a member's name is computed in one place, never again here.
 */
function peerUrls(v: Problems, env: NodeJS.ProcessEnv, size: number): string[] {
  const list = env.GALERA_PEER_URLS;
  if (!list) {
    v.add('GALERA_PEER_URLS', list, 'must be set: one base URL per ordinal, e.g. http://galera-0.galera-peers.<namespace>.svc:9200,...');
    return [];
  }
  const urls = list.split(',').map((u) => u.trim());
  v.check(urls.length !== size, 'GALERA_PEER_URLS', list, `must list ${size} URLs, one per ordinal (GALERA_CLUSTER_SIZE)`);
  checkUrls(v, 'GALERA_PEER_URLS', urls);
  return urls;
}

function checkUrls(v: Problems, variable: string, urls: readonly string[]): void {
  for (const url of urls) {
    let ok = false;
    try {
      ok = new URL(url).protocol === 'http:';
    } catch {
      ok = false;
    }
    v.check(!ok, variable, url, 'must give http:// URLs');
  }
}

function integer(v: Problems, env: NodeJS.ProcessEnv, name: string, fallback: number | undefined, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (fallback === undefined) v.add(name, raw, 'must be set');
    return fallback ?? 0;
  }
  const value = Number(raw);
  if (v.check(!/^[0-9]+$/.test(raw) || value < min, name, raw, `must be a whole number of at least ${min}`)) return 0;
  return value;
}

function duration(v: Problems, env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (v.check(!Number.isFinite(value) || value <= 0, name, raw, 'must be a positive number of seconds')) return fallback;
  return value;
}
