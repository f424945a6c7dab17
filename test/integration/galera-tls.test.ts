/**
 * Galera with TLS, real daemons and real certificates (openssl): the server config GaleraPetSet renders with its
 * `tls` prop (require_secure_transport, replication and SST over TLS) and the entrypoint's in-place reload, on three
 * members at 127.0.18.1-3. Each member's certificate directory is laid out and swapped like a Secret volume. One
 * cluster for every scenario: it starts in plaintext, is moved to TLS by the documented two rolling restarts, and
 * then serves the TLS scenarios (SST, clients, IST, refused peers, rotation under load).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { renderUsersFile } from '../../lib/galera/users';
import { AckedWriter, acquireGaleraLock, describeWithGalera, GaleraTestCluster, Member, MYSQL_USER, releaseGaleraLock, sleep, waitFor } from './galera-harness';
import { installFiles, presentedSerial, TestCa } from './support/certs';

jest.setTimeout(300_000);

const IPS = ['127.0.18.1', '127.0.18.2', '127.0.18.3'];
const SANS = [...IPS.map((ip) => `IP:${ip}`), 'DNS:localhost'];
const NOVA_PASSWORD = 'nova-tls-pw';
const AGENT_PORT = 9200;

/** notAfter of a PEM certificate file in Unix seconds, as openssl reads it (not node: the agent uses node's parser). */
function opensslNotAfter(file: string): number {
  const out = execFileSync('openssl', ['x509', '-noout', '-enddate', '-in', file]).toString();
  const m = /notAfter=(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4}) GMT/.exec(out);
  if (!m) throw new Error(`unexpected openssl output: ${out}`);
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'].indexOf(m[1]);
  return Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])) / 1000;
}

/** The agent's certificate series for its member: served and mounted notAfter, and whether they are the same. */
async function agentTlsMetrics(m: Member): Promise<{ served?: number; mounted?: number; same?: number } | undefined> {
  let text: string;
  try {
    const res = await fetch(`http://${m.ip}:${AGENT_PORT}/metrics`, { signal: AbortSignal.timeout(3000) });
    text = await res.text();
  } catch {
    return undefined;
  }
  const value = (name: string) => {
    const found = new RegExp(`^${name}\\{member="${m.name}"\\} (\\d+)$`, 'm').exec(text);
    return found ? Number(found[1]) : undefined;
  };
  return {
    served: value('galera_agent_tls_served_not_after_seconds'),
    mounted: value('galera_agent_tls_mounted_not_after_seconds'),
    same: value('galera_agent_tls_served_is_mounted'),
  };
}

describeWithGalera('Galera with TLS (clients, replication, SST, rotation)', () => {
  let cluster: GaleraTestCluster;
  let ca: TestCa;
  let otherCa: TestCa;
  const figures: Record<string, number | string> = {};
  const tlsDir = (m: Member) => path.join(cluster.root, `tls-${m.ordinal}`);
  const owner = () => ({ uid: 0, gid: MYSQL_USER.gid });

  /** The mariadb client over TCP as nova, verifying the server's certificate against `caFile`. */
  const tlsLogin = (m: Member, query: string, caFile = ca.caFile) => m.login('nova', NOVA_PASSWORD, query, ['--ssl', `--ssl-ca=${caFile}`, '--ssl-verify-server-cert']);
  const logOf = (m: Member) => m.logTail(100_000);
  /** Every member stopped: the first bootstraps, the others join in turn (the test plays the recovery agent). */
  const startCluster = (joinTimeoutMs: number) => cluster.bootstrapFromFirst({ bootstrapMs: 60_000, joinMs: joinTimeoutMs });
  const providerOptionsOf = (m: Member) => /wsrep_provider_options = .*/.exec(fs.readFileSync(m.configFile, 'utf8'))?.[0] ?? '';
  /** What GaleraPetSet renders with `tls` (replication on), with this member's certificate directory. */
  const memberTls = (m: Member, flags: { replicationTransition: boolean; requireSecureTransport: boolean; stateTransfer: boolean }): Member['tls'] => ({
    directory: tlsDir(m),
    certificate: `${tlsDir(m)}/tls.crt`,
    privateKey: `${tlsDir(m)}/tls.key`,
    ca: `${tlsDir(m)}/ca.crt`,
    replication: true,
    ...flags,
  });

  beforeAll(async () => {
    await acquireGaleraLock(600_000);
    cluster = new GaleraTestCluster(IPS);
    cluster.buildAgent();
    cluster.extraEnv = { NOVA_DB_PASSWORD: NOVA_PASSWORD };
    cluster.writeUsersFile(renderUsersFile([{ name: 'nova', passwordEnv: 'NOVA_DB_PASSWORD', databases: ['nova'] }]));
    ca = new TestCa(cluster.root, 'deployment-ca');
    otherCa = new TestCa(cluster.root, 'another-ca');
    for (const m of cluster.members) ca.install(tlsDir(m), { sans: SANS }, owner());
  }, 660_000);

  afterAll(async () => {
    await cluster?.destroy();
    releaseGaleraLock();
    console.log(`Galera TLS figures: ${JSON.stringify(figures)}`);
  });

  test('a plaintext cluster forms (the state a deployment is in before TLS is turned on)', async () => {
    const [first] = cluster.members;
    await startCluster(200_000);
    await first.sql('CREATE TABLE nova.acked (id INT PRIMARY KEY, member VARCHAR(20)); CREATE TABLE nova.rotation (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(3))');
    expect(logOf(first)).toMatch(/connection established to \S+ tcp:\/\/127\.0\.18\.[23]:4567/);
  });

  test('replication TLS turned on in the running cluster by two rolling restarts (socket.dynamic), under writes: never split, 0 failed writes', async () => {
    const writer = new AckedWriter('nova.acked');
    let restarting: Member | undefined;
    writer.start(() => cluster.members.filter((m) => m !== restarting));
    const t0 = Date.now();
    const rollingRestart = async (tls: (m: Member) => Member['tls']) => {
      for (const m of cluster.members) {
        restarting = m;
        await sleep(500); // the writer's statement in flight on m (if any) completes: a restart is not a write failure
        await m.stop();
        m.tls = tls(m);
        m.startEntrypoint();
        await m.decide('join');
        await m.waitSynced(120_000);
        restarting = undefined;
        // One cluster after every restart: members with and without TLS (phase 1), with TLS only (phase 2).
        await Promise.all(cluster.members.map((x) => x.waitClusterSize(3)));
      }
    };
    try {
      await rollingRestart((m) => memberTls(m, { replicationTransition: true, requireSecureTransport: false, stateTransfer: false }));
      await rollingRestart((m) => memberTls(m, { replicationTransition: false, requireSecureTransport: true, stateTransfer: false }));
    } finally {
      // Also on failure: a loop left running would keep jest (and the integration lock) alive.
      await writer.stop();
    }
    figures.tlsTransitionSeconds = (Date.now() - t0) / 1000;
    figures.writesDuringTransition = writer.acked.size;
    expect(writer.failures).toBe(0);
    expect(writer.acked.size).toBeGreaterThan(50);
    for (const m of cluster.members) expect(await writer.missingOn(m)).toEqual([]);
    // After phase 2 no member accepts plaintext peers: the last restarted member's links are all TLS.
    const last = cluster.members[2];
    expect(logOf(last).slice(logOf(last).lastIndexOf('starting: mariadbd'))).toMatch(/connection established to \S+ ssl:\/\/127\.0\.18\.[12]:4567/);
    expect(providerOptionsOf(last)).not.toMatch(/socket\.dynamic/);
  });

  test('encrypted state transfers turned on with every member restarted at once; the others rejoin by IST', async () => {
    const [first, ...others] = cluster.members;
    const t0 = Date.now();
    await Promise.all(cluster.members.map((m) => m.stop()));
    for (const m of cluster.members) m.tls = memberTls(m, { replicationTransition: false, requireSecureTransport: true, stateTransfer: true });
    await startCluster(120_000);
    figures.fullRestartForEncryptedSstSeconds = (Date.now() - t0) / 1000;
    for (const m of others) expect(m.stateTransfers()).toEqual(['IST']);
    await first.waitClusterSize(3);
  });

  test('SST over TLS: a member with an empty volume rejoins through socat with OpenSSL', async () => {
    const m = cluster.members[2];
    await m.stop();
    m.wipeData();
    const t0 = Date.now();
    m.startEntrypoint({ freshRunDir: true });
    await m.decide('join');
    await m.waitSynced(200_000);
    figures.sstOverTlsSeconds = (Date.now() - t0) / 1000;
    expect(m.stateTransfers()).toEqual(['SST']);
    // The SST script's own account of its transport: certificate, key and CA, with encryption on.
    expect(logOf(m)).toMatch(/SSL configuration: CA='[^']*ca\.crt'.*encrypt='3'/);
    expect(logOf(m)).toMatch(/Using openssl based encryption with socat: with key and crt/);
  });

  test('clients: TLS with the CA verifies; plaintext refused; another CA refused; TLS 1.2 and 1.3 only', async () => {
    const [m] = cluster.members;
    const ok = await tlsLogin(m, "SHOW STATUS LIKE 'Ssl_version'");
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(/^Ssl_version\tTLSv1\.[23]$/m);

    // The same account and password as above, without TLS: MariaDB 10.11 answers require_secure_transport with 1045.
    const plain = await m.login('nova', NOVA_PASSWORD, 'SELECT 1', ['--skip-ssl']);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toMatch(/ERROR 1045|insecure transport/);

    const wrongCa = await tlsLogin(m, 'SELECT 1', otherCa.caFile);
    expect(wrongCa.code).not.toBe(0);
    expect(wrongCa.stderr).toMatch(/certificate verify failed|unable to get local issuer|self.signed/i);

    // The client is allowed every version (SECLEVEL=0): only the server's tls_version can refuse TLS 1.0 and 1.1.
    const permissive = ['-cipher', 'DEFAULT@SECLEVEL=0'];
    expect(presentedSerial(m.ip, 3306, { ca: ca.caFile, starttls: 'mysql', extra: ['-tls1_1', ...permissive] })).toBeUndefined();
    expect(presentedSerial(m.ip, 3306, { ca: ca.caFile, starttls: 'mysql', extra: ['-tls1', ...permissive] })).toBeUndefined();
    expect(presentedSerial(m.ip, 3306, { ca: ca.caFile, starttls: 'mysql', extra: ['-tls1_2'] })).toBeDefined();
    expect(presentedSerial(m.ip, 3306, { ca: ca.caFile, starttls: 'mysql', extra: ['-tls1_3'] })).toBeDefined();
  });

  test('a restarted member catches up by IST over TLS', async () => {
    const m = cluster.members[1];
    await m.stop();
    const before = Number(await cluster.members[0].sql('SELECT COUNT(*) FROM nova.rotation'));
    for (let i = 0; i < 20; i++) await cluster.members[0].sql('INSERT INTO nova.rotation (at) VALUES (NOW(3))');
    const t0 = Date.now();
    m.startEntrypoint();
    await m.decide('join');
    await m.waitSynced(120_000);
    figures.istRejoinOverTlsSeconds = (Date.now() - t0) / 1000;
    expect(m.stateTransfers()).toEqual(['IST']);
    expect(await m.sql('SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM nova.rotation')).toBe(String(before + 20));
  });

  test('a member with a certificate of another CA, or an expired one, is refused by its peers; with a good one it rejoins', async () => {
    const [first, , m] = cluster.members;
    await m.stop();
    const refused = async (expected: RegExp) => {
      const before = [first, m].map((x) => logOf(x).length);
      // A new container after the kill: a fresh run dir, so the decision is written for this start's state.
      m.startEntrypoint({ freshRunDir: true });
      await m.decide('join');
      // Whichever side opened the link logs the failed handshake.
      await waitFor(`${m.name} refused (${expected})`, 60_000, () => ([first, m].some((x, i) => expected.test(logOf(x).slice(before[i]))) ? true : undefined));
      expect(m.synced()).toBe(false);
      expect(await first.sql("SHOW STATUS LIKE 'wsrep_cluster_size'")).toBe('wsrep_cluster_size\t2');
      await m.kill();
    };
    otherCa.install(tlsDir(m), { sans: SANS }, owner());
    await refused(/certificate verify failed/);
    ca.install(tlsDir(m), { sans: SANS, expired: true }, owner());
    await refused(/certificate has expired/);

    ca.install(tlsDir(m), { sans: SANS }, owner());
    m.startEntrypoint({ freshRunDir: true });
    await m.decide('join');
    await m.waitSynced(200_000);
    figures.rejoinAfterRefusalTransfer = m.stateTransfers().join(',');
    await first.waitClusterSize(3);
  });

  /** Waits until every member's agent reports `expected` (served and mounted notAfter, and whether they are one). */
  const waitForAgentTls = async (what: string, members: Member[], expected: (m: Member) => { served: number; mounted: number; same: number }) => {
    const t0 = Date.now();
    await Promise.all(members.map((m) => waitFor(`${m.name}'s agent reports ${what}`, 60_000, async () => {
      const seen = await agentTlsMetrics(m);
      return seen !== undefined && JSON.stringify(seen) === JSON.stringify(expected(m)) ? true : undefined;
    })));
    return (Date.now() - t0) / 1000;
  };

  test('the recovery agents report the certificate each member serves and the one mounted (made by openssl)', async () => {
    // The agents start now, with every member Synced: they have nothing to decide, they only report.
    const peerUrls = IPS.map((ip) => `http://${ip}:${AGENT_PORT}`).join(',');
    for (const m of cluster.members) {
      m.startAgent({
        GALERA_CLUSTER_SIZE: '3', GALERA_PEER_URLS: peerUrls, GALERA_AGENT_PORT: String(AGENT_PORT),
        // What GaleraPetSet gives the agent with TLS (lib/galera/pod.ts), with this member's address; a 1 s check.
        GALERA_TLS_CERTIFICATE: `${tlsDir(m)}/tls.crt`, GALERA_MYSQL_HOST: m.ip, GALERA_MYSQL_PORT: '3306', GALERA_TLS_CHECK_SECONDS: '1',
      });
    }
    const notAfter = (m: Member) => opensslNotAfter(`${tlsDir(m)}/tls.crt`);
    figures.agentFirstTlsReportSeconds = await waitForAgentTls('its certificate', cluster.members, (m) => ({ served: notAfter(m), mounted: notAfter(m), same: 1 }));
    // The certificates are openssl's, valid 2 days: what the agent reports is that one, not a default or a clock.
    for (const m of cluster.members) expect(Math.abs(notAfter(m) - (Date.now() / 1000 + 2 * 86400))).toBeLessThan(3600);
  });

  test('rotation under load: new certificates are used in place, 0 failed connections, the cluster stays whole', async () => {
    const [first] = cluster.members;
    const oldSerial = presentedSerial(first.ip, 3306, { ca: ca.caFile, starttls: 'mysql' });
    expect(oldSerial).toBeDefined();
    let running = true;
    let ok = 0;
    const failures: string[] = [];
    // Every iteration is a new TLS connection (handshake and verification) that writes a row, replicated over TLS.
    const clients = [0, 1].map(async () => {
      while (running) {
        const r = await tlsLogin(first, 'INSERT INTO nova.rotation (at) VALUES (NOW(3))');
        if (r.code === 0) ok++;
        else failures.push(r.stderr.trim());
      }
    });
    let newSerials: string[];
    try {
      await sleep(1500);
      newSerials = cluster.members.map((m) => ca.install(tlsDir(m), { sans: SANS }, owner()));
      const t0 = Date.now();
      await waitFor('the new certificate on 3306 and 4567', 60_000, () =>
        (presentedSerial(first.ip, 3306, { ca: ca.caFile, starttls: 'mysql' }) === newSerials[0]
          && presentedSerial(first.ip, 4567, { ca: ca.caFile }) === newSerials[0] ? true : undefined));
      figures.rotationPickedUpSeconds = (Date.now() - t0) / 1000;
      await sleep(2000);
    } finally {
      running = false;
      await Promise.all(clients);
    }
    figures.connectionsDuringRotation = ok;
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
    expect(newSerials[0]).not.toBe(oldSerial);
    expect(logOf(first)).toMatch(/tls: certificate files changed; reloaded in place \(FLUSH SSL; SET GLOBAL wsrep_provider_options='socket.ssl_reload=1'\)/);
    // Every member reloaded its own files, and no member left the cluster for it.
    for (const [i, m] of cluster.members.entries()) {
      await waitFor(`${m.name} presents its new certificate`, 30_000, () => (presentedSerial(m.ip, 3306, { ca: ca.caFile, starttls: 'mysql' }) === newSerials[i] ? true : undefined));
      expect(await m.sql("SHOW STATUS LIKE 'wsrep_cluster_size'")).toBe('wsrep_cluster_size\t3');
    }
    // The agents follow: served and mounted are both the new certificate.
    const notAfter = (m: Member) => opensslNotAfter(`${tlsDir(m)}/tls.crt`);
    figures.agentReportsRotationSeconds = await waitForAgentTls('the new certificate', cluster.members, (m) => ({ served: notAfter(m), mounted: notAfter(m), same: 1 }));
  });

  test('a renewal mariadbd cannot load (its key does not match) shows as mounted != served, until a good one arrives', async () => {
    const [m] = cluster.members;
    const servedBefore = opensslNotAfter(`${tlsDir(m)}/tls.crt`);
    const servedSerial = presentedSerial(m.ip, 3306, { ca: ca.caFile, starttls: 'mysql' });
    const oldKey = fs.readFileSync(`${tlsDir(m)}/tls.key`, 'utf8');
    // A renewal lands a new certificate with the wrong key: FLUSH SSL refuses the pair and mariadbd keeps the old one.
    await sleep(1100); // a notAfter at least one second later than the served one
    const renewed = ca.issue({ sans: SANS });
    installFiles(tlsDir(m), { 'tls.crt': renewed.certificate, 'tls.key': oldKey, 'ca.crt': renewed.ca }, owner());
    const renewedNotAfter = opensslNotAfter(`${tlsDir(m)}/tls.crt`);
    expect(renewedNotAfter).toBeGreaterThan(servedBefore);
    figures.agentReportsNotReloadedSeconds = await waitForAgentTls('the renewal not loaded', [m], () => ({ served: servedBefore, mounted: renewedNotAfter, same: 0 }));
    // openssl agrees: the member still presents the old certificate.
    expect(presentedSerial(m.ip, 3306, { ca: ca.caFile, starttls: 'mysql' })).toBe(servedSerial);
    // The entrypoint tries FLUSH SSL on its own second-by-second loop, which the agent's check may beat: wait for it.
    await waitFor(`${m.name} refuses the mismatched pair`, 30_000, () => (/Failed to refresh SSL/.test(logOf(m)) ? true : undefined));

    // A good pair: the entrypoint's retry loads it, and the agent reports one certificate again.
    ca.install(tlsDir(m), { sans: SANS }, owner());
    const fixed = opensslNotAfter(`${tlsDir(m)}/tls.crt`);
    figures.agentReportsRepairSeconds = await waitForAgentTls('the good renewal', [m], () => ({ served: fixed, mounted: fixed, same: 1 }));
    expect(await m.sql("SHOW STATUS LIKE 'wsrep_cluster_size'")).toBe('wsrep_cluster_size\t3');
  });
});
