/**
 * The monitoring family's props: what a user may set, each with its default. The rules are in validation.ts, the
 * defaults are applied in model.ts.
 */
import type { ClientSelector } from '../common/network';
import type { GaleraPetSet } from '../galera/galera-petset';
import type { GaleraBackup } from '../galera-backup/galera-backup';
import type { HaproxyLoadBalancer } from '../haproxy/haproxy-load-balancer';
import type { KeepalivedVip } from '../keepalived/keepalived-vip';
import type { MemcachedPool } from '../memcached/memcached-pool';
import type { ProxySqlLayer } from '../proxysql/proxysql-layer';
import type { RabbitDaemonSet } from '../rabbitmq/rabbit-daemonset';

/** How Prometheus (through prometheus-operator) finds the control plane's metrics, alerts and dashboards. */
export interface MonitoringOptions {
  /**
   * The Prometheus pods that scrape: NetworkPolicies admit them (and only them) on the metrics ports of the
   * pod-network components. Give the namespace labels too when Prometheus runs in another namespace, e.g.
   * `{ podLabels: { 'app.kubernetes.io/name': 'prometheus' }, namespaceLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }`.
   */
  readonly scraper: ClientSelector;
  /**
   * Labels on every PodMonitor and PrometheusRule, so that a Prometheus' `podMonitorSelector` and `ruleSelector`
   * pick them, e.g. `{ release: 'kube-prometheus-stack' }`.
   *
   * @default - none
   */
  readonly selectorLabels?: Record<string, string>;
  /**
   * Scrape interval in seconds. The alert windows are minutes; 30 s gives every `for` several samples.
   *
   * @default 30
   */
  readonly scrapeIntervalSeconds?: number;
  /**
   * Store only the RabbitMQ per-queue series an alert or a dashboard reads: a `keep` metricRelabeling on the
   * `/metrics/detailed` endpoint (the broker still renders and sends the rest; Prometheus drops them before they are
   * stored). Per quorum queue of 3 members: 5 series instead of 23 up to RabbitMQ 4.1, and instead of 149 on 4.2.5
   * or 155 on 4.3.0 (which export every Ra counter of every member: 48 and 50). Off by default: the dropped series (each member's Raft log
   * indexes and commit latency, ready and unacknowledged counts) are what you would look at by hand.
   *
   * @default false
   */
  readonly dropUnusedRabbitmqSeries?: boolean;
  /**
   * Grafana dashboards in ConfigMaps (with `dashboardLabels`, which Grafana's dashboard sidecar watches).
   *
   * @default true
   */
  readonly dashboards?: boolean;
  /**
   * Labels on the dashboard ConfigMaps.
   *
   * @default { grafana_dashboard: '1' } (the Grafana Helm chart's sidecar default)
   */
  readonly dashboardLabels?: Record<string, string>;
}

/** The components to monitor; each one given is scraped, alerted on and drawn. */
export interface ControlPlaneMonitoringProps extends MonitoringOptions {
  /**
   * The Galera cluster: its recovery agents' `/metrics`, and its mysqld-exporter sidecars (the cluster must have
   * `metricsExporter: true`).
   *
   * @default - not monitored
   */
  readonly galera?: GaleraPetSet;
  /**
   * RabbitMQ brokers (their built-in Prometheus endpoint).
   *
   * @default - not monitored
   */
  readonly rabbitmq?: RabbitDaemonSet;
  /**
   * HAProxy (its built-in `/metrics` on the stats port).
   *
   * @default - not monitored
   */
  readonly haproxy?: HaproxyLoadBalancer;
  /**
   * memcached (its memcached-exporter sidecars: the pool must have `metricsExporter: true`).
   *
   * @default - not monitored
   */
  readonly memcached?: MemcachedPool;
  /**
   * A keepalived VIP (its VRRP state sidecar: the VIP must have `metricsExporter: true`).
   *
   * @default - not monitored
   */
  readonly vip?: KeepalivedVip;
  /**
   * ProxySQL (its built-in exporter: the layer must have `metricsExporter: true`): no writer, reader fallback.
   *
   * @default - not monitored
   */
  readonly proxySql?: ProxySqlLayer;
  /**
   * Galera's backups and restore drills: alerts when the last successful one is older than its schedule allows, or
   * the last one failed. Read from kube-state-metrics' CronJob and Job series (which every prometheus-operator
   * stack runs), so nothing more is scraped.
   *
   * @default - not monitored
   */
  readonly backup?: GaleraBackup;
}
