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
import { controlPlane, durationSeconds, MONITORING, monitoredProxySqlWithoutFallback, monitoredTlsGaleraWithBackup, ruleFileOf } from '../support/monitoring';
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
/**
 * A failover within `hostgroup` (its ONLINE server leaves, the next one, SHUNNED, is ONLINE at the next check) and a
 * ProxySQL that is down (not scraped: another problem).
 */
const failoverAndAProxySqlDown = (hostgroup: number) => ({
  what: `a failover in hostgroup ${hostgroup} (the next server ONLINE at the next scrape), and a ProxySQL that is down (not scraped: another problem)`,
  series: [series('up', PROXY, '1x30'), series('proxysql_connpool_conns_status', BACKEND(0, hostgroup), '1 stale'),
    series('proxysql_connpool_conns_status', BACKEND(1, hostgroup), '2 2 1x30'),
    series('up', { ...PROXY, pod: 'proxysql-7d9f-fghij', instance: '10.1.0.10:6070' }, '1 0x30')],
  atMinutes: [1, 2, 5],
});
/** Every reader (the writer's own copy in hostgroup 30 too) out of the reader hostgroup; the writer ONLINE in 10. */
const EVERY_READER_OUT = [series('up', PROXY, '1x30'), series('proxysql_connpool_conns_status', BACKEND(0, 10), '1x30'),
  series('proxysql_connpool_conns_status', BACKEND(0, 30), '1 stale'), series('proxysql_connpool_conns_status', BACKEND(1, 30), '1 stale')];
/** `count` samples of `value` with a missing sample every third (the gaps between the majority's connection attempts). */
const withGaps = (value: number, count: number) => Array.from({ length: count }, (_, i) => (i > 0 && i % 3 === 0 ? '_' : String(value))).join(' ');
const VIP = (node: number) => ({ ...NS, job: 'api-vip', pod: `api-vip-n${node}`, instance: `10.0.0.1${node}:9650` });

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
  readonly quiet?: {
    readonly what: string;
    readonly series: ReadonlyArray<{ series: string; values: string }>;
    readonly atMinutes: readonly number[];
    /**
     * Stricter: the alert never even goes pending, at any evaluation up to the last of `atMinutes` (read from the
     * ALERTS series promtool records). For the missed-scrape cases: a pending blip is what they exist to prevent.
     */
    readonly neverPending?: boolean;
  };
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
    quiet: failoverAndAProxySqlDown(10),
  },
  {
    alert: 'ProxySqlReaderFallbackEngaged',
    failure: EVERY_READER_OUT,
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
    // Every keepalived pod unreachable: no scrape answered for 3 scrapes (one missed round is not "unreachable").
    failure: [series('up', VIP(1), '1 0x30'), series('up', VIP(2), '1 0x30')],
    silentAtMinute: 1, firesAtMinute: 3, labels: NS,
  },
  {
    alert: 'KeepalivedVipSeveralHolders',
    failure: [series('keepalived_vrrp_master', VIP(1), '1x30'), series('keepalived_vrrp_master', VIP(2), '0 1x30')],
    silentAtMinute: 1, firesAtMinute: 2, labels: NS, value: '2',
  },
  {
    alert: 'KeepalivedNodeOutOfElection',
    // Node 2's track check fails from minute 1 on and stays failing; node 1 holds the VIP throughout.
    failure: [series('keepalived_vrrp_fault', VIP(1), '0x30'), series('keepalived_vrrp_fault', VIP(2), '0 1x30')],
    silentAtMinute: 6, firesAtMinute: 7, labels: VIP(2),
    quiet: {
      what: 'a node in FAULT for 4 minutes (an HAProxy restart that took long, a roll), then back',
      series: [series('keepalived_vrrp_fault', VIP(1), '0x30'), series('keepalived_vrrp_fault', VIP(2), '0 1x3 0x30')],
      atMinutes: [2, 4, 6, 10],
    },
  },
];

/** `count` scrapes of `value` every SCRAPE_SECONDS, where the scrapes at `missed` (indexes) failed: a staleness marker. */
const SCRAPE_SECONDS = 30;
const scrapes = (value: number, count: number, missed: readonly number[] = []) =>
  Array.from({ length: count }, (_, i) => (missed.includes(i) ? 'stale' : String(value))).join(' ');
/** `up` of the same target: 0 at a missed scrape. */
const upOf = (count: number, missed: readonly number[] = []) => Array.from({ length: count }, (_, i) => (missed.includes(i) ? '0' : '1')).join(' ');
const MYSQLD_OF = (member: number) => ({ ...MYSQLD, pod: `galera-${member}`, instance: `10.1.0.${5 + member}:9104` });

/*
 * One missed scrape (a timeout on a loaded node): Prometheus marks every series of that target stale until its next
 * scrape. The alerts that count or sum series across members must not even go pending for it, and must still fire on
 * a real loss within their window. Series at the production scrape interval (30 s, MONITORING's default), one
 * evaluation per scrape.
 */
const MISSED_SCRAPE_CASES: AlertCase[] = [
  {
    alert: 'RabbitMQQuorumQueueMissingReplicas',
    // node-c's broker stops at 5 min for good: its member is counted out 3 scrapes after its last sample.
    failure: [series('rabbitmq_detailed_raft_term_total', RAFT('a'), scrapes(1, 40)), series('rabbitmq_detailed_raft_term_total', RAFT('b'), scrapes(1, 40)),
      series('rabbitmq_detailed_raft_term_total', RAFT('c'), `${scrapes(1, 11)} stale`)],
    silentAtMinute: 16, firesAtMinute: 17, labels: QUEUE_KEY, value: '2',
    quiet: {
      what: 'one missed scrape of one broker\'s detailed endpoint, then of another, then of two at once',
      series: [series('rabbitmq_detailed_raft_term_total', RAFT('a'), scrapes(1, 31, [4, 20])), series('rabbitmq_detailed_raft_term_total', RAFT('b'), scrapes(1, 31, [14, 20])),
        series('rabbitmq_detailed_raft_term_total', RAFT('c'), scrapes(1, 31, [9]))],
      atMinutes: [2, 5, 10, 15], neverPending: true,
    },
  },
  {
    alert: 'RabbitMQQuorumQueueMissingReplicas',
    // RabbitMQ 4.2+ names the term rabbitmq_detailed_raft_term; its metadata store (Khepri) has a Raft term too,
    // labelled ra_system and not queue, on every node: not a queue, never counted.
    failure: [series('rabbitmq_detailed_raft_term', RAFT('a'), scrapes(1, 40)), series('rabbitmq_detailed_raft_term', RAFT('b'), scrapes(1, 40)),
      series('rabbitmq_detailed_raft_term', RAFT('c'), `${scrapes(1, 11)} stale`),
      series('rabbitmq_detailed_raft_term', { ...BROKER('a'), job: 'rabbitmq-queues', ra_system: 'coordination', module: 'rabbit_khepri' }, scrapes(1, 40))],
    silentAtMinute: 16, firesAtMinute: 17, labels: QUEUE_KEY, value: '2',
    quiet: {
      what: 'a rolling upgrade from 4.1 to 4.2 (each broker\'s member renamed as it restarts) and one missed scrape',
      series: [series('rabbitmq_detailed_raft_term_total', RAFT('a'), `${scrapes(1, 4)} stale`), series('rabbitmq_detailed_raft_term', RAFT('a'), `_x4 ${scrapes(2, 27, [10])}`),
        series('rabbitmq_detailed_raft_term_total', RAFT('b'), `${scrapes(1, 12)} stale`), series('rabbitmq_detailed_raft_term', RAFT('b'), `_x12 ${scrapes(2, 19)}`),
        series('rabbitmq_detailed_raft_term_total', RAFT('c'), `${scrapes(1, 20)} stale`), series('rabbitmq_detailed_raft_term', RAFT('c'), `_x20 ${scrapes(2, 11)}`)],
      atMinutes: [2, 6, 10, 15], neverPending: true,
    },
  },
  {
    alert: 'RabbitMQQueueGrowingWithoutConsumers',
    // 25 messages per scrape, nobody consuming; the leader's node misses one scrape at 5 min. It still fires 10 min
    // after the growth began (the instant form restarted its `for` at the missed scrape: 15.5 min).
    failure: [series('rabbitmq_detailed_queue_messages', RAFT('a'), Array.from({ length: 41 }, (_, i) => (i === 10 ? 'stale' : String(25 * i))).join(' ')),
      series('rabbitmq_detailed_queue_consumers', RAFT('a'), scrapes(0, 41, [10]))],
    silentAtMinute: 10, firesAtMinute: 11, labels: RAFT('a'), value: '550',
  },
  {
    alert: 'KeepalivedVipNoHolder',
    // The holder's pod vanishes at 3 min (its series and its target gone) and no node takes over.
    failure: [series('keepalived_vrrp_master', VIP(1), `${scrapes(1, 7)} stale`), series('up', VIP(1), `${upOf(7)} stale`),
      series('keepalived_vrrp_master', VIP(2), scrapes(0, 20)), series('up', VIP(2), upOf(20))],
    silentAtMinute: 4, firesAtMinute: 6, labels: NS,
    quiet: {
      what: 'one missed scrape of the holder, then one of every node at once',
      series: [series('keepalived_vrrp_master', VIP(1), scrapes(1, 21, [4, 10])), series('up', VIP(1), upOf(21, [4, 10])),
        series('keepalived_vrrp_master', VIP(2), scrapes(0, 21, [10])), series('up', VIP(2), upOf(21, [10]))],
      atMinutes: [2, 5, 10], neverPending: true,
    },
  },
  {
    alert: 'RabbitMQMinorityPaused',
    // Reviewed, unchanged: min_over_time skips a missed scrape, and the other broker still reports the peer.
    failure: [series('erlang_vm_dist_node_state', { ...BROKER('a'), peer: 'rabbit@node-c' }, `3x6 ${withGaps(1, 30)}`),
      series('erlang_vm_dist_node_state', { ...BROKER('b'), peer: 'rabbit@node-c' }, `3x6 ${withGaps(1, 30)}`)],
    silentAtMinute: 6, firesAtMinute: 7, labels: PEER_C,
    quiet: {
      what: 'one missed scrape of each majority broker',
      series: [series('erlang_vm_dist_node_state', { ...BROKER('a'), peer: 'rabbit@node-c' }, scrapes(3, 21, [4])),
        series('erlang_vm_dist_node_state', { ...BROKER('b'), peer: 'rabbit@node-c' }, scrapes(3, 21, [4, 12]))],
      atMinutes: [2, 5, 10], neverPending: true,
    },
  },
  {
    alert: 'GaleraClusterSizeBelowReplicas',
    // Reviewed, unchanged: the largest size any member reports; a member whose scrape fails reports nothing.
    failure: [0, 1, 2].map((m) => series('mysql_global_status_wsrep_cluster_size', MYSQLD_OF(m), m === 2 ? `3x3 stale` : `3x3 ${scrapes(2, 20)}`)),
    silentAtMinute: 6, firesAtMinute: 7, labels: NS, value: '2',
    quiet: {
      what: 'one missed scrape of one member, then of every member at once',
      series: [0, 1, 2].map((m) => series('mysql_global_status_wsrep_cluster_size', MYSQLD_OF(m), scrapes(3, 21, m === 1 ? [4, 12] : [12]))),
      atMinutes: [2, 5, 10], neverPending: true,
    },
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

/** ProxySQL with `readerFallbackToWriter: false`: nothing re-points reads while the reader hostgroup is empty. */
const PROXYSQL_NO_FALLBACK_CASES: AlertCase[] = [
  {
    alert: 'ProxySqlNoReader',
    failure: EVERY_READER_OUT,
    silentAtMinute: 1, firesAtMinute: 3, labels: PROXY,
    quiet: failoverAndAProxySqlDown(30),
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

/** The promtool test file of `cases`: samples and rule evaluations every `stepSeconds`. */
function promtoolTests(rulesFile: string, alerts: Map<string, any>, cases: readonly AlertCase[], stepSeconds: number): string {
  const tests = cases.flatMap((c) => {
    const rule = alerts.get(c.alert);
    const expected = { exp_labels: { ...c.labels, severity: rule.labels.severity }, exp_annotations: expand(rule.annotations, c) };
    const check = (minute: number, fired: boolean) => ({ eval_time: `${minute}m`, alertname: c.alert, exp_alerts: fired ? [expected] : [] });
    const quiet = c.quiet;
    const lastMinute = quiet ? Math.max(...quiet.atMinutes) : 0;
    return [
      { name: `${c.alert}: fires on the failure, not before its window`, interval: `${stepSeconds}s`, input_series: c.failure,
        alert_rule_test: [check(c.silentAtMinute, false), check(c.firesAtMinute, true)] },
      ...(quiet ? [{
        name: `${c.alert}: ${quiet.neverPending ? 'not even pending' : 'silent'} through ${quiet.what}`, interval: `${stepSeconds}s`, input_series: quiet.series,
        alert_rule_test: quiet.atMinutes.map((m) => check(m, false)),
        ...(quiet.neverPending ? {
          promql_expr_test: [{ expr: `count_over_time(ALERTS{alertname="${c.alert}"}[${lastMinute}m])`, eval_time: `${lastMinute}m`, exp_samples: [] }],
        } : {}),
      }] : []),
    ];
  });
  return stringify({ rule_files: [rulesFile], evaluation_interval: `${stepSeconds}s`, tests });
}

/** The two monitored charts: the example control plane, and a TLS Galera with its backups (their own alerts). */
/** The rule sets, each with its scenarios; `earlyFor` is what the negative control cuts every longer `for` to. */
const RULE_SETS: Array<{ name: string; objects: () => any[]; cases: AlertCase[]; stepSeconds: number; earlyFor: string }> = [
  { name: 'control plane', objects: () => controlPlane(MONITORING).objects, cases: CONTROL_PLANE_CASES, stepSeconds: 60, earlyFor: '1m' },
  { name: 'control plane: one missed scrape', objects: () => controlPlane(MONITORING).objects, cases: MISSED_SCRAPE_CASES, stepSeconds: SCRAPE_SECONDS, earlyFor: '1m' },
  { name: 'ProxySQL without the reader fallback', objects: monitoredProxySqlWithoutFallback, cases: PROXYSQL_NO_FALLBACK_CASES, stepSeconds: 60, earlyFor: '0s' },
  { name: 'TLS Galera with backups: certificates', objects: monitoredTlsGaleraWithBackup, cases: TLS_CASES, stepSeconds: 60, earlyFor: '1m' },
  { name: 'TLS Galera with backups: backups', objects: monitoredTlsGaleraWithBackup, cases: BACKUP_CASES, stepSeconds: BACKUP_STEP_MINUTES * 60, earlyFor: '1m' },
];
const ALL_CASES = RULE_SETS.flatMap((set) => set.cases);

describeWithBinaries('Alert rules through promtool', ['promtool'], ['prometheus'], () => {
  let dir: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'i19-rules-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe.each(RULE_SETS)('$name', ({ name, objects, cases, stepSeconds, earlyFor }) => {
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
      fs.writeFileSync(path.join(dir, file('tests.yaml')), promtoolTests(file('rules.yaml'), alerts, cases, stepSeconds));
      const r = spawnSync('promtool', ['test', 'rules', file('tests.yaml')], { cwd: dir, encoding: 'utf8' });
      expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
      expect(r.status).toBe(0);
    });

    test('promtool test rules fails when an alert fires too early (the scenarios can fail)', () => {
      // Every window cut to `earlyFor` (1 minute, or none in a set whose windows are all a minute); the threshold-only
      // alerts (`for: 0s`) made to fire a day early (age) or without comparing with the last success (failed Job).
      const cut = (rule: any) => rule.for !== '0s' && durationSeconds(rule.for) > durationSeconds(earlyFor);
      const early = (rule: any) => {
        if (rule.for !== '0s') return cut(rule) ? { ...rule, for: earlyFor } : rule;
        const expr = rule.expr.includes('kube_job_failed')
          ? rule.expr.split(' > on (namespace) ')[0]
          : rule.expr.replace(/> (\d+)/g, (_: string, n: string) => `> ${Number(n) - 86400}`);
        return { ...rule, expr };
      };
      const rules = { groups: ruleFile.groups.map((g) => ({ ...g, rules: g.rules.map(early) })) };
      fs.writeFileSync(path.join(dir, file('early.yaml')), stringify(rules));
      fs.writeFileSync(path.join(dir, file('early-tests.yaml')), promtoolTests(file('early.yaml'), alerts, cases, stepSeconds));
      const r = spawnSync('promtool', ['test', 'rules', file('early-tests.yaml')], { cwd: dir, encoding: 'utf8' });
      expect(r.status).not.toBe(0);
      // Each alert's own scenario fails (those whose window was cut), not just one of them.
      const changed = [...alerts.values()]
        .filter((rule) => cases.some((c) => c.alert === rule.alert) && (rule.for === '0s' || cut(rule))).map((rule) => rule.alert);
      expect(changed.length).toBeGreaterThan(0);
      for (const alert of changed) expect(`${r.stdout}${r.stderr}`).toContain(`alertname: ${alert}`);
    });
  });

  test('one missed scrape: the scenarios fail on the instant count and sum the windows replaced (they can fail)', () => {
    // Session 24's forms: every member counted (or summed) from its instant sample, which a failed scrape stales.
    const ruleFile = ruleFileOf(controlPlane(MONITORING).objects);
    const alerts = new Map<string, any>(ruleFile.groups.flatMap((g) => g.rules).map((r: any) => [r.alert, r]));
    const instant = (rule: any) => ({ ...rule, expr: rule.expr.replace(/(?:last|max)_over_time\(([^[]+)\[\w+\]\)/g, '$1') });
    const changed = [...alerts.values()].filter((rule) => instant(rule).expr !== rule.expr).map((rule) => rule.alert);
    expect(changed).toEqual(['RabbitMQQuorumQueueMissingReplicas', 'RabbitMQQueueGrowingWithoutConsumers', 'KeepalivedVipNoHolder']);
    fs.writeFileSync(path.join(dir, 'instant.yaml'), stringify({ groups: ruleFile.groups.map((g) => ({ ...g, rules: g.rules.map(instant) })) }));
    fs.writeFileSync(path.join(dir, 'instant-tests.yaml'), promtoolTests('instant.yaml', alerts, MISSED_SCRAPE_CASES, SCRAPE_SECONDS));
    const r = spawnSync('promtool', ['test', 'rules', 'instant-tests.yaml'], { cwd: dir, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    // Each one goes pending on a missed scrape (its ALERTS series exists), which the windowed form never does, or (the
    // growing queue) has its window restarted by it and is not firing yet when it should.
    for (const alert of changed) {
      expect(`${r.stdout}${r.stderr}`).toMatch(new RegExp(`got: \\{alertname="${alert}", alertstate="pending"|alertname: ${alert}, time: `));
    }
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
