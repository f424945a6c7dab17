/**
 * Which MariaDB version changes a Galera cluster can make by a rolling upgrade (one member at a time, the cluster
 * running mixed meanwhile), read from the image tags of what runs and what the manifests would apply.
 *
 * MariaDB supports upgrading a Galera cluster member by member from one release series to a later one as long as
 * no long-term-support series is skipped (its upgrade pages go LTS to LTS: 10.6 -> 10.11 -> 11.4 -> 11.8), and never
 * downgrading a series: the data files and system tables of a newer series are not readable by an older one. A
 * patch downgrade inside a series usually works but is not supported, so it is a warning.
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s. The preflight CLI bundles it.
 */

import type { ImageTagVersion } from '../common/image-version';

/**
 * Long-term-support series (MariaDB's maintenance policy; before 10.7 every series had five years of support). An
 * upgrade may not jump over one of these: upgrade to it first.
 */
export const MARIADB_LTS_SERIES: readonly string[] = ['10.3', '10.4', '10.5', '10.6', '10.11', '11.4', '11.8'];

function compareSeries(a: ImageTagVersion | string, b: ImageTagVersion | string): number {
  const parts = (v: ImageTagVersion | string) => (typeof v === 'string' ? v.split('.').map(Number) : [v.major, v.minor]);
  const [x, y] = [parts(a), parts(b)];
  return x[0] - y[0] || x[1] - y[1];
}

/** The verdict on one version change: refused (with the supported path), a warning, or fine. */
export interface UpgradeVerdict {
  readonly status: 'ok' | 'warn' | 'refuse';
  readonly message: string;
}

/** Whether a rolling change from `from` to `to` is supported, and what to do when it is not. */
export function mariadbUpgradeVerdict(from: ImageTagVersion, to: ImageTagVersion): UpgradeVerdict {
  const series = compareSeries(from, to);
  if (series > 0) {
    return {
      status: 'refuse',
      message: `MariaDB ${from.text} -> ${to.text} is a downgrade of the release series: the data files and system tables of ${from.series} are not readable by ${to.series}; `
        + `keep ${from.series} (or restore a logical dump taken before the upgrade into a new ${to.series} cluster)`,
    };
  }
  if (series < 0) {
    const skipped = MARIADB_LTS_SERIES.filter((s) => compareSeries(s, from) > 0 && compareSeries(s, to) < 0);
    if (skipped.length > 0) {
      const path = [from.series, ...skipped, to.series].join(' -> ');
      return {
        status: 'refuse',
        message: `MariaDB ${from.text} -> ${to.text} skips the long-term series ${skipped.join(', ')}: a rolling upgrade may not jump over one; upgrade ${path}, one apply per step`,
      };
    }
    return {
      status: 'ok',
      message: `MariaDB ${from.text} -> ${to.text}: a rolling upgrade of the release series; each member runs mariadb-upgrade once after it is Synced`,
    };
  }
  if ((to.patch ?? 0) < (from.patch ?? 0)) {
    return { status: 'warn', message: `MariaDB ${from.text} -> ${to.text} is a patch downgrade: usually works inside a series but is not supported; prefer the newer patch release` };
  }
  return { status: 'ok', message: `MariaDB ${from.text} -> ${to.text}: a patch release of the same series` };
}
