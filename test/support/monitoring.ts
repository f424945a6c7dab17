/**
 * The monitored control plane the monitoring tests share (unit, promtool and end-to-end), and what they read out of
 * its synthesized objects: the PrometheusRule's groups as a rule file, the PodMonitors' endpoints.
 */
import { Chart } from 'cdk8s';
import { MonitoringOptions, OpenStackControlPlane } from '../../lib';
import { K8sObject, newApp, ofKind, synth } from './harness';
import { CONTROL_PLANE_PROPS } from './fixtures';

export const SCRAPER: MonitoringOptions['scraper'] = {
  podLabels: { 'app.kubernetes.io/name': 'prometheus' },
  namespaceLabels: { 'kubernetes.io/metadata.name': 'monitoring' },
};

export const MONITORING: MonitoringOptions = { scraper: SCRAPER, selectorLabels: { release: 'kube-prometheus-stack' } };

/** The example control plane in namespace `openstack`, with `monitoring` when given. */
export function controlPlane(monitoring?: MonitoringOptions): { cp: OpenStackControlPlane; objects: K8sObject[] } {
  const chart = new Chart(newApp(), 'cp', { namespace: 'openstack', disableResourceNameHashes: true });
  const cp = new OpenStackControlPlane(chart, 'cp', { ...CONTROL_PLANE_PROPS, ...(monitoring ? { monitoring } : {}) });
  return { cp, objects: synth(chart) };
}

/** The synthesized PrometheusRule's groups: exactly what prometheus-operator hands Prometheus as a rule file. */
export function ruleFileOf(objects: K8sObject[]): { groups: any[] } {
  const rules = ofKind(objects, 'PrometheusRule');
  if (rules.length !== 1) throw new Error(`expected one PrometheusRule, got ${rules.length}`);
  return { groups: rules[0].spec.groups };
}
