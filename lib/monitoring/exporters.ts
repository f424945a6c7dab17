/**
 * The exporter sidecars, as plain data: stock images, least privilege, the metrics port named `metrics` so a
 * PodMonitor finds it by name. A family adds one to its pod when its `metricsExporter` prop is on; the monitoring
 * family scrapes what the families expose (model.ts), so both read the ports here.
 */
import { toResourceRequirements } from '../common/resources';
import { containerSecurityContext } from '../common/security';
import { hostPort } from '../common/validation';
import { k8s } from '../k8s';

/** Where each component's metrics are served (the exporters' registered default ports). */
export const METRICS_PORTS = {
  /** prometheus/mysqld_exporter's default. */
  mysqld: 9104,
  /** prometheus/memcached_exporter's default. */
  memcached: 9150,
  /** ProxySQL's REST API (`admin-restapi_port`), which serves `/metrics`. */
  proxysql: 6070,
} as const;

/** Pinned stock images: the exporters' own releases, nothing built by this library. */
export const EXPORTER_IMAGES = {
  /**
   * 0.15 reads the password from MYSQLD_EXPORTER_PASSWORD, so no my.cnf with it is written; Galera's wrapper
   * (assets/galera/exporter.sh) sets it from the monitor's password file and follows a rotation.
   */
  mysqld: 'quay.io/prometheus/mysqld-exporter:v0.15.1',
  memcached: 'quay.io/prometheus/memcached-exporter:v0.15.0',
} as const;

/** Small: an exporter answers a scrape every 30 s (the benchmark measures what it really uses). */
const EXPORTER_RESOURCES = toResourceRequirements({ cpuRequestMillis: 10, cpuLimitMillis: 100, memoryRequestMiB: 32, memoryLimitMiB: 64 });

function metricsProbe(port: number): k8s.Probe {
  // The exporter's own liveness: `/` answers without touching the daemon, so a down daemon (reported as
  // mysql_up 0 / memcached_up 0, which is what the alerts read) never restarts the exporter.
  return { httpGet: { path: '/', port: k8s.IntOrString.fromNumber(port) }, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 3 };
}

/** How the mysqld-exporter container starts: the wrapper script and the monitor's password file, as it mounts them. */
export interface MysqldExporterWrapper {
  /** The wrapper's path (assets/galera/exporter.sh, run by the image's busybox `sh`). */
  readonly script: string;
  /** The monitor's password file (a Secret volume mounted whole: the kubelet updates it in place). */
  readonly passwordFile: string;
  /** The mounts of both. */
  readonly volumeMounts: k8s.VolumeMount[];
}

/**
 * mysqld-exporter beside mariadbd, logging in as the monitor account (PROCESS, BINLOG MONITOR: enough for global
 * status, wsrep status included, and the InnoDB and process-list collectors) over the pod's loopback.
 *
 * `tls`: the server refuses plaintext TCP clients (`require_secure_transport`; only its Unix socket is exempt, and
 * the socket is not shared with this container), so the exporter speaks TLS. Unverified (`--tls.insecure-skip-verify`,
 * mysqld_exporter 0.15's only TLS switch outside a my.cnf): the connection is to 127.0.0.1 inside the pod's own
 * network namespace, which no certificate names and no other host can intercept; TLS here only satisfies the server.
 */
export function mysqldExporterContainer(options: { monitorUser: string; wrapper: MysqldExporterWrapper; mysqlPort: number; tls?: boolean }): k8s.Container {
  const port = METRICS_PORTS.mysqld;
  return {
    name: 'mysqld-exporter',
    image: EXPORTER_IMAGES.mysqld,
    imagePullPolicy: 'IfNotPresent',
    // The monitor's password rotates live: the wrapper restarts the exporter process with the new one once the member
    // accepts it (mysqld_exporter reads its password only at start). Its arguments go to every exporter it starts.
    command: ['sh', options.wrapper.script],
    args: [
      `--mysqld.address=127.0.0.1:${options.mysqlPort}`,
      `--mysqld.username=${options.monitorUser}`,
      // wsrep_* status is part of global status; the rest keep the series count per member small.
      '--collect.global_status',
      '--collect.global_variables',
      '--no-collect.slave_status',
      ...(options.tls ? ['--tls.insecure-skip-verify'] : []),
    ],
    env: [
      { name: 'MYSQLD_EXPORTER_PASSWORD_FILE', value: options.wrapper.passwordFile },
      { name: 'MYSQLD_EXPORTER_LISTEN', value: `:${port}` },
      // Where the wrapper's candidate exporter (the new password's login check) listens: loopback, never scraped.
      { name: 'MYSQLD_EXPORTER_CHECK_ADDRESS', value: `127.0.0.1:${port + 1}` },
    ],
    ports: [{ name: 'metrics', containerPort: port, protocol: 'TCP' }],
    resources: EXPORTER_RESOURCES,
    livenessProbe: metricsProbe(port),
    readinessProbe: metricsProbe(port),
    volumeMounts: options.wrapper.volumeMounts,
    securityContext: containerSecurityContext(),
  };
}

/** How the memcached exporter reaches a TLS memcached: the mounted certificate files and the name to verify. */
export interface MemcachedExporterTls {
  readonly mount: k8s.VolumeMount;
  readonly paths: { readonly certificate: string; readonly privateKey: string; readonly ca: string };
  readonly serverName: string;
  /** memcached requires a client certificate. */
  readonly clientCertificate: boolean;
}

/**
 * memcached-exporter beside memcached, reaching it at `memcached` (`host:port`) and listening on `listenHost` (the
 * node's address on the host network, never every interface of the node).
 */
export function memcachedExporterContainer(options: { memcached: string; listenHost: string; env: k8s.EnvVar[]; tls?: MemcachedExporterTls }): k8s.Container {
  const port = METRICS_PORTS.memcached;
  const { tls } = options;
  return {
    name: 'memcached-exporter',
    image: EXPORTER_IMAGES.memcached,
    imagePullPolicy: 'IfNotPresent',
    args: [`--memcached.address=${options.memcached}`, `--web.listen-address=${hostPort(options.listenHost, port)}`, ...(tls ? [
      // The exporter verifies memcached like any client (CA and name); it presents the pool's own certificate only
      // when memcached requires one. memcached_exporter reads the files per connection, so renewals need nothing.
      '--memcached.tls.enable', `--memcached.tls.ca-file=${tls.paths.ca}`, `--memcached.tls.server-name=${tls.serverName}`,
      ...(tls.clientCertificate ? [`--memcached.tls.cert-file=${tls.paths.certificate}`, `--memcached.tls.key-file=${tls.paths.privateKey}`] : []),
    ] : [])],
    env: options.env,
    ...(tls ? { volumeMounts: [tls.mount] } : {}),
    ports: [{ name: 'metrics', containerPort: port, protocol: 'TCP' }],
    resources: EXPORTER_RESOURCES,
    livenessProbe: metricsProbe(port),
    readinessProbe: metricsProbe(port),
    securityContext: containerSecurityContext(),
  };
}
