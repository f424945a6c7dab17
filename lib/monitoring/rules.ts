/**
 * The alert rules, one per failure mode, as plain data from the monitoring model; the construct puts them in a
 * PrometheusRule, the tests hand the same groups to `promtool check rules` and `promtool test rules`.
 *
 * Every `for` window is chosen from recovery times measured with the real daemons (README "Monitoring" and
 * /work/shared/research/real-daemon-findings.md): a normal recovery ends well inside it, so it never pages.
 * Every alert's runbook entry is in the README under its name.
 */
import { RABBITMQ_RAFT_TERM_SERIES } from './model';
import type { MonitoredBackup, MonitoredComponent, MonitoringModel } from './model';

export type Severity = 'critical' | 'warning';

/** One alert. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** How long the condition must hold before the alert fires. */
  readonly forSeconds: number;
  readonly severity: Severity;
  readonly summary: string;
  readonly description: string;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

/** The rule groups, one per monitored component. */
export function alertGroups(model: MonitoringModel): RuleGroup[] {
  const groups = model.components.map((c) => ({ name: `${c.name}.${c.kind}.rules`, rules: componentAlerts(c, model) }));
  if (model.backup) groups.push({ name: `${model.backup.name}.backup.rules`, rules: backupAlerts(model.backup, model.namespace) });
  return groups;
}

function componentAlerts(c: MonitoredComponent, model: MonitoringModel): AlertRule[] {
  const namespace = model.namespace;
  const job = (index: number) => selector(c.endpoints[index].job, namespace);
  switch (c.kind) {
    case 'galera': return galeraAlerts(c, job(0), job(1), namespace);
    case 'rabbitmq': return rabbitAlerts(c, job(0), job(1), model.scrapeIntervalSeconds);
    case 'proxysql': return proxySqlAlerts(c, job(0));
    case 'haproxy': return haproxyAlerts(job(0));
    case 'memcached': return memcachedAlerts(job(0));
    case 'keepalived': return keepalivedAlerts(job(0), model.scrapeIntervalSeconds);
  }
}

/**
 * How far back an alert that counts series across members looks for each member's last sample, in scrapes: long
 * enough that ONE missed scrape of one member (a timeout on a loaded node) does not look like a member gone.
 * A failed scrape marks every series of that target stale at once, so an instant count drops by one until the next
 * scrape succeeds; `last_over_time` over a window skips stale markers. With scrapes at t0 (kept), t0+I (missed) and
 * t0+2I (whose sample is stored only when that scrape ends, at most its timeout, itself at most I, later), the t0
 * sample must still be inside the window until t0+2I+timeout: more than 2 scrapes, so 3. Two missed scrapes in a
 * row are not bridged, and a member really gone is counted out at most 3 scrapes after its last sample.
 */
export const MISSED_SCRAPE_WINDOW_SCRAPES = 3;

/** `count` of a quorum queue's members, each counted while its Raft term was seen within `window`. */
export function quorumQueueMembers(selector: string, window: string, by: string): string {
  // The term's name changed in 4.2 (see RABBITMQ_RAFT_TERM_SERIES): both are read, so a rolling upgrade counts every
  // member. `or` keeps one series per label set should last_over_time drop the names of both. 4.2 also exports the
  // Raft series of its metadata store (Khepri) and stream coordinator, labelled ra_system and not queue: left out.
  const perName = RABBITMQ_RAFT_TERM_SERIES.map((name) => `last_over_time(${name}${selector.replace(/}$/, ',queue!=""}')}[${window}])`);
  return `count by (${by}) (${perName.join(' or ')})`;
}

/** The certificate thresholds: cert-manager renews 30 days before expiry (TlsCertificates' default renewBefore). */
export const TLS_EXPIRY_WARNING_DAYS = 14;
export const TLS_EXPIRY_CRITICAL_DAYS = 7;

/** `{job="...",namespace="..."}`: the namespace keeps two control planes in one Prometheus apart. */
function selector(job: string, namespace: string | undefined, extra = ''): string {
  return `{job="${job}"${namespace ? `,namespace="${namespace}"` : ''}${extra}}`;
}

function galeraAlerts(c: MonitoredComponent, mysqld: string, agent: string, namespace: string | undefined): AlertRule[] {
  const agentWith = (extra: string) => agent.replace(/}$/, `,${extra}}`);
  return [
    {
      alert: 'GaleraMemberNotSynced',
      // The agent reports it whether or not mariadbd runs; a pod that is gone reports nothing, hence `up`.
      expr: `galera_agent_member_synced${agent} == 0 or up${agent} == 0`,
      // An IST rejoin took 4.6 s here and an SST 15-28 s (a few GB); a large member's SST takes minutes
      // (~10 min for 50 GB at 100 MB/s). 15 min lets a real SST finish before anyone is paged.
      forSeconds: 900,
      severity: 'warning',
      summary: 'A Galera member has not been Synced for 15 minutes',
      description: '{{ $labels.member }}{{ $labels.pod }} is not a Primary, Synced member of {{ $labels.namespace }}: it gets no traffic and the cluster runs one member short.',
    },
    {
      alert: 'GaleraClusterSizeBelowReplicas',
      expr: `max by (namespace) (mysql_global_status_wsrep_cluster_size${mysqld}) < ${c.replicas}`,
      // A dead member is evicted after ~6 s (evs.suspect_timeout) and a restarted one is back by IST in ~5 s; a
      // rolling restart is one member at a time. 5 min is well past both.
      forSeconds: 300,
      severity: 'warning',
      summary: `The Galera cluster has fewer than ${c.replicas} members`,
      description: `The Primary component of {{ $labels.namespace }} has {{ $value }} of ${c.replicas} members; one more loss may cost quorum.`,
    },
    {
      alert: 'GaleraNonPrimary',
      expr: `galera_agent_member_running${agent} == 1 and galera_agent_member_primary${agent} == 0`,
      // A full outage recovered in 5-8 s here; pc.recovery gets 60 s by default. After 2 min outside a Primary,
      // writes on this member have been refused for longer than any recovery the library runs.
      forSeconds: 120,
      severity: 'critical',
      summary: 'A running Galera member is outside any Primary component',
      description: '{{ $labels.member }} runs mariadbd but is not in a Primary component: it refuses queries (a partition, or the cluster lost quorum).',
    },
    {
      alert: 'GaleraRecoveryWaitingForMember',
      // A member waiting for its turn to join (rule join-in-turn) waits for another's join, not for a missing member.
      expr: `galera_agent_decision${agentWith('action="wait",rule!="join-in-turn"')} == 1`,
      // The agents wait for every member after a full outage; a member that reboots takes a minute or two.
      forSeconds: 300,
      severity: 'warning',
      summary: 'Galera recovery waits for a member',
      description: '{{ $labels.member }}\'s agent cannot decide yet (rule {{ $labels.rule }}): a member has not reported (galera_agent_waiting_for_member names it).',
    },
    {
      alert: 'GaleraRecoveryBlocked',
      expr: `galera_agent_recovery_blocked${agent} == 1`,
      // The agent itself reports `blocked` only after missingMemberTimeoutSeconds (120 s) without a Primary.
      forSeconds: 60,
      severity: 'critical',
      summary: 'Galera recovery is blocked: an operator must act',
      description: '{{ $labels.member }}\'s agent refuses to recover automatically; its /status says why (missing member, unknown data, disagreeing histories).',
    },
    {
      alert: 'GaleraFlowControlPausingWrites',
      expr: `rate(mysql_global_status_wsrep_flow_control_paused_ns${mysqld}[5m]) / 1e9 > 0.1`,
      // A donor or a joiner applying an IST pauses the cluster for seconds; 10 min above 10 % is a slow member.
      forSeconds: 600,
      severity: 'warning',
      summary: 'Galera flow control pauses writes more than 10 % of the time',
      description: '{{ $labels.pod }} has been paused by flow control {{ $value | humanizePercentage }} of the time for 10 minutes: a member cannot keep up.',
    },
    ...(namespace === undefined ? [] : [{
      alert: 'GaleraDataVolumeNearlyFull',
      expr: `kubelet_volume_stats_available_bytes{namespace="${namespace}",persistentvolumeclaim=~"data-${c.name}-[0-9]+"}` +
        ` / kubelet_volume_stats_capacity_bytes{namespace="${namespace}",persistentvolumeclaim=~"data-${c.name}-[0-9]+"} < 0.1`,
      forSeconds: 300,
      severity: 'warning' as Severity,
      summary: 'A Galera data volume is more than 90 % full',
      description: '{{ $labels.persistentvolumeclaim }} has {{ $value | humanizePercentage }} free; a full volume stops the member (and an SST needs room too).',
    }]),
    ...(c.tls ? galeraTlsAlerts(agent) : []),
  ];
}

/**
 * The certificate alerts read what mariadbd SERVES (the agent's handshake, lib/galera/agent/tls-watch.ts), not what
 * cert-manager renewed: a renewal that never reached the daemon is the outage they exist for.
 */
function galeraTlsAlerts(agent: string): AlertRule[] {
  const expiresWithin = (alert: string, days: number, severity: Severity, forSeconds: number, then: string): AlertRule => ({
    alert,
    expr: `galera_agent_tls_served_not_after_seconds${agent} - time() < ${days} * 86400`,
    forSeconds,
    severity,
    summary: `A Galera member serves a certificate that expires within ${days} days`,
    description: `{{ $labels.member }} serves a certificate that expires {{ $value | humanizeDuration }} from now${then}`,
  });
  return [
    // cert-manager renews 30 days before expiry: with 14 days left the renewal is more than two weeks late at the
    // daemon. An hour keeps a short-lived test certificate from paging between two checks.
    expiresWithin('GaleraTlsCertificateExpiringSoon', TLS_EXPIRY_WARNING_DAYS, 'warning', 3600, '; the renewal has not reached it.'),
    expiresWithin('GaleraTlsCertificateExpiryCritical', TLS_EXPIRY_CRITICAL_DAYS, 'critical', 600, ': clients and peers will refuse it then.'),
    {
      alert: 'GaleraTlsCertificateNotReloaded',
      expr: `galera_agent_tls_served_is_mounted${agent} == 0`,
      // The entrypoint reloads within a second of the swap; measured swap-to-served 1.5-18 s on a loaded machine, and
      // the agent checks every 10 s. 10 minutes of difference is a reload that failed, not one under way.
      forSeconds: 600,
      severity: 'warning',
      summary: 'A Galera member still serves the old certificate after a renewal',
      description: '{{ $labels.member }}\'s mounted certificate changed but mariadbd serves another one: the reload (FLUSH SSL) did not happen or failed.',
    },
    {
      alert: 'GaleraTlsNotServed',
      expr: `galera_agent_tls_served_read${agent} == 0 and galera_agent_member_running${agent} == 1`,
      // mariadbd that cannot load its certificate at start logs it and runs WITHOUT TLS: clients that require it fail.
      forSeconds: 300,
      severity: 'critical',
      summary: 'A running Galera member does not offer TLS',
      description: '{{ $labels.member }} runs mariadbd but no TLS handshake succeeds on its client port: its certificate files could not be loaded.',
    },
  ];
}

/**
 * Backups and restore drills, from kube-state-metrics (v2.5.0 or later for kube_cronjob_status_last_successful_time;
 * names checked against v2.20.0's docs/metrics/workload/cronjob-metrics.md and job-metrics.md).
 */
function backupAlerts(b: MonitoredBackup, namespace: string | undefined): AlertRule[] {
  const ns = namespace ? `namespace="${namespace}",` : '';
  const tooOld = (alert: string, cronJob: string, maxAgeSeconds: number | undefined, severity: Severity, what: string): AlertRule[] => {
    if (maxAgeSeconds === undefined) return [];
    const sel = `{${ns}cronjob="${cronJob}"}`;
    return [{
      alert,
      // Never succeeded at all counts from the CronJob's creation.
      expr: `time() - max by (namespace, cronjob) (kube_cronjob_status_last_successful_time${sel}) > ${maxAgeSeconds}` +
        ` or (time() - max by (namespace, cronjob) (kube_cronjob_created${sel}) > ${maxAgeSeconds}` +
        ` unless on (namespace, cronjob) kube_cronjob_status_last_successful_time${sel})`,
      // The threshold already holds every delay a healthy CronJob may have (see MonitoredBackup).
      forSeconds: 0,
      severity,
      summary: `No successful ${what} for more than ${duration(maxAgeSeconds)}`,
      description: `The last successful run of ${cronJob} (schedule "${b.backup.cronJob === cronJob ? b.backup.schedule : b.drill.schedule}") ended {{ $value | humanizeDuration }} ago: later than the schedule, a late start and the longest run allow.`,
    }];
  };
  const failed = (alert: string, cronJob: string, severity: Severity, what: string): AlertRule => ({
    alert,
    // The newest failed Job of this CronJob started after its last success ended (or there was none).
    expr: `max by (namespace) (kube_job_status_start_time${namespace ? `{namespace="${namespace}"}` : ''}` +
      ` * on (namespace, job_name) group_left () (kube_job_failed{${ns}condition="true"} == 1)` +
      ` * on (namespace, job_name) group_left () (kube_job_owner{${ns}owner_kind="CronJob",owner_name="${cronJob}"} == 1))` +
      ` > on (namespace) (max by (namespace) (kube_cronjob_status_last_successful_time{${ns}cronjob="${cronJob}"})` +
      ` or on (namespace) max by (namespace) (kube_cronjob_created{${ns}cronjob="${cronJob}"}))`,
    // A failed Job is final (its one retry is spent): say so at once; the next success clears it.
    forSeconds: 0,
    severity,
    summary: `The last ${what} failed`,
    description: `The newest Job of ${cronJob} failed and none has succeeded since; its pod's log says why.`,
  });
  return [
    ...tooOld('GaleraBackupTooOld', b.backup.cronJob, b.backup.maxAgeSeconds, 'critical', 'Galera backup'),
    failed('GaleraBackupFailed', b.backup.cronJob, 'warning', 'Galera backup'),
    ...tooOld('GaleraRestoreDrillTooOld', b.drill.cronJob, b.drill.maxAgeSeconds, 'warning', 'restore drill'),
    failed('GaleraRestoreDrillFailed', b.drill.cronJob, 'critical', 'restore drill'),
  ];
}

/** RabbitMQMinorityPaused's window, in scrapes: enough to bridge the gaps between a cut-off peer's connection attempts. */
export const MINORITY_PAUSED_WINDOW_SCRAPES = 4;

/**
 * RabbitMQMinorityPaused's `for`: 3 min, and always 2 scrapes longer than its window. Its expression is true for a
 * whole window after ONE low sample (min_over_time), so a `for` no longer than the window would let a single stray
 * sample fire it: at the default 30 s interval the window is 2 min; from 45 s up it would reach 3 min.
 */
export function minorityPausedForSeconds(scrapeIntervalSeconds: number): number {
  return Math.max(180, (MINORITY_PAUSED_WINDOW_SCRAPES + 2) * scrapeIntervalSeconds);
}

/**
 * RabbitMQ. Names and labels checked against a real rabbitmq-server 3.10.8 (Debian) with its prometheus plugin, in
 * test/integration/monitoring-rabbitmq.test.ts: `/metrics` for the node (alarms, `erlang_vm_dist_node_state{peer}`)
 * and `/metrics/detailed?family=...` for the per-queue series (`rabbitmq_detailed_queue_*{vhost,queue}` from the
 * node of the queue's leader, `rabbitmq_detailed_raft_*{vhost,queue}` from every node running a member).
 *
 * The range windows are counted in scrapes (`scrapeIntervalSeconds`): enough samples that one scrape landing in a
 * gap does not reset an alert's `for`.
 */
function rabbitAlerts(c: MonitoredComponent, broker: string, queues: string, scrapeIntervalSeconds: number): AlertRule[] {
  const scrapes = (n: number) => duration(n * scrapeIntervalSeconds);
  const perQueue = 'on (namespace, instance, vhost, queue)';
  const lastSeen = (metric: string) => `last_over_time(${metric}${queues}[${scrapes(MISSED_SCRAPE_WINDOW_SCRAPES)}])`;
  return [
    {
      alert: 'RabbitMQBrokerDown',
      // A paused (pause_minority) broker stops its listeners too (measured: 15692 closed ~13 s after the cut):
      // RabbitMQMinorityPaused tells the two apart.
      expr: `up${broker} == 0`,
      // A broker restart rejoined its cluster in ~17 s here.
      forSeconds: 120,
      severity: 'critical',
      summary: 'A RabbitMQ broker is down or paused',
      description: c.pauseMinority
        ? '{{ $labels.instance }} does not answer: it is down, or paused by pause_minority on the minority side of a partition (then RabbitMQMinorityPaused names it).'
        : '{{ $labels.instance }} does not answer: it is down, or Prometheus cannot reach it (a partition: then RabbitMQMinorityPaused names it).',
    },
    {
      alert: 'RabbitMQMinorityPaused',
      // Seen from the majority: the Erlang distribution link to a cluster member is set up again and again and
      // never comes up (erlang_vm_dist_node_state 1 = pending, 2 = up_pending, 3 = up). Measured on 3.10.8 with the
      // link of one broker cut: its peers reported it `1` in 14 of 15 one-second scrapes (absent in between, while
      // a new attempt starts), for as long as the cut lasted; the cut-off broker paused and closed 15692 and 5672
      // (its distribution port stays open). A broker that is stopped or crashes closes its connections: its series
      // disappears at once (60 half-second samples through a stop). While it stays down and while it boots, though,
      // each survivor now and then tries to connect to it by itself (an auto-connect with no caller waiting, about
      // once per 12-17 s, refused within 5-12 ms, up to ~100 ms under load; measured in session 30 by sampling the
      // survivors' sys_dist every 5 ms): a scrape that lands in one stores a `1`, the only series for that peer, so
      // a plain down broker can make this pending for one window (the end-to-end test caught it once in a suite run).
      // min_over_time over 4 scrapes bridges the gaps between attempts. Brokers are `rabbit@<node>`
      // (RABBITMQ_NODENAME); the CLI tools and probes connect as short-lived `rabbitmqcli-...` nodes: left out.
      expr: `max by (namespace, peer) (min_over_time(erlang_vm_dist_node_state${broker.replace(/}$/, ',peer=~"rabbit@.+"}')}[${scrapes(MINORITY_PAUSED_WINDOW_SCRAPES)}])) < 3`,
      // A healed cut resumed the paused broker 2 s after the link came back; a network blip shorter than
      // net_ticktime (60 s) does not partition at all. One stray sample below 3 (above) keeps the expression true for
      // one whole window; the `for` is longer than the window at every scrape interval (3 min, or 6 scrapes from
      // 31 s up), so such a sample makes it pending at most and never fires it.
      forSeconds: minorityPausedForSeconds(scrapeIntervalSeconds),
      severity: 'critical',
      // RabbitMQ 4.3 removed Mnesia and with it pause_minority: the broker is cut off but not paused (only the
      // peers' view is what this reads, the same on every line; unverified on a 4.3 broker here).
      summary: c.pauseMinority ? 'A RabbitMQ broker is cut off from the cluster and paused (pause_minority)' : 'A RabbitMQ broker is cut off from the cluster',
      description: c.pauseMinority
        ? 'No reachable broker of {{ $labels.namespace }} can connect to {{ $labels.peer }}: it is on the minority side of a partition and has paused itself (or its host is gone). Its clients must reconnect to the other brokers.'
        : 'No reachable broker of {{ $labels.namespace }} can connect to {{ $labels.peer }}: it is on the minority side of a partition (or its host is gone). This RabbitMQ line has no pause_minority: it is not paused, and its clients\' work on quorum queues and cluster metadata cannot commit without the majority.',
    },
    {
      alert: 'RabbitMQQuorumQueueMissingReplicas',
      // Every node running a member of a quorum queue exports its Raft series; a member on a down, paused or
      // blank node exports none. Fewer than the target members: one more loss may leave the queue without a
      // majority (unavailable). Classic mirrored queues (RabbitVersion 3.x) export no mirror count in 3.10: this
      // alert covers quorum queues (the notification queues from 4.x on). Each member counts while its term was
      // seen within MISSED_SCRAPE_WINDOW_SCRAPES: one missed scrape of a broker's detailed endpoint (which stales all
      // its series, so the instant count drops by one) is not a lost member.
      expr: `${quorumQueueMembers(queues, scrapes(MISSED_SCRAPE_WINDOW_SCRAPES), 'namespace, vhost, queue')} < ${c.replicas}`,
      // Measured here (3.10.8): a stopped broker's members were gone from the scrape 6 s after the stop and back 8.6 s
      // after its restart (the leader replays its log to them); a rolling restart
      // is one broker at a time. A blank node regains its members by continuous membership reconciliation (4.x).
      // 10 min is none of those.
      forSeconds: 600,
      severity: 'warning',
      summary: `A RabbitMQ quorum queue runs with fewer than ${c.replicas} members`,
      description: `{{ $labels.vhost }}/{{ $labels.queue }} has {{ $value }} of ${c.replicas} members online: one more broker loss may leave it without a quorum.`,
    },
    {
      alert: 'RabbitMQQueueGrowingWithoutConsumers',
      // A queue nobody reads that keeps growing: a consumer service that is down, or notifications nobody
      // consumes (the notification queues have no TTL on 3.x). Depth and consumers come from the leader's node.
      // Each is its last sample within MISSED_SCRAPE_WINDOW_SCRAPES: one missed scrape of that node would otherwise
      // end the condition for an interval and restart the 10 min `for` (a late alert, or none while scrapes flap).
      expr: `${lastSeen('rabbitmq_detailed_queue_messages')} > 0` +
        ` and ${perQueue} ${lastSeen('rabbitmq_detailed_queue_consumers')} == 0` +
        ` and ${perQueue} delta(rabbitmq_detailed_queue_messages${queues}[${scrapes(10)}]) > 0`,
      // A consumer service restart leaves its queues without a consumer for seconds to a minute, and the backlog
      // drains when it is back. 10 min of growth with nobody reading is not a restart.
      forSeconds: 600,
      severity: 'warning',
      summary: 'A RabbitMQ queue grows and nobody consumes it',
      description: '{{ $labels.vhost }}/{{ $labels.queue }} has no consumer and has grown for 10 minutes to {{ $value }} messages.',
    },
    {
      alert: 'RabbitMQMemoryAlarm',
      expr: `rabbitmq_alarms_memory_used_watermark${broker} == 1`,
      forSeconds: 120,
      severity: 'critical',
      summary: 'RabbitMQ memory alarm: publishers are blocked',
      description: '{{ $labels.instance }} is above its memory high watermark and blocks every publishing connection in the cluster.',
    },
    {
      alert: 'RabbitMQDiskAlarm',
      expr: `rabbitmq_alarms_free_disk_space_watermark${broker} == 1`,
      forSeconds: 60,
      severity: 'critical',
      summary: 'RabbitMQ disk alarm: publishers are blocked',
      description: '{{ $labels.instance }} has less free disk than its limit and blocks every publishing connection in the cluster.',
    },
  ];
}

/**
 * ProxySQL, from its built-in exporter. ProxySQL cannot run here (not in Debian or npm): names and labels are from
 * its source, tree v2.7.2-14 (commit 5cc418bb, the stored snapshot of sysown/proxysql; the image is 2.7.3):
 * lib/MySQL_HostGroups_Manager.cpp:572 names the gauge `proxysql_connpool_conns_status`, :3359-3360 give it the
 * labels `endpoint` ("host:port") and `hostgroup` (the id), :3410 sets it to MySerStatus + 1, and
 * include/proxysql_structs.h:13-19 orders MySerStatus ONLINE, SHUNNED, OFFLINE_SOFT, OFFLINE_HARD,
 * SHUNNED_REPLICATION_LAG: 1 is ONLINE. A server that leaves a hostgroup loses its series (:3414-3426). Scraped
 * through a PodMonitor, prometheus-operator's own `endpoint` target label (the port name) wins and the backend's
 * becomes `exported_endpoint`; the rules only count per ProxySQL pod, so they read neither. Read again for
 * ProxySqlNoReader (same snapshot): p_update_connection_pool() (:3347-3426) sets the gauge for every server of
 * every hostgroup, the reader hostgroup included, and removes it for a server no longer in one; a query routed to a
 * hostgroup without an ONLINE server waits up to mysql-connect_timeout_server_max (lib/MySQL_Thread.cpp:979, 10 s).
 */
function proxySqlAlerts(c: MonitoredComponent, proxy: string): AlertRule[] {
  const hg = c.proxySql!;
  const withHostgroup = (id: number) => proxy.replace(/}$/, `,hostgroup="${id}"}`);
  const perPod = 'on (namespace, pod, instance)';
  const noOnline = (id: number) => `up${proxy} == 1 unless ${perPod} (proxysql_connpool_conns_status${withHostgroup(id)} == 1)`;
  return [
    {
      alert: 'ProxySqlNoWriter',
      expr: noOnline(hg.writerHostgroup),
      // ProxySQL checks each member every second and moves a failed writer out after 2 timeouts (~2 s); the next
      // Synced member is ONLINE at the next check. A minute without one is no failover in progress.
      forSeconds: 60,
      severity: 'critical',
      summary: 'ProxySQL has no writer',
      description: `{{ $labels.pod }} has no ONLINE server in its writer hostgroup ${hg.writerHostgroup}: every write and every read-write connection fails.`,
    },
    ...(hg.readerFallback ? [{
      alert: 'ProxySqlReaderFallbackEngaged',
      // The admin sidecar's reconcile (assets/proxysql/admin.sh) points the read-only SELECT rule at the writer
      // exactly while the reader hostgroup has no ONLINE server; with a writer, that is what happens.
      expr: `(${noOnline(hg.readerHostgroup)}) and ${perPod} (proxysql_connpool_conns_status${withHostgroup(hg.writerHostgroup)} == 1)`,
      // The writer is a reader too, so the reader hostgroup empties only while no member passes the reader check
      // (e.g. every member lags more than max_transactions_behind); an SST donor is fenced for minutes.
      forSeconds: 600,
      severity: 'warning' as Severity,
      summary: 'ProxySQL sends read-only queries to the writer',
      description: `{{ $labels.pod }} has no ONLINE server in its reader hostgroup ${hg.readerHostgroup}: read-only SELECTs go to the writer (the admin sidecar's fallback).`,
    }] : [{
      alert: 'ProxySqlNoReader',
      // Without the fallback nothing re-points the read-only SELECT rule: while the reader hostgroup has no ONLINE
      // server, each read waits for one (mysql-connect_timeout_server_max, 10 s) and fails. The writer is a reader
      // too (writer_is_also_reader=1), so this is every member failing the reader check; with no writer either,
      // ProxySqlNoWriter fires as well.
      expr: noOnline(hg.readerHostgroup),
      // The same recovery as a writer's: a failed reader is out within ~2 s and a Synced member ONLINE at the next
      // check. A minute of failing reads is no failover in progress.
      forSeconds: 60,
      severity: 'critical' as Severity,
      summary: 'ProxySQL has no reader: read-only queries fail',
      description: `{{ $labels.pod }} has no ONLINE server in its reader hostgroup ${hg.readerHostgroup} and falls back to nothing (readerFallbackToWriter is off): every read-only SELECT waits 10 s and fails.`,
    }]),
  ];
}

function haproxyAlerts(lb: string): AlertRule[] {
  return [{
    alert: 'HaproxyBackendDown',
    expr: `haproxy_backend_active_servers${lb} + haproxy_backend_backup_servers${lb} == 0`,
    // A failed server is out of rotation in 1.3-1.7 s; only a backend with no server left stays at 0.
    forSeconds: 60,
    severity: 'critical',
    summary: 'An HAProxy backend has no server up',
    description: 'Backend {{ $labels.proxy }} on {{ $labels.instance }} has no healthy server: every request to it fails.',
  }];
}

function memcachedAlerts(cache: string): AlertRule[] {
  return [{
    alert: 'MemcachedInstanceDown',
    expr: `memcached_up${cache} == 0 or up${cache} == 0`,
    // memcached restarts in well under a second; 2 min down means it is not coming back by itself.
    forSeconds: 120,
    severity: 'warning',
    summary: 'A memcached instance is down',
    description: '{{ $labels.instance }} is down: its share of the cached tokens and API responses is recomputed by every client.',
  }];
}

function keepalivedAlerts(vip: string, scrapeIntervalSeconds: number): AlertRule[] {
  const window = duration(MISSED_SCRAPE_WINDOW_SCRAPES * scrapeIntervalSeconds);
  return [
    {
      alert: 'KeepalivedVipNoHolder',
      // No node MASTER, or every keepalived unreachable (then nobody can tell: page as well). One missed scrape of
      // the holder's exporter (or of all of them) must not read as "no holder": each node's state is its last
      // sample within the window, and "unreachable" means no scrape answered within it. A node that reports it is
      // no longer MASTER does so by a new sample, seen at once; only a holder that vanishes without a takeover is
      // seen up to the window later.
      expr: `sum by (namespace) (last_over_time(keepalived_vrrp_master${vip}[${window}])) == 0` +
        ` or sum by (namespace) (max_over_time(up${vip}[${window}])) == 0`,
      // A takeover took 0.06-2.8 s here (a stop, a silent death, a failed track check): 30 s is none of those.
      forSeconds: 30,
      severity: 'critical',
      summary: 'No node holds the VIP',
      description: 'No keepalived of {{ $labels.namespace }} is MASTER: every API behind the VIP is unreachable.',
    },
    {
      alert: 'KeepalivedVipSeveralHolders',
      // The instant sum: a missed scrape can only lower it. Carrying a vanished holder's last 1 (as NoHolder does)
      // would count it beside the node that took over.
      expr: `sum by (namespace) (keepalived_vrrp_master${vip}) > 1`,
      // A live handover overlaps for 0.1-22 ms (measured); 30 s of two holders is a split (adverts not getting through).
      forSeconds: 30,
      severity: 'critical',
      summary: 'More than one node holds the VIP',
      description: '{{ $value }} nodes of {{ $labels.namespace }} are MASTER: the VRRP adverts between them do not get through.',
    },
    {
      alert: 'KeepalivedNodeOutOfElection',
      // keepalived_vrrp_fault is 1 while the node's track check fails (HAProxy on that node is not healthy) and while
      // its start script waits for a peer's advert or for its node's file (lib/keepalived/start.ts): the node cannot
      // take the VIP. The VIP still has a holder (NoHolder is the outage); this is the redundancy quietly gone, two
      // edge nodes of three out and the next failure is the outage. Per node, its last samples over the missed-scrape
      // window all FAULT; a node whose pod is gone has no series (its DaemonSet says so).
      expr: `min_over_time(keepalived_vrrp_fault${vip}[${window}]) == 1`,
      // Nothing normal stays FAULT for minutes: a failed check that recovers, a roll's wait (one advert interval), a
      // new node's wait for the survivors' reload (about a minute).
      forSeconds: 300,
      severity: 'warning',
      summary: 'A VIP node is out of the election',
      description: '{{ $labels.pod }} ({{ $labels.instance }}) of {{ $labels.namespace }} has been in FAULT for 5 min: it cannot take the VIP if the holder fails. Its keepalived log says why: the track check (HAProxy on that node), or the start script waiting for a peer\'s advert or for its node\'s file.',
    },
  ];
}

/**
 * The groups in Prometheus' rule-file form (`groups:` with `for` as a duration), for a PrometheusRule's spec and for
 * promtool. `forScale` shortens every `for` by that factor (at least 1 s): only the end-to-end test uses it, so that
 * failures that page after minutes can be shown in seconds; everything else renders at 1.
 */
export function ruleFileGroups(groups: readonly RuleGroup[], options: { forScale?: number; evaluationIntervalSeconds?: number } = {}): RuleFileGroup[] {
  const scale = options.forScale ?? 1;
  return groups.map((g) => ({
    name: g.name,
    ...(options.evaluationIntervalSeconds !== undefined ? { interval: duration(options.evaluationIntervalSeconds) } : {}),
    rules: g.rules.map((r) => ({
      alert: r.alert,
      expr: r.expr,
      for: r.forSeconds === 0 ? '0s' : duration(Math.max(1, Math.round(r.forSeconds * scale))),
      labels: { severity: r.severity },
      annotations: { summary: r.summary, description: r.description, runbook: `README.md#${r.alert.toLowerCase()}` },
    })),
  }));
}

export interface RuleFileGroup {
  readonly name: string;
  readonly interval?: string;
  readonly rules: ReadonlyArray<{
    readonly alert: string;
    readonly expr: string;
    readonly for: string;
    readonly labels: Record<string, string>;
    readonly annotations: Record<string, string>;
  }>;
}

/** Seconds as a Prometheus duration: `15m`, `90s`, `1h`. */
export function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
