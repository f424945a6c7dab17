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
import { controlPlane, MONITORING, ruleFileOf } from '../support/monitoring';
import { describeWithBinaries } from './support/daemons';

const NS = { namespace: 'openstack' };
const AGENT = { ...NS, job: 'galera-agent', member: 'galera-1', instance: '10.1.0.5:9200' };
const MYSQLD = { ...NS, job: 'galera-mysqld', pod: 'galera-1', instance: '10.1.0.5:9104' };
const RABBIT = { ...NS, job: 'rabbitmq', instance: '10.0.0.12:15692' };
const HAPROXY = { ...NS, job: 'api-lb', instance: '10.0.0.11:8404', proxy: 'nova-api' };
const MEMCACHED = { ...NS, job: 'memcached', instance: '10.0.0.13:9150' };
const PVC = { ...NS, persistentvolumeclaim: 'data-galera-1' };
const VIP = (node: number) => ({ ...NS, job: 'api-vip', instance: `10.0.0.1${node}:9650` });

function series(name: string, labels: Record<string, string>, values: string): { series: string; values: string } {
  return { series: `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`, values };
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

const CASES: AlertCase[] = [
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
    quiet: { what: 'members reporting a minute apart after a power cut', series: [series('galera_agent_decision', { ...AGENT, action: 'wait', rule: 'incomplete' }, '0 1 1 0x30')], atMinutes: [2, 8] },
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

/** The annotations as Prometheus renders them for this case (only the template forms the rules use). */
function expand(annotations: Record<string, string>, c: AlertCase): Record<string, string> {
  const text = (t: string) => t
    .replace(/{{ \$labels\.(\w+) }}/g, (_, name: string) => c.labels[name] ?? '')
    .replace(/{{ \$value( \| humanizePercentage)? }}/g, () => c.value ?? '');
  return Object.fromEntries(Object.entries(annotations).map(([k, v]) => [k, text(v)]));
}

function promtoolTests(rulesFile: string, alerts: Map<string, any>): string {
  const tests = CASES.flatMap((c) => {
    const rule = alerts.get(c.alert);
    const expected = { exp_labels: { ...c.labels, severity: rule.labels.severity }, exp_annotations: expand(rule.annotations, c) };
    const check = (minute: number, fired: boolean) => ({ eval_time: `${minute}m`, alertname: c.alert, exp_alerts: fired ? [expected] : [] });
    return [
      { name: `${c.alert}: fires on the failure, not before its window`, interval: '1m', input_series: c.failure,
        alert_rule_test: [check(c.silentAtMinute, false), check(c.firesAtMinute, true)] },
      ...(c.quiet ? [{ name: `${c.alert}: silent through ${c.quiet.what}`, interval: '1m', input_series: c.quiet.series,
        alert_rule_test: c.quiet.atMinutes.map((m) => check(m, false)) }] : []),
    ];
  });
  return stringify({ rule_files: [rulesFile], evaluation_interval: '1m', tests });
}

describeWithBinaries('Alert rules through promtool', ['promtool'], ['prometheus'], () => {
  const { objects } = controlPlane(MONITORING);
  const ruleFile = ruleFileOf(objects);
  const alerts = new Map<string, any>(ruleFile.groups.flatMap((g) => g.rules).map((r: any) => [r.alert, r]));
  let dir: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'i19-rules-'));
    fs.writeFileSync(path.join(dir, 'rules.yaml'), stringify(ruleFile));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('promtool check rules accepts the synthesized rules', () => {
    const out = execFileSync('promtool', ['check', 'rules', path.join(dir, 'rules.yaml')]).toString();
    expect(out).toContain(`SUCCESS: ${alerts.size} rules found`);
  });

  test('every alert has a promtool scenario', () => {
    expect([...alerts.keys()].filter((a) => !CASES.some((c) => c.alert === a))).toEqual([]);
  });

  test('promtool test rules: each alert fires on its failure after its full window, and stays silent through a normal recovery', () => {
    fs.writeFileSync(path.join(dir, 'tests.yaml'), promtoolTests('rules.yaml', alerts));
    const r = spawnSync('promtool', ['test', 'rules', 'tests.yaml'], { cwd: dir, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  test('promtool test rules fails when an alert fires too early (the scenarios can fail)', () => {
    const early = new Map([...alerts].map(([name, rule]) => [name, { ...rule, for: '1m' }]));
    const rules = { groups: ruleFile.groups.map((g) => ({ ...g, rules: g.rules.map((r: any) => early.get(r.alert)) })) };
    fs.writeFileSync(path.join(dir, 'early.yaml'), stringify(rules));
    fs.writeFileSync(path.join(dir, 'early-tests.yaml'), promtoolTests('early.yaml', alerts));
    const r = spawnSync('promtool', ['test', 'rules', 'early-tests.yaml'], { cwd: dir, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });

  test('promtool check metrics accepts the recovery agent\'s exposition (no lint problem)', () => {
    const text = renderMetrics({
      member: 'galera-0', size: 3, phase: 'waiting',
      self: { ordinal: 0, name: 'galera-0', data: 'known', position: { uuid: 'u', seqno: 42 }, running: false, primary: false, synced: false },
      peers: [{ name: 'galera-1', reachable: false }], decision: { action: 'blocked', rule: 'incomplete', reason: 'r' }, secondsWithoutPrimary: 130,
    });
    expect(execFileSync('promtool', ['check', 'metrics'], { input: text }).toString()).toBe('');
  });
});
