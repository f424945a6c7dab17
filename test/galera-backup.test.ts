import { ChildProcess, spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { BackupDestination, GaleraBackup, GaleraBackupProps, GaleraPetSet, GaleraPetSetProps, GaleraStorage, Placement, SecretValue, TlsCertificates } from '../lib';
import { TLS12_CIPHERS } from '../lib/tls/model';
import { cronProblem } from '../lib/galera-backup/validation';
import { apiRulesProblems, errorOf, expectValidManifests, find, K8sObject, newChart, synth } from './support/harness';
import { killAll, spawnInGroup } from './support/background-script';
import { NODES } from './support/fixtures';
import { HOSTILE_NUMBERS, HOSTILE_STRINGS, cases, expectNamedProblem } from './support/hostile';

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
const synthText = (objects: K8sObject[]) => JSON.stringify(objects);

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
    // The token (the SST password) is a file, read at every request: it rotates live with the SST password.
    expect(env.BACKUP_TOKEN).toBeUndefined();
    expect(env.BACKUP_TOKEN_FILE).toBe('/etc/galera-backup-token/BACKUP_TOKEN');
    const pod = jobPod(withBackup().objects);
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'backup-token', mountPath: '/etc/galera-backup-token', readOnly: true });
    expect(pod.volumes).toContainEqual({ name: 'backup-token', projected: { defaultMode: 0o440,
      sources: [{ secret: { name: 'galera-sst', items: [{ key: 'password', path: 'BACKUP_TOKEN', mode: 0o440 }] } }] } });
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
    expect(env.BACKUP_TOKEN_FILE).toBeUndefined();
    expect(pod.volumes.map((v: any) => v.name)).not.toContain('backup-token');
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

  test('gtidDomainId: the cluster\'s domain in server.cnf, the sidecar and the archiver alike; 1 by default', () => {
    const { objects } = withBackup({ binlogArchive: { gtidDomainId: 4242 } });
    expect(option(serverCnf(objects), 'wsrep_gtid_domain_id')).toBe('4242');
    // Members' local statements stay in domain 0 whatever the cluster's domain.
    expect(option(serverCnf(objects), 'gtid_domain_id')).toBe('0');
    expect(envOf(memberPod(objects).spec.containers.find((c: any) => c.name === 'backup')).BINLOG_GTID_DOMAIN).toBe('4242');
    expect(envOf(find(objects, 'CronJob', 'galera-backup-binlog').spec.jobTemplate.spec.template.spec.containers[0]).BINLOG_GTID_DOMAIN).toBe('4242');
    // Unset: the same bytes as before the prop existed.
    expect(synthText(withBackup({ binlogArchive: {} }).objects)).toBe(synthText(withBackup({ binlogArchive: { gtidDomainId: 1 } }).objects));
    expectValidManifests(objects);
  });

  test('gtidDomainId 0 is refused for what it is (the members\' local statements), with the others\' problems; the 32-bit maximum is accepted', () => {
    const zero = errorOf(() => withBackup({ binlogArchive: { gtidDomainId: 0, intervalSeconds: 5 } }));
    expect(zero).toMatch(/binlogArchive\.gtidDomainId: 0 must not be 0: each member's local statements/);
    expect(zero).toContain('binlogArchive.intervalSeconds');
    expect(errorOf(() => withBackup({ binlogArchive: { gtidDomainId: 1.5 } }))).toContain('binlogArchive.gtidDomainId: 1.5 must be an integer from 1 to 4294967295');
    expect(() => withBackup({ binlogArchive: { gtidDomainId: 4294967295 } })).not.toThrow();
  });

  test.each([
    ...cases('binlogArchive.gtidDomainId', [...HOSTILE_NUMBERS, 4294967296, '1', ...HOSTILE_STRINGS.slice(0, 3)], (gtidDomainId) => () => withBackup({ binlogArchive: { gtidDomainId } })),
  ])('%s = %p is refused with the prop, the value and a fix', (prop, value, build) => {
    expectNamedProblem(errorOf(build), prop, value);
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
    // The token is the SST password as a file (it rotates live); the SST account's name lets serve.sh accept either
    // password of a rotation's grace.
    expect(envOf(sidecar).BACKUP_TOKEN).toBeUndefined();
    expect(envOf(sidecar).BACKUP_TOKEN_FILE).toBe('/etc/galera-backup-token/BACKUP_TOKEN');
    expect(envOf(sidecar).GALERA_SST_USER).toBe('mariabackup');
    expect(sidecar.volumeMounts).toContainEqual({ name: 'backup-token', mountPath: '/etc/galera-backup-token', readOnly: true });
    expect(template.spec.volumes).toContainEqual({ name: 'backup-token', projected: { defaultMode: 0o440,
      sources: [{ secret: { name: 'galera-sst', items: [{ key: 'password', path: 'BACKUP_TOKEN', mode: 0o440 }] } }] } });
    expect(template.spec.containers.flatMap((c: any) => (c.env ?? []).filter((e: any) => e.valueFrom?.secretKeyRef))).toEqual([]);
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

describe('GaleraBackup stream over TLS (the cluster has TLS)', () => {
  const CERT_MANAGER = TlsCertificates.certManager({ issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } });
  const GALERA_SANS = ['*.galera-peers.openstack.svc', 'galera', 'galera.openstack', 'galera.openstack.svc'];
  const tlsBackup = (props: Partial<GaleraBackupProps> = {}, certificates: TlsCertificates = CERT_MANAGER) =>
    withBackup({ ...props }, 'openstack', { tls: { certificates } });
  const sidecarOf = (objects: K8sObject[]) => memberPod(objects).spec.containers.find((c: any) => c.name === 'backup');
  const podOf = (objects: K8sObject[], cronJob: string) => find(objects, 'CronJob', cronJob).spec.jobTemplate.spec.template.spec;

  test('the sidecar listens with OpenSSL (listen.sh) on the member\'s own certificate, mounted read-only from the pod\'s Secret volume', () => {
    const { objects, backup } = tlsBackup();
    expect(backup.tls).toBe(true);
    const sidecar = sidecarOf(objects);
    expect(sidecar.command).toEqual(['bash', '/opt/galera-backup/listen.sh']);
    expect(envOf(sidecar)).toMatchObject({
      BACKUP_PORT: '4445', BACKUP_TLS_DIR: '/etc/galera-tls', BACKUP_TLS_CLIENT_NAME: 'galera-backup', BACKUP_TLS_CIPHERS: TLS12_CIPHERS,
    });
    expect(sidecar.volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/galera-tls', readOnly: true });
    // The same volume mariadbd mounts: the members' Secret, the key 0440 (owner and the pod's fsGroup, mysql).
    const volume = memberPod(objects).spec.volumes.find((v: any) => v.name === 'tls');
    expect(volume.secret.secretName).toBe('galera-tls');
    expect(volume.secret.items).toContainEqual({ key: 'tls.key', path: 'tls.key', mode: 0o440 });
    const mariadb = memberPod(objects).spec.containers.find((c: any) => c.name === 'mariadb');
    expect(mariadb.volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/galera-tls', readOnly: true });
    // The scripts: the listener and the pair check it runs before serving a renewal.
    expect(Object.keys(find(objects, 'ConfigMap', 'galera-backup-scripts').data).sort()).toEqual([
      'archive.sh', 'backup.sh', 'common.sh', 'drill.sh', 'listen.sh', 'restore.sh', 'serve.sh', 'tls-pair-check.sh']);
    expectValidManifests(objects);
  });

  test('the job\'s own client certificate: a cert-manager Certificate for client authentication only, named after the backup, same issuer', () => {
    const { objects } = tlsBackup();
    const certificate = find(objects, 'Certificate', 'galera-backup-client-tls');
    expect(certificate.spec).toMatchObject({
      secretName: 'galera-backup-client-tls', commonName: 'galera-backup', usages: ['client auth', 'digital signature'],
      issuerRef: find(objects, 'Certificate', 'galera-tls').spec.issuerRef,
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
    });
    expect(certificate.spec.dnsNames).toBeUndefined();
    expect(certificate.metadata.namespace).toBe('openstack');
  });

  test('backup, archiver and restore jobs mount the job\'s certificate (never the members\'); the drill reaches no member and gets none', () => {
    const { objects } = tlsBackup({ binlogArchive: {} });
    for (const name of ['galera-backup', 'galera-backup-binlog', 'galera-backup-restore-0', 'galera-backup-restore-2']) {
      const pod = podOf(objects, name);
      const container = pod.containers[0];
      expect({ name, env: envOf(container) }).toMatchObject({ name, env: { BACKUP_TLS_DIR: '/etc/galera-backup-tls', BACKUP_TLS_CIPHERS: TLS12_CIPHERS } });
      expect(container.volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/galera-backup-tls', readOnly: true });
      const volume = pod.volumes.find((v: any) => v.name === 'tls');
      expect(volume.secret).toMatchObject({ secretName: 'galera-backup-client-tls', defaultMode: 0o444 });
      expect(volume.secret.items).toEqual([
        { key: 'tls.crt', path: 'tls.crt', mode: 0o444 }, { key: 'tls.key', path: 'tls.key', mode: 0o440 }, { key: 'ca.crt', path: 'ca.crt', mode: 0o444 }]);
      expect(JSON.stringify(pod)).not.toContain('"galera-tls"');
      // fsGroup 999 (mysql): the job's uid reads the 0440 key through its group.
      expect(pod.securityContext).toMatchObject({ runAsUser: 999, fsGroup: 999 });
    }
    const drill = podOf(objects, 'galera-backup-drill');
    expect(envOf(drill.containers[0]).BACKUP_TLS_DIR).toBeUndefined();
    expect(drill.volumes.map((v: any) => v.name)).not.toContain('tls');
  });

  test('no key material in the YAML: the Secrets are referenced, never written; the ConfigMap holds scripts only', () => {
    const { objects } = tlsBackup();
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    const text = synthText(objects);
    expect(text).not.toMatch(/BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)/);
    expect(synthText([find(objects, 'ConfigMap', 'galera-backup-scripts')])).not.toMatch(/BEGIN|tls\.key"/);
  });

  test('without TLS on the cluster nothing changes: the plaintext listener, no certificate, no TLS env, the same scripts as before', () => {
    const { objects, backup } = withBackup();
    expect(backup.tls).toBe(false);
    expect(sidecarOf(objects).command[0]).toBe('socat');
    expect(objects.filter((o) => o.kind === 'Certificate')).toEqual([]);
    const envNames = objects.filter((o) => o.kind === 'CronJob' || o.kind === 'StatefulSet')
      .flatMap((o) => (o.spec.jobTemplate?.spec.template ?? o.spec.template).spec.containers.flatMap((c: any) => (c.env ?? []).map((e: any) => e.name)));
    expect(envNames.filter((n: string) => n.startsWith('BACKUP_TLS'))).toEqual([]);
    expect(Object.keys(find(objects, 'ConfigMap', 'galera-backup-scripts').data)).not.toContain('listen.sh');
  });

  test('user Secrets: the one listed for the backup\'s name, which must name the job', () => {
    const certificates = TlsCertificates.fromSecrets({ secrets: [
      { component: 'galera', secretName: 'db-cert', covers: GALERA_SANS },
      { component: 'galera-backup', secretName: 'backup-client', covers: ['galera-backup'], privateKeyKey: 'key.pem' },
    ] });
    const { objects } = tlsBackup({}, certificates);
    expect(objects.filter((o) => o.kind === 'Certificate')).toEqual([]);
    const volume = jobPod(objects).volumes.find((v: any) => v.name === 'tls');
    expect(volume.secret.secretName).toBe('backup-client');
    expect(volume.secret.items).toContainEqual({ key: 'key.pem', path: 'tls.key', mode: 0o440 });
    // A backup named otherwise is asked for under its own name.
    const renamed = tlsBackup({ name: 'nightly' }, TlsCertificates.fromSecrets({ secrets: [
      { component: 'galera', secretName: 'db-cert', covers: GALERA_SANS }, { component: 'nightly', secretName: 'n', covers: ['NIGHTLY'] }] }));
    expect(envOf(sidecarOf(renamed.objects)).BACKUP_TLS_CLIENT_NAME).toBe('nightly');
  });

  test('TLS on the cluster but no client certificate for the backup: one error with every other problem, saying what to add', () => {
    const certificates = TlsCertificates.fromSecrets({ secrets: [{ component: 'galera', secretName: 'db-cert', covers: GALERA_SANS }] });
    const message = errorOf(() => tlsBackup({ schedule: 'nightly', retention: { count: 0 } }, certificates));
    expect(message).toContain("GaleraBackup 'backup' has invalid props");
    expect(message).toContain('schedule: "nightly"');
    expect(message).toContain('retention.count: 0');
    expect(message).toContain("tls: \"galera-backup\" has no client certificate: add { component: 'galera-backup', secretName, covers: ['galera-backup'] } to TlsCertificates.fromSecrets (it lists galera)");
    expect(message).toContain("the backup job's certificate, which the members' backup sidecars require");
  });

  test('a user Secret for the backup that does not name the job is refused, naming what it names', () => {
    const certificates = TlsCertificates.fromSecrets({ secrets: [
      { component: 'galera', secretName: 'db-cert', covers: GALERA_SANS },
      { component: 'galera-backup', secretName: 'backup-client', covers: ['*.openstack.svc', 'backup'] },
    ] });
    const message = errorOf(() => tlsBackup({}, certificates));
    expect(message).toContain('tls: ["*.openstack.svc","backup"] is what Secret \'backup-client\' of \'galera-backup\' names, without \'galera-backup\'');
  });

  test.each([
    ...cases('name', HOSTILE_STRINGS, (name) => () => tlsBackup({ name })),
  ])('with TLS, %s = %p (it becomes the certificate\'s name and the listener\'s check) is refused with the prop, the value and a fix', (prop, value, build) => {
    expectNamedProblem(errorOf(build), prop, value);
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

  test('the sidecar\'s address: plain TCP without TLS; with BACKUP_TLS_DIR, OpenSSL verifying the member for the name connected to, with the job\'s certificate, TLS 1.2+ and the ciphers given', () => {
    const address = (env: Record<string, string>) => spawnSync('bash', ['-c', `. "${common}"; sidecar_address galera-1.galera-peers.openstack.svc`],
      { env: { PATH: process.env.PATH, BACKUP_PORT: '4445', ...env }, encoding: 'utf8' });
    expect(address({}).stdout.trim()).toBe('TCP:galera-1.galera-peers.openstack.svc:4445,connect-timeout=5');
    const tls = address({ BACKUP_TLS_DIR: '/etc/galera-backup-tls', BACKUP_TLS_CIPHERS: TLS12_CIPHERS }).stdout.trim();
    expect(tls.split(',')).toEqual(['OPENSSL:galera-1.galera-peers.openstack.svc:4445', 'connect-timeout=5', 'verify=1',
      'cafile=/etc/galera-backup-tls/ca.crt', 'cert=/etc/galera-backup-tls/tls.crt', 'key=/etc/galera-backup-tls/tls.key',
      'openssl-min-proto-version=TLS1.2', `cipher=${TLS12_CIPHERS}`]);
    // TLS without its ciphers is a broken job environment: no address, an error (never a plaintext fallback).
    const broken = address({ BACKUP_TLS_DIR: '/etc/galera-backup-tls' });
    expect({ stdout: broken.stdout, failed: broken.status !== 0 }).toEqual({ stdout: '', failed: true });
  });

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

  test('the sidecar\'s token rotates live: its file at every request, else a password the SST account accepts (by MYSQL_PWD, never argv); nothing else', async () => {
    const run = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-token-'));
    const socket = net.createServer().listen(path.join(run, 'mysqld.sock'));
    try {
      const serve = path.join(__dirname, '..', 'assets', 'galera-backup', 'serve.sh');
      const bin = path.join(run, 'bin');
      fs.mkdirSync(bin);
      // A stand-in client: the SST account accepts 'old' and 'new' (a rotation's grace); it logs its argv.
      fs.writeFileSync(path.join(bin, 'mariadb'), `#!/bin/bash\nprintf '%s\\n' "$*" >>"${run}/argv"\n`
        + '[[ " $* " == *" --user=mariabackup "* && ( $MYSQL_PWD == old || $MYSQL_PWD == new ) ]]\n', { mode: 0o755 });
      const tokenFile = path.join(run, 'BACKUP_TOKEN');
      fs.writeFileSync(tokenFile, 'new');
      const env = { PATH: `${bin}:${process.env.PATH}`, GALERA_SCRIPTS_DIR: path.join(__dirname, '..', 'assets', 'galera'), GALERA_RUN_DIR: run, POD_NAME: 'galera-2',
        BACKUP_TOKEN_FILE: tokenFile, GALERA_SST_USER: 'mariabackup' };
      const ask = (token: string, extra: Record<string, string> = {}) => spawnSync('bash', [serve], { env: { ...env, ...extra }, input: `${token} result 20261203T020000Z\n`, encoding: 'utf8' }).stdout.trim();
      const unknown = '{"id": "20261203T020000Z", "state": "unknown"}';
      expect(ask('new')).toBe(unknown);
      // Not this pod's file (the job's node has the other one): the account still accepts it, in the grace.
      expect(ask('old')).toBe(unknown);
      fs.writeFileSync(tokenFile, 'newer');
      expect(ask('newer')).toBe(unknown);
      expect(ask('new')).toBe(unknown);
      expect(ask('x')).toBe('refused: bad token');
      expect(fs.readFileSync(path.join(run, 'argv'), 'utf8')).not.toMatch(/new|old|\bx\b/);
      // Without the account's name, or the socket, only the file counts; without the file, BACKUP_TOKEN (tests, a shell).
      expect(ask('new', { GALERA_SST_USER: '' })).toBe('refused: bad token');
      expect(ask('t', { BACKUP_TOKEN_FILE: path.join(run, 'none'), BACKUP_TOKEN: 't', GALERA_SST_USER: '' })).toBe(unknown);
    } finally {
      await new Promise((resolve) => socket.close(resolve));
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

/**
 * The binary log archive's retention and history segments, run by bash on a local directory as the destination
 * (rclone's local backend, as the volume destination uses): common.sh's functions, backup.sh's prune, archive.sh.
 */
describe('binary log archive: retention and history segments (on a local directory)', () => {
  const assets = path.join(__dirname, '..', 'assets', 'galera-backup');
  /** Issue 17's loopback range: the stand-in sidecar and S3 server listen here. */
  const SIDECAR_ADDRESS = '127.0.17.2';
  let remote: string;
  /** The scripts run without blocking (runAsync), each in a process group of its own: a failed test leaves none behind. */
  const children: ChildProcess[] = [];
  beforeEach(() => { remote = fs.mkdtempSync(path.join(os.tmpdir(), 'archive-')); });
  afterEach(() => {
    killAll(children);
    fs.rmSync(remote, { recursive: true, force: true });
  });
  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH, RCLONE_CONFIG_DEST_TYPE: 'local', BACKUP_REMOTE: `dest:${remote}`, ...extra });
  const bash = (script: string, input = '', extra: Record<string, string> = {}) =>
    spawnSync('bash', ['-c', `. "${assets}/common.sh"; ${script}`], { input, env: env(extra), encoding: 'utf8' });
  const lines = (text: string) => text.split('\n').filter(Boolean);
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(remote, rel)), { recursive: true });
    fs.writeFileSync(path.join(remote, rel), text);
  };
  const files = (dir = remote): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : [path.relative(remote, path.join(dir, e.name))]).sort();
  const backup = (id: string, seq?: number) => {
    write(`${id}/backup.mbstream.gz`, 'x');
    write(`${id}/backup.json`, `{"id": "${id}", "finished": 1, "sha256": "ab"${seq === undefined ? '' : `, "binlog_seq": ${seq}`}}\n`);
  };
  /** An archived file holding the domain's transactions start+1..end. */
  const file = (member: string, name: string, start: number, end: number) => `file ${member} ${name} ${start} ${end} ${1000 + start} ${1000 + end} 100`;
  const segment = (dir: string, entries: string[], closed = true) => {
    for (const e of entries.filter((l) => l.startsWith('file '))) write(`${dir}/${e.split(' ')[1]}/${e.split(' ')[2]}`, 'binlog');
    write(`${dir}/index.tsv`, `${entries.join('\n')}\n`);
    if (closed) write(`${dir}/history.json`, '{"closed": "x"}\n');
  };

  test('a file goes when all it holds is at or before the oldest kept backup; never the last one; a gap while it matters', () => {
    const index = [file('galera-2', 'binlog.000001', 0, 10), file('galera-2', 'binlog.000002', 10, 20), 'gap 20 25',
      file('galera-1', 'binlog.000007', 25, 30), file('galera-1', 'binlog.000008', 30, 40)].join('\n');
    const kept = (keep: number) => lines(bash(`archive_retained ${keep}`, index).stdout).map((l) => l.split(' ').slice(0, 3).join(' '));
    expect(kept(9)).toHaveLength(5);
    expect(kept(10)).toEqual(['file galera-2 binlog.000002', 'gap 20 25', 'file galera-1 binlog.000007', 'file galera-1 binlog.000008']);
    // The gap (21-25 missing) matters to a backup holding up to 24, not to one holding 25.
    expect(kept(24)).toEqual(['gap 20 25', 'file galera-1 binlog.000007', 'file galera-1 binlog.000008']);
    expect(kept(25)).toEqual(['file galera-1 binlog.000007', 'file galera-1 binlog.000008']);
    // Past the archive's end: the last file stays (the archiver continues from it).
    expect(kept(1000)).toEqual(['file galera-1 binlog.000008']);
  });

  test('restore.sh\'s point plan: what it replays, and each point it refuses (before the backup, past the archive, beyond a gap, an archive starting after the backup)', () => {
    // Backup 20261204T010000Z holds domain 1 up to 12, complete at 1000; the archive covers commits before 5000.
    const plan = (point: string, index: string[], backupSeq = 12) => spawnSync('bash', ['-c', `. "${assets}/restore.sh"; point_plan "$@"`, 'x',
      '20261204T010000Z', '1', String(backupSeq), '3', '1000', '5000', point], { input: `${index.join('\n')}\n`, env: env(), encoding: 'utf8' });
    const ok = (point: string, index: string[], backupSeq = 12) => {
      const run = plan(point, index, backupSeq);
      expect({ point, status: run.status, refused: run.stderr.includes('REFUSED') }).toEqual({ point, status: 0, refused: false });
      return run.stdout.trim();
    };
    const refused = (point: string, index: string[], backupSeq = 12) => {
      const run = plan(point, index, backupSeq);
      expect({ point, status: run.status, stdout: run.stdout }).toEqual({ point, status: 2, stdout: '' });
      return lines(run.stderr).at(-1)!.replace(/^.*REFUSED, nothing changed: /, '');
    };
    const plain = [file('galera-0', 'binlog.000001', 0, 10), file('galera-0', 'binlog.000002', 10, 20), file('galera-1', 'binlog.000005', 20, 30)];
    const gapped = [file('galera-0', 'binlog.000001', 0, 10), file('galera-0', 'binlog.000002', 10, 20), 'gap 20 25', file('galera-1', 'binlog.000007', 25, 30)];
    expect(ok('1-3-15', plain)).toBe('15 0 --stop-position=1-3-15');
    expect(ok('end', plain)).toBe('30 0');
    const at = new Date(3000 * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
    expect(ok(at, plain)).toBe(`30 3000 --stop-datetime=${at}`);
    // The archive ends at the backup: nothing to replay (the target is the backup's own position).
    expect(ok('end', plain.slice(0, 1), 12)).toBe('12 0');
    expect(ok('1-3-20', gapped)).toBe('20 0 --stop-position=1-3-20');
    expect(refused('1-3-26', gapped)).toBe('the archive misses transactions 21-25 of domain 1 (a gap), before 1-3-26');
    expect(refused('end', gapped)).toBe('the archive misses transactions 21-25 of domain 1 (a gap), before end');
    expect(refused('1-3-11', plain)).toBe('GTID 1-3-11 is before backup 20261204T010000Z (which holds up to 1-3-12): restore an older backup');
    expect(refused('1-3-31', plain)).toMatch(/^GTID 1-3-31 is past the archive, which ends at 1-\*-30/);
    expect(refused('2-3-15', plain)).toBe("GTID 2-3-15 is not in the cluster's domain 1");
    expect(refused(new Date(900 * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ''), plain)).toMatch(/is before backup 20261204T010000Z was complete/);
    expect(refused(new Date(6000 * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ''), plain)).toMatch(/is past what the archive covers/);
    expect(refused('1-3-15', plain.slice(1), 5)).toBe('the archive starts after backup 20261204T010000Z (at 1-*-11, the backup holds up to 5)');
    expect(refused('yesterday', plain)).toMatch(/neither a UTC time/);
  });

  test('the drill reads the range restore.sh logs after a replay (the last one), and nothing from a log without one', () => {
    const log = ['2026-12-04T02:00:00Z restore.sh: restore 20261204T010000Z: replaying the archive (binlog) from 1-1-40 to end',
      `2026-12-04T02:00:01Z restore.sh: restore 20261204T010000Z: $(replay_summary 3 binlog-20261203T000000Z 40 77 4242)`].join('\n');
    const rendered = bash(`echo "${log.split('\n')[0]}"; echo "${log.split('\n')[1]}"`).stdout;
    expect(rendered).toContain('replayed 3 file(s) of binlog-20261203T000000Z: sequence 40-77 of domain 4242');
    expect(bash('replay_range_of', rendered).stdout.trim()).toBe('3 40 77');
    expect(bash('replay_range_of', 'restore x: done\n').stdout).toBe('');
  });

  test('the segment of a backup is the first closed after it, else the current one', () => {
    const closed = '20261203T000000Z\n20261125T000000Z\n';
    expect(bash('segment_of 20261120T020000Z', closed).stdout.trim()).toBe('binlog-20261125T000000Z');
    expect(bash('segment_of 20261201T020000Z', closed).stdout.trim()).toBe('binlog-20261203T000000Z');
    expect(bash('segment_of 20261204T020000Z', closed).stdout.trim()).toBe('binlog');
    expect(bash('segment_of 20261204T020000Z', '').stdout.trim()).toBe('binlog');
  });

  test('the plan: per segment the oldest kept backup decides; a closed segment of no kept backup goes; unknown positions keep all', () => {
    const plan = (input: string[]) => lines(bash('archive_retention_plan', `${input.join('\n')}\n`).stdout);
    expect(plan(['closed 20261125T000000Z', 'closed 20261203T000000Z', 'backup 20261202T020000Z 45', 'backup 20261201T020000Z 30',
      'backup 20261205T020000Z 20', 'backup 20261204T020000Z 12'])).toEqual([
      'purge binlog-20261125T000000Z', 'keep binlog-20261203T000000Z 30 20261201T020000Z', 'keep binlog 12 20261204T020000Z']);
    // The oldest kept backup has no position (taken before the archive was on): nothing is removed from its segment.
    expect(plan(['backup 20261201T020000Z -', 'backup 20261202T020000Z 45'])).toEqual([]);
    // No backup of the current history yet (just after a restore): the current segment stays whole.
    expect(plan(['closed 20261203T000000Z', 'backup 20261201T020000Z 30'])).toEqual(['keep binlog-20261203T000000Z 30 20261201T020000Z']);
  });

  test('backup.sh\'s prune: backups by retention, then the archive: closed segments pruned or removed, the archiver told about the current one', () => {
    for (const [id, seq] of [['20261120T020000Z', 5], ['20261201T020000Z', 30], ['20261202T020000Z', 45], ['20261204T020000Z', 12], ['20261205T020000Z', 20]] as const) backup(id, seq);
    segment('binlog-20261125T000000Z', [file('galera-1', 'binlog.000001', 0, 9)]);
    segment('binlog-20261203T000000Z', [file('galera-2', 'binlog.000001', 0, 20), file('galera-2', 'binlog.000002', 20, 31), 'gap 31 33',
      file('galera-2', 'binlog.000003', 33, 40), file('galera-2', 'binlog.000004', 40, 50)]);
    const current = [file('galera-0', 'binlog.000001', 0, 15), file('galera-0', 'binlog.000002', 15, 25)];
    segment('binlog', current, false);
    const run = spawnSync('bash', ['-c', `. "${assets}/backup.sh"; prune`], {
      env: env({ RETENTION_COUNT: '4', RETENTION_MAX_AGE_SECONDS: String(3650 * 86400) }), encoding: 'utf8' });
    expect(run.status).toBe(0);
    // 20261120 goes by count; binlog-20261125 held only its history.
    expect(files().filter((f) => !/^\d{8}T/.test(f))).toEqual([
      'binlog-20261203T000000Z/galera-2/binlog.000002', 'binlog-20261203T000000Z/galera-2/binlog.000003', 'binlog-20261203T000000Z/galera-2/binlog.000004',
      'binlog-20261203T000000Z/history.json', 'binlog-20261203T000000Z/index.tsv',
      'binlog/galera-0/binlog.000001', 'binlog/galera-0/binlog.000002', 'binlog/index.tsv', 'binlog/retain.json']);
    expect(fs.existsSync(path.join(remote, '20261120T020000Z'))).toBe(false);
    // The oldest kept backup of that history holds up to 30: the file ending at 20 goes, the one ending at 31 and
    // the gap after it stay.
    expect(fs.readFileSync(path.join(remote, 'binlog-20261203T000000Z/index.tsv'), 'utf8')).toBe(`${[file('galera-2', 'binlog.000002', 20, 31), 'gap 31 33',
      file('galera-2', 'binlog.000003', 33, 40), file('galera-2', 'binlog.000004', 40, 50)].join('\n')}\n`);
    // The current segment is the archiver's: untouched here, retain.json names what it may remove.
    expect(fs.readFileSync(path.join(remote, 'binlog/index.tsv'), 'utf8')).toBe(`${current.join('\n')}\n`);
    expect(JSON.parse(fs.readFileSync(path.join(remote, 'binlog/retain.json'), 'utf8'))).toMatchObject({ keep_after_seq: 12, backup: '20261204T020000Z' });
    expect(run.stderr).toContain('archive retention: removing binlog-20261125T000000Z');
  });

  test('closing the current segment moves it whole under the time of the close, history.json last; a close cut short is finished under its time', () => {
    expect(bash('archive_close_segment "restore of x"').stdout).toBe('');
    expect(files()).toEqual([]);
    segment('binlog', [file('galera-0', 'binlog.000001', 0, 15), file('galera-0', 'binlog.000002', 15, 25)], false);
    write('binlog/archive.json', '{"domain": 1}\n');
    const closed = bash('archive_close_segment "restore of 20261204T020000Z"');
    expect(closed.status).toBe(0);
    const name = closed.stdout.trim();
    expect(name).toMatch(/^binlog-\d{8}T\d{6}Z$/);
    expect(files()).toEqual([`${name}/archive.json`, `${name}/galera-0/binlog.000001`, `${name}/galera-0/binlog.000002`, `${name}/history.json`, `${name}/index.tsv`]);
    expect(JSON.parse(fs.readFileSync(path.join(remote, name, 'history.json'), 'utf8'))).toMatchObject({ reason: 'restore of 20261204T020000Z' });
    // A move that stopped half way: a segment without history.json, files left in binlog/.
    write('binlog-20261203T000000Z/galera-1/binlog.000001', 'moved');
    write('binlog/galera-1/binlog.000002', 'left');
    write('binlog/index.tsv', `${file('galera-1', 'binlog.000001', 0, 3)}\n${file('galera-1', 'binlog.000002', 3, 5)}\n`);
    expect(bash('archive_close_segment again').stdout.trim()).toBe('binlog-20261203T000000Z');
    expect(files().filter((f) => f.startsWith('binlog-20261203'))).toEqual(['binlog-20261203T000000Z/galera-1/binlog.000001',
      'binlog-20261203T000000Z/galera-1/binlog.000002', 'binlog-20261203T000000Z/history.json', 'binlog-20261203T000000Z/index.tsv']);
    expect(files().filter((f) => f.startsWith('binlog/'))).toEqual([]);
  });

  test('a destination that does not list is never taken for one without an archive: no close, no segment, no archive retention', () => {
    const gone = { BACKUP_REMOTE: `dest:${path.join(remote, 'no-such-dir')}` };
    expect(bash('archive_close_segment x; echo "exit $?"', '', gone).stdout.trim()).toBe('exit 1');
    expect(bash('archive_segment_for 20261204T020000Z; echo "exit $?"', '', gone).stdout.trim()).toBe('exit 1');
    const prune = spawnSync('bash', ['-c', `. "${assets}/backup.sh"; prune_archive`], { env: env(gone), encoding: 'utf8' });
    expect(prune.status).toBe(0);
    expect(prune.stderr).toContain('does not list: skipped');
  });

  /** A stand-in for the members' sidecar (serve.sh's protocol: one `TOKEN COMMAND ARG` line, one answer). */
  async function withFakeSidecar(answer: (command: string, arg: string) => string, run: (port: number) => Promise<void>, seen?: (token: string) => void): Promise<void> {
    const server = net.createServer((socket) => {
      socket.once('data', (data) => {
        const [token, command, arg] = data.toString().trim().split(' ');
        seen?.(token);
        socket.end(answer(command, arg ?? ''));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, SIDECAR_ADDRESS, resolve));
    try {
      await run((server.address() as net.AddressInfo).port);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }
  /** Runs bash without blocking this process (the stand-in sidecar and S3 server answer from it). */
  const runAsync = (args: string[], extra: Record<string, string>) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawnInGroup(children, 'bash', args, { env: env({ BACKUP_TOKEN: 't', BINLOG_GTID_DOMAIN: '1', ...extra }) });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
  /** A job's script. */
  const runScript = (script: string, extra: Record<string, string>) => runAsync([path.join(assets, script)], extra);

  test('a job reads its token file at every request: a job that runs across a rotation sends the new one once its node has it', async () => {
    const tokens: string[] = [];
    const tokenFile = path.join(remote, 'token');
    fs.writeFileSync(tokenFile, 'old');
    await withFakeSidecar((command) => `${command} done\n`, async (port) => {
      const script = `. "${assets}/common.sh"; sidecar_request ${SIDECAR_ADDRESS} 5 status; printf new >"${tokenFile}"; sidecar_request ${SIDECAR_ADDRESS} 5 result x`;
      const run = await runAsync(['-c', script], { BACKUP_PORT: String(port), BACKUP_TOKEN_FILE: tokenFile, BACKUP_TOKEN: 'env' });
      expect(run.stdout).toBe('status done\nresult done\n');
    }, (token) => tokens.push(token));
    expect(tokens).toEqual(['old', 'new']);
  });

  test('a sidecar that refuses the token is asked again every 10 s within BACKUP_TOKEN_WAIT_SECONDS (the members have not applied a new SST password yet), then taken for down', async () => {
    let asked = 0;
    // Refuses twice, then accepts (a member applied the rotation).
    await withFakeSidecar(() => (++asked <= 2 ? 'refused: bad token\n' : '4 Primary OFF galera-0\n'), async (port) => {
      const run = await runAsync(['-c', `. "${assets}/common.sh"; member_states`], { BACKUP_PORT: String(port), BACKUP_MEMBERS: `galera-0=${SIDECAR_ADDRESS}` });
      expect(run.stdout).toBe('galera-0 4 Primary OFF galera-0\n');
      expect(run.stderr.match(/refused this job's token; asking again in 10 s/g)).toHaveLength(2);
    });
    expect(asked).toBe(3);
    // A token no member ever accepts: down once the wait is over (here 0 s: asked once).
    asked = -100;
    await withFakeSidecar(() => (++asked, 'refused: bad token\n'), async (port) => {
      const run = await runAsync(['-c', `. "${assets}/common.sh"; member_states`], { BACKUP_PORT: String(port), BACKUP_MEMBERS: `galera-0=${SIDECAR_ADDRESS}`, BACKUP_TOKEN_WAIT_SECONDS: '0' });
      expect(run.stdout).toBe('galera-0 down - - -\n');
    });
    expect(asked).toBe(-99);
  }, 60_000);

  test('archive.sh applies retain.json once a member answers: the files go, the index and archive.json start at the first file kept', async () => {
    const entries = [file('galera-0', 'binlog.000001', 0, 10), 'gap 10 12', file('galera-0', 'binlog.000002', 12, 20), file('galera-0', 'binlog.000003', 20, 25)];
    segment('binlog', entries, false);
    write('binlog/retain.json', '{"keep_after_seq": 21, "backup": "20261204T020000Z", "written": 1}\n');
    // Synced, listing only its current file (nothing closed to ship).
    const sidecar = (command: string) => (command === 'status' ? '4 Primary OFF galera-1\n'
      : command === 'binlogs' ? 'binlog.000009 400 25\ncurrent binlog.000009\n' : 'refused: no\n');
    await withFakeSidecar(sidecar, async (port) => {
      const run = await runScript('archive.sh', { BACKUP_MEMBERS: `galera-0=${SIDECAR_ADDRESS}`, BACKUP_PORT: String(port) });
      expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
      const pass = JSON.parse(lines(run.stdout).find((l) => l.includes('"archive pass"'))!);
      expect(pass).toMatchObject({ shipped: 0, first_seq: 20, last_seq: 25, first_time: 1020, files: 1, gaps: 0 });
    });
    expect(fs.readFileSync(path.join(remote, 'binlog/index.tsv'), 'utf8')).toBe(`${entries[3]}\n`);
    expect(files().filter((f) => f.includes('/galera-0/'))).toEqual(['binlog/galera-0/binlog.000003']);
    expect(JSON.parse(fs.readFileSync(path.join(remote, 'binlog/archive.json'), 'utf8'))).toMatchObject({ first_seq: 20, last_seq: 25 });
    expect(fs.readFileSync(path.join(remote, 'binlog/archive.prom'), 'utf8')).toMatch(/^galera_binlog_archive_gaps 0$/m);
  });

  test('backup.sh records the source\'s binlog_seq in the manifest, and its prune tells the archiver to keep from the oldest kept backup', async () => {
    const stream = 'not really a backup stream';
    const sha = createHash('sha256').update(stream).digest('hex');
    backup('20261201T020000Z', 30);
    segment('binlog', [file('galera-0', 'binlog.000001', 0, 20), file('galera-0', 'binlog.000002', 20, 50)], false);
    let id = '';
    const sidecar = (command: string, arg: string) => {
      if (command === 'status') return '4 Primary OFF galera-0\n';
      if (command === 'backup') { id = arg; return stream; }
      return command === 'result' ? `{"id": "${arg}", "state": "ok", "sha256": "${sha}", "error": "", "binlog_seq": 44}\n` : 'refused: no\n';
    };
    await withFakeSidecar(sidecar, async (port) => {
      const run = await runScript('backup.sh', { BACKUP_MEMBERS: `galera-0=${SIDECAR_ADDRESS} galera-1=${SIDECAR_ADDRESS}`, BACKUP_PORT: String(port),
        RETENTION_COUNT: '1', RETENTION_MAX_AGE_SECONDS: String(3650 * 86400) });
      expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
    });
    expect(JSON.parse(fs.readFileSync(path.join(remote, id, 'backup.json'), 'utf8'))).toMatchObject({ id, source: 'galera-1', sha256: sha, binlog_seq: 44 });
    expect(fs.existsSync(path.join(remote, '20261201T020000Z'))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(remote, 'binlog/retain.json'), 'utf8'))).toMatchObject({ keep_after_seq: 44, backup: id });
  });

  test('restore.sh takes a sidecar that accepts connections but never answers (a refused TLS handshake, a token it does not know) for a running member: refused, nothing changed', async () => {
    const target = fs.mkdtempSync(path.join(os.tmpdir(), 'restore-target-'));
    fs.writeFileSync(path.join(target, 'ibdata1'), 'live data');
    const silent = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => silent.listen(0, SIDECAR_ADDRESS, resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const variants: Array<Record<string, string>> = [{}, { BACKUP_TLS_DIR: path.join(remote, 'no-certificate-here'), BACKUP_TLS_CIPHERS: TLS12_CIPHERS }];
      for (const tls of variants) {
        const run = await runAsync([path.join(assets, 'restore.sh'), 'latest', target], { BACKUP_MEMBERS: `galera-0=${SIDECAR_ADDRESS}`, BACKUP_PORT: String(port), ...tls });
        expect(run.stderr).toContain(`member galera-0's sidecar accepts connections at ${SIDECAR_ADDRESS} but did not answer`);
        expect(run.code).toBe(2);
      }
    } finally {
      await new Promise((resolve) => silent.close(resolve));
    }
    expect(fs.readdirSync(target)).toEqual(['ibdata1']);
    fs.rmSync(target, { recursive: true, force: true });
  });

  test('the drill tries the archive of the latest backup\'s history, then the backup alone, and reports both (a stream that does not unpack)', () => {
    const stream = 'not gzip';
    write('20261204T020000Z/backup.mbstream.gz', stream);
    write('20261204T020000Z/backup.json', `{"id": "20261204T020000Z", "finished": 1, "sha256": "${createHash('sha256').update(stream).digest('hex')}", "binlog_seq": 5}\n`);
    segment('binlog', [file('galera-0', 'binlog.000001', 0, 20)], false);
    write('binlog/archive.json', '{"domain": 1, "first_seq": 0, "last_seq": 20, "covered_until": 1}\n');
    const metrics = path.join(remote, 'drill-copy.prom');
    const run = spawnSync('bash', [path.join(assets, 'drill.sh')], { env: env({ DRILL_SCRATCH_DIR: remote, DRILL_METRICS_FILE: metrics }), encoding: 'utf8' });
    expect(run.status).not.toBe(0);
    const result = JSON.parse(lines(run.stdout).find((l) => l.includes('"drill result"'))!);
    expect(result).toMatchObject({ ok: false, backup: '20261204T020000Z', archive: 'failed', archive_files: 0,
      reason: expect.stringContaining('could not be unpacked'), archive_reason: expect.stringContaining('binlog does not replay past 20261204T020000Z') });
    // Both restores ran: with the archive, then alone.
    expect(run.stderr.match(/restore 20261204T020000Z: fetching and checking/g)).toHaveLength(2);
    const text = fs.readFileSync(metrics, 'utf8');
    expect(text).toMatch(/^galera_backup_drill_success 0$/m);
    expect(text).toMatch(/^galera_binlog_archive_drill_success 0$/m);
    expect(text).toMatch(/^galera_binlog_archive_drill_last_seq 0$/m);
    expect(fs.readFileSync(path.join(remote, 'drill.prom'), 'utf8')).toBe(text);
  });

  /** A stand-in mariadb-binlog that prints the "file" as it is: the files served are already in its text form. */
  const fakeBinlogTool = () => {
    write('bin/mariadb-binlog', '#!/bin/bash\ncat "${@: -1}"\n');
    fs.chmodSync(path.join(remote, 'bin', 'mariadb-binlog'), 0o755);
    return { PATH: `${path.join(remote, 'bin')}:${process.env.PATH}` };
  };
  /** Events of GTIDs 1-3-N committed at 2026-12-04 H:00:N, in mariadb-binlog's text: the hour space-padded. */
  const events = (seqs: number[], hour = 3) => seqs.map((n) =>
    `#261204 ${String(hour).padStart(2, ' ')}:00:${String(n).padStart(2, '0')} server id 3  end_log_pos ${n * 100} CRC32 0x00000000\tGTID 1-3-${n} trans\n`).join('');

  test('archive.sh records a gap when the next GTID is on no member any more, and archive.prom counts it (binary logs as mariadb-binlog prints them)', async () => {
    const tool = fakeBinlogTool();
    // Archived up to 10; the member's oldest file starts after 15 (11-15 expired before a pass shipped them).
    segment('binlog', [file('galera-0', 'binlog.000001', 0, 10)], false);
    const served: Record<string, string> = { 'binlog.000003': events([16, 17, 18, 19, 20]), 'binlog.000004': '' };
    const sidecar = (command: string, arg: string) => {
      if (command === 'status') return '4 Primary OFF galera-1\n';
      if (command === 'binlogs') return `binlog.000003 ${served['binlog.000003'].length} 15\nbinlog.000004 0 20\nbinlog.000005 0 20\ncurrent binlog.000005\n`;
      return command === 'binlog' ? served[arg] : 'refused: no\n';
    };
    await withFakeSidecar(sidecar, async (port) => {
      const run = await runScript('archive.sh', { BACKUP_MEMBERS: `galera-0=${SIDECAR_ADDRESS}`, BACKUP_PORT: String(port), ...tool });
      expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
      expect(run.stderr).toContain('GAP: transactions 11-15 of domain 1 are on no member any more');
      expect(JSON.parse(lines(run.stdout).find((l) => l.includes('"archive pass"'))!)).toMatchObject({ shipped: 1, first_seq: 0, last_seq: 20, gaps: 1, member: 'galera-0' });
    });
    const t = (n: number) => Date.UTC(2026, 11, 4, 3, 0, n) / 1000;
    expect(fs.readFileSync(path.join(remote, 'binlog/index.tsv'), 'utf8')).toBe(
      `${file('galera-0', 'binlog.000001', 0, 10)}\ngap 10 15\nfile galera-0 binlog.000003 15 20 ${t(16)} ${t(20)} ${served['binlog.000003'].length}\n`);
    expect(fs.readFileSync(path.join(remote, 'binlog/galera-0/binlog.000003'), 'utf8')).toBe(served['binlog.000003']);
    expect(fs.readFileSync(path.join(remote, 'binlog/archive.prom'), 'utf8')).toMatch(/^galera_binlog_archive_gaps 1$/m);
  });

  test('after a restore, a file of the history before it (committed before the restore) is never shipped into the new segment', async () => {
    const tool = fakeBinlogTool();
    const restoredAt = Date.UTC(2026, 11, 4, 2, 30, 0) / 1000;
    write('binlog-20261204T023000Z/history.json', `{"closed": "20261204T023000Z", "at": ${restoredAt}, "reason": "restore of 20261204T010000Z"}\n`);
    // The member still has a file of the old history (02:00, GTIDs 40-45) beside the new history's (03:00, 13-15).
    const served: Record<string, string> = { 'binlog.000003': events([40, 41, 45], 2), 'binlog.000004': events([13, 14, 15]) };
    const sidecar = (command: string, arg: string) => {
      if (command === 'status') return '4 Primary OFF galera-1\n';
      if (command === 'binlogs') return `binlog.000003 ${served['binlog.000003'].length} -\nbinlog.000004 ${served['binlog.000004'].length} -\nbinlog.000005 0 -\ncurrent binlog.000005\n`;
      return command === 'binlog' ? served[arg] : 'refused: no\n';
    };
    await withFakeSidecar(sidecar, async (port) => {
      const run = await runScript('archive.sh', { BACKUP_MEMBERS: `galera-0=${SIDECAR_ADDRESS}`, BACKUP_PORT: String(port), ...tool });
      expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
      expect(run.stderr).toMatch(/HISTORY: galera-0\/binlog.000003 holds transactions committed from 2026-12-04 02:00:40 UTC, before the restore that began this history \(2026-12-04 02:30:00 UTC\)/);
    });
    expect(fs.readFileSync(path.join(remote, 'binlog/index.tsv'), 'utf8')).toBe(
      `file galera-0 binlog.000004 12 15 ${Date.UTC(2026, 11, 4, 3, 0, 13) / 1000} ${Date.UTC(2026, 11, 4, 3, 0, 15) / 1000} ${served['binlog.000004'].length}\n`);
    expect(files().filter((f) => f.startsWith('binlog/galera-0/'))).toEqual(['binlog/galera-0/binlog.000004']);
  });

  test('on S3 (no directories, a move is copy and delete): closing a segment, finding a backup\'s segment, pruning a closed one', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const S3rver = require('s3rver');
    const server = new S3rver({ address: '127.0.17.3', port: 0, silent: true, directory: path.join(remote, 's3'), configureBuckets: [{ name: 'backups' }] });
    const { port } = await server.run();
    try {
      const s3 = { BACKUP_REMOTE: 'dest:backups/prod/galera', RCLONE_CONFIG_DEST_TYPE: 's3', RCLONE_CONFIG_DEST_PROVIDER: 'Other',
        RCLONE_CONFIG_DEST_ENDPOINT: `http://127.0.17.3:${port}`, RCLONE_CONFIG_DEST_ACCESS_KEY_ID: 'S3RVER', RCLONE_CONFIG_DEST_SECRET_ACCESS_KEY: 'S3RVER',
        RCLONE_CONFIG_DEST_REGION: 'us-east-1', RCLONE_CONFIG_DEST_FORCE_PATH_STYLE: 'true' };
      const sh = (command: string) => runAsync(['-c', `. "${assets}/common.sh"; ${command}`], s3);
      // A missing key reads as nothing with exit 0 through `rclone cat` on S3: rc_read says it is missing, so a
      // prune with no archive writes no retain.json (the integration test's S3 backup found binlog/ beside it).
      write('first/20261130T020000Z/backup.json', '{"id": "20261130T020000Z", "binlog_seq": 7}\n');
      expect((await sh(`rc copy "${path.join(remote, 'first')}" "$BACKUP_REMOTE"`)).code).toBe(0);
      expect((await sh('rc cat "$BACKUP_REMOTE/binlog/index.tsv"')).code).toBe(0);
      expect((await sh('rc_read "$BACKUP_REMOTE/binlog/index.tsv"')).code).toBe(1);
      const noArchive = await runAsync(['-c', `. "${assets}/backup.sh"; prune_archive`], s3);
      expect({ code: noArchive.code, stderr: noArchive.stderr }).toMatchObject({ code: 0, stderr: expect.not.stringContaining('archive retention') });
      expect(lines((await sh('rc lsf -R --files-only "$BACKUP_REMOTE"')).stdout)).toEqual(['20261130T020000Z/backup.json']);
      expect((await sh('rc purge "$BACKUP_REMOTE/20261130T020000Z"')).code).toBe(0);
      const current = [file('galera-0', 'binlog.000001', 0, 10), file('galera-0', 'binlog.000002', 10, 20)];
      segment('stage/binlog', current, false);
      write('stage/binlog/archive.json', '{"domain": 1}\n');
      write('stage/20261201T020000Z/backup.json', '{}\n');
      expect((await sh(`rc copy "${path.join(remote, 'stage')}" "$BACKUP_REMOTE"`)).code).toBe(0);
      // No closed segment yet: a backup belongs to the current one.
      expect((await sh('archive_segment_for 20261201T020000Z')).stdout.trim()).toBe('binlog');
      const closed = await sh('archive_close_segment "restore of 20261201T020000Z"');
      expect({ code: closed.code, stderr: closed.stderr }).toMatchObject({ code: 0 });
      const name = closed.stdout.trim();
      expect(name).toMatch(/^binlog-\d{8}T\d{6}Z$/);
      const listed = lines((await sh('rc lsf -R --files-only "$BACKUP_REMOTE"')).stdout).sort();
      expect(listed).toEqual(['20261201T020000Z/backup.json', `${name}/archive.json`, `${name}/galera-0/binlog.000001`, `${name}/galera-0/binlog.000002`,
        `${name}/history.json`, `${name}/index.tsv`]);
      expect((await sh('archive_segment_for 20261201T020000Z')).stdout.trim()).toBe(name);
      // Nothing left to close: no new segment.
      expect((await sh('archive_close_segment again')).stdout).toBe('');
      // Retention inside the closed segment: the file ending at or before 15 goes (not the last one).
      const pruned = await sh(`rc cat "$BACKUP_REMOTE/${name}/index.tsv" | archive_prune ${name} 15`);
      expect(pruned.stdout).toBe(`${current[1]}\n`);
      expect(lines((await sh(`rc lsf -R --files-only "$BACKUP_REMOTE/${name}/galera-0"`)).stdout)).toEqual(['binlog.000002']);
    } finally {
      await server.close();
    }
  }, 60_000); // ~25 rclone runs against s3rver: 2-5 s alone, past jest's 5 s default on a loaded 2-core machine

  test('archive.sh with no member answering writes nothing (a restore may be moving the archive); a changed GTID domain closes the archive first', async () => {
    const entries = [file('galera-0', 'binlog.000001', 0, 10), file('galera-0', 'binlog.000002', 10, 20)];
    segment('binlog', entries, false);
    write('binlog/retain.json', '{"keep_after_seq": 15, "backup": "20261204T020000Z", "written": 1}\n');
    write('binlog/archive.json', '{"domain": 1, "first_seq": 0}\n');
    const before = files();
    // Port 1: nothing listens, every member is down.
    const down = await runScript('archive.sh', { BACKUP_MEMBERS: `galera-0=${SIDECAR_ADDRESS}`, BACKUP_PORT: '1' });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('no Synced member listed its binary logs');
    expect(files()).toEqual(before);
    const changed = await runScript('archive.sh', { BACKUP_MEMBERS: `galera-0=${SIDECAR_ADDRESS}`, BACKUP_PORT: '1', BINLOG_GTID_DOMAIN: '7' });
    expect(changed.stderr).toMatch(/the archive holds domain 1, the cluster logs domain 7: closed it as binlog-\d{8}T\d{6}Z/);
    const closed = files().filter((f) => f.endsWith('/history.json'));
    expect(closed).toHaveLength(1);
    expect(JSON.parse(fs.readFileSync(path.join(remote, closed[0]), 'utf8')).reason).toBe('the GTID domain changed from 1 to 7');
    expect(files().filter((f) => f.startsWith('binlog/'))).toEqual([]);
  });
});
