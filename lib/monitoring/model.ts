/**
 * The resolved monitoring: which pods are scraped on which ports, under which `job` name, and what each alert
 * needs to know about the component (Galera's replicas, its claims). Plain data, read by the PodMonitor, the
 * NetworkPolicy, the rules and the dashboards, and by the end-to-end test that turns the synthesized monitors into
 * a Prometheus scrape config.
 *
 * Resolving never throws: validation.ts reports on what it resolved.
 */
import { ApiObject } from 'cdk8s';
import type { ClientSelector } from '../common/network';
import { KEEPALIVED_METRICS_PORT } from '../keepalived/model';
import { METRICS_PORTS } from './exporters';
import type { ControlPlaneMonitoringProps } from './props';
import { longestCronGapSeconds } from './schedule';

/** The `/metrics/detailed` families the RabbitMQ queue alerts read. */
export const RABBITMQ_DETAILED_FAMILIES = ['queue_coarse_metrics', 'queue_consumer_count', 'ra_metrics'] as const;

/**
 * The Raft term of a quorum queue member as `family=ra_metrics` names it: `_term_total` up to 4.1 (from the
 * ra_metrics table: rabbitmq_prometheus' core collector, v3.10.8 to v4.1.8), `_term` from 4.2 (Ra's counters through
 * seshat: prometheus_rabbitmq_raft_metrics_collector, rabbitmq-server commit a5106c6a61, in v4.2.0 to v4.3.5).
 */
export const RABBITMQ_RAFT_TERM_SERIES = ['rabbitmq_detailed_raft_term_total', 'rabbitmq_detailed_raft_term'] as const;

/**
 * Every series of the detailed endpoint an alert or a dashboard reads; `dropUnusedRabbitmqSeries` keeps only these.
 * The rest of the three families: 3 more depth series per queue (ready, unacked, reductions) and the Raft series
 * other than the term (5 per member up to 4.1; 47 on 4.2.5 and 49 on 4.3.0, which export every Ra counter).
 */
export const RABBITMQ_DETAILED_SERIES_READ = [
  ...RABBITMQ_RAFT_TERM_SERIES, 'rabbitmq_detailed_queue_messages', 'rabbitmq_detailed_queue_consumers',
] as const;

/** One port of one component's pods that serves Prometheus metrics. */
export interface ScrapeEndpoint {
  /** The `job` label of its series (the rules and dashboards select on it): `<object name>-<what>`. */
  readonly job: string;
  /** The container port's name (PodMonitor `port`). */
  readonly portName: string;
  readonly port: number;
  readonly path: string;
  /** URL parameters of the scrape (RabbitMQ's `/metrics/detailed?family=...`). @default none */
  readonly params?: Record<string, string[]>;
  /** Only these metric names are stored (a `keep` metricRelabeling on `__name__`). @default every series */
  readonly keepOnly?: readonly string[];
}

/** The components this library monitors. */
export type MonitoredKind = 'galera' | 'rabbitmq' | 'haproxy' | 'memcached' | 'keepalived' | 'proxysql';

/** One monitored component. */
export interface MonitoredComponent {
  readonly kind: MonitoredKind;
  /** The component's object name (the PodMonitor and NetworkPolicy are `<name>-metrics`). */
  readonly name: string;
  readonly podSelector: Record<string, string>;
  /** Host-network pods: no NetworkPolicy applies to them (Kubernetes leaves it undefined); the nodes' firewall does. */
  readonly hostNetwork: boolean;
  readonly endpoints: readonly ScrapeEndpoint[];
  /**
   * Galera: the StatefulSet's replicas (the cluster size alert compares with it). RabbitMQ: the members a quorum
   * queue should have (the brokers, at most 3: the config's continuous_membership_reconciliation target).
   */
  readonly replicas?: number;
  /** RabbitMQ: the brokers run `cluster_partition_handling = pause_minority` (up to 4.2; 4.3 removed it). */
  readonly pauseMinority?: boolean;
  /** ProxySQL: its writer and reader hostgroups, and whether its sidecar falls back to the writer for reads. */
  readonly proxySql?: { readonly writerHostgroup: number; readonly readerHostgroup: number; readonly readerFallback: boolean };
  /** The sidecar the component must run for its endpoints to exist, when it does not. */
  readonly missingExporter?: string;
  /** Galera with TLS: its agents report the mounted and the served certificate. */
  readonly tls?: boolean;
}

/**
 * A GaleraBackup's two CronJobs, and how old their last success may be: the longest gap of the schedule, plus the
 * hour the CronJob may start late (`startingDeadlineSeconds`), plus the time a run may take (`activeDeadlineSeconds`).
 * A later success cannot be on time, whatever the run did.
 */
export interface MonitoredBackup {
  readonly name: string;
  readonly backup: MonitoredCronJob;
  readonly drill: MonitoredCronJob;
}

export interface MonitoredCronJob {
  readonly cronJob: string;
  readonly schedule: string;
  /** Undefined when the schedule never fires (validation reports it). */
  readonly maxAgeSeconds?: number;
}

export interface MonitoringModel {
  readonly namespace?: string;
  readonly scraper: ClientSelector;
  readonly selectorLabels: Record<string, string>;
  readonly scrapeIntervalSeconds: number;
  readonly dropUnusedRabbitmqSeries: boolean;
  readonly dashboards: boolean;
  readonly dashboardLabels: Record<string, string>;
  readonly components: readonly MonitoredComponent[];
  readonly backup?: MonitoredBackup;
}

export function resolveMonitoring(props: ControlPlaneMonitoringProps, namespace: string | undefined): MonitoringModel {
  const components: MonitoredComponent[] = [];
  const { galera, rabbitmq, haproxy, memcached, vip, proxySql } = props;
  if (galera) {
    components.push({
      kind: 'galera',
      name: galera.name,
      podSelector: galera.podSelector,
      hostNetwork: false,
      replicas: galera.replicas,
      ...(galera.tlsSecretName !== undefined ? { tls: true } : {}),
      endpoints: [
        { job: `${galera.name}-mysqld`, portName: 'metrics', port: METRICS_PORTS.mysqld, path: '/metrics' },
        { job: `${galera.name}-agent`, portName: 'agent', port: galera.agentPort, path: '/metrics' },
      ],
      ...(galera.metricsExporter ? {} : { missingExporter: 'metricsExporter: true on the GaleraPetSet' }),
    });
  }
  if (rabbitmq) {
    components.push({
      kind: 'rabbitmq',
      name: rabbitmq.name,
      podSelector: rabbitmq.podSelector,
      hostNetwork: isHostNetwork(rabbitmq.workload),
      replicas: Math.min(3, rabbitmq.nodes.length),
      pauseMinority: rabbitmq.version.supportsPartitionHandling,
      endpoints: [
        { job: `${rabbitmq.name}`, portName: 'prometheus', port: rabbitmq.prometheusPort, path: '/metrics' },
        // Per-queue series, only the families the queue alerts read (checked against rabbitmq-server 3.10.8's
        // /metrics/detailed): depth and consumers (queue_coarse_metrics, queue_consumer_count: exported by the node
        // of the queue's leader or master) and the Raft state of each quorum queue member (ra_metrics: exported by
        // every node that runs a member). /metrics/per-object would add ~20 series per queue more.
        {
          job: `${rabbitmq.name}-queues`, portName: 'prometheus', port: rabbitmq.prometheusPort, path: '/metrics/detailed',
          params: { family: [...RABBITMQ_DETAILED_FAMILIES] },
          // A keep list rather than a drop of the unread names: 4.2 renamed them and added ~40 per member.
          ...(props.dropUnusedRabbitmqSeries ? { keepOnly: RABBITMQ_DETAILED_SERIES_READ } : {}),
        },
      ],
    });
  }
  if (proxySql) {
    components.push({
      kind: 'proxysql',
      name: proxySql.name,
      podSelector: proxySql.podSelector,
      hostNetwork: isHostNetwork(proxySql.workload),
      proxySql: { writerHostgroup: proxySql.writerHostgroup, readerHostgroup: proxySql.readerHostgroup, readerFallback: proxySql.readerFallbackToWriter },
      endpoints: [{ job: `${proxySql.name}`, portName: 'metrics', port: METRICS_PORTS.proxysql, path: '/metrics' }],
      ...(proxySql.metricsExporter ? {} : { missingExporter: 'metricsExporter: true on the ProxySqlLayer' }),
    });
  }
  if (haproxy) {
    components.push({
      kind: 'haproxy',
      name: haproxy.name,
      podSelector: haproxy.podSelector,
      hostNetwork: isHostNetwork(haproxy.workload),
      endpoints: [{ job: `${haproxy.name}`, portName: 'stats', port: haproxy.healthPort, path: '/metrics' }],
    });
  }
  if (memcached) {
    components.push({
      kind: 'memcached',
      name: memcached.name,
      podSelector: memcached.podSelector,
      hostNetwork: isHostNetwork(memcached.workload),
      endpoints: [{ job: `${memcached.name}`, portName: 'metrics', port: METRICS_PORTS.memcached, path: '/metrics' }],
      ...(memcached.metricsExporter ? {} : { missingExporter: 'metricsExporter: true on the MemcachedPool' }),
    });
  }
  if (vip) {
    components.push({
      kind: 'keepalived',
      name: vip.name,
      podSelector: vip.podSelector,
      hostNetwork: isHostNetwork(vip.workload),
      endpoints: [{ job: `${vip.name}`, portName: 'metrics', port: KEEPALIVED_METRICS_PORT, path: '/metrics' }],
      ...(vip.metricsExporter ? {} : { missingExporter: 'metricsExporter: true on the KeepalivedVip' }),
    });
  }
  return {
    namespace,
    ...(props.backup ? { backup: { name: props.backup.name, backup: cronJobOf(props.backup.workload), drill: cronJobOf(props.backup.drill) } } : {}),
    scraper: props.scraper,
    selectorLabels: { ...(props.selectorLabels ?? {}) },
    scrapeIntervalSeconds: props.scrapeIntervalSeconds ?? 30,
    dropUnusedRabbitmqSeries: props.dropUnusedRabbitmqSeries ?? false,
    dashboards: props.dashboards ?? true,
    dashboardLabels: { ...(props.dashboardLabels ?? { grafana_dashboard: '1' }) },
    components,
  };
}

/** A CronJob's name, schedule and the age its last success may reach, read from the object its construct built. */
function cronJobOf(cronJob: ApiObject): MonitoredCronJob {
  const spec = cronJob.toJson()?.spec ?? {};
  const gap = longestCronGapSeconds(String(spec.schedule));
  return {
    cronJob: cronJob.name,
    schedule: String(spec.schedule),
    ...(gap === undefined ? {} : {
      maxAgeSeconds: gap + (spec.startingDeadlineSeconds ?? 0) + (spec.jobTemplate?.spec?.activeDeadlineSeconds ?? 0),
    }),
  };
}

/** The workload's pods use the host network (read from the object the construct built). */
function isHostNetwork(workload: ApiObject): boolean {
  return workload.toJson()?.spec?.template?.spec?.hostNetwork === true;
}
