/**
 * The monitored control plane the monitoring tests share (unit, promtool and end-to-end), and what they read out of
 * its synthesized objects: the PrometheusRule's groups as a rule file, the PodMonitors' endpoints.
 */
import { Chart } from 'cdk8s';
import {
  BackupDestination, ControlPlaneMonitoring, GaleraBackup, GaleraPetSet, GaleraPetSetProps, GaleraStorage, MonitoringOptions, OpenStackControlPlane,
  OpenStackControlPlaneProps, Placement, ProxySqlLayer, SecretValue, TlsCertificates,
} from '../../lib';
import { K8sObject, newApp, ofKind, synth } from './harness';
import { CONTROL_PLANE_PROPS, GALERA_CREDENTIALS, NODES } from './fixtures';

export const SCRAPER: MonitoringOptions['scraper'] = {
  podLabels: { 'app.kubernetes.io/name': 'prometheus' },
  namespaceLabels: { 'kubernetes.io/metadata.name': 'monitoring' },
};

export const MONITORING: MonitoringOptions = { scraper: SCRAPER, selectorLabels: { release: 'kube-prometheus-stack' } };

/** The example control plane in namespace `openstack`, with `monitoring` when given. */
export function controlPlane(monitoring?: MonitoringOptions, extra: Partial<OpenStackControlPlaneProps> = {}): { cp: OpenStackControlPlane; objects: K8sObject[] } {
  const chart = new Chart(newApp(), 'cp', { namespace: 'openstack', disableResourceNameHashes: true });
  const cp = new OpenStackControlPlane(chart, 'cp', { ...CONTROL_PLANE_PROPS, ...extra, ...(monitoring ? { monitoring } : {}) });
  return { cp, objects: synth(chart) };
}

/** Seconds of a Prometheus duration as the rules render it (`lib/monitoring` `duration`): `30s`, `3m`, `1m30s`, `2h`. */
export function durationSeconds(duration: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration);
  if (!m || duration === '') throw new Error(`unexpected duration ${duration}`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** The synthesized PrometheusRule's groups: exactly what prometheus-operator hands Prometheus as a rule file. */
export function ruleFileOf(objects: K8sObject[]): { groups: any[] } {
  const rules = ofKind(objects, 'PrometheusRule');
  if (rules.length !== 1) throw new Error(`expected one PrometheusRule, got ${rules.length}`);
  return { groups: rules[0].spec.groups };
}

/** The backup schedule of the monitored backups: daily at 02:00. */
export const BACKUP_SCHEDULE = '0 2 * * *';

/**
 * A Galera cluster with TLS (cert-manager) and its GaleraBackup, monitored: the chart that has the certificate and
 * backup alerts (OpenStackControlPlane has no TLS prop yet).
 */
export function monitoredTlsGaleraWithBackup(): K8sObject[] {
  const { chart, galera } = galeraChart({
    metricsExporter: true,
    tls: { certificates: TlsCertificates.certManager({ issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } }) },
  });
  const backup = new GaleraBackup(chart, 'backup', {
    galera, schedule: BACKUP_SCHEDULE, destination: BackupDestination.volume({ claimName: 'galera-backups' }),
  });
  new ControlPlaneMonitoring(chart, 'monitoring', { ...MONITORING, galera, backup });
  return synth(chart);
}

/**
 * A ProxySQL layer whose read-only port does NOT fall back to the writer (`readerFallbackToWriter: false`), monitored:
 * the chart with ProxySqlNoReader (OpenStackControlPlane keeps the fallback on).
 */
export function monitoredProxySqlWithoutFallback(): K8sObject[] {
  const { chart, galera } = galeraChart({});
  const proxySql = new ProxySqlLayer(chart, 'proxysql', {
    galera, placement: Placement.onNodes(NODES), adminPassword: SecretValue.fromSecret('proxysql-admin', 'password'),
    allowedClients: [{ podLabels: { application: 'nova' } }], metricsExporter: true, readerFallbackToWriter: false,
  });
  new ControlPlaneMonitoring(chart, 'monitoring', { ...MONITORING, proxySql });
  return synth(chart);
}

/** A chart in namespace `openstack` with a Galera cluster on the fixture nodes (`extra` props on top). */
function galeraChart(extra: Partial<GaleraPetSetProps>): { chart: Chart; galera: GaleraPetSet } {
  const chart = new Chart(newApp(), 'db', { namespace: 'openstack', disableResourceNameHashes: true });
  const galera = new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes(NODES),
    storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
    credentials: GALERA_CREDENTIALS,
    ...extra,
  });
  return { chart, galera };
}
