/**
 * ControlPlaneMonitoring: prometheus-operator objects (PodMonitor per component, one PrometheusRule), the
 * NetworkPolicies that admit the scraper on exactly the metrics ports, and Grafana dashboards in ConfigMaps. It
 * only describes what to scrape and when to alert; prometheus-operator and Grafana are integrations the cluster
 * may have, never requirements of the rest of the library.
 */
import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { standardLabels } from '../common/labels';
import { clientIngressPolicy } from '../common/network';
import { k8s } from '../k8s';
import { dashboards, grafanaJson } from './dashboards';
import {
  PodMonitor, PodMonitorSpecPodMetricsEndpointsMetricRelabelingsAction, PodMonitorSpecPodMetricsEndpointsRelabelingsAction, PrometheusRule,
  PrometheusRuleSpecGroupsRulesExpr,
} from '../imports/monitoring.coreos.com';
import { resolveMonitoring, MonitoringModel } from './model';
import type { ControlPlaneMonitoringProps } from './props';
import { alertGroups, duration, ruleFileGroups } from './rules';
import { validateMonitoring } from './validation';

const COMPONENT = 'monitoring';

export class ControlPlaneMonitoring extends Construct {
  /** The PodMonitors' and the PrometheusRule's `job` names, one per scraped endpoint. */
  public readonly jobs: string[];
  /** The names of the alerts the PrometheusRule defines. */
  public readonly alertNames: string[];

  public constructor(scope: Construct, id: string, props: ControlPlaneMonitoringProps) {
    super(scope, id);
    const model = resolveMonitoring(props, Chart.of(this).namespace);
    validateMonitoring(`ControlPlaneMonitoring '${id}'`, model);
    const labels = { ...standardLabels(id, COMPONENT), ...model.selectorLabels };
    this.jobs = model.components.flatMap((c) => c.endpoints.map((e) => e.job));

    this.podMonitors(model, labels);
    this.scraperPolicies(model, id);
    const groups = alertGroups(model);
    this.alertNames = groups.flatMap((g) => g.rules.map((r) => r.alert));
    new PrometheusRule(this, 'Rules', {
      metadata: { name: `${id}-alerts`, labels },
      spec: {
        groups: ruleFileGroups(groups).map((g) => ({
          name: g.name,
          rules: g.rules.map((r) => ({ ...r, expr: PrometheusRuleSpecGroupsRulesExpr.fromString(r.expr) })),
        })),
      },
    });
    if (model.dashboards) this.dashboards(model, id);
  }

  /** One PodMonitor per component: each pod scraped directly (per-member alerts need every member, not a Service). */
  private podMonitors(model: MonitoringModel, labels: Record<string, string>): void {
    for (const c of model.components) {
      new PodMonitor(this, `${c.name}-${c.kind}`, {
        metadata: { name: `${c.name}-metrics`, labels },
        spec: {
          selector: { matchLabels: { ...c.podSelector } },
          podMetricsEndpoints: c.endpoints.map((e) => ({
            port: e.portName,
            path: e.path,
            ...(e.params ? { params: e.params } : {}),
            interval: duration(model.scrapeIntervalSeconds),
            // A stable job name, whatever the PodMonitor's: the rules and dashboards select on it.
            relabelings: [{ action: PodMonitorSpecPodMetricsEndpointsRelabelingsAction.REPLACE, targetLabel: 'job', replacement: e.job }],
            ...(e.keepOnly ? {
              metricRelabelings: [{
                action: PodMonitorSpecPodMetricsEndpointsMetricRelabelingsAction.KEEP, sourceLabels: ['__name__'], regex: e.keepOnly.join('|'),
              }],
            } : {}),
          })),
        },
      });
    }
  }

  /**
   * The scraper in, on the metrics ports only, to the pod-network components (each family's own policy keeps
   * denying everything else; NetworkPolicies add up). Host-network pods are not subject to NetworkPolicies.
   */
  private scraperPolicies(model: MonitoringModel, id: string): void {
    for (const c of model.components.filter((component) => !component.hostNetwork)) {
      clientIngressPolicy(this, `${c.name}-${c.kind}-scraper`, {
        name: `${c.name}-metrics`,
        labels: standardLabels(id, COMPONENT),
        selector: c.podSelector,
        clients: [model.scraper],
        ports: [...new Set(c.endpoints.map((e) => e.port))],
      });
    }
  }

  private dashboards(model: MonitoringModel, id: string): void {
    for (const d of dashboards(model)) {
      new k8s.KubeConfigMap(this, `dashboard-${d.uid}`, {
        metadata: { name: `${id}-${d.uid}`.slice(0, 63).replace(/-+$/, ''), labels: { ...standardLabels(id, COMPONENT), ...model.dashboardLabels } },
        data: { [`${d.uid}.json`]: grafanaJson(d) },
      });
    }
  }
}
