/**
 * GaleraBackup's rules: every problem with its props, in one error (prop, bad value, fix).
 */
import { isQuantity } from '../common/k8s-rules';
import { validateResources } from '../common/resources';
import { validateSecretValue } from '../common/secret';
import { isDns1123Label, isDns1123Subdomain, isIpAddress, Validator } from '../common/validation';
import { GaleraBackupModel, MAX_GTID_DOMAIN } from './model';
import { BackupDestination, GaleraBackupProps } from './props';

const CRON_MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
/** The five fields of a cron line as the CronJob controller (robfig/cron's standard parser) reads them. */
const CRON_FIELDS: ReadonlyArray<{ name: string; min: number; max: number; names?: readonly string[] }> = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day of week', min: 0, max: 6, names: DAYS },
];

/** Why `schedule` is not a cron schedule the CronJob controller accepts, or undefined when it is one. */
export function cronProblem(schedule: unknown): string | undefined {
  if (typeof schedule !== 'string') return 'is not a string';
  const text = schedule.trim();
  if (/^(TZ|CRON_TZ)=/.test(text)) return 'sets a time zone inside the schedule, which the CronJob API refuses; drop the TZ= part';
  if (text.startsWith('@')) return CRON_MACROS.includes(text) ? undefined : `is not one of ${CRON_MACROS.join(', ')}`;
  const fields = text.split(/\s+/);
  if (fields.length !== 5) return `has ${fields.length} field(s); give 5: minute hour day-of-month month day-of-week`;
  for (let i = 0; i < 5; i++) {
    const problem = cronFieldProblem(fields[i], CRON_FIELDS[i]);
    if (problem) return `${CRON_FIELDS[i].name} ${JSON.stringify(fields[i])} ${problem}`;
  }
  return undefined;
}

function cronFieldProblem(field: string, spec: (typeof CRON_FIELDS)[number]): string | undefined {
  const value = (text: string): number | undefined => {
    const named = spec.names?.indexOf(text.toLowerCase()) ?? -1;
    if (named >= 0) return named + spec.min;
    if (!/^\d+$/.test(text)) return undefined;
    const n = Number(text);
    // Day of week 7 is Sunday too in most crons, but not in the CronJob controller's parser.
    return n >= spec.min && n <= spec.max ? n : undefined;
  };
  for (const part of field.split(',')) {
    const match = /^([^/]+)(?:\/(\d+))?$/.exec(part);
    if (!match) return `has a bad part ${JSON.stringify(part)}`;
    const [, range, step] = match;
    if (step !== undefined && (Number(step) < 1 || Number(step) > spec.max)) return `has a step ${step} outside 1-${spec.max}`;
    if (range === '*' || range === '?') continue;
    const bounds = range.split('-');
    if (bounds.length > 2) return `has a bad range ${JSON.stringify(range)}`;
    const numbers = bounds.map(value);
    if (numbers.some((n) => n === undefined)) return `is outside ${spec.min}-${spec.max}${spec.names ? ` (or ${spec.names[0]}-${spec.names.at(-1)})` : ''}`;
    if (numbers.length === 2 && numbers[0]! > numbers[1]!) return `has a range ${JSON.stringify(range)} that runs backwards`;
  }
  return undefined;
}

/** An object-key prefix or directory: relative, `/`-separated segments of safe characters. */
function prefixProblem(prefix: string): string | undefined {
  if (prefix.length === 0 || prefix.length > 200) return 'must have 1-200 characters';
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(prefix)) return 'must be relative segments of letters, digits, ".", "_" or "-" separated by "/", e.g. "galera/prod"';
  if (prefix.split('/').some((s) => s === '.' || s === '..')) return 'must not contain "." or ".." segments';
  return undefined;
}

/** S3 bucket naming rules (AWS's, which RGW and MinIO follow). */
function bucketProblem(bucket: unknown): boolean {
  return typeof bucket !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..') || isIpAddress(bucket);
}

function endpointProblem(endpoint: unknown): string | undefined {
  if (typeof endpoint !== 'string') return 'must be a URL, e.g. "https://rgw.example.com"';
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'is not a URL; give "https://host[:port]"';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must use https (or http)';
  if (url.username || url.password) return 'must not carry credentials; give them in credentials, as Secret references';
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return 'must be the endpoint only ("https://host[:port]"); the bucket and prefix are separate props';
  if (endpoint.endsWith('/')) return 'must not end with "/"';
  return undefined;
}

/**
 * Throws one error listing every problem; returns nothing when the props are sound. `requestCertificate` (with
 * TLS) asks for the job's client certificate, its problems (a user Secret missing or not naming the job) joining
 * the same error.
 */
export function validateBackup(id: string, props: GaleraBackupProps, model: GaleraBackupModel,
  requestCertificate: (v: Validator) => void = () => undefined): void {
  const v = new Validator(`GaleraBackup '${id}'`);
  const schedule = cronProblem(props.schedule);
  if (schedule) v.add('schedule', props.schedule, `${schedule}; e.g. "0 2 * * *" (02:00 daily) or "@daily"`);
  const drillSchedule = cronProblem(model.drillSchedule);
  if (drillSchedule) v.add('drill.schedule', model.drillSchedule, `${drillSchedule}; e.g. "0 6 * * *"`);
  model.drillTables.forEach((t, i) => v.check(typeof t !== 'string' || !/^[A-Za-z0-9_$]{1,64}\.[A-Za-z0-9_$]{1,64}$/.test(t), `drill.tables[${i}]`, t,
    'must be "database.table" (letters, digits, "_" or "$"), e.g. "keystone.project"'));
  v.check(!isQuantity(model.drillScratchSize), 'drill.scratchSize', model.drillScratchSize, 'must be a Kubernetes quantity such as "50Gi"');
  v.check(!isDns1123Label(model.name) || model.name.length > 40, 'name', model.name,
    'must be a DNS-1123 label of at most 40 characters (CronJob names are at most 52, and `-restore-<ordinal>` is added)');
  const count = model.retentionCount;
  v.check(!Number.isInteger(count) || count < 1 || count > 1000, 'retention.count', count,
    'must be an integer from 1 to 1000: with 0 every backup would be removed as soon as it is taken');
  const age = model.retentionMaxAgeDays;
  v.check(!Number.isInteger(age) || age < 1 || age > 36500, 'retention.maxAgeDays', age, 'must be an integer number of days from 1 to 36500');
  const timeout = model.timeoutSeconds;
  v.check(!Number.isInteger(timeout) || timeout < 300 || timeout > 7 * 86400, 'timeoutSeconds', timeout, 'must be an integer from 300 to 604800');
  validateResources(v, 'resources', model.resources);
  validateDestination(v, props.destination);
  if (model.tls) requestCertificate(v);
  const archive = model.binlogArchive;
  if (archive) {
    v.check(!Number.isInteger(archive.intervalSeconds) || archive.intervalSeconds < 10 || archive.intervalSeconds > 60, 'binlogArchive.intervalSeconds',
      archive.intervalSeconds, 'must be an integer from 10 to 60 (the archiver runs every minute and passes this often within it)');
    v.check(!Number.isInteger(archive.expireDays) || archive.expireDays < 1 || archive.expireDays > 90, 'binlogArchive.expireDays', archive.expireDays,
      'must be an integer from 1 to 90 days (a member keeps its binary logs this long: longer than the archiver may be down)');
    const domain = archive.server.gtidDomainId;
    if (domain === 0) {
      v.add('binlogArchive.gtidDomainId', domain, 'must not be 0: each member\'s local statements (wsrep off) are logged in domain 0 (gtid_domain_id), and the cluster\'s transactions must not mix with them; use 1 or another unused domain');
    } else {
      v.check(!Number.isInteger(domain) || domain < 1 || domain > MAX_GTID_DOMAIN, 'binlogArchive.gtidDomainId', domain,
        `must be an integer from 1 to ${MAX_GTID_DOMAIN} (MariaDB's GTID domain ids are unsigned 32-bit numbers)`);
    }
  }
  v.throwIfInvalid();
}

function validateDestination(v: Validator, destination: unknown): void {
  if (!(destination instanceof BackupDestination)) {
    v.add('destination', destination === undefined ? undefined : typeof destination, 'must be BackupDestination.volume({...}) or BackupDestination.s3({...})');
    return;
  }
  const volume = destination.volumeOptions;
  const s3 = destination.s3Options;
  if (volume) {
    v.check(typeof volume.claimName !== 'string' || !isDns1123Subdomain(volume.claimName), 'destination.claimName', volume.claimName,
      'must be the name of an existing PersistentVolumeClaim (a DNS-1123 subdomain)');
    const prefix = volume.prefix === undefined ? undefined : prefixProblem(volume.prefix);
    if (prefix) v.add('destination.prefix', volume.prefix, prefix);
  }
  if (s3) {
    const endpoint = endpointProblem(s3.endpoint);
    if (endpoint) v.add('destination.endpoint', s3.endpoint, endpoint);
    v.check(bucketProblem(s3.bucket), 'destination.bucket', s3.bucket, 'must be an S3 bucket name: 3-63 lowercase letters, digits, "." or "-"');
    const prefix = s3.prefix === undefined ? undefined : prefixProblem(s3.prefix);
    if (prefix) v.add('destination.prefix', s3.prefix, prefix);
    v.check(s3.region !== undefined && (typeof s3.region !== 'string' || !/^[a-z0-9-]{1,64}$/.test(s3.region)), 'destination.region', s3.region,
      'must be a region name such as "us-east-1"');
    if (s3.credentials === undefined || s3.credentials === null || typeof s3.credentials !== 'object') {
      v.add('destination.credentials', undefined, 'is required: { accessKeyId: SecretValue.fromSecret(...), secretAccessKey: SecretValue.fromSecret(...) }');
    } else {
      validateSecretValue(v, 'destination.credentials.accessKeyId', s3.credentials.accessKeyId);
      validateSecretValue(v, 'destination.credentials.secretAccessKey', s3.credentials.secretAccessKey);
    }
  }
}
