/**
 * The alert rules, as synthesized in the PrometheusRule, through Prometheus' own tools (Debian `prometheus`):
 * `promtool check rules` parses every expression, and `promtool test rules` evaluates every alert at its FULL
 * production `for` window over series shaped like the failure it is named after (it fires, with the labels an
 * operator needs) and like the normal recovery it must not page for (it stays silent).
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { stringify } from 'yaml';
import { renderMetrics } from '../../lib/galera/agent/metrics';
import { controlPlane, MONITORING, monitoredTlsGaleraWithBackup, ruleFileOf } from '../support/monitoring';
import { describeWithBinaries } from './support/daemons';

const NS = { namespace: 'openstack' };
const AGENT = { ...NS, job: 'galera-agent', member: 'galera-1', instance: '10.1.0.5:9200' };
const MYSQLD = { ...NS, job: 'galera-mysqld', pod: 'galera-1', instance: '10.1.0.5:9104' };
const RABBIT = { ...NS, job: 'rabbitmq', instance: '10.0.0.12:15692' };
const HAPROXY = { ...NS, job: 'api-lb', instance: '10.0.0.11:8404', proxy: 'nova-api' };
const MEMCACHED = { ...NS, job: 'memcached', instance: '10.0.0.13:9150' };
const PVC = { ...NS, persistentvolumeclaim: 'data-galera-1' };
/** A broker of the majority, by the pod that scrapes it (rules aggregate over them). */
const BROKER = (node: string) => ({ ...NS, job: 'rabbitmq', pod: `rabbitmq-${node}`, instance: `10.0.0.1${node.charCodeAt(0) - 96}:15692` });
const PEER_C = { ...NS, peer: 'rabbit@node-c' };
const RAFT = (node: string) => ({ ...BROKER(node), job: 'rabbitmq-queues', vhost: 'notifications', queue: 'notifications.info' });
const QUEUE = (queue: string) => ({ ...RAFT('a'), queue });
const QUEUE_KEY = { ...NS, vhost: 'notifications', queue: 'notifications.info' };
/**
 * ProxySQL's series in the shape its source produces (lib/MySQL_HostGroups_Manager.cpp: `endpoint` "host:port" and
 * `hostgroup`, value status + 1), as Prometheus stores them through a PodMonitor: the target's own `endpoint` label
 * (the port name) wins, the backend's becomes `exported_endpoint`. A backend leaving a hostgroup loses its series
 * (a staleness marker at the next scrape).
 */
const PROXY = { ...NS, job: 'proxysql', pod: 'proxysql-7d9f-abcde', instance: '10.1.0.9:6070' };
const BACKEND = (member: number, hostgroup: number) => ({ ...PROXY, endpoint: 'metrics', exported_endpoint: `galera-${member}.galera.openstack.svc:3306`, hostgroup: String(hostgroup) });
/** `count` samples of `value` with a missing sample every third (the gaps between the majority's connection attempts). */
const withGaps = (value: number, count: number) => Array.from({ length: count }, (_, i) => (i > 0 && i % 3 === 0 ? '_' : String(value))).join(' ');
const VIP = (node: number) => ({ ...NS, job: 'api-vip', instance: `10.0.0.1${node}:9650` });

function series(name: string, labels: Record<string, string>, values: string): { series: string; values: string } {
  return { series: `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`, values };
}

/** The backup scenarios span days: one sample (and one evaluation) every 10 minutes keeps promtool quick. */
const BACKUP_STEP_MINUTES = 10;

/** One sample per step from minute 0 to `minutes`: `value(minute)`, or missing (`_`) when it gives undefined. */
function perStep(minutes: number, value: (minute: number) => number | undefined): string {
  return Array.from({ length: minutes / BACKUP_STEP_MINUTES + 1 }, (_, i) => value(i * BACKUP_STEP_MINUTES) ?? '_').join(' ');
}

/**
 * One scenario per alert: the failure (series at 1-minute steps), when it must fire (the labels it fires with),
 * and a check before its window ends, where it must still be silent. `quiet` is a normal recovery of the same
 * component, which must never fire.
 */
interface AlertCase {
  readonly alert: string;
  readonly failure: ReadonlyArray<{ series: string; values: string }>;
  readonly firesAtMinute: number;
  readonly silentAtMinute: number;
  readonly labels: Record<string, string>;
  /** How the alert's `$value` reads in its description when it fires (templates are expanded by promtool). */
  readonly value?: string;
  readonly quiet?: { readonly what: string; readonly series: ReadonlyArray<{ series: string; values: string }>; readonly atMinutes: readonly number[] };
}

const CONTROL_PLANE_CASES: AlertCase[] = [
  {
    alert: 'GaleraMemberNotSynced',
    failure: [series('galera_agent_member_synced', AGENT, '1 0x30')],
    silentAtMinute: 14, firesAtMinute: 17, labels: AGENT,
    quiet: { what: 'a 5-minute SST', series: [series('galera_agent_member_synced', AGENT, '1 0x5 1x30')], atMinutes: [4, 10, 20] },
  },
  {
    alert: 'GaleraMemberNotSynced',
    // The whole pod is gone: nothing reports, the scrape fails.
    failure: [series('up', AGENT, '1 0x30')],
    silentAtMinute: 14, firesAtMinute: 17, labels: AGENT,
  },
  {
    alert: 'GaleraClusterSizeBelowReplicas',
    failure: [series('mysql_global_status_wsrep_cluster_size', MYSQLD, '3 2x30'), series('mysql_global_status_wsrep_cluster_size', { ...MYSQLD, pod: 'galera-0' }, '3 2x30')],
    silentAtMinute: 5, firesAtMinute: 7, labels: NS, value: '2',
    quiet: { what: 'a member restarted and back by IST within a minute', series: [series('mysql_global_status_wsrep_cluster_size', MYSQLD, '3 2 3x30')], atMinutes: [2, 6, 10] },
  },
  {
    alert: 'GaleraNonPrimary',
    failure: [series('galera_agent_member_running', AGENT, '1x30'), series('galera_agent_member_primary', AGENT, '1 0x30')],
    silentAtMinute: 2, firesAtMinute: 4, labels: AGENT,
    quiet: {
      what: 'a full outage recovered in one minute (pc.recovery)',
      series: [series('galera_agent_member_running', AGENT, '1x30'), series('galera_agent_member_primary', AGENT, '1 0 1x30')],
      atMinutes: [2, 5],
    },
  },
  {
    alert: 'GaleraRecoveryWaitingForMember',
    failure: [series('galera_agent_decision', { ...AGENT, action: 'wait', rule: 'incomplete' }, '0 1x30')],
    silentAtMinute: 5, firesAtMinute: 7, labels: { ...AGENT, action: 'wait', rule: 'incomplete' },
    quiet: {
      what: 'members reporting a minute apart after a power cut, and a member waiting its turn to join behind a long SST',
      series: [
        series('galera_agent_decision', { ...AGENT, action: 'wait', rule: 'incomplete' }, '0 1 1 0x30'),
        series('galera_agent_decision', { ...AGENT, member: 'galera-2', action: 'wait', rule: 'join-in-turn' }, '1x30'),
      ],
      atMinutes: [2, 8, 20],
    },
  },
  {
    alert: 'GaleraRecoveryBlocked',
    failure: [series('galera_agent_recovery_blocked', AGENT, '0 1x30')],
    silentAtMinute: 1, firesAtMinute: 3, labels: AGENT,
  },
  {
    alert: 'GaleraFlowControlPausingWrites',
    // Paused 30 s of every minute.
    failure: [series('mysql_global_status_wsrep_flow_control_paused_ns', MYSQLD, '0+30000000000x30')],
    silentAtMinute: 9, firesAtMinute: 13, labels: MYSQLD, value: '50%',
    quiet: { what: 'a donor pausing the cluster 3 s a minute', series: [series('mysql_global_status_wsrep_flow_control_paused_ns', MYSQLD, '0+3000000000x30')], atMinutes: [15, 25] },
  },
  {
    alert: 'GaleraDataVolumeNearlyFull',
    failure: [series('kubelet_volume_stats_available_bytes', PVC, '50 5x30'), series('kubelet_volume_stats_capacity_bytes', PVC, '100x30')],
    silentAtMinute: 4, firesAtMinute: 7, labels: PVC, value: '5%',
    quiet: { what: 'a volume 85 % full', series: [series('kubelet_volume_stats_available_bytes', PVC, '15x30'), series('kubelet_volume_stats_capacity_bytes', PVC, '100x30')], atMinutes: [10] },
  },
  {
    alert: 'RabbitMQBrokerDown',
    failure: [series('up', RABBIT, '1 0x30')],
    silentAtMinute: 2, firesAtMinute: 4, labels: RABBIT,
    quiet: { what: 'a broker restart (17 s to rejoin)', series: [series('up', RABBIT, '1 0 1x30')], atMinutes: [2, 5] },
  },
  {
    alert: 'RabbitMQMinorityPaused',
    // node-c cut off: both majority brokers see its distribution link pending (1), with gaps between attempts.
    failure: [series('erlang_vm_dist_node_state', { ...BROKER('a'), peer: 'rabbit@node-c' }, `3 ${withGaps(1, 30)}`),
      series('erlang_vm_dist_node_state', { ...BROKER('b'), peer: 'rabbit@node-c' }, `3 ${withGaps(1, 30)}`),
      series('erlang_vm_dist_node_state', { ...BROKER('a'), peer: 'rabbit@node-b' }, '3x30')],
    silentAtMinute: 3, firesAtMinute: 5, labels: PEER_C,
    quiet: {
      what: 'a broker restart (its series gone at once, never pending), one pending sample as it reconnects, and a CLI node',
      series: [series('erlang_vm_dist_node_state', { ...BROKER('a'), peer: 'rabbit@node-c' }, '3 3 stale _ 1 3x30'),
        series('erlang_vm_dist_node_state', { ...BROKER('b'), peer: 'rabbit@node-c' }, '3 3 stale _ _ 3x30'),
        series('erlang_vm_dist_node_state', { ...BROKER('a'), peer: 'rabbitmqcli-4321-rabbit@node-a' }, '1x30')],
      atMinutes: [3, 5, 6, 7, 10],
    },
  },
  {
    alert: 'RabbitMQQuorumQueueMissingReplicas',
    // node-c stops for good: its member's Raft series goes stale.
    failure: [series('rabbitmq_detailed_raft_term_total', RAFT('a'), '1x30'), series('rabbitmq_detailed_raft_term_total', RAFT('b'), '1x30'),
      series('rabbitmq_detailed_raft_term_total', RAFT('c'), '1 stale')],
    silentAtMinute: 10, firesAtMinute: 12, labels: QUEUE_KEY, value: '2',
    quiet: {
      what: 'a rolling restart: each broker\'s member away for a minute, one broker after the other',
      series: [series('rabbitmq_detailed_raft_term_total', RAFT('a'), '1 stale 2x30'), series('rabbitmq_detailed_raft_term_total', RAFT('b'), '1 1 1 stale 2x30'),
        series('rabbitmq_detailed_raft_term_total', RAFT('c'), '1 1 1 1 1 stale 3x30')],
      atMinutes: [1, 3, 5, 12, 20],
    },
  },
  {
    alert: 'RabbitMQQueueGrowingWithoutConsumers',
    // Notifications published (50 a minute) and nobody consuming them.
    failure: [series('rabbitmq_detailed_queue_messages', RAFT('a'), '0+50x40'), series('rabbitmq_detailed_queue_consumers', RAFT('a'), '0x40')],
    silentAtMinute: 10, firesAtMinute: 12, labels: RAFT('a'), value: '600',
    quiet: {
      what: 'a consumer restart (2 minutes without one, then the backlog drains), a steady unread queue, a growing queue that is read',
      series: [series('rabbitmq_detailed_queue_messages', QUEUE('q.restart'), '0 0 30 60 0x30'), series('rabbitmq_detailed_queue_consumers', QUEUE('q.restart'), '1 1 0 0 1x30'),
        series('rabbitmq_detailed_queue_messages', QUEUE('q.steady'), '100x30'), series('rabbitmq_detailed_queue_consumers', QUEUE('q.steady'), '0x30'),
        series('rabbitmq_detailed_queue_messages', QUEUE('q.read'), '0+50x30'), series('rabbitmq_detailed_queue_consumers', QUEUE('q.read'), '2x30')],
      atMinutes: [3, 12, 20],
    },
  },
  {
    alert: 'ProxySqlNoWriter',
    // The writer leaves hostgroup 10 (to the offline hostgroup) and no standby is promoted (none Synced).
    failure: [series('up', PROXY, '1x30'), series('proxysql_connpool_conns_status', BACKEND(0, 10), '1 stale'),
      series('proxysql_connpool_conns_status', BACKEND(1, 10), '2x30')],
    silentAtMinute: 1, firesAtMinute: 3, labels: PROXY,
    quiet: {
      what: 'a failover (the standby ONLINE at the next scrape), and a ProxySQL that is down (not scraped: another problem)',
      series: [series('up', PROXY, '1x30'), series('proxysql_connpool_conns_status', BACKEND(0, 10), '1 stale'),
        series('proxysql_connpool_conns_status', BACKEND(1, 10), '2 2 1x30'),
        series('up', { ...PROXY, pod: 'proxysql-7d9f-fghij', instance: '10.1.0.10:6070' }, '1 0x30')],
      atMinutes: [1, 2, 5],
    },
  },
  {
    alert: 'ProxySqlReaderFallbackEngaged',
    // Every reader (the writer's own copy in hostgroup 30 too) out of the reader hostgroup; the writer ONLINE.
    failure: [series('up', PROXY, '1x30'), series('proxysql_connpool_conns_status', BACKEND(0, 10), '1x30'),
      series('proxysql_connpool_conns_status', BACKEND(0, 30), '1 stale'), series('proxysql_connpool_conns_status', BACKEND(1, 30), '1 stale')],
    silentAtMinute: 10, firesAtMinute: 12, labels: PROXY,
    quiet: {
      what: 'a reader back within 3 minutes, and no writer at all (ProxySqlNoWriter\'s case)',
      series: [series('up', PROXY, '1x30'), series('proxysql_connpool_conns_status', BACKEND(0, 10), '1x30'),
        series('proxysql_connpool_conns_status', BACKEND(1, 30), '1 stale _ _ 1x30'),
        series('up', { ...PROXY, pod: 'proxysql-7d9f-fghij' }, '1x30')],
      atMinutes: [2, 12],
    },
  },
  {
    alert: 'RabbitMQMemoryAlarm',
    failure: [series('rabbitmq_alarms_memory_used_watermark', RABBIT, '0 1x30')],
    silentAtMinute: 2, firesAtMinute: 4, labels: RABBIT,
    quiet: { what: 'a one-minute burst above the watermark', series: [series('rabbitmq_alarms_memory_used_watermark', RABBIT, '0 1 0x30')], atMinutes: [2, 5] },
  },
  {
    alert: 'RabbitMQDiskAlarm',
    failure: [series('rabbitmq_alarms_free_disk_space_watermark', RABBIT, '0 1x30')],
    silentAtMinute: 1, firesAtMinute: 3, labels: RABBIT,
  },
  {
    alert: 'HaproxyBackendDown',
    failure: [series('haproxy_backend_active_servers', HAPROXY, '2 0x30'), series('haproxy_backend_backup_servers', HAPROXY, '0x30')],
    silentAtMinute: 1, firesAtMinute: 3, labels: HAPROXY,
    quiet: { what: 'one of two servers failing over', series: [series('haproxy_backend_active_servers', HAPROXY, '2 1x30'), series('haproxy_backend_backup_servers', HAPROXY, '0x30')], atMinutes: [5] },
  },
  {
    alert: 'MemcachedInstanceDown',
    failure: [series('memcached_up', MEMCACHED, '1 0x30')],
    silentAtMinute: 2, firesAtMinute: 4, labels: MEMCACHED,
    quiet: { what: 'a restart', series: [series('memcached_up', MEMCACHED, '1 0 1x30')], atMinutes: [2, 5] },
  },
  {
    alert: 'KeepalivedVipNoHolder',
    failure: [series('keepalived_vrrp_master', VIP(1), '1 0x30'), series('keepalived_vrrp_master', VIP(2), '0x30'), series('up', VIP(1), '1x30'), series('up', VIP(2), '1x30')],
    silentAtMinute: 1, firesAtMinute: 2, labels: NS,
    quiet: {
      what: 'a takeover (the holder stops, the next node is MASTER at the next scrape)',
      series: [series('keepalived_vrrp_master', VIP(1), '1 0x30'), series('keepalived_vrrp_master', VIP(2), '0 1x30'), series('up', VIP(1), '1x30'), series('up', VIP(2), '1x30')],
      atMinutes: [1, 2, 5],
    },
  },
  {
    alert: 'KeepalivedVipNoHolder',
    // Every keepalived pod unreachable.
    failure: [series('up', VIP(1), '1 0x30'), series('up', VIP(2), '1 0x30')],
    silentAtMinute: 1, firesAtMinute: 2, labels: NS,
  },
  {
    alert: 'KeepalivedVipSeveralHolders',
    failure: [series('keepalived_vrrp_master', VIP(1), '1x30'), series('keepalived_vrrp_master', VIP(2), '0 1x30')],
    silentAtMinute: 1, firesAtMinute: 2, labels: NS, value: '2',
  },
];

/*
 * Backups (kube-state-metrics series) and certificates (the agent's). The backup CronJob runs daily at 02:00 and the
 * drill at 06:00 (UTC; promtool's clock starts at 1970-01-01 00:00, a Thursday); both may start an hour late and run
 * 6 h, so the age threshold is 24 + 1 + 6 = 31 h (1860 min).
 */
const DAY = 1440;
const BACKUP = { ...NS, cronjob: 'galera-backup' };
const DRILL = { ...NS, cronjob: 'galera-backup-drill' };
const created = (labels: Record<string, string>, minutes: number) => series('kube_cronjob_created', labels, perStep(minutes, () => 0));
/** kube_cronjob_status_last_successful_time: each run's end (minutes since the epoch), from that minute on. */
const successes = (labels: Record<string, string>, minutes: number, ends: readonly number[]) =>
  series('kube_cronjob_status_last_successful_time', labels, perStep(minutes, (m) => {
    const last = ends.filter((end) => end <= m).at(-1);
    return last === undefined ? undefined : last * 60;
  }));
/** One Job of `owner`: started at `start`, failed at `failedAt` (its Failed condition true from then on), kept. */
const job = (owner: string, name: string, minutes: number, start: number, failedAt?: number) => [
  series('kube_job_owner', { ...NS, job_name: name, owner_kind: 'CronJob', owner_name: owner, owner_is_controller: 'true' }, perStep(minutes, (m) => (m >= start ? 1 : undefined))),
  series('kube_job_status_start_time', { ...NS, job_name: name }, perStep(minutes, (m) => (m >= start ? start * 60 : undefined))),
  ...(failedAt === undefined ? [] : [
    series('kube_job_failed', { ...NS, job_name: name, condition: 'true' }, perStep(minutes, (m) => (m >= failedAt ? 1 : undefined))),
  ]),
];
/** A run of the backup starting at 02:00 on `day` that takes 40 minutes. */
const backupEnd = (day: number) => day * DAY + 120 + 40;

const BACKUP_CASES: AlertCase[] = [
  {
    alert: 'GaleraBackupTooOld',
    // The backup of day 0 succeeded, then none (the CronJob suspended, the controller creating no Job...).
    failure: [created(BACKUP, 2100), successes(BACKUP, 2100, [backupEnd(0)])],
    silentAtMinute: backupEnd(0) + 1860, firesAtMinute: backupEnd(0) + 1870, labels: BACKUP, value: '1d 7h 10m 0s',
    quiet: {
      what: 'a daily schedule whose runs take 40 minutes, one of them 5 hours',
      series: [created(BACKUP, 4 * DAY), successes(BACKUP, 4 * DAY, [backupEnd(0), DAY + 120 + 300, backupEnd(2), backupEnd(3)])],
      atMinutes: [100, 1500, DAY + 400, 2 * DAY + 150, 3 * DAY + 150, 4 * DAY],
    },
  },
  {
    alert: 'GaleraBackupTooOld',
    // Never a success since the CronJob was created.
    failure: [created(BACKUP, 1900)],
    silentAtMinute: 1860, firesAtMinute: 1870, labels: BACKUP, value: '1d 7h 10m 0s',
  },
  {
    alert: 'GaleraBackupFailed',
    // Day 0 succeeded; day 1's Job fails after 30 minutes; day 2's succeeds.
    failure: [created(BACKUP, 3 * DAY), successes(BACKUP, 3 * DAY, [backupEnd(0), backupEnd(2)]),
      ...job('galera-backup', 'galera-backup-1440', 3 * DAY, backupEnd(0) - 40, undefined),
      ...job('galera-backup', 'galera-backup-2880', 3 * DAY, DAY + 120, DAY + 150)],
    silentAtMinute: DAY + 140, firesAtMinute: DAY + 150, labels: NS,
    quiet: {
      what: 'the next day\'s success (the failed Job stays in the history)',
      series: [created(BACKUP, 3 * DAY), successes(BACKUP, 3 * DAY, [backupEnd(0), backupEnd(2)]),
        ...job('galera-backup', 'galera-backup-2880', 3 * DAY, DAY + 120, DAY + 150),
        ...job('galera-backup', 'galera-backup-4320', 3 * DAY, 2 * DAY + 120)],
      atMinutes: [DAY + 140, backupEnd(2) + 10, 3 * DAY],
    },
  },
  {
    alert: 'GaleraRestoreDrillTooOld',
    failure: [created(DRILL, 2400), successes(DRILL, 2400, [360 + 20])],
    silentAtMinute: 380 + 1860, firesAtMinute: 380 + 1870, labels: DRILL, value: '1d 7h 10m 0s',
    quiet: {
      what: 'a daily drill of 20 minutes',
      series: [created(DRILL, 3 * DAY), successes(DRILL, 3 * DAY, [380, DAY + 380, 2 * DAY + 380])],
      atMinutes: [300, DAY + 370, 3 * DAY],
    },
  },
  {
    alert: 'GaleraRestoreDrillFailed',
    // The drill of day 1 finds the latest backup unrestorable (drill.sh exits non-zero; its one retry too).
    failure: [created(DRILL, 2 * DAY), successes(DRILL, 2 * DAY, [380]),
      ...job('galera-backup-drill', 'galera-backup-drill-1800', 2 * DAY, DAY + 360, DAY + 370)],
    silentAtMinute: DAY + 360, firesAtMinute: DAY + 370, labels: NS,
    quiet: {
      what: 'a drill still running, and the failed drill followed by a successful one',
      series: [created(DRILL, 3 * DAY), successes(DRILL, 3 * DAY, [380, 2 * DAY + 380]),
        ...job('galera-backup-drill', 'galera-backup-drill-1800', 3 * DAY, DAY + 360, DAY + 370),
        ...job('galera-backup-drill', 'galera-backup-drill-3240', 3 * DAY, 2 * DAY + 360)],
      atMinutes: [DAY + 360, 2 * DAY + 380, 3 * DAY],
    },
  },
];

const TLS_CASES: AlertCase[] = [
  {
    alert: 'GaleraTlsCertificateExpiringSoon',
    // Served: a certificate that expires 14 days and 30 minutes after the epoch, never renewed at the daemon.
    failure: [series('galera_agent_tls_served_not_after_seconds', AGENT, `${14 * 86400 + 1800}x100`)],
    silentAtMinute: 89, firesAtMinute: 92, labels: AGENT, value: '13d 22h 58m 0s',
    quiet: {
      what: 'a renewal that reaches the daemon (90 days) before the window ends',
      series: [series('galera_agent_tls_served_not_after_seconds', AGENT, `${14 * 86400 + 1800}x60 ${90 * 86400}x60`)],
      atMinutes: [40, 89, 100],
    },
  },
  {
    alert: 'GaleraTlsCertificateExpiryCritical',
    failure: [series('galera_agent_tls_served_not_after_seconds', AGENT, `${7 * 86400 + 300}x30`)],
    silentAtMinute: 14, firesAtMinute: 17, labels: AGENT, value: '6d 23h 48m 0s',
  },
  {
    alert: 'GaleraTlsCertificateNotReloaded',
    failure: [series('galera_agent_tls_served_is_mounted', AGENT, '1 0x30')],
    silentAtMinute: 10, firesAtMinute: 13, labels: AGENT,
    quiet: { what: 'a renewal reloaded within the next check', series: [series('galera_agent_tls_served_is_mounted', AGENT, '1 0 1x30')], atMinutes: [2, 12] },
  },
  {
    alert: 'GaleraTlsNotServed',
    failure: [series('galera_agent_tls_served_read', AGENT, '1 0x30'), series('galera_agent_member_running', AGENT, '1x30')],
    silentAtMinute: 5, firesAtMinute: 7, labels: AGENT,
    quiet: {
      what: 'a member whose mariadbd is stopped (nothing to serve)',
      series: [series('galera_agent_tls_served_read', AGENT, '1 0x30'), series('galera_agent_member_running', AGENT, '1 0x30')],
      atMinutes: [10],
    },
  },
];

/** The annotations as Prometheus renders them for this case (only the template forms the rules use). */
function expand(annotations: Record<string, string>, c: AlertCase): Record<string, string> {
  const text = (t: string) => t
    .replace(/{{ \$labels\.(\w+) }}/g, (_, name: string) => c.labels[name] ?? '')
    .replace(/{{ \$value( \| humanize(Percentage|Duration))? }}/g, () => c.value ?? '');
  return Object.fromEntries(Object.entries(annotations).map(([k, v]) => [k, text(v)]));
}

function promtoolTests(rulesFile: string, alerts: Map<string, any>, cases: readonly AlertCase[], stepMinutes = 1): string {
  const tests = cases.flatMap((c) => {
    const rule = alerts.get(c.alert);
    const expected = { exp_labels: { ...c.labels, severity: rule.labels.severity }, exp_annotations: expand(rule.annotations, c) };
    const check = (minute: number, fired: boolean) => ({ eval_time: `${minute}m`, alertname: c.alert, exp_alerts: fired ? [expected] : [] });
    return [
      { name: `${c.alert}: fires on the failure, not before its window`, interval: `${stepMinutes}m`, input_series: c.failure,
        alert_rule_test: [check(c.silentAtMinute, false), check(c.firesAtMinute, true)] },
      ...(c.quiet ? [{ name: `${c.alert}: silent through ${c.quiet.what}`, interval: `${stepMinutes}m`, input_series: c.quiet.series,
        alert_rule_test: c.quiet.atMinutes.map((m) => check(m, false)) }] : []),
    ];
  });
  return stringify({ rule_files: [rulesFile], evaluation_interval: `${stepMinutes}m`, tests });
}

/** The two monitored charts: the example control plane, and a TLS Galera with its backups (their own alerts). */
const RULE_SETS = [
  { name: 'control plane', objects: () => controlPlane(MONITORING).objects, cases: CONTROL_PLANE_CASES, stepMinutes: 1 },
  { name: 'TLS Galera with backups: certificates', objects: monitoredTlsGaleraWithBackup, cases: TLS_CASES, stepMinutes: 1 },
  { name: 'TLS Galera with backups: backups', objects: monitoredTlsGaleraWithBackup, cases: BACKUP_CASES, stepMinutes: BACKUP_STEP_MINUTES },
];
const ALL_CASES = RULE_SETS.flatMap((set) => set.cases);

describeWithBinaries('Alert rules through promtool', ['promtool'], ['prometheus'], () => {
  let dir: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'i19-rules-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe.each(RULE_SETS)('$name', ({ name, objects, cases, stepMinutes }) => {
    const ruleFile = ruleFileOf(objects());
    const alerts = new Map<string, any>(ruleFile.groups.flatMap((g) => g.rules).map((r: any) => [r.alert, r]));
    const file = (suffix: string) => `${name.replace(/\W+/g, '-')}-${suffix}`;

    beforeAll(() => fs.writeFileSync(path.join(dir, file('rules.yaml')), stringify(ruleFile)));

    test('promtool check rules accepts the synthesized rules', () => {
      const out = execFileSync('promtool', ['check', 'rules', path.join(dir, file('rules.yaml'))]).toString();
      expect(out).toContain(`SUCCESS: ${alerts.size} rules found`);
    });

    test('every alert has a promtool scenario', () => {
      expect([...alerts.keys()].filter((a) => !ALL_CASES.some((c) => c.alert === a))).toEqual([]);
    });

    test('promtool test rules: each alert fires on its failure after its full window, and stays silent through a normal recovery', () => {
      fs.writeFileSync(path.join(dir, file('tests.yaml')), promtoolTests(file('rules.yaml'), alerts, cases, stepMinutes));
      const r = spawnSync('promtool', ['test', 'rules', file('tests.yaml')], { cwd: dir, encoding: 'utf8' });
      expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
      expect(r.status).toBe(0);
    });

    test('promtool test rules fails when an alert fires too early (the scenarios can fail)', () => {
      // Every window cut to 1 minute; the threshold-only alerts (`for: 0s`) made to fire a day early (age) or without
      // comparing with the last success (failed Job).
      const early = (rule: any) => {
        if (rule.for !== '0s') return { ...rule, for: '1m' };
        const expr = rule.expr.includes('kube_job_failed')
          ? rule.expr.split(' > on (namespace) ')[0]
          : rule.expr.replace(/> (\d+)/g, (_: string, n: string) => `> ${Number(n) - 86400}`);
        return { ...rule, expr };
      };
      const rules = { groups: ruleFile.groups.map((g) => ({ ...g, rules: g.rules.map(early) })) };
      fs.writeFileSync(path.join(dir, file('early.yaml')), stringify(rules));
      fs.writeFileSync(path.join(dir, file('early-tests.yaml')), promtoolTests(file('early.yaml'), alerts, cases, stepMinutes));
      const r = spawnSync('promtool', ['test', 'rules', file('early-tests.yaml')], { cwd: dir, encoding: 'utf8' });
      expect(r.status).not.toBe(0);
      // Each alert's own scenario fails (those whose window was longer than a minute), not just one of them.
      const changed = [...alerts.values()]
        .filter((rule) => cases.some((c) => c.alert === rule.alert) && (rule.for === '0s' || /^([2-9]|\d\d+)m$|h$/.test(rule.for))).map((rule) => rule.alert);
      for (const alert of changed) expect(`${r.stdout}${r.stderr}`).toContain(`alertname: ${alert}`);
    });
  });

  test('promtool check metrics accepts the recovery agent\'s exposition (no lint problem)', () => {
    const text = renderMetrics({
      member: 'galera-0', size: 3, phase: 'waiting',
      self: { ordinal: 0, name: 'galera-0', data: 'known', position: { uuid: 'u', seqno: 42 }, running: false, primary: false, synced: false },
      peers: [{ name: 'galera-1', reachable: false }], decision: { action: 'blocked', rule: 'incomplete', reason: 'r' }, secondsWithoutPrimary: 130,
      tls: { mounted: { notAfterMs: 1_800_000_000_000, fingerprint: 'AA' }, served: { notAfterMs: 1_790_000_000_000, fingerprint: 'BB' } },
    });
    expect(text).toContain('galera_agent_tls_served_is_mounted{member="galera-0"} 0');
    expect(execFileSync('promtool', ['check', 'metrics'], { input: text }).toString()).toBe('');
  });
});
