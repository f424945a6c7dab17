/**
 * Every rule of the monitoring props, in one place.
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s.
 */
import { validateLabels } from '../common/k8s-rules';
import { validateClientSelectors } from '../common/network';
import { Validator, duplicates } from '../common/validation';
import type { MonitoringModel } from './model';

/** Checks the resolved monitoring of `subject` and throws once with every problem. */
export function validateMonitoring(subject: string, m: MonitoringModel): void {
  const v = new Validator(subject);
  v.check(m.components.length === 0 && m.backup === undefined, 'galera, rabbitmq, haproxy, memcached, vip, proxySql, backup', undefined,
    'are all unset, so there is nothing to monitor; give at least one component');
  validateClientSelectors(v, 'scraper', [m.scraper]);
  validateLabels(v, 'selectorLabels', m.selectorLabels);
  validateLabels(v, 'dashboardLabels', m.dashboardLabels);
  v.check(!Number.isInteger(m.scrapeIntervalSeconds) || m.scrapeIntervalSeconds < 1 || m.scrapeIntervalSeconds > 300,
    'scrapeIntervalSeconds', m.scrapeIntervalSeconds, 'must be a whole number of seconds from 1 to 300 (the alert windows are minutes)');
  v.check(typeof m.dropUnusedRabbitmqSeries !== 'boolean', 'dropUnusedRabbitmqSeries', m.dropUnusedRabbitmqSeries, 'must be true or false');
  for (const c of m.components) {
    if (c.missingExporter) v.add(c.kind, c.name, `serves no metrics without its exporter; set ${c.missingExporter}`);
  }
  for (const job of m.backup ? [m.backup.backup, m.backup.drill] : []) {
    v.check(job.maxAgeSeconds === undefined, 'backup', job.schedule,
      `is a schedule that (almost) never fires, so no age of the last ${job.cronJob} run can be late; give one that runs at least every year`);
  }
  // Each job names one endpoint: two components with the same name would merge their series (and alerts).
  for (const job of duplicates(m.components.flatMap((c) => c.endpoints.map((e) => e.job)))) {
    v.add('components', job, 'is the job name of two endpoints; give the components distinct names');
  }
  v.throwIfInvalid();
}
