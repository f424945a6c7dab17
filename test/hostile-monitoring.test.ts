/** ControlPlaneMonitoring with hostile and out-of-range values in every prop: each is refused, naming the prop, the value and a fix. */
import { ControlPlaneMonitoring, ControlPlaneMonitoringProps, MemcachedPool, Placement } from '../lib';
import { HOSTILE_NUMBERS, HOSTILE_STRINGS, cases, errorOf, expectNamedProblem } from './support/hostile';
import { newChart } from './support/harness';
import { NODES } from './support/fixtures';
import { SCRAPER } from './support/monitoring';

const monitoring = (props: Partial<ControlPlaneMonitoringProps>) => () => {
  const chart = newChart('openstack');
  const memcached = new MemcachedPool(chart, 'memcached', { placement: Placement.onNodes(NODES), metricsExporter: true });
  return new ControlPlaneMonitoring(chart, 'mon', { scraper: SCRAPER, memcached, ...props });
};
const labelValues = HOSTILE_STRINGS.filter((x) => !['', 'UPPER'].includes(x));

const CASES = [
  ...cases('scrapeIntervalSeconds', [...HOSTILE_NUMBERS, 301], (scrapeIntervalSeconds) => monitoring({ scrapeIntervalSeconds })),
  ...cases('dropUnusedRabbitmqSeries', ['yes', 1, 'false'], (value) => monitoring({ dropUnusedRabbitmqSeries: value as any })),
  ...cases('selectorLabels key', HOSTILE_STRINGS.filter((x) => x !== 'UPPER'), (key) => monitoring({ selectorLabels: { [key]: 'x' } })),
  ...cases('selectorLabels["release"]', labelValues, (value) => monitoring({ selectorLabels: { release: value } })),
  ...cases('dashboardLabels["grafana_dashboard"]', labelValues, (value) => monitoring({ dashboardLabels: { grafana_dashboard: value } })),
  ...cases('scraper[0].podLabels["app"]', labelValues, (value) => monitoring({ scraper: { podLabels: { app: value } } })),
  ...cases('scraper[0].namespaceLabels["ns"]', labelValues, (value) => monitoring({ scraper: { podLabels: { app: 'p' }, namespaceLabels: { ns: value } } })),
];

test.each(CASES)('%s = %p is refused with the prop, the value and a fix', (prop, value, build) => {
  expectNamedProblem(errorOf(build), prop, value);
});

test('a pool without its exporter is refused, naming the prop that adds it', () => {
  const chart = newChart('openstack');
  const memcached = new MemcachedPool(chart, 'memcached', { placement: Placement.onNodes(NODES) });
  expectNamedProblem(errorOf(() => new ControlPlaneMonitoring(chart, 'mon', { scraper: SCRAPER, memcached })), 'memcached', 'memcached');
});
