/**
 * The contract between the renderers and the broker container, as plain data the `RabbitDaemonSet` construct
 * maps onto Kubernetes objects: the ConfigMap files, the env vars (literal, downward API, Secret), the ports. The users'
 * passwords are a volume (credentials.ts).
 */
import { RABBIT_FILES, RABBIT_PATHS, renderEnabledPlugins, renderErlInetrc, renderPeers, renderRabbitmqConf } from './config';
import { RABBIT_CREDENTIALS_DIR, RABBIT_CREDENTIALS_ENV } from './credentials';
import { renderDefinitions } from './definitions';
import { RabbitSecretKeyRef, ResolvedRabbitCluster } from './model';
import { RABBIT_TLS_PATHS, distributionErlArgs, renderInterNodeTlsConfig, tlsBrokerEnv, tlsBrokerPorts } from './tls';
import { RABBITMQ_LINES } from './upgrade';

/** One env var of the broker container: exactly one of `value`, `fieldPath`, `secret` is set. */
export interface BrokerEnvVar {
  readonly name: string;
  /** Literal value; may reference earlier vars as `$(NAME)` (Kubernetes expands it). */
  readonly value?: string;
  /** Downward API field (`spec.nodeName`, `status.hostIP`). */
  readonly fieldPath?: string;
  /** Secret key (a password). */
  readonly secret?: RabbitSecretKeyRef;
}

/** A port the broker listens on, on the node IP (hostNetwork). */
export interface BrokerPort {
  readonly name: string;
  readonly port: number;
}

/** The template ConfigMap's data (file name -> text): no secret in it, placeholders only. */
export function brokerTemplateFiles(c: ResolvedRabbitCluster, renderDir: string = RABBIT_PATHS.renderDir): { [file: string]: string } {
  return {
    [RABBIT_FILES.conf]: renderRabbitmqConf(c, renderDir),
    [RABBIT_FILES.definitions]: renderDefinitions(c),
    [RABBIT_FILES.inetrc]: renderErlInetrc(c),
    [RABBIT_FILES.plugins]: renderEnabledPlugins(),
    [RABBIT_FILES.peers]: renderPeers(c),
    ...(c.tls?.distribution ? { [RABBIT_TLS_PATHS.interNodeFile]: renderInterNodeTlsConfig() } : {}),
  };
}

/**
 * Env of the broker container. The paths are also set for `kubectl exec` and exec probes: the CLI tools need
 * the host table (`ERL_INETRC`) to resolve `rabbit@<node>`, and the config file to find the node.
 * @param cpus the CPU limit in whole CPUs: Erlang schedulers are capped to it (`+S n:n`) instead of the host's core count
 */
export function brokerEnv(c: ResolvedRabbitCluster, cpus?: number): BrokerEnvVar[] {
  // Without busy-waiting, idle schedulers stop spinning: brokers share controllers with other daemons (kolla does the same).
  const erlArgs = ['+sbwt none +sbwtdcpu none +sbwtdio none', ...(cpus !== undefined ? [`+S ${cpus}:${cpus}`] : []),
    ...(c.tls?.distribution ? [distributionErlArgs(RABBIT_PATHS.templateDir)] : [])].join(' ');
  return [
    { name: 'NODE_NAME', fieldPath: 'spec.nodeName' },
    { name: 'HOST_IP', fieldPath: 'status.hostIP' },
    { name: 'RABBITMQ_NODENAME', value: 'rabbit@$(NODE_NAME)' },
    { name: 'RABBITMQ_DIST_PORT', value: String(c.distributionPort) },
    { name: 'HOME', value: RABBIT_PATHS.dataDir },
    { name: 'RABBITMQ_MNESIA_BASE', value: `${RABBIT_PATHS.dataDir}/mnesia` },
    { name: 'RABBITMQ_TEMPLATE_DIR', value: RABBIT_PATHS.templateDir },
    { name: 'RABBITMQ_RENDER_DIR', value: RABBIT_PATHS.renderDir },
    { name: 'RABBITMQ_COOKIE_SOURCE', value: RABBIT_PATHS.cookieSource },
    { name: 'RABBITMQ_CONFIG_FILE', value: `${RABBIT_PATHS.renderDir}/${RABBIT_FILES.conf}` },
    { name: 'RABBITMQ_ENABLED_PLUGINS_FILE', value: `${RABBIT_PATHS.renderDir}/${RABBIT_FILES.plugins}` },
    { name: 'ERL_INETRC', value: `${RABBIT_PATHS.renderDir}/${RABBIT_FILES.inetrc}` },
    { name: 'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS', value: erlArgs },
    ...(c.tls ? tlsBrokerEnv(c.tls, RABBIT_PATHS.templateDir) : []),
    // The release lines in order: start.sh refuses a data dir a skipped or newer line ran (assets/rabbitmq/release.sh).
    { name: 'RABBITMQ_RELEASE_LINES', value: RABBITMQ_LINES.join(' ') },
    // The users' passwords are files (credentials.ts): start.sh renders them, credentials.sh applies a changed one live.
    { name: RABBIT_CREDENTIALS_ENV, value: RABBIT_CREDENTIALS_DIR },
  ];
}

/** Ports on the node IP. epmd (4369) and the CLI range 35672-35682 are fixed by Erlang/RabbitMQ. */
export function brokerPorts(c: ResolvedRabbitCluster): BrokerPort[] {
  if (c.tls) return tlsBrokerPorts(c.tls, c);
  return [
    { name: 'amqp', port: c.amqpPort },
    { name: 'management', port: c.managementPort },
    { name: 'prometheus', port: c.prometheusPort },
    { name: 'epmd', port: 4369 },
    { name: 'dist', port: c.distributionPort },
  ];
}

/** File start.sh keeps in its render dir while a blank broker waits for a peer (its Erlang VM is not running yet). */
export const WAITING_FOR_PEERS_MARKER = 'waiting-for-peers';

/** Probes and the stop path of the broker container, as plain data for the construct. */
export interface BrokerLifecycle {
  /**
   * Readiness: a TCP connect to the AMQP port on the node IP (hostNetwork: the pod IP). It fails while the
   * broker boots, waits for peers, or is paused by pause_minority (a paused node closes its listeners), and
   * runs no Erlang VM per probe (exec `rabbitmq-diagnostics` probes time out under load: cluster-operator #409).
   */
  readonly readinessTcpPort: number;
  /**
   * Liveness: `rabbitmq-diagnostics -q ping` answers while the Erlang node runs, including while paused or
   * waiting up to 10 min for its peers' tables, so it only restarts a hung VM. Before the VM starts, while a
   * blank broker waits for its peers (start.sh marks it with `WAITING_FOR_PEERS_MARKER` in the render dir), it
   * passes too: a restart would only put the broker in back-off, and delay its join once a peer is back.
   */
  readonly livenessCommand: string[];
  readonly livenessPeriodSeconds: number;
  readonly livenessTimeoutSeconds: number;
  readonly livenessFailureThreshold: number;
  /**
   * preStop: wait (bounded) until the queues this node hosts have a synchronised replica elsewhere
   * (3.x mirrors; 4.x quorum majority + 1), then drain (maintenance mode: listeners closed, leaders moved).
   * Maintenance mode is cleared when the broker boots again.
   */
  readonly preStopCommand: string[];
  /** Pod termination grace: the preStop waits plus a margin for the broker's own shutdown. */
  readonly terminationGracePeriodSeconds: number;
}

/** @param waitSeconds how long preStop may wait for replicas before draining anyway */
export function brokerLifecycle(c: ResolvedRabbitCluster, waitSeconds = 300): BrokerLifecycle {
  const awaitReplicas = c.version.usesClassicMirroring ? 'await_online_synchronized_mirror' : 'await_online_quorum_plus_one';
  return {
    readinessTcpPort: c.tls ? c.tls.amqpsPort : c.amqpPort,
    livenessCommand: ['bash', '-c', `[ -e "$RABBITMQ_RENDER_DIR/${WAITING_FOR_PEERS_MARKER}" ] || exec rabbitmq-diagnostics -q ping`],
    livenessPeriodSeconds: 30,
    livenessTimeoutSeconds: 20,
    livenessFailureThreshold: 10,
    preStopCommand: ['bash', '-c', `rabbitmq-upgrade ${awaitReplicas} -t ${waitSeconds} || true; rabbitmq-upgrade drain -t ${waitSeconds}`],
    terminationGracePeriodSeconds: 2 * waitSeconds + 60,
  };
}
