import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BackupDestination, GaleraBackup, GaleraBackupProps, GaleraPetSet, GaleraPetSetProps, GaleraStorage, Placement, SecretValue } from '../lib';
import { cronProblem } from '../lib/galera-backup/validation';
import { apiRulesProblems, errorOf, expectValidManifests, find, K8sObject, newChart, synth } from './support/harness';
import { NODES } from './support/fixtures';

const S3_KEYS = { accessKeyId: SecretValue.fromSecret('backup-s3', 'access-key'), secretAccessKey: SecretValue.fromSecret('backup-s3', 'secret-key') };

function withBackup(props: Partial<GaleraBackupProps> = {}, namespace = 'openstack', galeraProps: Partial<GaleraPetSetProps> = {}) {
  const chart = newChart(namespace);
  const galera = new GaleraPetSet(chart, 'galera', {
    ...galeraProps,
    placement: Placement.onNodes(NODES),
    storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
    credentials: {
      rootPassword: SecretValue.fromSecret('galera-root', 'password'),
      sstPassword: SecretValue.fromSecret('galera-sst', 'password'),
      monitorPassword: SecretValue.fromSecret('galera-monitor', 'password'),
    },
  });
  const backup = new GaleraBackup(chart, 'backup', {
    galera,
    schedule: '0 2 * * *',
    destination: BackupDestination.s3({ endpoint: 'https://rgw.example.com', bucket: 'db-backups', prefix: 'prod/galera', credentials: S3_KEYS }),
    ...props,
  });
  return { galera, backup, objects: synth(chart) };
}

const cronJob = (objects: K8sObject[]) => find(objects, 'CronJob', 'galera-backup');
const jobPod = (objects: K8sObject[]) => cronJob(objects).spec.jobTemplate.spec.template.spec;
const envOf = (c: any) => Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
const memberPod = (objects: K8sObject[]) => find(objects, 'StatefulSet', 'galera').spec.template;

describe('GaleraBackup CronJob', () => {
  test('one backup at a time, bounded, one retry, history kept, as the mysql user with nothing added', () => {
    const { objects } = withBackup();
    const cj = cronJob(objects);
    expect(cj.spec).toMatchObject({ schedule: '0 2 * * *', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 3600 });
    expect(cj.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 1, activeDeadlineSeconds: 21600 });
    const pod = jobPod(objects);
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsUser: 999, runAsNonRoot: true });
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(c.resources.limits).toEqual(expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }));
    }
    expectValidManifests(objects);
  });

  test('the API-rules check reads a CronJob\'s pod template too (a broken container is reported)', () => {
    const { objects } = withBackup();
    jobPod(objects).containers[0].name = 'Backup';
    expect(apiRulesProblems(objects).join('\n')).toMatch(/CronJob\/galera-backup.*spec.jobTemplate.spec.template.spec.containers\[0\].name/);
  });

  test('stock images only: rclone copied from its image, the script run by the cluster\'s MariaDB image', () => {
    const pod = jobPod(withBackup().objects);
    expect(pod.initContainers[0]).toMatchObject({ image: GaleraBackup.DEFAULT_RCLONE_IMAGE, command: ['cp', '/usr/local/bin/rclone', '/tools/rclone'] });
    expect(pod.containers[0]).toMatchObject({ image: GaleraPetSet.DEFAULT_IMAGE, command: ['bash', '/opt/galera-backup/backup.sh'] });
  });

  test('the job knows the members, GaleraPetSet\'s writerOrdinal first, the remote, the retention; S3 keys only from Secrets', () => {
    const env = envOf(jobPod(withBackup({ retention: { count: 3, maxAgeDays: 10 } }, 'openstack', { writerOrdinal: 1 }).objects).containers[0]);
    expect(env.BACKUP_MEMBERS).toBe([1, 0, 2].map((i) => `galera-${i}=galera-${i}.galera-peers.openstack.svc`).join(' '));
    expect(env.BACKUP_REMOTE).toBe('dest:db-backups/prod/galera');
    expect(env.RETENTION_COUNT).toBe('3');
    expect(env.RETENTION_MAX_AGE_SECONDS).toBe(String(10 * 86400));
    expect(env.RCLONE_CONFIG_DEST_TYPE).toBe('s3');
    expect(env.RCLONE_CONFIG_DEST_ENDPOINT).toBe('https://rgw.example.com');
    expect(env.RCLONE_CONFIG_DEST_ACCESS_KEY_ID).toEqual({ secretKeyRef: { name: 'backup-s3', key: 'access-key' } });
    expect(env.RCLONE_CONFIG_DEST_SECRET_ACCESS_KEY).toEqual({ secretKeyRef: { name: 'backup-s3', key: 'secret-key' } });
    expect(env.BACKUP_TOKEN).toEqual({ secretKeyRef: { name: 'galera-sst', key: 'password' } });
  });

  test('a volume destination mounts the claim and uses rclone\'s local backend', () => {
    const { objects } = withBackup({ destination: BackupDestination.volume({ claimName: 'galera-backups' }) });
    const pod = jobPod(objects);
    expect(pod.volumes).toContainEqual({ name: 'destination', persistentVolumeClaim: { claimName: 'galera-backups' } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'destination', mountPath: '/backups' });
    const env = envOf(pod.containers[0]);
    expect(env.BACKUP_REMOTE).toBe('dest:/backups/galera');
    expect(env.RCLONE_CONFIG_DEST_TYPE).toBe('local');
    expectValidManifests(objects);
  });
});

describe('GaleraBackup restore drill', () => {
  test('a daily CronJob restores the latest backup into scratch as large as a member\'s volume; it reaches no member', () => {
    const { objects } = withBackup({ drill: { tables: ['keystone.project', 'nova.instances'] } });
    const drill = find(objects, 'CronJob', 'galera-backup-drill');
    expect(drill.spec).toMatchObject({ schedule: '0 6 * * *', concurrencyPolicy: 'Forbid' });
    const pod = drill.spec.jobTemplate.spec.template.spec;
    expect(pod.containers[0].command).toEqual(['bash', '/opt/galera-backup/drill.sh']);
    const env = envOf(pod.containers[0]);
    expect(env.DRILL_TABLES).toBe('keystone.project nova.instances');
    expect(env.BACKUP_REMOTE).toBe('dest:db-backups/prod/galera');
    // No token: the drill never talks to a member's sidecar.
    expect(env.BACKUP_TOKEN).toBeUndefined();
    expect(pod.volumes).toContainEqual({ name: 'tmp', emptyDir: { sizeLimit: '100Gi' } });
    const policy = find(objects, 'NetworkPolicy', 'galera-backup-drill').spec;
    expect(policy.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'galera-backup', 'app.kubernetes.io/instance': 'galera-backup-drill' });
    expect(policy.egress).toEqual([{ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }, { ports: [{ protocol: 'TCP', port: 443 }] }]);
    // The members admit the backup job's pods, not the drill's.
    expect(find(objects, 'NetworkPolicy', 'galera-backup-sidecar').spec.ingress[0].from[0].podSelector.matchLabels['app.kubernetes.io/instance']).toBe('galera-backup');
    expectValidManifests(objects);
  });

  test('a bad drill schedule, table name or scratch size is refused', () => {
    const message = errorOf(() => withBackup({ drill: { schedule: '0 6 * *', tables: ['project', 'a.b; DROP'], scratchSize: 'lots' } }));
    expect(message).toContain('drill.schedule: "0 6 * *" has 4 field(s)');
    expect(message).toContain('drill.tables[0]: "project" must be "database.table"');
    expect(message).toContain('drill.tables[1]');
    expect(message).toContain('drill.scratchSize: "lots"');
  });
});

describe('GaleraBackup restore templates', () => {
  test('one suspended CronJob per member: member 0 restores the backup the operator names, the others empty their volume', () => {
    const { objects } = withBackup();
    for (const ordinal of [0, 1, 2]) {
      const cj = find(objects, 'CronJob', `galera-backup-restore-${ordinal}`);
      expect(cj.spec).toMatchObject({ suspend: true, concurrencyPolicy: 'Forbid' });
      expect(cj.spec.jobTemplate.spec.backoffLimit).toBe(0);
      const pod = cj.spec.jobTemplate.spec.template.spec;
      expect(pod.containers[0].command).toEqual(['bash', '/opt/galera-backup/restore.sh', ordinal === 0 ? '$(RESTORE_BACKUP)' : '--empty', '/var/lib/mysql']);
      expect(pod.volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: `data-galera-${ordinal}` } });
      expect(envOf(pod.containers[0]).RESTORE_BACKUP).toEqual({ configMapKeyRef: { name: 'galera-backup-restore', key: 'backup', optional: true } });
      // It asks the members whether they run (and refuses if so): the backup job's labels, so its policy applies.
      expect(cj.spec.jobTemplate.spec.template.metadata.labels['app.kubernetes.io/instance']).toBe('galera-backup');
    }
    expectValidManifests(objects);
  });
});

describe('GaleraBackup binlogArchive (point-in-time restore)', () => {
  const serverCnf = (objects: K8sObject[]) => find(objects, 'ConfigMap', 'galera-config').data['server.cnf'] as string;
  const option = (cnf: string, key: string) => new RegExp(`^${key} *= *(.*)$`, 'm').exec(cnf)?.[1];

  test('off by default: no binary logs, no archiver, the restore has no point in time', () => {
    const { objects } = withBackup();
    expect(option(serverCnf(objects), 'log_bin')).toBeUndefined();
    expect(option(serverCnf(objects), 'wsrep_gtid_mode')).toBeUndefined();
    expect(objects.filter((o) => o.kind === 'CronJob').map((o) => o.metadata.name)).not.toContain('galera-backup-binlog');
    expect(envOf(memberPod(objects).spec.containers.find((c: any) => c.name === 'backup')).BINLOG_GTID_DOMAIN).toBeUndefined();
  });

  test('on: every member logs every transaction with the cluster\'s GTIDs, and the config change rolls the members', () => {
    const plain = withBackup();
    const { objects } = withBackup({ binlogArchive: { expireDays: 5 } });
    const cnf = serverCnf(objects);
    expect(Object.fromEntries(['log_bin', 'log_slave_updates', 'gtid_domain_id', 'binlog_expire_logs_seconds', 'max_binlog_size', 'binlog_format',
      'wsrep_gtid_mode', 'wsrep_gtid_domain_id'].map((k) => [k, option(cnf, k)]))).toEqual({
      log_bin: 'binlog', log_slave_updates: 'ON', gtid_domain_id: '0', binlog_expire_logs_seconds: String(5 * 86400),
      max_binlog_size: String(64 * 1024 * 1024), binlog_format: 'ROW', wsrep_gtid_mode: 'ON', wsrep_gtid_domain_id: '1',
    });
    // The members' pods roll with the new config (the config hash follows the rendered file).
    const hash = (o: K8sObject[]) => memberPod(o).metadata.annotations['openstack-ha.cdk8s.io/config-hash'];
    expect(hash(objects)).not.toBe(hash(plain.objects));
    expect(envOf(memberPod(objects).spec.containers.find((c: any) => c.name === 'backup')).BINLOG_GTID_DOMAIN).toBe('1');
    expectValidManifests(objects);
  });

  test('the archiver: every minute, one at a time, short-lived, with the backup job\'s labels (its NetworkPolicy) and destination', () => {
    const { objects } = withBackup({ binlogArchive: { intervalSeconds: 20 } });
    const cj = find(objects, 'CronJob', 'galera-backup-binlog');
    expect(cj.spec).toMatchObject({ schedule: '* * * * *', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 50 });
    expect(cj.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 300 });
    const pod = cj.spec.jobTemplate.spec.template;
    expect(pod.metadata.labels).toEqual(cronJob(objects).spec.jobTemplate.spec.template.metadata.labels);
    expect(pod.spec.containers[0].command).toEqual(['bash', '/opt/galera-backup/archive.sh']);
    const env = envOf(pod.spec.containers[0]);
    expect(env).toMatchObject({ BINLOG_GTID_DOMAIN: '1', ARCHIVE_INTERVAL_SECONDS: '20', ARCHIVE_RUN_SECONDS: '40', BACKUP_REMOTE: 'dest:db-backups/prod/galera' });
    expect(env.RCLONE_CONFIG_DEST_SECRET_ACCESS_KEY).toEqual({ secretKeyRef: { name: 'backup-s3', key: 'secret-key' } });
    expect(find(objects, 'ConfigMap', 'galera-backup-scripts').data['archive.sh']).toContain('archive pass');
    expectValidManifests(objects);
  });

  test('member 0\'s restore template takes the point in time from the same ConfigMap (key `until`)', () => {
    const { objects } = withBackup({ binlogArchive: {} });
    const pod = find(objects, 'CronJob', 'galera-backup-restore-0').spec.jobTemplate.spec.template.spec;
    expect(pod.containers[0].command).toEqual(['bash', '/opt/galera-backup/restore.sh', '$(RESTORE_BACKUP)', '/var/lib/mysql', '--until', '$(RESTORE_UNTIL)']);
    expect(envOf(pod.containers[0]).RESTORE_UNTIL).toEqual({ configMapKeyRef: { name: 'galera-backup-restore', key: 'until', optional: true } });
    expect(find(objects, 'CronJob', 'galera-backup-restore-1').spec.jobTemplate.spec.template.spec.containers[0].command).toEqual(
      ['bash', '/opt/galera-backup/restore.sh', '--empty', '/var/lib/mysql']);
  });

  test('bad input in one error: interval and expiry out of range; a serverConfig that sets what the archive needs', () => {
    expect(errorOf(() => withBackup({ binlogArchive: { intervalSeconds: 5, expireDays: 0 } }))).toEqual(expect.stringMatching(
      /binlogArchive\.intervalSeconds[\s\S]*5[\s\S]*10 to 60[\s\S]*binlogArchive\.expireDays[\s\S]*0[\s\S]*1 to 90/));
    const error = errorOf(() => withBackup({ binlogArchive: {} }, 'openstack', { serverConfig: { mysqld: { 'log-bin': 'OFF', max_binlog_size: '1G' } } }));
    expect(error).toMatch(/serverConfig\.mysqld\.log-bin[\s\S]*serverConfig\.mysqld\.max_binlog_size[\s\S]*binlogArchive/);
    // Without the archive the same serverConfig is the user's own business.
    expect(() => withBackup({}, 'openstack', { serverConfig: { mysqld: { max_binlog_size: '1G' } } })).not.toThrow();
  });
});

describe('GaleraBackup sidecar in every member\'s pod', () => {
  test('runs the sidecar with the member\'s data, socket dir and config; the scripts\' hash rolls it', () => {
    const { objects } = withBackup();
    const template = memberPod(objects);
    const sidecar = template.spec.containers.find((c: any) => c.name === 'backup');
    expect(sidecar.image).toBe(GaleraPetSet.DEFAULT_IMAGE);
    expect(sidecar.command).toEqual(['socat', 'TCP-LISTEN:4445,fork,reuseaddr,ignoreeof,max-children=2', 'EXEC:bash /opt/galera-backup/serve.sh']);
    expect(sidecar.volumeMounts.map((m: any) => [m.name, m.mountPath])).toEqual(expect.arrayContaining([
      ['data', '/var/lib/mysql'], ['run', '/run/galera'], ['config', '/etc/galera'], ['scripts', '/opt/galera'], ['backup-scripts', '/opt/galera-backup'],
    ]));
    expect(envOf(sidecar).BACKUP_TOKEN).toEqual({ secretKeyRef: { name: 'galera-sst', key: 'password' } });
    expect(template.spec.volumes).toContainEqual({ name: 'backup-scripts', configMap: { name: 'galera-backup-scripts' } });
    expect(template.metadata.annotations['openstack-ha.cdk8s.io/backup-hash']).toMatch(/^[0-9a-f]{16,}$/);
    expect(find(objects, 'ConfigMap', 'galera-backup-scripts').data).toEqual(expect.objectContaining({
      'serve.sh': expect.stringContaining('mariadb-backup'), 'backup.sh': expect.any(String), 'restore.sh': expect.any(String), 'common.sh': expect.any(String),
    }));
  });

  test('hostPath storage: the sidecar mounts the member\'s own sub-directory, as mariadbd does', () => {
    const chart = newChart('openstack');
    const galera = new GaleraPetSet(chart, 'galera', {
      placement: Placement.onNodes(NODES),
      storage: GaleraStorage.hostPath({ path: '/srv/galera' }),
      credentials: { rootPassword: SecretValue.fromSecret('r', 'p'), sstPassword: SecretValue.fromSecret('s', 'p'), monitorPassword: SecretValue.fromSecret('m', 'p') },
    });
    new GaleraBackup(chart, 'backup', { galera, schedule: '@daily', destination: BackupDestination.volume({ claimName: 'b' }) });
    const objects = synth(chart);
    const containers = memberPod(objects).spec.containers;
    // No claim to mount and no fixed node: no restore templates.
    expect(objects.filter((o) => o.kind === 'CronJob').map((o) => o.metadata.name)).toEqual(['galera-backup', 'galera-backup-drill']);
    const mount = (name: string) => containers.find((c: any) => c.name === name).volumeMounts.find((m: any) => m.name === 'data');
    expect(mount('backup')).toEqual(mount('mariadb'));
    expect(mount('backup').subPathExpr).toBe('$(POD_NAME)');
  });
});

describe('GaleraBackup NetworkPolicies', () => {
  test('members admit the job\'s pods on the sidecar port only; the job reaches sidecars, DNS and the S3 port', () => {
    const { objects } = withBackup({ destination: BackupDestination.s3({ endpoint: 'http://10.9.8.7:7480', bucket: 'b-1', credentials: S3_KEYS }) });
    const jobLabels = { 'app.kubernetes.io/name': 'galera-backup', 'app.kubernetes.io/instance': 'galera-backup' };
    const members = find(objects, 'NetworkPolicy', 'galera-backup-sidecar').spec;
    expect(members.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'galera', 'app.kubernetes.io/instance': 'galera' });
    expect(members.ingress).toEqual([{ from: [{ podSelector: { matchLabels: jobLabels } }], ports: [{ protocol: 'TCP', port: 4445 }] }]);
    const job = find(objects, 'NetworkPolicy', 'galera-backup').spec;
    expect(job.podSelector.matchLabels).toEqual(jobLabels);
    expect(job.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(job.ingress ?? []).toEqual([]);
    expect(job.egress).toEqual([
      { to: [{ podSelector: { matchLabels: members.podSelector.matchLabels } }], ports: [{ protocol: 'TCP', port: 4445 }] },
      { ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] },
      { to: [{ ipBlock: { cidr: '10.9.8.7/32' } }], ports: [{ protocol: 'TCP', port: 7480 }] },
    ]);
    // A host name cannot be matched by a NetworkPolicy: the port only.
    const named = find(withBackup().objects, 'NetworkPolicy', 'galera-backup').spec.egress.at(-1);
    expect(named).toEqual({ ports: [{ protocol: 'TCP', port: 443 }] });
  });
});

describe('GaleraBackup bad input', () => {
  test('every problem in one error: not cron, retention 0, S3 without credentials, bad bucket/endpoint/prefix', () => {
    const message = errorOf(() => withBackup({
      schedule: 'every night',
      retention: { count: 0, maxAgeDays: 1.5 },
      destination: BackupDestination.s3({ endpoint: 'https://key:secret@rgw.example.com/bucket', bucket: 'No_Such', prefix: '../up', credentials: undefined as any }),
    }));
    expect(message).toContain("GaleraBackup 'backup' has invalid props");
    expect(message).toContain('schedule: "every night" has 2 field(s)');
    expect(message).toContain('retention.count: 0 must be an integer from 1 to 1000');
    expect(message).toContain('retention.maxAgeDays: 1.5');
    expect(message).toContain('destination.endpoint');
    expect(message).toContain('must not carry credentials');
    expect(message).toContain('destination.bucket: "No_Such"');
    expect(message).toContain('destination.prefix: "../up"');
    expect(message).toContain('destination.credentials: (not set) is required');
  });

  test('an inline secret instead of a Secret reference is refused without echoing it', () => {
    const message = errorOf(() => withBackup({
      destination: BackupDestination.s3({ endpoint: 'https://s3', bucket: 'bkt', credentials: { accessKeyId: 'AKIA123' as any, secretAccessKey: S3_KEYS.secretAccessKey } }),
    }));
    expect(message).toContain('destination.credentials.accessKeyId: "(a string)" must be a Secret reference');
    expect(message).not.toContain('AKIA123');
  });

  test('a GaleraBackup in another namespace than its cluster (the sidecar could not mount its scripts)', () => {
    const { galera } = withBackup();
    const other = newChart('elsewhere');
    expect(errorOf(() => new GaleraBackup(other, 'b2', { galera, schedule: '@daily', destination: BackupDestination.volume({ claimName: 'x' }) })))
      .toContain("GaleraBackup 'b2' must be in the same chart namespace as GaleraPetSet 'galera'");
  });

  test('a writer ordinal outside the cluster (GaleraPetSet owns it) and a missing destination', () => {
    expect(errorOf(() => withBackup({}, 'openstack', { writerOrdinal: 3 }))).toContain('writerOrdinal: 3 must be the ordinal of a member (0 to 2)');
    const message = errorOf(() => withBackup({ destination: undefined as any }));
    expect(message).toContain('destination: (not set) must be BackupDestination.volume');
  });

  test('cron schedules as the CronJob controller reads them', () => {
    for (const ok of ['0 2 * * *', '*/15 * * * *', '0 0-6/2 1,15 jan-jun mon-fri', '@daily', '30 4 * * SUN', '0 0 1 1 0']) expect(cronProblem(ok)).toBeUndefined();
    expect(cronProblem('60 * * * *')).toContain('minute "60" is outside 0-59');
    expect(cronProblem('0 24 * * *')).toContain('hour');
    expect(cronProblem('0 0 0 * *')).toContain('day of month');
    expect(cronProblem('0 0 * 13 *')).toContain('month');
    expect(cronProblem('0 0 * * 7')).toContain('day of week');
    expect(cronProblem('0 5-1 * * *')).toContain('runs backwards');
    expect(cronProblem('*/0 * * * *')).toContain('step 0');
    expect(cronProblem('@sometimes')).toContain('is not one of');
    expect(cronProblem('TZ=UTC 0 2 * * *')).toContain('time zone');
    expect(cronProblem('0 2 * *')).toContain('4 field(s)');
  });
});

/** The pure functions of assets/galera-backup/common.sh, run by bash as the job runs them. */
describe('backup scripts: source choice and retention (common.sh)', () => {
  const common = path.join(__dirname, '..', 'assets', 'galera-backup', 'common.sh');
  const bash = (fn: string, input: string, ...args: string[]) => spawnSync('bash', ['-c', `. "${common}"; ${fn} "$@"`, 'x', ...args], { input, encoding: 'utf8' });

  test('never the writer (the first Synced in order when no row was read), never a donor, joiner or desynced member; the last eligible one', () => {
    expect(bash('choose_source', 'galera-0 4 Primary OFF\ngalera-1 4 Primary OFF\ngalera-2 4 Primary OFF\n').stdout.trim()).toBe('galera-2');
    expect(bash('choose_source', 'galera-0 4 Primary OFF\ngalera-1 4 Primary OFF\ngalera-2 2 Primary OFF\n').stdout.trim()).toBe('galera-1');
    // galera-0 down: galera-1 is then the writer (ProxySQL promotes the next by weight).
    expect(bash('choose_source', 'galera-0 down - -\ngalera-1 4 Primary OFF\ngalera-2 4 Primary OFF\n').stdout.trim()).toBe('galera-2');
    expect(bash('choose_source', 'galera-0 4 Primary OFF\ngalera-1 4 Primary ON\ngalera-2 1 Primary OFF\n').status).toBe(1);
    const none = bash('choose_source', 'galera-0 4 Primary OFF\ngalera-1 down - -\ngalera-2 4 non-Primary OFF\n');
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('1 Synced member(s)');
    expect(none.stderr).toContain('the writer (galera-0) is never a source');
  });

  test('the writer is the member the replicated writer row names, wherever it is in the order', () => {
    const rows = (writer: string, states = ['4', '4', '4']) => states.map((s, i) => `galera-${i} ${s} Primary OFF ${s === '4' ? writer : '-'}\n`).join('');
    expect(bash('choose_source', rows('galera-2')).stdout.trim()).toBe('galera-1');
    expect(bash('choose_source', rows('galera-1')).stdout.trim()).toBe('galera-2');
    // The named writer is down and not yet replaced: any Synced member but the lowest, which takes over, may go.
    expect(bash('choose_source', rows('galera-0', ['down', '4', '4'])).stdout.trim()).toBe('galera-2');
    // Two Synced, the row names galera-1: galera-0 may go (the writer stays Synced); one Synced: refused.
    expect(bash('choose_source', rows('galera-1', ['4', '4', '2'])).stdout.trim()).toBe('galera-0');
    expect(bash('choose_source', rows('galera-1', ['2', '4', '2'])).status).toBe(1);
  });

  test('retention: the newest N complete ones stay, older-than-age ones go, the newest always stays, dead jobs\' leftovers go', () => {
    const now = Date.UTC(2026, 11, 3, 12, 0, 0) / 1000;
    const list = [
      '20261203T020000Z complete', '20261202T020000Z complete', '20261201T020000Z complete', '20261130T020000Z complete',
      '20261203T110000Z incomplete', '20261201T030000Z incomplete', 'not-a-backup complete',
    ].join('\n');
    const doomed = (keep: number, maxAge: number) => bash('prune_list', list, String(keep), String(maxAge), String(now), '7200').stdout.trim().split('\n').sort();
    expect(doomed(2, 30 * 86400)).toEqual(['20261130T020000Z', '20261201T020000Z', '20261201T030000Z']);
    // Age 1.5 days removes the two oldest complete ones, whatever the count.
    expect(doomed(10, 1.5 * 86400)).toEqual(['20261130T020000Z', '20261201T020000Z', '20261201T030000Z']);
    // Everything is too old: the newest complete one still stays.
    expect(doomed(10, 60)).toEqual(['20261130T020000Z', '20261201T020000Z', '20261201T030000Z', '20261202T020000Z']);
  });

  test('restore.sh --until: a point that is neither a time nor a GTID, or missing, is refused before anything is read', () => {
    const restore = path.join(__dirname, '..', 'assets', 'galera-backup', 'restore.sh');
    const env = { PATH: process.env.PATH, RESTORE_SKIP_LIVE_CHECK: '1' };
    const missing = spawnSync('bash', [restore, 'latest', os.tmpdir(), '--until'], { env, encoding: 'utf8' });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('--until needs a point');
    const extra = spawnSync('bash', [restore, 'latest', os.tmpdir(), '--since', 'x'], { env, encoding: 'utf8' });
    expect(extra.status).toBe(2);
    expect(extra.stderr).toContain("unexpected argument '--since'");
  });

  test('the archiver keeps to the member of the last file while it is Synced, else the other Synced members, the writer last', () => {
    const states = (s0: string, s1: string, s2: string) => `galera-0 ${s0} Primary OFF\ngalera-1 ${s1} Primary OFF\ngalera-2 ${s2} Primary OFF\n`;
    expect(bash('archive_candidates', states('4', '4', '4'), 'galera-1').stdout.split('\n').filter(Boolean)).toEqual(['galera-1', 'galera-2', 'galera-0']);
    expect(bash('archive_candidates', states('4', '2', '4'), 'galera-1').stdout.split('\n').filter(Boolean)).toEqual(['galera-2', 'galera-0']);
    expect(bash('archive_candidates', states('4', '4', '4'), '').stdout.split('\n').filter(Boolean)).toEqual(['galera-2', 'galera-1', 'galera-0']);
    expect(bash('archive_candidates', 'galera-0 down - -\ngalera-1 4 Primary ON\ngalera-2 4 non-Primary OFF\n', 'galera-2').stdout.trim()).toBe('');
  });

  test('the sidecar answers result, and refuses binlogs without the archive and a file name that is not a binary log', () => {
    const run = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-'));
    try {
      const serve = path.join(__dirname, '..', 'assets', 'galera-backup', 'serve.sh');
      const env = { PATH: process.env.PATH, GALERA_SCRIPTS_DIR: path.join(__dirname, '..', 'assets', 'galera'), GALERA_RUN_DIR: run, POD_NAME: 'galera-2', BACKUP_TOKEN: 't' };
      const ask = (line: string, extra: Record<string, string> = {}) => spawnSync('bash', [serve], { env: { ...env, ...extra }, input: `${line}\n`, encoding: 'utf8' }).stdout.trim();
      fs.writeFileSync(path.join(run, 'backup-result.json'), '{"id": "20261203T020000Z", "state": "ok", "sha256": "ab", "error": ""}\n');
      expect(ask('t result 20261203T020000Z')).toBe('{"id": "20261203T020000Z", "state": "ok", "sha256": "ab", "error": ""}');
      expect(ask('t result 20261204T020000Z')).toBe('{"id": "20261204T020000Z", "state": "unknown"}');
      expect(ask('t binlogs')).toBe('refused: binary log archiving is off on galera-2 (no BINLOG_GTID_DOMAIN)');
      expect(ask('t binlog ../../etc/passwd', { BINLOG_GTID_DOMAIN: '1' })).toBe("refused: '../../etc/passwd' is not a binary log name");
    } finally {
      fs.rmSync(run, { recursive: true, force: true });
    }
  });

  test('binlog_gtid_range: first and last GTID of mariadb-binlog\'s text with their commit times, before and after 10:00', () => {
    // mariadb-binlog prints the hour space-padded: two spaces and one digit before 10:00 (seen: nothing was archived
    // between 00:00 and 09:59 UTC while the pattern wanted one space).
    const header = (stamp: string, seq: number) => `#${stamp} server id 1  end_log_pos ${seq * 100} CRC32 0x1c2d3e4f \tGTID 1-1-${seq} trans\n`;
    const text = (stamps: string[]) => ['/*!*/;\n# at 4\n', ...stamps.map((stamp, i) => `${header(stamp, 41 + i)}BEGIN\n/*!*/;\n`)].join('');
    const epoch = (iso: string) => String(Date.parse(iso) / 1000);
    expect(bash('binlog_gtid_range', text(['251204  3:05:01', '251204  3:05:02', '251204  9:59:59'])).stdout.trim())
      .toBe(`41 43 ${epoch('2025-12-04T03:05:01Z')} ${epoch('2025-12-04T09:59:59Z')}`);
    expect(bash('binlog_gtid_range', text(['251204 13:05:01'])).stdout.trim()).toBe(`41 41 ${epoch('2025-12-04T13:05:01Z')} ${epoch('2025-12-04T13:05:01Z')}`);
    expect(bash('binlog_gtid_range', '# at 4\n#251204  3:05:01 server id 1  end_log_pos 256 CRC32 0x0 \tStart: binlog v 4\n').stdout).toBe('');
  });

  test('domain_seq: the sequence number of one domain in a GTID list', () => {
    expect(bash('domain_seq', '', '0-1-5,1-3-77', '1').stdout.trim()).toBe('77');
    expect(bash('domain_seq', '', '0-1-5', '1').stdout.trim()).toBe('0');
    expect(bash('domain_seq', '', '', '1').stdout.trim()).toBe('0');
  });

  test('restore.sh refuses, changing nothing, when no backup is named (the ConfigMap is missing); --empty keeps the identity file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restore-'));
    try {
      fs.mkdirSync(path.join(dir, 'mysql'));
      for (const f of ['galera-identity.sst', 'ibdata1', 'grastate.dat']) fs.writeFileSync(path.join(dir, f), 'x');
      const restore = path.join(__dirname, '..', 'assets', 'galera-backup', 'restore.sh');
      const env = { PATH: process.env.PATH, RESTORE_SKIP_LIVE_CHECK: '1' };
      const unnamed = spawnSync('bash', [restore, '$(RESTORE_BACKUP)', dir], { env, encoding: 'utf8' });
      expect(unnamed.status).toBe(2);
      expect(unnamed.stderr).toContain('REFUSED, nothing changed: no backup named');
      expect(fs.readdirSync(dir).sort()).toEqual(['galera-identity.sst', 'grastate.dat', 'ibdata1', 'mysql']);
      expect(spawnSync('bash', [restore, '--empty', dir], { env, encoding: 'utf8' }).status).toBe(0);
      expect(fs.readdirSync(dir)).toEqual(['galera-identity.sst']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
