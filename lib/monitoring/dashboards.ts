/**
 * Grafana dashboards as plain data, then as Grafana's JSON model: one for the control plane at a glance, one per
 * component. Each panel is a PromQL query over the same job names as the rules; the end-to-end test runs every
 * query against a real Prometheus scraping the real exporters.
 */
import { RABBITMQ_RAFT_TERM_SERIES } from './model';
import type { MonitoredComponent, MonitoringModel } from './model';

export interface DashboardPanel {
  readonly title: string;
  readonly expr: string;
  /** `stat`: one number per series now; `timeseries`: a graph. */
  readonly type: 'stat' | 'timeseries';
  /** Grafana unit id, e.g. `percentunit`, `bytes`, `s`. */
  readonly unit?: string;
  /** Legend per series, e.g. `{{member}}`. */
  readonly legend?: string;
}

export interface Dashboard {
  /** Stable Grafana uid (at most 40 characters). */
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly DashboardPanel[];
}

export function dashboards(model: MonitoringModel): Dashboard[] {
  const ns = model.namespace;
  const sel = (job: string, extra = '') => `{job="${job}"${ns ? `,namespace="${ns}"` : ''}${extra}}`;
  const perComponent = model.components.map((c) => componentDashboard(c, sel, ns));
  const overview: Dashboard = {
    uid: uid(`${ns ?? 'default'}-control-plane`),
    title: `OpenStack HA control plane${ns ? ` (${ns})` : ''}`,
    panels: [
      ...model.components.flatMap((c) => c.endpoints.map((e): DashboardPanel => ({
        title: `${e.job}: targets up`, expr: `sum(up${sel(e.job)})`, type: 'stat',
      }))),
      ...perComponent.flatMap((d) => d.panels.slice(0, 1)),
    ],
  };
  return [overview, ...perComponent];
}

function componentDashboard(c: MonitoredComponent, sel: (job: string, extra?: string) => string, ns: string | undefined): Dashboard {
  const title = (what: string) => `${what}: ${c.name}${ns ? ` (${ns})` : ''}`;
  const base = { uid: uid(`${ns ?? 'default'}-${c.name}-${c.kind}`) };
  const job = c.endpoints[0].job;
  switch (c.kind) {
    case 'galera': {
      const agent = c.endpoints[1].job;
      return {
        ...base,
        title: title('Galera'),
        panels: [
          { title: 'Synced members', expr: `sum(galera_agent_member_synced${sel(agent)})`, type: 'stat' },
          { title: 'Cluster size', expr: `mysql_global_status_wsrep_cluster_size${sel(job)}`, type: 'timeseries', legend: '{{pod}}' },
          { title: 'Local state (4 = Synced)', expr: `mysql_global_status_wsrep_local_state${sel(job)}`, type: 'timeseries', legend: '{{pod}}' },
          { title: 'Recovery phase', expr: `galera_agent_recovery_phase${sel(agent)} == 1`, type: 'stat', legend: '{{member}} {{phase}}' },
          { title: 'Agent decision', expr: `galera_agent_decision${sel(agent)} == 1`, type: 'stat', legend: '{{member}} {{action}} ({{rule}})' },
          { title: 'Recovery blocked', expr: `galera_agent_recovery_blocked${sel(agent)}`, type: 'stat', legend: '{{member}}' },
          { title: 'Seqno', expr: `galera_agent_member_seqno${sel(agent)}`, type: 'timeseries', legend: '{{member}}' },
          { title: 'Flow control paused', expr: `rate(mysql_global_status_wsrep_flow_control_paused_ns${sel(job)}[5m]) / 1e9`, type: 'timeseries', unit: 'percentunit', legend: '{{pod}}' },
          { title: 'Queries per second', expr: `rate(mysql_global_status_queries${sel(job)}[5m])`, type: 'timeseries', legend: '{{pod}}' },
          { title: 'Receive queue', expr: `mysql_global_status_wsrep_local_recv_queue${sel(job)}`, type: 'timeseries', legend: '{{pod}}' },
        ],
      };
    }
    case 'rabbitmq':
      return {
        ...base,
        title: title('RabbitMQ'),
        panels: [
          { title: 'Brokers up', expr: `sum(up${sel(job)})`, type: 'stat' },
          { title: 'Alarms', expr: `rabbitmq_alarms_memory_used_watermark${sel(job)} + rabbitmq_alarms_free_disk_space_watermark${sel(job)}`, type: 'stat', legend: '{{instance}}' },
          { title: 'Messages ready', expr: `sum by (instance) (rabbitmq_queue_messages_ready${sel(job)})`, type: 'timeseries', legend: '{{instance}}' },
          { title: 'Connections', expr: `rabbitmq_connections${sel(job)}`, type: 'timeseries', legend: '{{instance}}' },
          {
            // Both names of the term (renamed in 4.2); the Raft series of 4.2's metadata store have no queue label.
            title: 'Quorum queue members online',
            expr: `count by (vhost, queue) (${RABBITMQ_RAFT_TERM_SERIES.map((name) => `${name}${sel(c.endpoints[1].job, ',queue!=""')}`).join(' or ')})`,
            type: 'timeseries', legend: '{{vhost}}/{{queue}}',
          },
          { title: 'Messages in queues without a consumer', expr: `rabbitmq_detailed_queue_messages${sel(c.endpoints[1].job)} and on (instance, vhost, queue) rabbitmq_detailed_queue_consumers${sel(c.endpoints[1].job)} == 0`, type: 'timeseries', legend: '{{vhost}}/{{queue}}' },
        ],
      };
    case 'haproxy':
      return {
        ...base,
        title: title('HAProxy'),
        panels: [
          { title: 'Backends without a server up', expr: `count((haproxy_backend_active_servers${sel(job)} + haproxy_backend_backup_servers${sel(job)}) == 0) or vector(0)`, type: 'stat' },
          { title: 'Active servers per backend', expr: `haproxy_backend_active_servers${sel(job)}`, type: 'timeseries', legend: '{{instance}} {{proxy}}' },
          { title: 'Sessions per backend', expr: `rate(haproxy_backend_sessions_total${sel(job)}[5m])`, type: 'timeseries', legend: '{{instance}} {{proxy}}' },
        ],
      };
    case 'keepalived':
      return {
        ...base,
        title: title('VIP'),
        panels: [
          { title: 'Nodes holding the VIP', expr: `sum(keepalived_vrrp_master${sel(job)})`, type: 'stat' },
          { title: 'Holder', expr: `keepalived_vrrp_master${sel(job)} == 1`, type: 'stat', legend: '{{instance}}' },
          { title: 'Nodes in FAULT (track check failing)', expr: `keepalived_vrrp_fault${sel(job)}`, type: 'timeseries', legend: '{{instance}}' },
        ],
      };
    case 'memcached':
      return {
        ...base,
        title: title('memcached'),
        panels: [
          { title: 'Instances up', expr: `sum(memcached_up${sel(job)})`, type: 'stat' },
          { title: 'Hit ratio', expr: `sum(rate(memcached_commands_total${sel(job, ',command="get",status="hit"')}[5m])) / sum(rate(memcached_commands_total${sel(job, ',command="get"')}[5m]))`, type: 'timeseries', unit: 'percentunit' },
          { title: 'Current connections', expr: `memcached_current_connections${sel(job)}`, type: 'timeseries', legend: '{{instance}}' },
          { title: 'Evictions', expr: `rate(memcached_items_evicted_total${sel(job)}[5m])`, type: 'timeseries', legend: '{{instance}}' },
        ],
      };
    case 'proxysql': {
      const hg = c.proxySql!;
      const status = (id: number) => `proxysql_connpool_conns_status${sel(job, `,hostgroup="${id}"`)}`;
      return {
        ...base,
        title: title('ProxySQL'),
        panels: [
          { title: 'ONLINE writers', expr: `count by (pod) (${status(hg.writerHostgroup)} == 1)`, type: 'stat', legend: '{{pod}}' },
          { title: 'ONLINE readers', expr: `count by (pod) (${status(hg.readerHostgroup)} == 1)`, type: 'stat', legend: '{{pod}}' },
          { title: 'Backend status (1 ONLINE, 2 SHUNNED, 3/4 OFFLINE)', expr: `proxysql_connpool_conns_status${sel(job)}`, type: 'timeseries', legend: '{{pod}} {{hostgroup}} {{exported_endpoint}}' },
        ],
      };
    }
  }
}

/** Grafana's JSON model of a dashboard (schema 39), with a Prometheus data source variable. Same input, same bytes. */
export function grafanaJson(d: Dashboard): string {
  const width = 8;
  const panels = d.panels.map((p, i) => ({
    id: i + 1,
    type: p.type,
    title: p.title,
    datasource: { type: 'prometheus', uid: '${datasource}' },
    gridPos: { h: p.type === 'stat' ? 4 : 8, w: width, x: (i % 3) * width, y: Math.floor(i / 3) * 8 },
    fieldConfig: { defaults: { ...(p.unit ? { unit: p.unit } : {}) }, overrides: [] },
    targets: [{ refId: 'A', expr: p.expr, ...(p.legend ? { legendFormat: p.legend } : {}) }],
  }));
  return `${JSON.stringify({
    uid: d.uid,
    title: d.title,
    tags: ['openstack-ha'],
    schemaVersion: 39,
    editable: false,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Data source' }] },
    panels,
  }, null, 2)}\n`;
}

/** A Grafana uid: at most 40 characters of `[A-Za-z0-9-]`. */
function uid(text: string): string {
  const clean = text.replace(/[^A-Za-z0-9-]/g, '-');
  return clean.length <= 40 ? clean : clean.slice(0, 40);
}
