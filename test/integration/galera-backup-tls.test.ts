/**
 * GaleraBackup's member -> job stream over TLS (issue 18), real daemons and real certificates (openssl): ONE Galera
 * member with TLS at 127.0.29.1 (this file's address only; every port of it is on that address), its backup
 * sidecar run as the pod runs it (listen.sh: socat OPENSSL-LISTEN forking serve.sh) and the jobs' scripts (backup.sh,
 * restore.sh) with the TLS environment GaleraBackup renders, all from the scripts ConfigMap the construct ships.
 * Certificates are laid out and swapped like Secret volumes (support/certs.ts).
 *
 * The member's certificate names `galera-0.galera-peers.openstack.svc` as GaleraPetSet requests it, and 127.0.29.1,
 * which stands in here for that DNS name (the job verifies the name it connects to). The backup job's certificate
 * names the client `galera-backup` in its common name only (its one SAN is another name), as cert-manager issues it.
 * backup.sh needs a second Synced member besides the writer: BACKUP_MEMBERS lists the one member twice
 * (`galera-0` the writer, `galera-1` an alias of the same address), so the source chosen is that member.
 *
 * It takes no Galera lock: 127.0.29.1 and its /tmp/galera-backup-tls-itest-* directory are used by no other file
 * (it was proven as a *.wip.ts run beside the suite, niced, 3 runs in a row on this code: 79-84 s each).
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { BackupDestination, GaleraBackup, GaleraPetSet, GaleraStorage, Placement, SecretValue, TlsCertificates } from '../../lib';
import { NODES } from '../support/fixtures';
import { find, newChart, synth } from '../support/harness';
import { describeWithGalera, GaleraTestCluster, Member, MYSQL_USER, runAsMysql, sleep, waitFor } from './galera-harness';
import { installFiles, presentedSerial, TestCa } from './support/certs';
import { waitForTcp } from './support/daemons';

jest.setTimeout(300_000);

const IP = '127.0.29.1';
const MEMBER_DNS = 'galera-0.galera-peers.openstack.svc';
const SIDECAR_PORT = 4445;
const TOKEN = 'backup-tls-t0ken';
const CLIENT_NAME = 'galera-backup';
const ROWS = 8000;

/** What GaleraBackup renders with TLS on the cluster: the scripts ConfigMap, the sidecar's and the backup job's containers. */
function rendered(): { scripts: Record<string, string>; sidecar: any; job: any } {
  const chart = newChart('openstack');
  const secret = SecretValue.fromSecret('s', 'k');
  const certificates = TlsCertificates.certManager({ issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } });
  const galera = new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes(NODES), storage: GaleraStorage.storageClass({ storageClassName: 'x', size: '100Gi' }),
    credentials: { rootPassword: secret, sstPassword: secret, monitorPassword: secret }, tls: { certificates },
  });
  new GaleraBackup(chart, 'backup', { galera, schedule: '@daily', destination: BackupDestination.volume({ claimName: 'b' }) });
  const objects = synth(chart);
  const sts = find(objects, 'StatefulSet', 'galera');
  return {
    scripts: find(objects, 'ConfigMap', 'galera-backup-scripts').data,
    sidecar: sts.spec.template.spec.containers.find((c: any) => c.name === 'backup'),
    job: find(objects, 'CronJob', 'galera-backup').spec.jobTemplate.spec.template.spec.containers[0],
  };
}
const envValue = (container: any, name: string): string => container.env.find((e: any) => e.name === name)?.value;

interface Run { code: number; stdout: string; stderr: string; ms: number }

describeWithGalera('GaleraBackup stream over TLS (one member, real certificates)', () => {
  let cluster: GaleraTestCluster;
  let member: Member;
  let root: string;
  let scriptsDir: string;
  let ca: TestCa;
  let otherCa: TestCa;
  let sidecar: ChildProcess | undefined;
  let r: ReturnType<typeof rendered>;
  const figures: Record<string, unknown> = {};
  const owner = () => ({ uid: 0, gid: MYSQL_USER.gid });
  const dir = (name: string) => path.join(root, name);
  const sidecarLog = () => fs.readFileSync(path.join(root, 'sidecar.log'), 'utf8');

  /** A program as the mysql user (the pods' uid), timed. */
  const timed = async (args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> => {
    const t0 = Date.now();
    const result = await runAsMysql(args, { HOME: '/tmp', ...env }, '', timeoutMs);
    return { ...result, ms: Date.now() - t0 };
  };
  /** A job's script with the env the construct gives it. */
  const runScript = (script: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 180_000) =>
    timed(['bash', path.join(scriptsDir, script), ...args], env, timeoutMs);
  const runAsMysqlBash = (script: string, env: NodeJS.ProcessEnv, timeoutMs = 30_000) => timed(['bash', '-c', script], env, timeoutMs);
  const jobEnv = (tlsDir: string, members = `galera-0=${IP} galera-1=${IP}`) => ({
    BACKUP_MEMBERS: members,
    BACKUP_PORT: String(SIDECAR_PORT),
    BACKUP_TOKEN: TOKEN,
    BACKUP_TLS_DIR: tlsDir,
    BACKUP_TLS_CIPHERS: envValue(r.job, 'BACKUP_TLS_CIPHERS'),
    BACKUP_REMOTE: `dest:${dir('volume')}`,
    RCLONE_CONFIG_DEST_TYPE: 'local',
    BACKUP_WORK_DIR: dir('work'),
    RETENTION_COUNT: '10',
    RETENTION_MAX_AGE_SECONDS: String(30 * 86400),
  });
  /** One request through common.sh's sidecar_request (the job's client side), with the job certificate in `tlsDir`. */
  const ask = (tlsDir: string, command = 'status') => runAsMysqlBash(`. "${scriptsDir}/common.sh"; sidecar_request ${IP} 10 ${command}`, jobEnv(tlsDir));
  /** The sidecar as the pod runs it: the rendered command (bash listen.sh) and TLS env, bound to the member's address. */
  function startSidecar(): void {
    const work = dir('sidecar-tmp');
    fs.mkdirSync(work, { recursive: true });
    fs.chownSync(work, MYSQL_USER.uid, MYSQL_USER.gid);
    const [command, script] = r.sidecar.command;
    expect([command, script]).toEqual(['bash', '/opt/galera-backup/listen.sh']);
    const child = spawn(command, [path.join(scriptsDir, 'listen.sh')], {
      uid: MYSQL_USER.uid, gid: MYSQL_USER.gid, detached: true,
      stdio: ['ignore', 'ignore', fs.openSync(path.join(root, 'sidecar.log'), 'a')],
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        ...member.containerEnv(),
        GALERA_SCRIPTS_DIR: cluster.scriptsDir,
        BACKUP_TOKEN: TOKEN,
        BACKUP_WORK_DIR: work,
        BACKUP_PORT: envValue(r.sidecar, 'BACKUP_PORT'),
        BACKUP_TLS_DIR: dir('tls-member'),
        BACKUP_TLS_CLIENT_NAME: envValue(r.sidecar, 'BACKUP_TLS_CLIENT_NAME'),
        BACKUP_TLS_CIPHERS: envValue(r.sidecar, 'BACKUP_TLS_CIPHERS'),
        // The pod's files change every minute or so at most; 1 s here keeps the test short.
        BACKUP_TLS_POLL_SECONDS: '1',
        BACKUP_BIND: IP,
      },
    });
    cluster.processGroups.add(child.pid!);
    sidecar = child;
  }
  async function stopSidecar(): Promise<void> {
    const child = sidecar;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
    sidecar = undefined;
  }
  /** `openssl s_client` against the sidecar; the serial presented, or undefined when no session was made. */
  const presented = (extra: string[] = []) =>
    presentedSerial(IP, SIDECAR_PORT, { ca: ca.caFile, extra: ['-cert', path.join(dir('tls-job'), 'tls.crt'), '-key', path.join(dir('tls-job'), 'tls.key'), ...extra] });

  beforeAll(async () => {
    r = rendered();
    cluster = new GaleraTestCluster([IP], 'galera-backup-tls-itest-');
    root = cluster.root;
    [member] = cluster.members;
    scriptsDir = dir('backup-scripts');
    fs.mkdirSync(scriptsDir);
    // The scripts ConfigMap as the pods mount it (mode 0644: run through bash).
    for (const [file, text] of Object.entries(r.scripts)) fs.writeFileSync(path.join(scriptsDir, file), text, { mode: 0o644 });
    for (const d of ['work', 'volume']) {
      fs.mkdirSync(dir(d));
      fs.chownSync(dir(d), MYSQL_USER.uid, MYSQL_USER.gid);
    }
    ca = new TestCa(root, 'deployment-ca');
    otherCa = new TestCa(root, 'another-ca');
    figures.memberSerial = ca.install(dir('tls-member'), { sans: [`DNS:${MEMBER_DNS}`, `IP:${IP}`] }, owner());
    ca.install(dir('tls-job'), { sans: ['DNS:backup-job.invalid'], commonName: CLIENT_NAME, extendedKeyUsage: 'clientAuth' }, owner());
    // A job certificate of another CA (its ca.crt the deployment's, so that only the sidecar's check can refuse it).
    const foreign = otherCa.issue({ sans: ['DNS:backup-job.invalid'], commonName: CLIENT_NAME, extendedKeyUsage: 'clientAuth' });
    installFiles(dir('tls-job-other-ca'), { 'tls.crt': foreign.certificate, 'tls.key': foreign.privateKey, 'ca.crt': fs.readFileSync(ca.caFile, 'utf8') }, owner());
    // The deployment's CA, but another client's name (a service's client certificate).
    ca.install(dir('tls-job-other-name'), { sans: ['DNS:nova'], commonName: 'nova', extendedKeyUsage: 'clientAuth' }, owner());
    // The right job certificate, but trusting another CA: the job must refuse the member.
    const own = fs.readFileSync(path.join(dir('tls-job'), 'tls.crt'), 'utf8');
    installFiles(dir('tls-job-wrong-trust'), { 'tls.crt': own, 'tls.key': fs.readFileSync(path.join(dir('tls-job'), 'tls.key'), 'utf8'), 'ca.crt': fs.readFileSync(otherCa.caFile, 'utf8') }, owner());
    member.tls = {
      directory: dir('tls-member'), certificate: path.join(dir('tls-member'), 'tls.crt'), privateKey: path.join(dir('tls-member'), 'tls.key'),
      ca: path.join(dir('tls-member'), 'ca.crt'), requireSecureTransport: false, replication: false, replicationTransition: false, stateTransfer: true,
    };
    cluster.writeUsersFile('');
    await cluster.bootstrapFromFirst({ bootstrapMs: 120_000, joinMs: 120_000 });
    // Random bytes (gzip cannot shrink them): the stream is larger than the socket and pipe buffers together.
    await member.sql(`CREATE DATABASE itest; CREATE TABLE itest.rows (id INT PRIMARY KEY, pad BLOB);
      USE itest; INSERT INTO itest.rows SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_${ROWS}`, 120_000);
    startSidecar();
    await waitForTcp(IP, SIDECAR_PORT, 30_000);
  }, 300_000);

  afterAll(async () => {
    await stopSidecar();
    await cluster?.destroy();
    console.log(`GaleraBackup TLS figures: ${JSON.stringify(figures)}`);
  });

  test('the sidecar answers over TLS 1.2+ with the member certificate; it refuses plaintext, another CA\'s client, another client name, TLS 1.1 and weak ciphers; the job refuses a member it cannot verify', async () => {
    expect(presented()).toBe(figures.memberSerial);
    const ok = await ask(dir('tls-job'));
    expect({ code: ok.code, stdout: ok.stdout.trim() }).toEqual({ code: 0, stdout: '4 Primary OFF galera-0' });
    // A plaintext client (the token in clear, as before TLS): no answer.
    const plain = await runAsMysqlBash(`printf '%s status\\n' "$BACKUP_TOKEN" | timeout 10 socat -t 5 - TCP:${IP}:${SIDECAR_PORT}`, { BACKUP_TOKEN: TOKEN });
    expect(plain.stdout).not.toContain('Primary');
    for (const [what, tlsDir] of [['another CA', 'tls-job-other-ca'], ['another client name', 'tls-job-other-name'], ['a member it cannot verify', 'tls-job-wrong-trust']]) {
      const refused = await ask(dir(tlsDir));
      expect({ what, stdout: refused.stdout }).toEqual({ what, stdout: '' });
    }
    // The job's side explains why: the member's certificate does not verify against what it trusts.
    expect((await ask(dir('tls-job-wrong-trust'))).stderr).toMatch(/certificate verify failed/);
    // No client certificate at all (TLS 1.3: the client sees its handshake done before the server checks, so ask).
    const anonymous = await runAsMysqlBash(`printf '%s status\\n' "$BACKUP_TOKEN" | timeout 10 socat -t 5 - OPENSSL:${IP}:${SIDECAR_PORT},verify=1,cafile=${ca.caFile}`, { BACKUP_TOKEN: TOKEN });
    expect(anonymous.stdout).toBe('');
    // TLS 1.1, a TLS 1.2 cipher without forward secrecy or AEAD, a TLS 1.3 suite outside the list.
    expect(presented(['-tls1_1'])).toBeUndefined();
    expect(presented(['-tls1_2', '-cipher', 'AES128-SHA256'])).toBeUndefined();
    expect(presented(['-tls1_3', '-ciphersuites', 'TLS_AES_128_CCM_SHA256'])).toBeUndefined();
    expect(presented(['-tls1_2'])).toBe(figures.memberSerial);
    expect(presented(['-tls1_3'])).toBe(figures.memberSerial);
    const log = sidecarLog();
    expect(log).toMatch(/peer did not return a certificate|certificate verify failed|unknown ca/);
    expect(log).toMatch(/commonName does not match|does not match/);
    // The sidecar never ran serve.sh for the refused ones: no "bad token" or other refusal from it.
    expect(log).not.toContain('refused: bad token');
  });

  test('a backup over the TLS stream (backup.sh as the CronJob runs it): complete, checked end to end', async () => {
    const run = await runScript('backup.sh', [], jobEnv(dir('tls-job')));
    expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
    const id = /backup (\d{8}T\d{6}Z): complete, (\d+) bytes/.exec(run.stderr);
    expect(id).not.toBeNull();
    figures.backupSeconds = run.ms / 1000;
    figures.backupBytes = Number(id![2]);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir('volume'), id![1], 'backup.json'), 'utf8'));
    expect(manifest).toMatchObject({ id: id![1], source: 'galera-1', format: 'mbstream+gzip' });
  });

  test('the member certificate replaced while a backup stream is in flight: the stream completes intact, and new connections present the new certificate', async () => {
    expect(presented()).toBe(figures.memberSerial);
    // A backup stream held open across the renewal: the job's side reads nothing until the flag file exists, so the
    // member's stream (larger than the socket and pipe buffers) waits on the old listener's child meanwhile.
    const id = '20300101T000000Z';
    const flag = dir('read-now');
    const start = sidecarLog().length;
    const inFlight = runAsMysqlBash(`. "${scriptsDir}/common.sh"; sidecar_request ${IP} 240 backup ${id} |
      { while [ ! -e "${flag}" ]; do sleep 0.2; done; sha256sum | cut -d' ' -f1; }`, jobEnv(dir('tls-job')), 240_000);
    await waitFor('the backup stream started', 60_000, () => (sidecarLog().slice(start).includes(`backup ${id}: streaming from`) ? true : undefined));
    const t0 = Date.now();
    const renewed = ca.install(dir('tls-member'), { sans: [`DNS:${MEMBER_DNS}`, `IP:${IP}`] }, owner());
    await waitFor('the new certificate presented', 60_000, () => (presented() === renewed ? true : undefined));
    figures.renewalPresentedAfterMs = Date.now() - t0;
    figures.renewedSerial = renewed;
    // The listener was replaced while the stream waited: its completion is logged only after the flag.
    // The sidecar logs the new listener just after starting it (the certificate is already presented): waited for.
    await waitFor('the sidecar to log the new listener', 10_000,
      () => (sidecarLog().slice(start).includes('certificate files changed: listening again') ? true : undefined));
    const during = sidecarLog().slice(start);
    expect(during).not.toContain(`backup ${id}: completed`);
    fs.writeFileSync(flag, '');
    const received = await inFlight;
    expect({ code: received.code, stderr: received.stderr }).toMatchObject({ code: 0 });
    const result = await ask(dir('tls-job'), `result ${id}`);
    expect(JSON.parse(result.stdout)).toMatchObject({ id, state: 'ok', sha256: received.stdout.trim() });
    figures.inFlightStreamSeconds = (Date.now() - t0) / 1000;
    // A new backup connection after the renewal (backup.sh, the whole job): on the new certificate, same CA.
    const after = await runScript('backup.sh', [], jobEnv(dir('tls-job')));
    expect({ code: after.code, stderr: after.stderr }).toMatchObject({ code: 0 });
    expect(presented()).toBe(renewed);
  });

  test('a renewed pair that does not match is not served: the listener keeps the current certificate', async () => {
    const current = presented();
    const good = fs.readFileSync(path.join(dir('tls-member'), 'tls.crt'), 'utf8');
    const stranger = ca.issue({ sans: [`IP:${IP}`] });
    // The certificate of one pair with the key of another (a Secret written key first, by hand).
    installFiles(dir('tls-member'), { 'tls.crt': good, 'tls.key': stranger.privateKey, 'ca.crt': fs.readFileSync(ca.caFile, 'utf8') }, owner());
    await waitFor('the refusal logged', 30_000, () => (sidecarLog().includes('renewed certificate NOT served') ? true : undefined));
    expect(sidecarLog()).toContain('tls.key does not match the certificate in tls.crt');
    expect(presented()).toBe(current);
    expect((await ask(dir('tls-job'))).stdout.trim()).toBe('4 Primary OFF galera-0');
    // Put a good pair back (the later restore verifies the member again).
    const fixed = ca.install(dir('tls-member'), { sans: [`DNS:${MEMBER_DNS}`, `IP:${IP}`] }, owner());
    await waitFor('the fixed certificate presented', 30_000, () => (presented() === fixed ? true : undefined));
  });

  test('restore of a TLS backup: refused while the member runs (over TLS, and when the job\'s certificate is refused); once stopped, every row of the backup back and nothing later', async () => {
    const taken = await runScript('backup.sh', [], jobEnv(dir('tls-job')));
    expect({ code: taken.code, stderr: taken.stderr }).toMatchObject({ code: 0 });
    const id = /backup (\d{8}T\d{6}Z): complete/.exec(taken.stderr)![1];
    await member.sql('CREATE TABLE itest.late (id INT PRIMARY KEY); INSERT INTO itest.late VALUES (1), (2), (3); DELETE FROM itest.rows WHERE id <= 100');
    const restoreEnv = (tlsDir: string) => jobEnv(tlsDir, `galera-0=${IP}`);
    const live = await runScript('restore.sh', [id, member.dataDir], restoreEnv(dir('tls-job')));
    expect({ code: live.code, refused: /member galera-0 is running \(4 Primary OFF/.test(live.stderr) }).toEqual({ code: 2, refused: true });
    // A job whose certificate the sidecar refuses gets no answer; the member still runs, so the restore still refuses.
    const blind = await runScript('restore.sh', [id, member.dataDir], restoreEnv(dir('tls-job-other-ca')));
    expect({ code: blind.code, refused: /sidecar accepts connections at 127\.0\.29\.1 but did not answer/.test(blind.stderr) }).toEqual({ code: 2, refused: true });
    expect(Number(await member.sql('SELECT COUNT(*) FROM itest.rows'))).toBe(ROWS - 100);

    const t0 = Date.now();
    await member.stop();
    await stopSidecar();
    const restore = await runScript('restore.sh', [id, member.dataDir], restoreEnv(dir('tls-job')));
    expect({ code: restore.code, done: restore.stderr.includes(`restore ${id}: done`), stderr: restore.stderr }).toMatchObject({ code: 0, done: true });
    await cluster.bootstrapFromFirst({ bootstrapMs: 120_000, joinMs: 120_000 });
    figures.restoreToSyncedSeconds = (Date.now() - t0) / 1000;
    expect(Number(await member.sql('SELECT COUNT(*) FROM itest.rows'))).toBe(ROWS);
    expect(await member.sql('SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = \'itest\' AND table_name = \'late\'')).toBe('0');
    // The restored member serves its sidecar over TLS again.
    startSidecar();
    await waitForTcp(IP, SIDECAR_PORT, 30_000);
    await sleep(200);
    expect((await ask(dir('tls-job'))).stdout.trim()).toBe('4 Primary OFF galera-0');
  });
});
