/**
 * ProxySQL's TLS, as far as it can be run here: ProxySQL itself is in neither Debian nor npm.
 *
 * 1. The synthesized proxysql.cnf with TLS (frontend, per-user `use_ssl`, backend `use_ssl` + `mysql-ssl_p2s_*`) read
 *    by the real libconfig parser (the one ProxySQL embeds), with the types ProxySQL's loader needs.
 * 2. The synthesized tls.sh, run as the pod runs it, with real certificates made by openssl and the Secret volume
 *    swapped like the kubelet does: `start` puts the three files where ProxySQL reads them; `watch` (the admin
 *    sidecar's loop) stages a renewal, checks it with the real openssl, moves it in place and sends
 *    `PROXYSQL RELOAD TLS` to a stand-in admin client (it records the SQL; ProxySQL's side of the command is read from
 *    its source, not run). A key that does not match, an expired certificate or one of another CA is not applied.
 * 3. The client side end to end: the oslo.db URL the control plane renders (`ssl_ca=...`) against a real mariadbd
 *    with TLS and `require_secure_transport` standing in for ProxySQL's TLS frontend (the same MySQL-protocol
 *    SSLRequest), through Debian's oslo.db, SQLAlchemy and PyMySQL: it connects with TLS and verifies; the wrong CA,
 *    a certificate for another name and a URL without `ssl_ca` are refused.
 *
 * Addresses: 127.0.21.1 (mariadbd). Files: a mkdtemp directory /tmp/proxysql-tls-itest-*, removed at the end.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { OpenStackControlPlane, SecretValue, TlsCertificates } from '../../lib';
import { databaseUrl } from '../../lib/control-plane/connections';
import { CONTROL_PLANE_PROPS, proxySqlObjects } from '../support/fixtures';
import { find, K8sObject, newChart } from '../support/harness';
import { TestCa, certificateSerial, installFiles } from './support/certs';
import { describeUnlessMissing, waitForTcp, which } from './support/daemons';
import { Tree, compileLibconfigChecker, parseLibconfig } from './support/libconfig';
import { missingOsloClients, PYTHON } from './support/oslo';
import { waitFor } from './galera-harness';

jest.setTimeout(300_000);

const HOST = '127.0.21.1';
const PORT = 3306;
const NOVA_PASSWORD = 'n0va-tls';

const certificates = TlsCertificates.certManager({ issuer: { name: 'ca', kind: 'ClusterIssuer' } });
const secret = (name: string) => SecretValue.fromSecret(name, 'password');

const missing = [
  ...['openssl', 'gcc', 'mariadbd', 'mariadb-install-db', 'setpriv'].filter((b) => !which(b)),
  ...(fs.existsSync('/usr/include/libconfig.h') ? [] : ['libconfig-dev']),
  ...missingOsloClients(),
];

describeUnlessMissing('ProxySQL TLS: the rendered file, tls.sh with real certificates, and the oslo.db URL against a TLS server', missing,
  'apt-get install openssl gcc libconfig-dev mariadb-server python3-oslo.db python3-pymysql, and run as root', () => {
  let root: string;
  let ca: TestCa;
  let otherCa: TestCa;

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(tmpdir(), 'proxysql-tls-itest-'));
    fs.chmodSync(root, 0o755);
    ca = new TestCa(root, 'itest-ca');
    otherCa = new TestCa(root, 'other-ca');
  });

  afterAll(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  describe('proxysql.cnf with TLS, read by the real libconfig parser', () => {
    test('frontend, per-user use_ssl and backend TLS load with ProxySQL\'s types', () => {
      const objects = proxySqlObjectsWithTls();
      const template = find(objects, 'ConfigMap', 'proxysql-config').data['proxysql.cnf'] as string;
      const dir = fs.mkdtempSync(path.join(root, 'cnf-'));
      const checker = compileLibconfigChecker(dir);
      fs.writeFileSync(path.join(dir, 'proxysql.cnf'), template);
      const cnf = parseLibconfig(checker, path.join(dir, 'proxysql.cnf'));
      const vars = cnf.mysql_variables as Record<string, Tree>;
      expect(vars.have_ssl).toEqual({ string: 'true' });
      expect(vars.ssl_p2s_ca).toEqual({ string: '/etc/proxysql-tls/ca.crt' });
      expect((vars.ssl_p2s_cipher as { string: string }).string).toMatch(/^ECDHE-ECDSA-AES128-GCM-SHA256:/);
      // use_ssl is read with lookupValue into an int (lib/ProxySQL_Config.cpp): a bare int, on every row.
      for (const server of cnf.mysql_servers as Array<Record<string, Tree>>) expect(server.use_ssl).toEqual({ int: 1 });
      for (const user of cnf.mysql_users as Array<Record<string, Tree>>) expect(user.use_ssl).toEqual({ int: 1 });
    });
  });

  describe('tls.sh (start, and the admin sidecar\'s watch loop) with real certificates', () => {
    let dir: string;
    let secretDir: string;
    let dataDir: string;
    let log: string;
    let script: string;
    let watcher: ChildProcess | undefined;
    let output = '';

    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(root, 'pod-'));
      secretDir = path.join(dir, 'secret');
      dataDir = path.join(dir, 'data');
      fs.mkdirSync(dataDir);
      log = path.join(dir, 'admin.log');
      fs.writeFileSync(log, '');
      const objects = proxySqlObjectsWithTls();
      const scripts = find(objects, 'ConfigMap', 'proxysql-scripts').data as Record<string, string>;
      for (const [name, text] of Object.entries(scripts)) fs.writeFileSync(path.join(dir, name), text, { mode: 0o555 });
      script = path.join(dir, 'tls.sh');
      // The stand-in admin client: records the SQL; FAKE_FAIL makes it fail as an unreachable admin interface would.
      fs.mkdirSync(path.join(dir, 'bin'));
      fs.writeFileSync(path.join(dir, 'bin', 'mariadb'), [
        '#!/bin/bash', '[[ -e $FAKE_FAIL ]] && { echo "ERROR 2002: cannot connect" >&2; exit 1; }',
        'printf "SQL %s\\n" "${@: -1}" >>"$FAKE_LOG"', 'exit 0', '',
      ].join('\n'), { mode: 0o755 });
      ca.install(secretDir, { sans: ['DNS:proxysql.openstack.svc'] });
    });

    afterAll(async () => {
      if (watcher && watcher.exitCode === null) {
        watcher.kill('SIGTERM');
        await waitFor('tls.sh watch to stop', 10_000, () => (watcher!.exitCode !== null || watcher!.signalCode !== null ? true : undefined));
      }
    });

    const env = () => ({
      PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, PROXYSQL_TLS_DIR: secretDir, PROXYSQL_DATADIR: dataDir,
      PROXYSQL_ADMIN_PORT: '6032', PROXYSQL_ADMIN_USER: 'admin', PROXYSQL_ADMIN_PASSWORD: 'pw', PROXYSQL_READER_FALLBACK: 'false',
      PROXYSQL_WATCH_INTERVAL_SECONDS: '0.2', FAKE_LOG: log, FAKE_FAIL: path.join(dir, 'fail'),
      PROXYSQL_CONFIG_TEMPLATE: path.join(dir, 'template.cnf'), PROXYSQL_CONFIG: path.join(dir, 'proxysql.cnf'),
    });
    const served = () => certificateSerial(fs.readFileSync(path.join(dataDir, 'proxysql-cert.pem'), 'utf8'));
    const reloads = () => (fs.readFileSync(log, 'utf8').match(/^SQL PROXYSQL RELOAD TLS$/gm) ?? []).length;

    test('start copies tls.crt, tls.key and ca.crt to where ProxySQL reads them (mode 0600), then runs start.sh', () => {
      // start.sh is exec'd; in render-only mode it would need its arguments, so give it a template and check it ran.
      fs.writeFileSync(path.join(dir, 'template.cnf'), 'datadir="/var/lib/proxysql"\n');
      const start = spawnSync('bash', [script, 'start'], { encoding: 'utf8', timeout: 10_000, env: { ...env(), PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin` } });
      // exec start.sh -> exec proxysql, which is not installed here: start.sh's own render ran, the exec failed.
      expect(start.stderr).toContain('certificate copied from');
      expect(fs.readFileSync(path.join(dir, 'proxysql.cnf'), 'utf8')).toBe('datadir="/var/lib/proxysql"\n');
      for (const [mounted, proxysql] of [['tls.crt', 'proxysql-cert.pem'], ['tls.key', 'proxysql-key.pem'], ['ca.crt', 'proxysql-ca.pem']]) {
        expect(fs.readFileSync(path.join(dataDir, proxysql), 'utf8')).toBe(fs.readFileSync(path.join(secretDir, mounted), 'utf8'));
        expect(fs.statSync(path.join(dataDir, proxysql)).mode & 0o777).toBe(0o600);
      }
    });

    test('watch: reloads once at its start, applies a renewal, refuses broken pairs, retries a failed reload', async () => {
      watcher = spawn('bash', [script, 'watch'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
      watcher.stderr!.on('data', (d) => { output += d; });
      await waitFor('the first RELOAD TLS', 20_000, () => (reloads() >= 1 ? true : undefined));

      // A renewal, swapped in like the kubelet does: the new certificate is moved into place, then RELOAD TLS.
      const t0 = Date.now();
      const renewed = ca.install(secretDir, { sans: ['DNS:proxysql.openstack.svc'] });
      await waitFor('the renewal to be reloaded', 20_000, () => (reloads() >= 2 && served() === renewed ? true : undefined));
      // eslint-disable-next-line no-console
      console.log(`tls.sh watch: renewal copied and RELOAD TLS sent ${Date.now() - t0} ms after the swap (polling every 200 ms; 1 s in the pod)`);

      // Broken pairs: never moved into place, no RELOAD, the reason logged.
      const leaf = ca.issue({ sans: ['DNS:proxysql.openstack.svc'] });
      const other = ca.issue({ sans: ['DNS:proxysql.openstack.svc'] });
      const broken: Array<[string, Record<string, string>, RegExp]> = [
        ['a key of another pair', { 'tls.crt': leaf.certificate, 'tls.key': other.privateKey, 'ca.crt': leaf.ca }, /tls\.key does not match the certificate/],
        ['an expired certificate', (() => { const e = ca.issue({ sans: ['DNS:x'], expired: true }); return { 'tls.crt': e.certificate, 'tls.key': e.privateKey, 'ca.crt': e.ca }; })(), /certificate has expired/],
        ['a certificate of another CA', (() => { const o = otherCa.issue({ sans: ['DNS:x'] }); return { 'tls.crt': o.certificate, 'tls.key': o.privateKey, 'ca.crt': leaf.ca }; })(), /does not verify against ca\.crt/],
      ];
      for (const [what, files, reason] of broken) {
        const before = reloads();
        const lines = output.split('\n').length;
        installFiles(secretDir, files);
        await waitFor(`${what} to be refused`, 20_000, () => (reason.test(output.split('\n').slice(lines - 1).join('\n')) ? true : undefined));
        expect(output).toContain('certificate NOT applied');
        expect(reloads()).toBe(before);
        expect(served()).toBe(renewed);
      }

      // The admin interface does not answer: the pair is moved in place, the reload is retried until it answers.
      fs.writeFileSync(path.join(dir, 'fail'), '');
      const next = ca.install(secretDir, { sans: ['DNS:proxysql.openstack.svc'] });
      await waitFor('a failed reload to be logged', 20_000, () => (/PROXYSQL RELOAD TLS failed/.test(output) ? true : undefined));
      const before = reloads();
      fs.rmSync(path.join(dir, 'fail'));
      // The stand-in records the SQL before tls.sh logs the success: wait for the log line.
      await waitFor('the reload to be retried', 20_000, () => (output.includes(`certificate loaded by PROXYSQL RELOAD TLS: serial=${next}`) ? true : undefined));
      expect(reloads()).toBeGreaterThan(before);
      expect(served()).toBe(next);
    });
  });

  describe('the oslo.db URL with ssl_ca against a TLS server (mariadbd standing in for ProxySQL\'s frontend)', () => {
    let work: string;
    let server: ChildProcess | undefined;
    let tlsDir: string;
    const socket = () => path.join(work, 'mysqld.sock');
    const sql = (query: string) => spawnSync('mariadb', ['--no-defaults', '-S', socket(), '-uroot', '-N', '-B', '-e', query], { encoding: 'utf8', timeout: 60_000 });

    beforeAll(async () => {
      work = fs.mkdtempSync(path.join(root, 'mariadb-'));
      fs.chmodSync(work, 0o755);
      const mysql = mysqlIds();
      fs.chownSync(work, mysql.uid, mysql.gid);
      tlsDir = path.join(work, 'tls');
      // The key 0440 root:mysql, as the kubelet gives a Secret's files to root and the pod's fsGroup.
      ca.install(tlsDir, { sans: [`IP:${HOST}`] }, { uid: 0, gid: mysql.gid });
      const asMysql = ['--reuid=mysql', '--regid=mysql', '--init-groups'];
      const install = spawnSync('setpriv', [...asMysql, 'mariadb-install-db', '--no-defaults', `--datadir=${work}/data`,
        '--auth-root-authentication-method=socket'], { encoding: 'utf8', cwd: '/', env: { PATH: process.env.PATH } });
      if (install.status !== 0) throw new Error(`mariadb-install-db: ${install.stderr}`);
      server = spawn('setpriv', [...asMysql, 'mariadbd', '--no-defaults', `--datadir=${work}/data`, `--bind-address=${HOST}`, `--port=${PORT}`,
        `--socket=${socket()}`, `--pid-file=${work}/mysqld.pid`, `--ssl-cert=${tlsDir}/tls.crt`, `--ssl-key=${tlsDir}/tls.key`,
        `--ssl-ca=${tlsDir}/ca.crt`, '--require-secure-transport=ON', '--tls-version=TLSv1.2,TLSv1.3',
        // Without it the anonymous ''@'localhost' that mariadb-install-db creates would shadow 'nova'@'%'.
        '--skip-name-resolve', `--log-error=${work}/error.log`], { stdio: 'ignore' });
      await waitFor('mariadbd to answer', 60_000, () => (sql('SELECT 1').stdout.trim() === '1' ? true : undefined)).catch((e) => {
        const log = fs.existsSync(path.join(work, 'error.log')) ? fs.readFileSync(path.join(work, 'error.log'), 'utf8').slice(-2000) : '(no error log)';
        throw new Error(`${e.message}; mariadbd exit ${server?.exitCode}, its log:\n${log}\nclient: ${sql('SELECT 1').stderr}`);
      });
      await waitForTcp(HOST, PORT);
      expect(sql(`CREATE DATABASE nova; CREATE USER 'nova'@'%' IDENTIFIED BY '${NOVA_PASSWORD}'; GRANT ALL ON nova.* TO 'nova'@'%'`).status).toBe(0);
    }, 120_000);

    afterAll(async () => {
      if (server && server.exitCode === null) {
        server.kill('SIGTERM');
        await waitFor('mariadbd to stop', 60_000, () => (server!.exitCode !== null || server!.signalCode !== null ? true : undefined));
      }
    }, 90_000);

    /** oslo.db's engine from `url` (the password placeholder filled in), one session: TLS version and cipher, or the error. */
    function osloDb(url: string): { ok: boolean; version?: string; cipher?: string; error?: string } {
      const program = [
        'import json, sys',
        'from oslo_db.sqlalchemy import engines',
        'try:',
        '    engine = engines.create_engine(sys.argv[1], max_retries=1, retry_interval=0)',
        '    with engine.connect() as c:',
        '        rows = dict(c.exec_driver_sql("SHOW SESSION STATUS WHERE Variable_name IN (\'Ssl_version\', \'Ssl_cipher\')").fetchall())',
        '    print(json.dumps({"ok": True, "version": rows.get("Ssl_version"), "cipher": rows.get("Ssl_cipher")}))',
        'except Exception as e:',
        '    print(json.dumps({"ok": False, "error": "%s: %s" % (type(e).__name__, e)}))',
      ].join('\n');
      const r = spawnSync(PYTHON, ['-c', program, url.replace('@@NOVA_DATABASE_PASSWORD@@', NOVA_PASSWORD)], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) throw new Error(`python: ${r.stderr}`);
      return JSON.parse(r.stdout.trim().split('\n').pop()!);
    }

    test('the URL the control plane renders carries ssl_ca, and connects with TLS, verified', () => {
      // The control plane's own output, then pointed at this server (same shape: databaseUrl with the CA path).
      const cp = new OpenStackControlPlane(newChart('openstack'), 'cp', { ...CONTROL_PLANE_PROPS, proxySqlTls: { certificates } });
      const rendered = cp.connection('nova').databaseConnections.nova;
      expect(rendered).toBe('mysql+pymysql://nova:@@NOVA_DATABASE_PASSWORD@@@proxysql.openstack.svc:3306/nova?charset=utf8&ssl_ca=/etc/openstack-ha-tls/ca.crt');
      const url = databaseUrl('nova', '@@NOVA_DATABASE_PASSWORD@@', HOST, PORT, 'nova', path.join(tlsDir, 'ca.crt'));
      expect(url).toBe(rendered.replace('proxysql.openstack.svc:3306', `${HOST}:${PORT}`).replace('/etc/openstack-ha-tls/ca.crt', path.join(tlsDir, 'ca.crt')));
      const r = osloDb(url);
      expect(r).toMatchObject({ ok: true, version: expect.stringMatching(/^TLSv1\.[23]$/) });
      // eslint-disable-next-line no-console
      console.log(`oslo.db over TLS: ${r.version} ${r.cipher}`);
    });

    test('the wrong CA, and a URL without ssl_ca (plaintext: refused by the server), fail', () => {
      const wrong = osloDb(databaseUrl('nova', '@@NOVA_DATABASE_PASSWORD@@', HOST, PORT, 'nova', otherCa.caFile));
      expect(wrong).toMatchObject({ ok: false, error: expect.stringMatching(/CERTIFICATE_VERIFY_FAILED|certificate verify failed/) });
      // The same account and password, without TLS: MariaDB 10.11 answers a plaintext login under
      // require_secure_transport with 1045 (as ProxySQL does for a use_ssl user).
      const plain = osloDb(databaseUrl('nova', '@@NOVA_DATABASE_PASSWORD@@', HOST, PORT, 'nova'));
      expect(plain).toMatchObject({ ok: false, error: expect.stringMatching(/\(1045, /) });
    });

    test('a certificate for another name is refused (PyMySQL checks the host name), after FLUSH SSL loads it', () => {
      ca.install(tlsDir, { sans: ['IP:127.0.21.9', 'DNS:proxysql.openstack.svc'] }, { uid: 0, gid: mysqlIds().gid });
      expect(sql('FLUSH SSL').status).toBe(0);
      const r = osloDb(databaseUrl('nova', '@@NOVA_DATABASE_PASSWORD@@', HOST, PORT, 'nova', path.join(tlsDir, 'ca.crt')));
      expect(r).toMatchObject({ ok: false, error: expect.stringMatching(/IP address mismatch|hostname|doesn't match/i) });
    });
  });
});

/** The mysql user's uid and primary gid (they differ on Debian: e.g. 102 and 105). */
function mysqlIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, 'mysql'], { encoding: 'utf8' }).stdout);
  return { uid: id('-u'), gid: id('-g') };
}

/** The layer with TLS on both sides: a GaleraPetSet with TLS (backend on by default) and every user required to use TLS. */
function proxySqlObjectsWithTls(): K8sObject[] {
  return proxySqlObjects(
    [{ name: 'nova', password: secret('nova-db'), databases: ['nova'] }, { name: 'neutron', password: secret('neutron-db'), databases: ['neutron'] }],
    { tls: { certificates, requireSecureTransport: true } },
    { tls: { certificates } },
  );
}
