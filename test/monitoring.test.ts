import * as fs from 'fs';
import { Chart } from 'cdk8s';
import { BackupDestination, ControlPlaneMonitoring, GaleraBackup, GaleraPetSet, GaleraStorage, Placement, ProxySqlLayer, RabbitVersion, SecretValue } from '../lib';
import { renderMetrics } from '../lib/galera/agent/metrics';
import { longestCronGapSeconds } from '../lib/monitoring/schedule';
import { errorOf, expectValidManifests, find, newChart, ofKind, synth, K8sObject } from './support/harness';
import { GALERA_CREDENTIALS, NODES as CONTROLLERS } from './support/fixtures';
import { controlPlane, durationSeconds, MONITORING, monitoredProxySqlWithoutFallback, monitoredTlsGaleraWithBackup, ruleFileOf, SCRAPER } from './support/monitoring';

function containers(o: K8sObject): any[] {
  return o.spec.template.spec.containers;
}

describe('OpenStackControlPlane with monitoring', () => {
  const { cp, objects } = controlPlane(MONITORING);

  test('every object is valid: Kubernetes schema, the pinned prometheus-operator CRD schemas, the API rules, the invariants', () => {
    expectValidManifests(objects, { requireNamespace: true });
    expect(ofKind(objects, 'PodMonitor').length).toBe(6);
    expect(ofKind(objects, 'PrometheusRule').length).toBe(1);
  });

  test('Galera gets a mysqld-exporter sidecar logging in as the monitor account, its password only from the Secret, as a file that rotates live', () => {
    const sts = find(objects, 'StatefulSet', 'galera');
    const exporter = containers(sts).find((c) => c.name === 'mysqld-exporter');
    expect(exporter.image).toBe('quay.io/prometheus/mysqld-exporter:v0.15.1');
    // The wrapper (assets/galera/exporter.sh, the image's busybox sh) starts the exporter and sets its listen address.
    expect(exporter.command).toEqual(['sh', '/opt/galera/exporter.sh']);
    expect(exporter.args).toEqual(expect.arrayContaining(['--mysqld.address=127.0.0.1:3306', '--mysqld.username=monitor']));
    expect(exporter.args.filter((a: string) => a.startsWith('--web.listen-address'))).toEqual([]);
    expect(exporter.env).toEqual([
      { name: 'MYSQLD_EXPORTER_PASSWORD_FILE', value: '/etc/mysqld-exporter-credentials/GALERA_MONITOR_PASSWORD' },
      { name: 'MYSQLD_EXPORTER_LISTEN', value: ':9104' },
      { name: 'MYSQLD_EXPORTER_CHECK_ADDRESS', value: '127.0.0.1:9105' },
    ]);
    expect(exporter.volumeMounts).toEqual([
      { name: 'scripts', mountPath: '/opt/galera', readOnly: true },
      { name: 'exporter-credentials', mountPath: '/etc/mysqld-exporter-credentials', readOnly: true },
    ]);
    // Its own volume with the monitor's key alone (the users' passwords stay out of the exporter), mounted whole.
    expect(sts.spec.template.spec.volumes.find((v: any) => v.name === 'exporter-credentials').projected).toEqual({
      defaultMode: 0o440,
      sources: [{ secret: { name: GALERA_CREDENTIALS.monitorPassword.secretName, items: [{ key: GALERA_CREDENTIALS.monitorPassword.key, path: 'GALERA_MONITOR_PASSWORD', mode: 0o440 }] } }],
    });
    expect(exporter.ports).toEqual([{ name: 'metrics', containerPort: 9104, protocol: 'TCP' }]);
    expect(find(objects, 'ConfigMap', 'galera-scripts').data['exporter.sh']).toContain('MYSQLD_EXPORTER_PASSWORD_FILE');
  });

  test('memcached gets a memcached-exporter sidecar on the node address memcached listens on, never every interface', () => {
    const exporter = containers(find(objects, 'DaemonSet', 'memcached')).find((c) => c.name === 'memcached-exporter');
    expect(exporter.args).toEqual(['--memcached.address=$(HOST_IP):11211', '--web.listen-address=$(HOST_IP):9150']);
    expect(exporter.env.map((e: any) => e.name)).toEqual(['HOST_IP']);
  });

  test('keepalived writes its VRRP state on every transition; a node-exporter sidecar serves only that file, on the node address', () => {
    const vip = find(objects, 'DaemonSet', 'api-vip');
    const [keepalived, exporter] = containers(vip);
    expect(exporter.name).toBe('vrrp-state-exporter');
    expect(exporter.args).toEqual(['--web.listen-address=$(HOST_IP):9650', '--collector.disable-defaults', '--collector.textfile',
      '--collector.textfile.directory=/run/keepalived/metrics']);
    expect(exporter.volumeMounts).toEqual([{ name: 'run', mountPath: '/run/keepalived', readOnly: true }]);
    expect(exporter.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65534, capabilities: { drop: ['ALL'] } });
    expect(exporter.securityContext.capabilities.add).toBeUndefined();
    // Before keepalived runs, the file says "not the holder" (and FAULT while the start script waits for an advert).
    expect(keepalived.command[2]).toContain('state() { (m=0; f=0; [ "$1" = MASTER ] && m=1; [ "$1" = FAULT ] && f=1;');
    expect(keepalived.command[2]).toContain('mkdir -p /run/keepalived/metrics && state INIT');
    const conf = Object.values(find(objects, 'ConfigMap', 'api-vip-config').data as Record<string, string>)[0];
    expect(conf).toContain(`  notify "/bin/bash -c '(m=0; f=0; [ $3 = MASTER ] && m=1; [ $3 = FAULT ] && f=1; { echo keepalived_vrrp_master $m; ` +
      `echo keepalived_vrrp_fault $f; } > /run/keepalived/metrics/.vrrp && mv /run/keepalived/metrics/.vrrp /run/keepalived/metrics/vrrp.prom)' notify"`);
  });

  test('one PodMonitor per component, by named port, with a stable job name the rules select on', () => {
    const galera = find(objects, 'PodMonitor', 'galera-metrics');
    expect(galera.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(galera.spec.selector.matchLabels).toEqual(cp.galera.podSelector);
    expect(galera.spec.podMetricsEndpoints.map((e: any) => [e.port, e.path, e.interval, e.relabelings[0].replacement]))
      .toEqual([['metrics', '/metrics', '30s', 'galera-mysqld'], ['agent', '/metrics', '30s', 'galera-agent']]);
    // Every endpoint's port name exists on the pods it selects.
    for (const monitor of ofKind(objects, 'PodMonitor')) {
      const workload = objects.find((o) => ['StatefulSet', 'DaemonSet', 'Deployment'].includes(o.kind) &&
        Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => o.spec.template.metadata.labels[k] === v))!;
      const ports = containers(workload).flatMap((c) => (c.ports ?? []).map((p: any) => p.name));
      for (const endpoint of monitor.spec.podMetricsEndpoints) expect(ports).toContain(endpoint.port);
    }
  });

  test('RabbitMQ: a second endpoint scrapes /metrics/detailed with only the families the queue alerts read', () => {
    const rabbit = find(objects, 'PodMonitor', 'rabbitmq-metrics');
    expect(rabbit.spec.podMetricsEndpoints.map((e: any) => [e.port, e.path, e.params, e.relabelings[0].replacement])).toEqual([
      ['prometheus', '/metrics', undefined, 'rabbitmq'],
      ['prometheus', '/metrics/detailed', { family: ['queue_coarse_metrics', 'queue_consumer_count', 'ra_metrics'] }, 'rabbitmq-queues'],
    ]);
    // Every series is stored unless dropUnusedRabbitmqSeries says otherwise.
    expect(rabbit.spec.podMetricsEndpoints.map((e: any) => e.metricRelabelings)).toEqual([undefined, undefined]);
    const alerts = ruleFileOf(objects).groups.flatMap((g: any) => g.rules);
    // Quorum queues should have a member on each of the 3 brokers (the reconciliation target, at most 3); a member
    // counts while its term (either name: 4.2 renamed it) was seen in the last 3 scrapes, so one missed scrape is not
    // a member gone; 4.2's metadata-store Raft series (no queue label) are not queues.
    const term = (name: string) => `last_over_time(${name}{job="rabbitmq-queues",namespace="openstack",queue!=""}[90s])`;
    expect(alerts.find((a: any) => a.alert === 'RabbitMQQuorumQueueMissingReplicas').expr)
      .toBe(`count by (namespace, vhost, queue) (${term('rabbitmq_detailed_raft_term_total')} or ${term('rabbitmq_detailed_raft_term')}) < 3`);
    // Range windows in scrapes: 4 and 10 scrapes of 30 s.
    expect(alerts.find((a: any) => a.alert === 'RabbitMQMinorityPaused').expr).toContain('[2m]');
    expect(alerts.find((a: any) => a.alert === 'RabbitMQQueueGrowingWithoutConsumers').expr).toContain('[5m]');
    // The VIP's holder is its last state within 3 scrapes; several holders is the instant sum (carrying a vanished
    // holder's 1 would count it beside the node that took over).
    expect(alerts.find((a: any) => a.alert === 'KeepalivedVipNoHolder').expr).toBe(
      'sum by (namespace) (last_over_time(keepalived_vrrp_master{job="api-vip",namespace="openstack"}[90s])) == 0' +
      ' or sum by (namespace) (max_over_time(up{job="api-vip",namespace="openstack"}[90s])) == 0');
    expect(alerts.find((a: any) => a.alert === 'KeepalivedVipSeveralHolders').expr).toBe('sum by (namespace) (keepalived_vrrp_master{job="api-vip",namespace="openstack"}) > 1');
  });

  test('RabbitMQ 4.3 (Mnesia and pause_minority removed): the partition alerts read the same series but do not say "paused"', () => {
    const rules = (objects: K8sObject[]) => new Map<string, any>(ruleFileOf(objects).groups.flatMap((g: any) => g.rules).map((r: any) => [r.alert, r]));
    const v41 = rules(objects);
    const v43 = rules(controlPlane(MONITORING, { rabbitVersion: RabbitVersion.V4_3 }).objects);
    expect(v41.get('RabbitMQMinorityPaused').annotations.summary).toBe('A RabbitMQ broker is cut off from the cluster and paused (pause_minority)');
    expect(v43.get('RabbitMQMinorityPaused').annotations.summary).toBe('A RabbitMQ broker is cut off from the cluster');
    for (const alert of ['RabbitMQMinorityPaused', 'RabbitMQBrokerDown']) {
      expect(v43.get(alert).annotations.description).not.toMatch(/has paused itself|paused by pause_minority/);
      expect(v43.get(alert).expr).toBe(v41.get(alert).expr);
    }
  });

  test('RabbitMQMinorityPaused: one stray low sample (true for a whole window) can never fire it, at any scrape interval', () => {
    const fors: string[] = [];
    for (const scrapeIntervalSeconds of [1, 2, 15, 30, 44, 45, 46, 60, 120, 300]) {
      const rule = ruleFileOf(controlPlane({ ...MONITORING, scrapeIntervalSeconds }).objects).groups.flatMap((g: any) => g.rules)
        .find((r: any) => r.alert === 'RabbitMQMinorityPaused');
      const window = durationSeconds(/min_over_time\(.*\[([0-9hms]+)\]\)/.exec(rule.expr)![1]);
      expect(window).toBe(4 * scrapeIntervalSeconds);
      // Longer than the window by at least one scrape (an evaluation may land just inside either end of it).
      expect(durationSeconds(rule.for) - window).toBeGreaterThanOrEqual(2 * scrapeIntervalSeconds);
      expect(durationSeconds(rule.for)).toBeGreaterThanOrEqual(180);
      fors.push(rule.for);
    }
    // 3 min up to 30 s scrapes, 6 scrapes beyond (before: 3 min at every interval, so from 45 s scrapes up one sample could fire it).
    expect(fors).toEqual(['3m', '3m', '3m', '3m', '264s', '270s', '276s', '6m', '12m', '30m']);
  });

  test('dropUnusedRabbitmqSeries: the detailed endpoint stores only what an alert or a dashboard reads; /metrics is untouched', () => {
    const trimmed = controlPlane({ ...MONITORING, dropUnusedRabbitmqSeries: true }).objects;
    expectValidManifests(trimmed, { requireNamespace: true });
    const [node, queues] = find(trimmed, 'PodMonitor', 'rabbitmq-metrics').spec.podMetricsEndpoints;
    expect(node.metricRelabelings).toBeUndefined();
    expect(queues.metricRelabelings).toEqual([{
      action: 'keep', sourceLabels: ['__name__'],
      regex: 'rabbitmq_detailed_raft_term_total|rabbitmq_detailed_raft_term|rabbitmq_detailed_queue_messages|rabbitmq_detailed_queue_consumers',
    }]);
    // Every series of the queues job that a rule or a panel names is kept (Prometheus anchors the regex).
    const keep = new RegExp(`^(?:${queues.metricRelabelings[0].regex})$`);
    const boards = ofKind(trimmed, 'ConfigMap').filter((m) => m.metadata.labels?.grafana_dashboard === '1')
      .flatMap((m) => JSON.parse(Object.values(m.data as Record<string, string>)[0]).panels.map((p: any) => p.targets[0].expr));
    const exprs = [...ruleFileOf(trimmed).groups.flatMap((g: any) => g.rules).map((r: any) => r.expr), ...boards];
    // `up` is the scrape's own series: metric relabeling never applies to it.
    const read = exprs.flatMap((e: string) => [...e.matchAll(/(\w+)\{job="rabbitmq-queues"/g)].map((m) => m[1])).filter((name) => name !== 'up');
    expect(new Set(read)).toEqual(new Set(['rabbitmq_detailed_raft_term_total', 'rabbitmq_detailed_raft_term', 'rabbitmq_detailed_queue_messages', 'rabbitmq_detailed_queue_consumers']));
    for (const name of read) expect(name).toMatch(keep);
    for (const dropped of ['rabbitmq_detailed_raft_log_commit_index', 'rabbitmq_detailed_raft_commit_latency_seconds', 'rabbitmq_detailed_queue_messages_ready']) {
      expect(dropped).not.toMatch(keep);
    }
    // Only the PodMonitor changes.
    expect(trimmed.filter((o) => o.kind !== 'PodMonitor')).toEqual(objects.filter((o) => o.kind !== 'PodMonitor'));
  });

  test('ProxySQL serves its built-in exporter on 6070 (restapi), scraped by port name; the alerts read its writer and reader hostgroups', () => {
    const cnf = find(objects, 'ConfigMap', 'proxysql-config').data['proxysql.cnf'];
    expect(cnf).toMatch(/admin_variables=\n\{\n(  .*\n)*  restapi_enabled="true"\n  restapi_port=6070\n\}/);
    const proxysql = containers(find(objects, 'Deployment', 'proxysql')).find((c) => c.name === 'proxysql');
    expect(proxysql.ports).toContainEqual({ name: 'metrics', containerPort: 6070, protocol: 'TCP' });
    const monitor = find(objects, 'PodMonitor', 'proxysql-metrics');
    expect(monitor.spec.podMetricsEndpoints.map((e: any) => [e.port, e.path])).toEqual([['metrics', '/metrics']]);
    const alerts = ruleFileOf(objects).groups.flatMap((g: any) => g.rules);
    expect(alerts.find((a: any) => a.alert === 'ProxySqlNoWriter').expr).toBe('up{job="proxysql",namespace="openstack"} == 1 unless on (namespace, pod, instance)' +
      ' (proxysql_connpool_conns_status{job="proxysql",namespace="openstack",hostgroup="10"} == 1)');
    // Without monitoring, no exporter: the file and the pod are as before.
    const plain = controlPlane().objects;
    expect(find(plain, 'ConfigMap', 'proxysql-config').data['proxysql.cnf']).not.toContain('restapi');
    expect(containers(find(plain, 'Deployment', 'proxysql')).find((c) => c.name === 'proxysql').ports.map((p: any) => p.name)).toEqual(['rw', 'ro']);
  });

  test('the scraper is admitted exactly on the metrics ports of the pod-network components, and nothing else is', () => {
    const policy = find(objects, 'NetworkPolicy', 'galera-metrics');
    expect(policy.spec.podSelector.matchLabels).toEqual(cp.galera.podSelector);
    expect(policy.spec.ingress).toEqual([{
      from: [{ podSelector: { matchLabels: SCRAPER.podLabels }, namespaceSelector: { matchLabels: SCRAPER.namespaceLabels } }],
      ports: [{ protocol: 'TCP', port: 9104 }, { protocol: 'TCP', port: 9200 }],
    }]);
    // ProxySQL's exporter listens on every interface of its pod: only the scraper reaches it, on 6070 only.
    expect(find(objects, 'NetworkPolicy', 'proxysql-metrics').spec).toEqual({
      podSelector: { matchLabels: cp.proxySql.podSelector },
      policyTypes: ['Ingress'],
      ingress: [{
        from: [{ podSelector: { matchLabels: SCRAPER.podLabels }, namespaceSelector: { matchLabels: SCRAPER.namespaceLabels } }],
        ports: [{ protocol: 'TCP', port: 6070 }],
      }],
    });
    // RabbitMQ, HAProxy and memcached run on the host network here: a NetworkPolicy does not apply to them.
    expect(ofKind(objects, 'NetworkPolicy').filter((p) => p.metadata.name.endsWith('-metrics')).map((p) => p.metadata.name))
      .toEqual(['galera-metrics', 'proxysql-metrics']);
  });

  test('one alert per failure mode, each with a severity, a summary and its README runbook entry', () => {
    const rule = ofKind(objects, 'PrometheusRule')[0];
    const alerts = rule.spec.groups.flatMap((g: any) => g.rules);
    expect(alerts.map((a: any) => a.alert)).toEqual(cp.monitoring!.alertNames);
    expect(cp.monitoring!.alertNames).toEqual([
      'GaleraMemberNotSynced', 'GaleraClusterSizeBelowReplicas', 'GaleraNonPrimary', 'GaleraRecoveryWaitingForMember',
      'GaleraRecoveryBlocked', 'GaleraFlowControlPausingWrites', 'GaleraDataVolumeNearlyFull',
      'RabbitMQBrokerDown', 'RabbitMQMinorityPaused', 'RabbitMQQuorumQueueMissingReplicas', 'RabbitMQQueueGrowingWithoutConsumers',
      'RabbitMQMemoryAlarm', 'RabbitMQDiskAlarm', 'ProxySqlNoWriter', 'ProxySqlReaderFallbackEngaged', 'HaproxyBackendDown', 'MemcachedInstanceDown',
      'KeepalivedVipNoHolder', 'KeepalivedVipSeveralHolders', 'KeepalivedNodeOutOfElection',
    ]);
    const readme = fs.readFileSync(`${__dirname}/../README.md`, 'utf8');
    for (const a of alerts) {
      expect(a.labels.severity).toMatch(/^(critical|warning)$/);
      expect(a.annotations.summary.length).toBeGreaterThan(10);
      expect(a.expr).toContain('namespace="openstack"');
    }
    expect(alerts.filter((a: any) => !readme.includes(`#### ${a.alert}\n`)).map((a: any) => a.alert)).toEqual([]);
    expect(alerts.find((a: any) => a.alert === 'GaleraClusterSizeBelowReplicas').expr)
      .toBe('max by (namespace) (mysql_global_status_wsrep_cluster_size{job="galera-mysqld",namespace="openstack"}) < 3');
  });

  test('dashboards: Grafana JSON in ConfigMaps with the sidecar label, the control plane at a glance and one per component', () => {
    const maps = ofKind(objects, 'ConfigMap').filter((m) => m.metadata.labels?.grafana_dashboard === '1');
    const boards = maps.map((m) => JSON.parse(Object.values(m.data as Record<string, string>)[0]));
    expect(boards.map((b) => b.title)).toEqual([
      'OpenStack HA control plane (openstack)', 'Galera: galera (openstack)', 'RabbitMQ: rabbitmq (openstack)', 'ProxySQL: proxysql (openstack)', 'HAProxy: api-lb (openstack)', 'memcached: memcached (openstack)',
      'VIP: api-vip (openstack)',
    ]);
    for (const b of boards) {
      expect(b.panels.length).toBeGreaterThan(0);
      for (const p of b.panels) expect(p.targets[0].expr).toMatch(/namespace="openstack"/);
    }
    expect(new Set(boards.map((b) => b.uid)).size).toBe(boards.length);
  });

  test('without the prop: no exporter sidecar and no monitoring object', () => {
    const plain = controlPlane().objects;
    expect(containers(find(plain, 'StatefulSet', 'galera')).map((c) => c.name)).toEqual(['mariadb', 'agent']);
    expect(containers(find(plain, 'DaemonSet', 'memcached')).map((c) => c.name)).toEqual(['memcached']);
    expect(containers(find(plain, 'DaemonSet', 'api-vip')).map((c) => c.name)).toEqual(['keepalived']);
    expect(Object.values(find(plain, 'ConfigMap', 'api-vip-config').data as Record<string, string>)[0]).not.toContain('notify');
    expect(plain.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com') || o.metadata.name.endsWith('-metrics'))).toEqual([]);
  });

  test('same props, same bytes', () => {
    expect(JSON.stringify(controlPlane(MONITORING).objects)).toBe(JSON.stringify(objects));
  });
});

describe('backup and certificate alerts', () => {
  const objects = monitoredTlsGaleraWithBackup();
  const alerts = ruleFileOf(objects).groups.flatMap((g: any) => g.rules);
  const byName = (name: string) => alerts.find((a: any) => a.alert === name);

  test('a TLS Galera with GaleraBackup: valid objects, the certificate and backup alerts, each with its README runbook', () => {
    expectValidManifests(objects, { requireNamespace: true });
    const added = ['GaleraTlsCertificateExpiringSoon', 'GaleraTlsCertificateExpiryCritical', 'GaleraTlsCertificateNotReloaded', 'GaleraTlsNotServed',
      'GaleraBackupTooOld', 'GaleraBackupFailed', 'GaleraRestoreDrillTooOld', 'GaleraRestoreDrillFailed'];
    expect(alerts.map((a: any) => a.alert)).toEqual(expect.arrayContaining(added));
    const readme = fs.readFileSync(`${__dirname}/../README.md`, 'utf8');
    expect(alerts.filter((a: any) => !readme.includes(`#### ${a.alert}\n`)).map((a: any) => a.alert)).toEqual([]);
    for (const name of added) expect(byName(name).expr).toContain('namespace="openstack"');
  });

  test('backup age threshold: the schedule\'s longest gap + the late-start hour + the run\'s deadline (daily: 31 h)', () => {
    expect(byName('GaleraBackupTooOld').expr).toContain('kube_cronjob_status_last_successful_time{namespace="openstack",cronjob="galera-backup"}) > 111600');
    expect(byName('GaleraRestoreDrillTooOld').expr).toContain('cronjob="galera-backup-drill"}) > 111600');
    expect(byName('GaleraBackupFailed').expr).toContain('owner_kind="CronJob",owner_name="galera-backup"');
    expect(byName('GaleraBackupTooOld').for).toBe('0s');
  });

  test('the agent gets the certificate alone (never the key) and the address it reads the served one from', () => {
    const pod = find(objects, 'StatefulSet', 'galera').spec.template.spec;
    const agent = pod.containers.find((c: any) => c.name === 'agent');
    const volume = pod.volumes.find((v: any) => v.name === 'tls-certificate');
    expect(volume.secret).toMatchObject({ secretName: 'galera-tls', items: [{ key: 'tls.crt', path: 'tls.crt', mode: 0o444 }] });
    expect(agent.volumeMounts).toContainEqual({ name: 'tls-certificate', mountPath: '/etc/galera-tls-certificate', readOnly: true });
    expect(agent.volumeMounts.map((m: any) => m.name)).not.toContain('tls');
    expect(agent.env).toEqual(expect.arrayContaining([
      { name: 'GALERA_TLS_CERTIFICATE', value: '/etc/galera-tls-certificate/tls.crt' }, { name: 'GALERA_MYSQL_PORT', value: '3306' },
    ]));
  });

  test('no TLS, no backup: none of these alerts', () => {
    const names = ofKind(controlPlane(MONITORING).objects, 'PrometheusRule')[0].spec.groups.flatMap((g: any) => g.rules).map((r: any) => r.alert);
    expect(names.filter((n: string) => /Tls|Backup|Drill/.test(n))).toEqual([]);
  });

  test('OpenStackControlPlane with backup: its monitoring has the backup alerts', () => {
    const { cp } = controlPlane(MONITORING, { backup: { schedule: '30 1 * * 1-5', destination: BackupDestination.volume({ claimName: 'galera-backups' }) } });
    expect(cp.monitoring!.alertNames).toEqual(expect.arrayContaining(['GaleraBackupTooOld', 'GaleraBackupFailed', 'GaleraRestoreDrillTooOld', 'GaleraRestoreDrillFailed']));
  });

  test('a schedule that never fires (30 February) is refused: no age could be late', () => {
    const chart = newChart('openstack');
    const galera = new GaleraPetSet(chart, 'galera', {
      placement: Placement.onNodes(CONTROLLERS), storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '10Gi' }), credentials: GALERA_CREDENTIALS,
    });
    const backup = new GaleraBackup(chart, 'backup', { galera, schedule: '0 2 30 2 *', destination: BackupDestination.volume({ claimName: 'b' }) });
    expect(errorOf(() => new ControlPlaneMonitoring(chart, 'mon', { scraper: SCRAPER, backup })))
      .toContain('backup: "0 2 30 2 *" is a schedule that (almost) never fires');
  });
});

describe('longestCronGapSeconds (the CronJob controller\'s reading, UTC)', () => {
  test.each([
    ['0 2 * * *', 24 * 3600],
    ['@hourly', 3600],
    ['*/15 * * * *', 900],
    ['0 2,14 * * *', 12 * 3600],
    ['30 1 * * 1-5', 3 * 24 * 3600], // Friday 01:30 to Monday 01:30
    ['0 2 * * mon,thu', 4 * 24 * 3600], // Thursday to Monday
    ['0 0 1 * *', 31 * 24 * 3600],
    ['@yearly', 366 * 24 * 3600],
    ['0 0 29 2 *', 1461 * 24 * 3600], // leap day to leap day
    // Day of month OR day of week when neither is `*`: the 1st, and every Sunday.
    ['0 0 1 * 0', 7 * 24 * 3600],
  ])('%s: %d s', (schedule, seconds) => {
    expect(longestCronGapSeconds(schedule)).toBe(seconds);
  });

  test('a schedule that never fires has no gap', () => {
    expect(longestCronGapSeconds('0 0 30 2 *')).toBeUndefined();
  });
});

describe('ControlPlaneMonitoring props', () => {
  function galera(chart: Chart, metricsExporter: boolean): GaleraPetSet {
    return new GaleraPetSet(chart, 'galera', {
      placement: Placement.onNodes(CONTROLLERS),
      storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '10Gi' }),
      credentials: GALERA_CREDENTIALS,
      metricsExporter,
    });
  }

  test('every problem at once: a cluster without its exporter, an empty scraper, a bad interval, bad labels', () => {
    const chart = newChart('openstack');
    const message = errorOf(() => new ControlPlaneMonitoring(chart, 'mon', {
      galera: galera(chart, false), scraper: { podLabels: {} }, scrapeIntervalSeconds: 0.5, selectorLabels: { 'bad key!': 'x' },
    }));
    expect(message).toContain("ControlPlaneMonitoring 'mon' has invalid props");
    expect(message).toContain('galera: "galera" serves no metrics without its exporter; set metricsExporter: true on the GaleraPetSet');
    expect(message).toContain('scraper[0].podLabels: {} is empty');
    expect(message).toContain('scrapeIntervalSeconds: 0.5 must be a whole number');
    expect(message).toContain('selectorLabels key: "bad key!"');
  });

  test('ProxySQL: refused without its exporter; without the reader fallback there is no fallback alert, with hostgroups of its own the rules follow them', () => {
    const layer = (chart: Chart, metricsExporter: boolean, readerFallbackToWriter: boolean) => new ProxySqlLayer(chart, 'proxysql', {
      galera: galera(chart, false), placement: Placement.onNodes(CONTROLLERS), adminPassword: SecretValue.fromSecret('proxysql-admin', 'password'),
      allowedClients: [{ podLabels: { application: 'nova' } }], metricsExporter, readerFallbackToWriter, hostgroups: { writer: 1, reader: 3 },
    });
    const refused = newChart('openstack');
    expect(errorOf(() => new ControlPlaneMonitoring(refused, 'mon', { scraper: SCRAPER, proxySql: layer(refused, false, true) })))
      .toContain('proxysql: "proxysql" serves no metrics without its exporter; set metricsExporter: true on the ProxySqlLayer');
    const chart = newChart('openstack');
    const mon = new ControlPlaneMonitoring(chart, 'mon', { scraper: SCRAPER, proxySql: layer(chart, true, false) });
    // Without the fallback, an empty reader hostgroup fails reads: ProxySqlNoReader instead of ...FallbackEngaged.
    expect(mon.alertNames).toEqual(['ProxySqlNoWriter', 'ProxySqlNoReader']);
    const [noWriter, noReader] = ruleFileOf(synth(chart)).groups.flatMap((g: any) => g.rules);
    expect(noWriter.expr).toContain('hostgroup="1"');
    expect(noReader.expr).toBe('up{job="proxysql",namespace="openstack"} == 1 unless on (namespace, pod, instance)' +
      ' (proxysql_connpool_conns_status{job="proxysql",namespace="openstack",hostgroup="3"} == 1)');
    expect(noReader.labels.severity).toBe('critical');
    const withFallback = newChart('openstack');
    expect(new ControlPlaneMonitoring(withFallback, 'mon', { scraper: SCRAPER, proxySql: layer(withFallback, true, true) }).alertNames)
      .toEqual(['ProxySqlNoWriter', 'ProxySqlReaderFallbackEngaged']);
  });

  test('ProxySqlNoReader has its README runbook', () => {
    const readme = fs.readFileSync(`${__dirname}/../README.md`, 'utf8');
    const rules = ruleFileOf(monitoredProxySqlWithoutFallback()).groups.flatMap((g: any) => g.rules).map((r: any) => r.alert);
    expect(rules).toContain('ProxySqlNoReader');
    expect(rules.filter((a: string) => !readme.includes(`#### ${a}\n`))).toEqual([]);
  });

  test('nothing to monitor is refused', () => {
    expect(errorOf(() => new ControlPlaneMonitoring(newChart('openstack'), 'mon', { scraper: SCRAPER })))
      .toContain('are all unset, so there is nothing to monitor');
  });

  test('a Galera cluster alone: its monitor, its policy, its rules, the overview and its dashboard', () => {
    const chart = newChart('openstack');
    const monitoring = new ControlPlaneMonitoring(chart, 'mon', { galera: galera(chart, true), scraper: SCRAPER, dashboards: false, scrapeIntervalSeconds: 15 });
    const objects = synth(chart);
    expectValidManifests(objects);
    expect(monitoring.jobs).toEqual(['galera-mysqld', 'galera-agent']);
    expect(find(objects, 'PodMonitor', 'galera-metrics').spec.podMetricsEndpoints[0].interval).toBe('15s');
    expect(ofKind(objects, 'ConfigMap').filter((m) => m.metadata.labels?.grafana_dashboard)).toEqual([]);
  });
});

describe('the recovery agent\'s /metrics', () => {
  const blocked = renderMetrics({
    member: 'galera-0',
    size: 3,
    phase: 'waiting',
    self: { ordinal: 0, name: 'galera-0', data: 'known', position: { uuid: 'u', seqno: 42 }, running: false, primary: false, synced: false },
    peers: [
      { name: 'galera-1', reachable: false },
      { name: 'galera-2', reachable: true, report: { ordinal: 2, name: 'galera-2', data: 'unknown', running: false, primary: false, synced: false } },
    ],
    decision: { action: 'blocked', rule: 'incomplete', reason: 'galera-1 missing' },
    decidedAtMs: 1_700_000_000_500,
    secondsWithoutPrimary: 130.4,
  });

  test('says what the member does, what it waits for and why it is blocked', () => {
    const lines = blocked.split('\n');
    expect(lines).toEqual(expect.arrayContaining([
      'galera_agent_recovery_blocked{member="galera-0"} 1',
      'galera_agent_decision{member="galera-0",action="blocked",rule="incomplete"} 1',
      'galera_agent_decision{member="galera-0",action="join",rule=""} 0',
      'galera_agent_recovery_phase{member="galera-0",phase="waiting"} 1',
      'galera_agent_recovery_phase{member="galera-0",phase="running"} 0',
      'galera_agent_member_seqno{member="galera-0"} 42',
      'galera_agent_member_data_state{member="galera-0",state="known"} 1',
      'galera_agent_waiting_for_member{member="galera-0",peer="galera-1"} 1',
      'galera_agent_waiting_for_member{member="galera-0",peer="galera-2"} 1',
      'galera_agent_peer_reachable{member="galera-0",peer="galera-1"} 0',
      'galera_agent_seconds_without_primary{member="galera-0"} 130',
      'galera_agent_decision_timestamp_seconds{member="galera-0"} 1700000000',
    ]));
  });

  test('a Synced member waits for nobody', () => {
    const synced = renderMetrics({
      member: 'galera-1', size: 3, phase: 'running',
      self: { ordinal: 1, name: 'galera-1', data: 'known', position: { uuid: 'u', seqno: 7 }, running: true, primary: true, synced: true },
      peers: [], decision: { action: 'join', rule: 'primary-exists', reason: 'r' }, secondsWithoutPrimary: 0,
    });
    expect(synced).toContain('galera_agent_member_synced{member="galera-1"} 1');
    expect(synced).toContain('galera_agent_recovery_blocked{member="galera-1"} 0');
    expect(synced).not.toContain('galera_agent_waiting_for_member{');
    expect(synced).not.toContain('galera_agent_tls_');
  });

  test('with TLS: the served and the mounted certificate\'s notAfter, and whether they are one', () => {
    const base = { member: 'galera-0', size: 3, peers: [], secondsWithoutPrimary: 0 };
    const cert = (notAfterMs: number, fingerprint: string) => ({ notAfterMs, fingerprint });
    const renewedNotLoaded = renderMetrics({ ...base, tls: { mounted: cert(1_800_000_000_999, 'AA'), served: cert(1_790_000_000_000, 'BB') } });
    expect(renewedNotLoaded.split('\n')).toEqual(expect.arrayContaining([
      'galera_agent_tls_mounted_not_after_seconds{member="galera-0"} 1800000000',
      'galera_agent_tls_served_not_after_seconds{member="galera-0"} 1790000000',
      'galera_agent_tls_served_read{member="galera-0"} 1',
      'galera_agent_tls_served_is_mounted{member="galera-0"} 0',
    ]));
    expect(renderMetrics({ ...base, tls: { mounted: cert(1, 'AA'), served: cert(1, 'AA') } })).toContain('galera_agent_tls_served_is_mounted{member="galera-0"} 1');
    // mariadbd down: no served series (never a 0 that reads as "expired in 1970"), and no comparison.
    const down = renderMetrics({ ...base, tls: { mounted: cert(1_800_000_000_000, 'AA'), servedError: 'ECONNREFUSED' } });
    expect(down).toContain('galera_agent_tls_served_read{member="galera-0"} 0');
    expect(down).not.toMatch(/galera_agent_tls_served_not_after_seconds\{/);
    expect(down).not.toMatch(/galera_agent_tls_served_is_mounted\{/);
  });
});
