import { GaleraPetSet, HaproxyLoadBalancer, InventoryNode, KeepalivedVip, LoadBalancedService, MemcachedPool, MemcachedPoolProps, Placement, RabbitDaemonSet, RabbitVersion, SecretValue, TlsCertificates } from '../lib';
import { PARTIAL_OBJECT_METADATA, readGaleraWriters, readLiveObjects, readRunningCredentials } from '../lib/cli/preflight/cluster';
import { objectId } from '../lib/cli/preflight/manifests';
import { changedFields, formatPlanLine, planChanges, planSummary } from '../lib/cli/preflight/plan';
import { galeraCopyOfCredentials, galeraFileFollows } from '../lib/cli/preflight/plan/secrets';
import { CheckResult, KubeObject, Lookup } from '../lib/cli/preflight/types';
import { FakeCluster, FakeKubeApi, liveObjects } from './integration/support/fake-kube-api';
import { Day2Options, NAMESPACE, NODES, addDay2ControlPlane, adminAndNova } from './support/fixtures';
import { newChart, synth } from './support/harness';

function manifests(options: Day2Options = {}): KubeObject[] {
  const chart = newChart(NAMESPACE);
  addDay2ControlPlane(chart, options);
  return synth(chart) as KubeObject[];
}

/** The plan from the manifests of `running` (as the live objects) to those of `next`. */
function plan(running: Day2Options, next: Day2Options): CheckResult[] {
  const live: Record<string, Lookup<KubeObject>> = {};
  for (const o of manifests(running)) live[objectId(o, NAMESPACE)] = { state: 'found', value: o };
  const objects = manifests(next);
  for (const o of objects) live[objectId(o, NAMESPACE)] ??= { state: 'absent' };
  return planChanges({ objects, live, defaultNamespace: NAMESPACE });
}

/** Every Secret the day-2 control plane references (values never matter: the plan reads metadata only). */
const SECRETS = Object.fromEntries(['galera-root', 'galera-sst', 'galera-monitor', 'nova-db', 'nova-db-2', 'proxysql-admin', 'rabbitmq-users', 'rabbitmq-erlang-cookie']
  .map((n) => [`${NAMESPACE}/${n}`, { value: Buffer.from('not-read').toString('base64') }]));
const STARTED = '2026-01-02T00:00:00Z';

/** The running pods of the workloads of `objects`: their template, every container running since `startedAt`. */
function runningPods(objects: KubeObject[], startedAt: (pod: string) => string = () => STARTED): NonNullable<FakeCluster['pods']> {
  return objects.filter((o) => ['StatefulSet', 'DaemonSet', 'Deployment'].includes(o.kind)).flatMap((o) => {
    const template = (o.spec as any).template;
    const names = o.kind === 'StatefulSet' ? Array.from({ length: (o.spec as any).replicas }, (_, i) => `${o.metadata.name}-${i}`)
      : ['a', 'b', 'c'].map((x) => `${o.metadata.name}-${x}`);
    return names.map((name) => ({
      metadata: { name, namespace: NAMESPACE, labels: template.metadata.labels },
      spec: template.spec,
      status: { containerStatuses: template.spec.containers.map((c: any) => ({ name: c.name, state: { running: { startedAt: startedAt(name) } } })) },
    }));
  });
}

/**
 * The plan as the CLI makes it, against the fake API server (in-process) that runs the manifests of `running`: the
 * live objects, the writer the agents name, the pods and the Secrets' metadata. Returns the lines and the requests.
 */
async function planAgainst(running: Day2Options, next: Day2Options, cluster: Partial<FakeCluster> = {}): Promise<{ lines: CheckResult[]; api: FakeKubeApi }> {
  const runningObjects = manifests(running);
  const api = new FakeKubeApi({ nodes: [], namespaces: { [NAMESPACE]: {} }, secrets: SECRETS, objects: liveObjects(runningObjects, NAMESPACE),
    pods: runningPods(runningObjects), ...cluster }, 'token');
  const objects = manifests(next);
  const live = await readLiveObjects(api.request, objects, NAMESPACE);
  const writers = await readGaleraWriters(api.request, objects, live, NAMESPACE);
  const { pods, secretWrites } = await readRunningCredentials(api.request, objects, live, NAMESPACE);
  return { lines: planChanges({ objects, live, defaultNamespace: NAMESPACE, writers, pods, secretWrites }), api };
}

/** What a member's agent answers on /writer: 200 on the Synced member the row names, else 503. */
const agent = (self: string, named: string | null, synced = true) => ({ status: synced && named === self ? 200 : 503, body: { writer: synced && named === self, named, synced, running: true } });
const agentsNaming = (named: string) => Object.fromEntries(['galera-0', 'galera-1', 'galera-2'].map((m) => [m, agent(m, named)]));
const MOVE_TO_0 = 'kubectl -n openstack exec galera-0 -c mariadb -- mariadb --defaults-file=/run/galera/client.cnf -e '
  + '"UPDATE galera_ha.writer SET member=\'galera-0\', changed_by=\'operator\', changed_at=UTC_TIMESTAMP(6), reason=\'last in a roll\' WHERE id=1"';

const refused = (lines: CheckResult[]) => lines.filter((l) => l.status === 'fail').map(formatPlanLine);
const of = (lines: CheckResult[], check: string) => lines.filter((l) => l.check === check).map(formatPlanLine);

describe('preflight --plan', () => {
  test('fields the API server adds are no change; a changed or missing field is', () => {
    expect(changedFields({ a: 1, b: [{ c: 'x' }] }, { a: 1, b: [{ c: 'x', d: 2 }], e: 3 })).toEqual([]);
    expect(changedFields({ a: 1, b: [{ c: 'x' }] }, { a: 2, b: [{ c: 'y' }, {}] })).toEqual(['a', 'b']);
    expect(changedFields({ a: { b: 'x' } }, {})).toEqual(['a']);
    // Quantities as the API server stores them: the same amount in canonical form is no change.
    const resources = (cpu: string, memory: string) => ({ resources: { limits: { cpu, memory } } });
    expect(changedFields(resources('4000m', '2048Mi'), resources('4', '2Gi'))).toEqual([]);
    expect(changedFields(resources('4000m', '2048Mi'), resources('3', '2Gi'))).toEqual(['resources.limits.cpu']);
    expect(changedFields({ replicas: '3' }, { replicas: 3 })).toEqual(['replicas']);
  });

  test('the same manifests: nothing changes, nothing rolls', () => {
    const lines = plan({}, {});
    expect(lines.map(formatPlanLine)).toEqual([`PLAN  unchanged: ${manifests().filter((o) => o.kind !== 'Secret').length} objects as in the cluster`]);
    expect(planSummary(lines)).toBe('plan: 0 changes, 0 warnings, 0 refused');
  });

  test('a gcache size change rolls Galera one member at a time, the writer the members name (galera-0) last', async () => {
    const { lines, api } = await planAgainst({}, { gcacheSize: '2G' }, { agents: agentsNaming('galera-0') });
    expect(of(lines, 'setting')).toEqual(['PLAN  setting StatefulSet openstack/galera wsrep_provider_options gcache.size: 1G -> 2G: per member, changes in the roll']);
    expect(of(lines, 'roll')).toEqual(['PLAN  roll StatefulSet openstack/galera: pods roll one at a time, highest ordinal first, each Ready (Synced) before the next: '
      + 'galera-2, galera-1, galera-0 (galera-0 last: the writer, named by the members\' writer row as galera-0 reads it); '
      + 'changed: spec.template.metadata.annotations.openstack-ha.cdk8s.io/config-hash']);
    expect(refused(lines)).toEqual([]);
    // One Synced member's answer is enough: the others are not asked.
    expect(api.requests.filter((r) => r.url.includes('/proxy/')).map((r) => r.url)).toEqual(['/api/v1/namespaces/openstack/pods/galera-0:9200/proxy/writer']);
    // Without the readers (an older caller), the plan says the writer was not read and names the first writer instead.
    expect(of(plan({}, { gcacheSize: '2G' }), 'roll')[0]).toContain('(galera-0 last; the writer the members name could not be read (not read): '
      + 'the manifests name galera-0 as the first writer, and it may have moved since)');
  });

  test('a MariaDB upgrade LTS to LTS is planned; a downgrade and a skipped series are refused with the path', () => {
    const from = { mariadbImage: 'docker.io/library/mariadb:10.11.9' };
    expect(of(plan(from, { mariadbImage: GaleraPetSet.DEFAULT_IMAGE }), 'version')).toEqual([
      'PLAN  version StatefulSet openstack/galera: MariaDB 10.11.9 -> 11.4.7: a rolling upgrade of the release series; each member runs mariadb-upgrade once after it is Synced']);
    expect(refused(plan({}, from))).toEqual([expect.stringMatching(/^REFUSE  version StatefulSet openstack\/galera: MariaDB 11\.4\.7 -> 10\.11\.9 is a downgrade of the release series/)]);
    expect(refused(plan({ mariadbImage: 'docker.io/library/mariadb:10.6.20' }, {}))).toEqual([
      expect.stringMatching(/skips the long-term series 10\.11: .* upgrade 10\.6 -> 10\.11 -> 11\.4, one apply per step$/)]);
  });

  test('ProxySQL\'s writer (writerOrdinal) must roll last too: refused for an upgrade, a warning for a config roll', async () => {
    const { lines } = await planAgainst({ mariadbImage: 'docker.io/library/mariadb:11.4.5', writerOrdinal: 1 }, { writerOrdinal: 1 }, { agents: agentsNaming('galera-0') });
    expect(refused(lines)).toEqual([expect.stringMatching(/^REFUSE  roll StatefulSet openstack\/galera: ProxySQL's writer galera-1 \(writerOrdinal 1\) rolls before galera-0: ProxySQL fails back to it .*apply writerOrdinal 0 alone first/)]);
    const config = await planAgainst({ writerOrdinal: 1 }, { writerOrdinal: 1, gcacheSize: '2G' }, { agents: agentsNaming('galera-0') });
    expect(refused(config.lines)).toEqual([]);
    expect(of(config.lines, 'roll')[1]).toMatch(/^WARN  roll .*ProxySQL moves the writes away and back once/);
  });

  test('the writer the members name is read from the agents: one that would roll before galera-0 is refused for an upgrade, with the move; a warning for a config roll', async () => {
    // galera-0 is a donor (not Synced): its answer does not count; galera-1 answers for the row, which names galera-1.
    const agents = { 'galera-0': agent('galera-0', 'galera-1', false), 'galera-1': agent('galera-1', 'galera-1'), 'galera-2': agent('galera-2', 'galera-1') };
    const upgrade = await planAgainst({ mariadbImage: 'docker.io/library/mariadb:11.4.5' }, {}, { agents });
    expect(of(upgrade.lines, 'roll')[0]).toContain('galera-2, galera-1, galera-0 (galera-0 last; the writer is galera-1, named by the members\' writer row as galera-1 reads it)');
    expect(refused(upgrade.lines)).toEqual(['REFUSE  roll StatefulSet openstack/galera: the writer galera-1 would roll before galera-0: when it stops, a takeover moves the writes '
      + 'to the lowest Synced member, which may already run the new version while galera-0 runs the old one; move the writer to galera-0 first '
      + `(no restart; HAProxy follows the row within a check): ${MOVE_TO_0}; then plan again`]);
    expect(upgrade.api.requests.filter((r) => r.url.includes('/proxy/')).map((r) => r.url.split('/')[6])).toEqual(['galera-0:9200', 'galera-1:9200']);
    const config = await planAgainst({}, { gcacheSize: '2G' }, { agents });
    expect(refused(config.lines)).toEqual([]);
    expect(of(config.lines, 'roll')[1]).toBe('WARN  roll StatefulSet openstack/galera: the writer galera-1 rolls before galera-0: the writes move twice (a takeover when galera-1 stops, '
      + `another when galera-0 stops), a brief stall each; to move them once, move the writer to galera-0 first (no restart; HAProxy follows the row within a check): ${MOVE_TO_0}; then plan again`);
    // A shrink that removes the writer: the writes move when it stops.
    const shrink = await planAgainst({ galeraReplicas: 5 }, {}, { agents: { 'galera-0': agent('galera-0', 'galera-4') } });
    expect(of(shrink.lines, 'roll')[1]).toBe('WARN  roll StatefulSet openstack/galera: the writer galera-4 leaves the cluster in this apply: when it stops, a takeover moves the writes '
      + `to the lowest Synced member (a brief stall); to choose when, move the writer to galera-0 first (no restart; HAProxy follows the row within a check): ${MOVE_TO_0}; then plan again`);
    // Once the row names galera-0, the same upgrade passes.
    expect(refused((await planAgainst({ mariadbImage: 'docker.io/library/mariadb:11.4.5' }, {}, { agents: agentsNaming('galera-0') })).lines)).toEqual([]);
  });

  test('when the agents cannot be asked, the plan says why, falls back to the first writer, and asks to check it before an upgrade', async () => {
    // No agent answers (the API server cannot reach them): its own 503 for each member.
    const blocked = await planAgainst({ mariadbImage: 'docker.io/library/mariadb:11.4.5' }, {});
    const reason = ['galera-0', 'galera-1', 'galera-2'].map((m) => `${m}: HTTP 503: error trying to reach service: dial tcp 10.244.0.9:9200: connect: connection refused`).join('; ');
    expect(of(blocked.lines, 'roll')[0]).toContain(`(galera-0 last; the writer the members name could not be read (${reason}): the manifests name galera-0 as the first writer, and it may have moved since)`);
    expect(refused(blocked.lines)).toEqual([]);
    expect(of(blocked.lines, 'roll')[1]).toMatch(/^WARN  roll StatefulSet openstack\/galera: cannot check that the writer rolls last \(galera-0: HTTP 503.*\): before applying, check that galera-0's agent answers 200 on \/writer \(kubectl -n openstack exec galera-0 -c agent -- node -e .*http:\/\/127\.0\.0\.1:9200\/writer.*\), or move the writer to galera-0 first/);
    // Dropped connections (no HTTP answer): after two members the path is taken as blocked, the third is not tried.
    const dropped = await planAgainst({}, { gcacheSize: '2G' }, { agents: { 'galera-0': 'unreachable', 'galera-1': 'unreachable', 'galera-2': agent('galera-2', 'galera-2') } });
    expect(of(dropped.lines, 'roll')[0]).toContain('could not be read (galera-0: GET /api/v1/namespaces/openstack/pods/galera-0:9200/proxy/writer: socket hang up; galera-1: ');
    expect(dropped.api.requests.filter((r) => r.url.includes('/proxy/'))).toHaveLength(2);
  });

  test('a Secret changed in place since the pods started: a database password rotates live, env vars wait for a roll, the Erlang cookie is refused; values are never read', async () => {
    const later = { managedFields: [{ manager: 'kubectl-client-side-apply', operation: 'Update', time: '2026-01-03T00:00:00Z' }], creationTimestamp: '2025-12-01T00:00:00Z', resourceVersion: '4711' };
    const earlier = { managedFields: [{ manager: 'kubectl', operation: 'Apply', time: '2026-01-01T00:00:00Z' }], creationTimestamp: '2025-12-01T00:00:00Z', resourceVersion: '12' };
    const secretMeta = {
      [`${NAMESPACE}/nova-db`]: later, [`${NAMESPACE}/rabbitmq-erlang-cookie`]: later, [`${NAMESPACE}/rabbitmq-users`]: later, [`${NAMESPACE}/galera-sst`]: earlier,
    };
    const { lines, api } = await planAgainst({}, {}, { agents: agentsNaming('galera-0'), secretMeta });
    expect(of(lines, 'secret')).toEqual([
      'PLAN  secret StatefulSet openstack/galera volume credentials file GALERA_PASSWORD_NOVA: Secret nova-db key password was written at 2026-01-03T00:00:00Z (resourceVersion 4711), after galera-0, galera-1, galera-2 '
        + 'started (changed in place; its value is not read): rotates live: the kubelet updates the file within about a minute and each member applies it (ALTER USER), keeping the old password '
        + 'for passwordRotationGraceMinutes; roll the clients within it (README, "Day 2: rotating a database password")',
      'REFUSE  secret DaemonSet openstack/rabbitmq volume cookie file .erlang.cookie: Secret rabbitmq-erlang-cookie key cookie was written at 2026-01-03T00:00:00Z (resourceVersion 4711), after rabbitmq-a, rabbitmq-b, rabbitmq-c '
        + 'started (changed in place; its value is not read): the brokers copy the cookie when they start, so the next one to restart (a crash, a reboot, a roll) comes back with a cookie the others '
        + 'do not have and cannot rejoin; put the old value back, or change the cookie by the full restart procedure now (README, "Day 2: changing the Erlang cookie")',
      // The users' passwords are files: they rotate live (credentials.sh), the cookie rule is unchanged.
      'PLAN  secret DaemonSet openstack/rabbitmq volume credentials file admin: Secret rabbitmq-users key admin was written at 2026-01-03T00:00:00Z (resourceVersion 4711), after rabbitmq-a, '
        + 'rabbitmq-b, rabbitmq-c started (changed in place; its value is not read): rotates live: the kubelet updates the file within about a minute and the first broker to see it changes '
        + 'the password for the whole cluster (rabbitmqctl change_password, no restart); RabbitMQ has no dual passwords: connections already open stay open, new ones with the old password '
        + 'are refused, so this should be an account no client uses (README, "Day 2: rotating a RabbitMQ password")',
      expect.stringMatching(/^PLAN  secret DaemonSet openstack\/rabbitmq volume credentials file nova: Secret rabbitmq-users key nova .*: rotates live: /),
      // ProxySQL's users' passwords are files too: its credentials sidecar applies them once the members accept them.
      expect.stringMatching(/^PLAN  secret Deployment openstack\/proxysql volume credentials file PROXYSQL_USER_PASSWORD_NOVA: Secret nova-db key password was written .*: rotates live: the kubelet updates the file within about a minute and the credentials sidecar loads it into ProxySQL .* once every ONLINE Galera member accepts it .*ProxySQL has one password per user: .*\(README, "Day 2: rotating a database password"\)$/),
    ]);
    // The SST password was written before the members started: nothing to say.
    expect(lines.map(formatPlanLine).filter((l) => l.includes('galera-sst'))).toEqual([]);
    // Secrets are read one by one as metadata only, never their data.
    const secretReads = api.requests.filter((r) => r.url.includes('/secrets/'));
    expect(secretReads.length).toBeGreaterThan(0);
    expect(secretReads.every((r) => r.accept === PARTIAL_OBJECT_METADATA)).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(Buffer.from('not-read').toString('base64'));
  });

  test('Galera\'s monitor password changed in place rotates live too (a credentials file, no env var): its clients follow by themselves', async () => {
    const secretMeta = { [`${NAMESPACE}/galera-monitor`]: { managedFields: [{ manager: 'kubectl', operation: 'Update', time: '2026-01-03T00:00:00Z' }], resourceVersion: '77' } };
    const { lines } = await planAgainst({}, {}, { agents: agentsNaming('galera-0'), secretMeta });
    expect(of(lines, 'secret')).toEqual([
      'PLAN  secret StatefulSet openstack/galera volume credentials file GALERA_MONITOR_PASSWORD: Secret galera-monitor key password was written at 2026-01-03T00:00:00Z (resourceVersion 77), '
        + 'after galera-0, galera-1, galera-2 started (changed in place; its value is not read): rotates live: the kubelet updates the file within about a minute and each member applies it '
        + '(ALTER USER), keeping the old password for passwordRotationGraceMinutes; ProxySQL\'s credentials sidecars switch once every ONLINE member accepts it and each member\'s '
        + 'mysqld-exporter once its member does: no client to roll (README, "Day 2: rotating a database password")',
      expect.stringMatching(/^PLAN  secret Deployment openstack\/proxysql volume credentials file PROXYSQL_MONITOR_PASSWORD: .*: rotates live: .* once every ONLINE Galera member accepts it \(the monitor's too: the members rotate it live\)/),
    ]);
    // Not one WARN "read at start" for it any more.
    expect(lines.map(formatPlanLine).filter((l) => l.includes('galera-monitor') && !l.startsWith('PLAN'))).toEqual([]);
    // Pointed at another Secret: it rotates live with the roll, and its clients follow.
    const live: Record<string, Lookup<KubeObject>> = {};
    for (const o of manifests()) live[objectId(o, NAMESPACE)] = { state: 'found', value: o };
    const objects = JSON.parse(JSON.stringify(manifests()).replace(/"galera-monitor"/g, '"galera-monitor-2"')) as KubeObject[];
    expect(of(planChanges({ objects, live, defaultNamespace: NAMESPACE }), 'credentials').filter((l) => l.includes('StatefulSet'))).toEqual([
      'PLAN  credentials StatefulSet openstack/galera volume credentials file GALERA_MONITOR_PASSWORD: Secret galera-monitor key password -> Secret galera-monitor-2 key password: '
        + 'rotates live with the roll: the first member with the new Secret makes the account accept the new password and keep the old one for passwordRotationGraceMinutes; '
        + 'ProxySQL\'s credentials sidecars switch once every ONLINE member accepts it and each member\'s mysqld-exporter once its member does: no client to roll '
        + '(README, "Day 2: rotating a database password")',
    ]);
  });

  test('Galera\'s SST and root passwords changed in place rotate live (credentials files, no env var): the SST one\'s consumers follow, root has only operators', async () => {
    const written = { managedFields: [{ manager: 'kubectl', operation: 'Update', time: '2026-01-03T00:00:00Z' }], resourceVersion: '78' };
    const secretMeta = { [`${NAMESPACE}/galera-sst`]: written, [`${NAMESPACE}/galera-root`]: written };
    const { lines } = await planAgainst({}, {}, { agents: agentsNaming('galera-0'), secretMeta });
    const prefix = (file: string, secret: string) => `PLAN  secret StatefulSet openstack/galera volume credentials file ${file}: Secret ${secret} key password was written at `
      + '2026-01-03T00:00:00Z (resourceVersion 78), after galera-0, galera-1, galera-2 started (changed in place; its value is not read): rotates live: the kubelet updates '
      + 'the file within about a minute and each member applies it (ALTER USER), keeping the old password for passwordRotationGraceMinutes; ';
    expect(of(lines, 'secret')).toEqual([
      `${prefix('GALERA_SST_PASSWORD', 'galera-sst')}each member's mariadbd donates with it once its account accepts it (SET GLOBAL wsrep_sst_auth, no restart), and `
        + 'GaleraBackup\'s sidecars and jobs read it as their token at every request (either password passes within the grace): no client to roll (README, "Day 2: rotating a database password")',
      `${prefix('MARIADB_ROOT_PASSWORD', 'galera-root')}nothing automated logs in as root (everything uses the unix socket): hand the new one to the operators within it `
        + '(README, "Day 2: rotating a database password")',
    ]);
    // No "read when the members start" (WARN) any more for either.
    expect(lines.map(formatPlanLine).filter((l) => /galera-(sst|root)/.test(l) && !l.startsWith('PLAN'))).toEqual([]);
    // Pointed at other Secrets: they rotate live with the roll.
    const live: Record<string, Lookup<KubeObject>> = {};
    for (const o of manifests()) live[objectId(o, NAMESPACE)] = { state: 'found', value: o };
    const objects = JSON.parse(JSON.stringify(manifests()).replace(/"galera-(sst|root)"/g, '"galera-$1-2"')) as KubeObject[];
    expect(of(planChanges({ objects, live, defaultNamespace: NAMESPACE }), 'credentials').filter((l) => l.includes('StatefulSet'))).toEqual([
      expect.stringMatching(/^PLAN {2}credentials StatefulSet openstack\/galera volume credentials file GALERA_SST_PASSWORD: Secret galera-sst key password -> Secret galera-sst-2 key password: rotates live with the roll: .*: no client to roll \(README/),
      expect.stringMatching(/^PLAN {2}credentials StatefulSet openstack\/galera volume credentials file MARIADB_ROOT_PASSWORD: Secret galera-root key password -> Secret galera-root-2 key password: rotates live with the roll: .*hand the new one to the operators within it/),
    ]);
  });

  test('GaleraBackup\'s token (the SST password) and the exporter\'s copy of the monitor\'s get no line of their own: the credentials file\'s line covers them', () => {
    expect(galeraCopyOfCredentials('volume backup-token file BACKUP_TOKEN')).toBe(true);
    expect(galeraCopyOfCredentials('volume exporter-credentials file GALERA_MONITOR_PASSWORD')).toBe(true);
    expect(galeraCopyOfCredentials('volume credentials file GALERA_SST_PASSWORD')).toBe(false);
    expect(galeraFileFollows('volume credentials file GALERA_PASSWORD_NOVA')).toBe('roll the clients within it');
  });

  test('pods or Secret metadata the plan may not read: it says what is not checked', async () => {
    const pods = await planAgainst({}, {}, { agents: agentsNaming('galera-0'), forbidden: [`/api/v1/namespaces/${NAMESPACE}/pods`] });
    expect(of(pods.lines, 'secret')).toEqual(['StatefulSet openstack/galera', 'DaemonSet openstack/rabbitmq', 'Deployment openstack/proxysql'].map((w) => `WARN  secret ${w}: cannot list the pods `
      + '(HTTP 403: forbidden: User "tester" cannot get /api/v1/namespaces/openstack/pods): Secrets changed in place since they started are not checked'));
    const secret = await planAgainst({}, {}, { agents: agentsNaming('galera-0'), forbidden: [`/api/v1/namespaces/${NAMESPACE}/secrets/rabbitmq-users`] });
    expect(of(secret.lines, 'secret')).toEqual(['WARN  secret DaemonSet openstack/rabbitmq: cannot read the metadata of Secret rabbitmq-users (HTTP 403: forbidden: User "tester" '
      + 'cannot get /api/v1/namespaces/openstack/secrets/rabbitmq-users): whether it changed in place is not checked']);
  });

  test('a pod started after the Secret was written holds the new value; a password file rotates live, roll or not', async () => {
    const secretMeta = { [`${NAMESPACE}/rabbitmq-users`]: { managedFields: [{ manager: 'kubectl', time: '2026-01-03T00:00:00Z' }], resourceVersion: '9' } };
    const running = manifests({});
    const pods = runningPods(running, (pod) => (pod === 'rabbitmq-a' ? '2026-01-04T00:00:00Z' : STARTED));
    const { lines } = await planAgainst({}, { rabbitVersion: RabbitVersion.V4_0 }, { agents: agentsNaming('galera-0'), secretMeta, pods });
    expect(of(lines, 'secret')).toEqual([
      expect.stringMatching(/^PLAN  secret DaemonSet openstack\/rabbitmq volume credentials file admin: .*after rabbitmq-b, rabbitmq-c started .*: rotates live: /),
      expect.stringMatching(/^PLAN  secret DaemonSet openstack\/rabbitmq volume credentials file nova: /),
    ]);
  });

  test('the cluster name changed by a roll is refused as cluster-wide, with the procedure', () => {
    expect(refused(plan({}, { clusterName: 'openstack-db' }))).toEqual([
      'REFUSE  setting StatefulSet openstack/galera wsrep_cluster_name: galera -> openstack-db: cluster-wide: members only join peers with the same cluster name: '
        + 'a rolled member is refused by the others (and once most have rolled, the rest are shut out); a roll would change it one member at a time; '
        + 'README, "Day 2: changing a cluster-wide Galera setting"']);
  });

  test('a cluster-wide setting passes once no member runs (step 1 of its procedure: scaled to 0)', () => {
    const objects = manifests({ clusterName: 'openstack-db' });
    const live: Record<string, Lookup<KubeObject>> = {};
    for (const o of manifests()) live[objectId(o, NAMESPACE)] = { state: 'found', value: o };
    const sts = live['StatefulSet openstack/galera'] as { value: KubeObject };
    live['StatefulSet openstack/galera'] = { state: 'found', value: { ...sts.value, spec: { ...(sts.value.spec as object), replicas: 0 }, status: { replicas: 0 } } };
    const lines = planChanges({ objects, live, defaultNamespace: NAMESPACE });
    expect(refused(lines)).toEqual([]);
    expect(of(lines, 'setting')).toEqual(['PLAN  setting StatefulSet openstack/galera wsrep_cluster_name: galera -> openstack-db: cluster-wide, and no member runs: every member starts with it']);
    expect(of(lines, 'members')).toEqual([expect.stringMatching(/^PLAN  members StatefulSet openstack\/galera: 0 -> 3 members/)]);
  });

  test('replication TLS turned on in one roll is refused; the socket.dynamic bridge is planned', () => {
    const certificates = TlsCertificates.certManager({ issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } });
    // SST encryption is a separate, stop-the-cluster step (README, "TLS"): only replication TLS is judged here.
    const lines = plan({}, { galeraTls: { certificates, replication: true, stateTransfer: false } });
    expect(refused(lines)[0]).toMatch(/^REFUSE  setting StatefulSet openstack\/galera replication TLS: plain -> tls: cluster-wide: .*roll to both first/);
    const bridge = plan({}, { galeraTls: { certificates, replicationTransition: true, stateTransfer: false } });
    expect(refused(bridge)).toEqual([]);
    // Client TLS (ssl_ca, ssl_cert, ...) is per member and rolls; replication TLS is the cluster-wide step.
    expect(of(bridge, 'setting')).toContainEqual(expect.stringMatching(/^PLAN  setting StatefulSet openstack\/galera replication TLS: plain -> both: cluster-wide, a step of the TLS change: roll to both$/));
  });

  test('state transfer encryption turned on or off by a roll is refused (no bridge mode); it passes once no member runs', () => {
    const certificates = TlsCertificates.certManager({ issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } });
    const lines = plan({ galeraTls: { certificates, stateTransfer: false } }, { galeraTls: { certificates } });
    expect(refused(lines)).toEqual([
      'REFUSE  setting StatefulSet openstack/galera state transfer encryption: plain -> tls: cluster-wide: joiner and donor must encrypt the state transfer the same way, '
        + 'even for an IST (mariabackup\'s script talks over the SST port): a member restarted with another mode cannot rejoin; a roll would change it one member at a time; '
        + 'stop every member, then apply (README, "Day 2: changing a cluster-wide Galera setting")',
      expect.stringMatching(/^REFUSE  setting StatefulSet openstack\/galera \[sst\] encrypt: \(unset\) -> 3: cluster-wide: /),
      expect.stringMatching(/^REFUSE  setting StatefulSet openstack\/galera \[sst\] ssl-mode: \(unset\) -> VERIFY_CA: cluster-wide: /),
    ]);
    // The certificate files of the stream are this member's side only: listed, not refused.
    expect(of(lines, 'setting')).toContain('PLAN  setting StatefulSet openstack/galera [sst] tcert: (unset) -> /etc/galera-tls/tls.crt: per member, changes in the roll');
    expect(refused(plan({ galeraTls: { certificates } }, { galeraTls: { certificates, stateTransfer: false } }))[0]).toMatch(/state transfer encryption: tls -> plain: cluster-wide/);
    // Scaled to 0 (the procedure's first step): every member starts with it.
    const objects = manifests({ galeraTls: { certificates } });
    const live: Record<string, Lookup<KubeObject>> = {};
    for (const o of manifests({ galeraTls: { certificates, stateTransfer: false } })) live[objectId(o, NAMESPACE)] = { state: 'found', value: o };
    const sts = live['StatefulSet openstack/galera'] as { value: KubeObject };
    live['StatefulSet openstack/galera'] = { state: 'found', value: { ...sts.value, spec: { ...(sts.value.spec as object), replicas: 0 }, status: { replicas: 0 } } };
    const stopped = planChanges({ objects, live, defaultNamespace: NAMESPACE });
    expect(refused(stopped)).toEqual([]);
    expect(of(stopped, 'setting')).toContain('PLAN  setting StatefulSet openstack/galera state transfer encryption: plain -> tls: cluster-wide, and no member runs: every member starts with it');
  });

  test('RabbitMQ distribution TLS turned on or off by a roll is refused; AMQPS alone rolls; it passes once no broker runs', () => {
    const certificates = TlsCertificates.certManager({ issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } });
    const amqpsOnly = { certificates, distribution: false, plaintextAmqp: true };
    expect(refused(plan({}, { rabbitTls: amqpsOnly }))).toEqual([]);
    const on = plan({ rabbitTls: amqpsOnly }, { rabbitTls: { certificates } });
    expect(refused(on)).toEqual(['REFUSE  setting DaemonSet openstack/rabbitmq distribution TLS: off -> on: cluster-wide: a broker that speaks TLS on the distribution port '
      + 'cannot talk to one that does not, so the first broker restarted in the roll could not rejoin the others; stop every broker first, then apply '
      + '(README, "Day 2: restarting every broker at once")']);
    expect(refused(plan({ rabbitTls: { certificates } }, { rabbitTls: amqpsOnly }))).toEqual([expect.stringMatching(/distribution TLS: on -> off: cluster-wide/)]);
    const objects = manifests({ rabbitTls: { certificates } });
    const live: Record<string, Lookup<KubeObject>> = {};
    for (const o of manifests({ rabbitTls: amqpsOnly })) live[objectId(o, NAMESPACE)] = { state: 'found', value: o.kind === 'DaemonSet' ? { ...o, status: { currentNumberScheduled: 0 } } : o };
    const stopped = planChanges({ objects, live, defaultNamespace: NAMESPACE });
    expect(refused(stopped)).toEqual([]);
    expect(of(stopped, 'setting')).toEqual(['PLAN  setting DaemonSet openstack/rabbitmq distribution TLS: off -> on: cluster-wide, and no broker runs: every broker starts with it']);
  });

  test('Galera 3 -> 5 -> 3 is planned; 5 -> 3 in one step is fine, 7 -> 3 is refused with the safe sequence, 5 -> 4 as even', () => {
    const grow = plan({}, { galeraReplicas: 5 });
    expect(of(grow, 'members')).toEqual(['PLAN  members StatefulSet openstack/galera: 3 -> 5 members: galera-3, galera-4 join by SST from a Synced member; every member\'s gcomm list grows in the roll']);
    expect(of(grow, 'create')).toEqual(expect.arrayContaining(['PLAN  create PersistentVolume openstack-galera-data-3: not in the cluster: created']));
    expect(of(grow, 'roll')[0]).toMatch(/galera-2, galera-1, galera-0 \(galera-0 last; the writer the members name could not be read/);
    expect(refused(grow)).toEqual([]);
    expect(refused(plan({ mariadbImage: 'docker.io/library/mariadb:11.4.5' }, { galeraReplicas: 5 }))).toEqual([
      expect.stringMatching(/^REFUSE  members StatefulSet openstack\/galera: 3 -> 5 members together with a MariaDB version change: .*apply the upgrade first, then the growth$/)]);
    // What synth can no longer produce (7 controllers, an even count): edit the objects as a hand-made change would.
    const objects = manifests();
    const live: Record<string, Lookup<KubeObject>> = {};
    for (const o of objects) live[objectId(o, NAMESPACE)] = { state: 'found', value: o };
    const sts = (replicas: number) => objects.map((o) => (o.kind === 'StatefulSet' ? { ...o, spec: { ...(o.spec as object), replicas } } : o));
    live['StatefulSet openstack/galera'] = { state: 'found', value: sts(7).find((o) => o.kind === 'StatefulSet')! };
    expect(refused(planChanges({ objects, live, defaultNamespace: NAMESPACE }))).toEqual([
      'REFUSE  members StatefulSet openstack/galera: 7 -> 3 members removes 4 of 7 at once, a majority: if they do not all leave cleanly the 3 left are a minority '
        + 'of the last view and stop; shrink 7 -> 5 -> 3, one apply per step (README, "Day 2")']);
    expect(refused(planChanges({ objects: sts(1), live, defaultNamespace: NAMESPACE }))).toEqual([
      expect.stringMatching(/7 -> 1 members removes 6 of 7 at once, a majority: .*shrink 7 -> 5 -> 3 at most, one apply per step: 3 is the fewest a quorum allows/)]);
    live['StatefulSet openstack/galera'] = { state: 'found', value: sts(5).find((o) => o.kind === 'StatefulSet')! };
    expect(refused(planChanges({ objects: sts(4), live, defaultNamespace: NAMESPACE }))).toEqual([
      'REFUSE  members StatefulSet openstack/galera: 5 -> 4 members: an even count is refused (a clean split leaves no side with a majority); use 5 or 3']);
    const shrink = plan({ galeraReplicas: 5 }, {});
    expect(of(shrink, 'members')).toEqual(['PLAN  members StatefulSet openstack/galera: 5 -> 3 members: galera-4, galera-3 stop and leave the cluster cleanly (SIGTERM); their claims and local volumes are kept (Retain)']);
    expect(refused(shrink)).toEqual([]);
  });

  test('RabbitMQ: the next line is planned with the feature-flag step, a skipped line refused; 3 -> 5 -> 3 brokers planned', () => {
    const next = plan({}, { rabbitVersion: RabbitVersion.V4_0 });
    expect(of(next, 'version')).toEqual([expect.stringMatching(/^WARN  version DaemonSet openstack\/rabbitmq: RabbitMQ 3\.13 -> 4\.0: the next release line; .*enable_feature_flag all/)]);
    expect(of(next, 'roll')).toEqual([expect.stringMatching(/^PLAN  roll DaemonSet openstack\/rabbitmq: brokers restart one node at a time/)]);
    expect(refused(plan({}, { rabbitVersion: RabbitVersion.V4_1 }))).toEqual([expect.stringMatching(/^REFUSE  version DaemonSet openstack\/rabbitmq: RabbitMQ 3\.13 -> 4\.1 skips 4\.0/)]);
    expect(of(plan({}, { rabbitNodes: 5 }), 'members')).toEqual(['PLAN  members DaemonSet openstack/rabbitmq: 3 -> 5 brokers: rabbit@ctl-4, rabbit@ctl-5 join']);
    // Leavers must leave the cluster before the apply (pause_minority counts every known member): the plan says how.
    expect(of(plan({ rabbitNodes: 5 }, {}), 'members')).toEqual([
      'PLAN  members DaemonSet openstack/rabbitmq: 5 -> 3 brokers: rabbit@ctl-4, rabbit@ctl-5 leave',
      'WARN  members DaemonSet openstack/rabbitmq: before applying, make rabbit@ctl-4, rabbit@ctl-5 leave the cluster, or each broker restarting in the roll '
        + 'leaves the others a minority of the members RabbitMQ still counts, and they pause (pause_minority): for each one that still runs, kubectl -n openstack '
        + 'exec <its rabbitmq pod> -- bash -c \'rabbitmq-upgrade await_online_synchronized_mirror -t 300 || true; rabbitmq-upgrade drain -t 300; rabbitmqctl stop_app\'; '
        + 'then, for each, kubectl -n openstack exec <the rabbitmq pod of ctl-1> -- rabbitmqctl forget_cluster_node <the broker> (a dead node\'s broker only needs the forget); '
        + 'check rabbitmqctl cluster_status lists only rabbit@ctl-1, rabbit@ctl-2, rabbit@ctl-3; then apply (README, "Day 2")']);
    // 4.x: the preStop waits for quorum queue replicas instead.
    expect(of(plan({ rabbitNodes: 5, rabbitVersion: RabbitVersion.V4_0 }, { rabbitVersion: RabbitVersion.V4_0 }), 'members')[1]).toMatch(/await_online_quorum_plus_one/);
  });

  test('a replaced controller: a local volume moved to the new node is refused with the delete steps; a replaced broker says who joins and who leaves', () => {
    // Galera: galera-2's local volume pinned to ctl-6 instead of ctl-3 (the inventory's third node replaced).
    const objects = manifests();
    const moved = objects.map((o) => (o.kind === 'PersistentVolume' && o.metadata.name === 'openstack-galera-data-2'
      ? JSON.parse(JSON.stringify(o).replace('"ctl-3"', '"ctl-6"')) as KubeObject : o));
    const live: Record<string, Lookup<KubeObject>> = {};
    for (const o of objects) live[objectId(o, NAMESPACE)] = { state: 'found', value: o };
    expect(refused(planChanges({ objects: moved, live, defaultNamespace: NAMESPACE }))).toEqual([
      'REFUSE  change PersistentVolume openstack-galera-data-2: node ctl-3 -> ctl-6: the API server refuses a changed node affinity or source on a '
        + 'PersistentVolume, so this apply would stop half-way; the data on the old node is not moved. Delete the old volume first (its data is lost to this '
        + 'member, which joins by SST on the new node): kubectl -n openstack delete pvc data-galera-2 --wait=false; kubectl -n openstack delete pod galera-2 '
        + '(add --force --grace-period=0 if its node is gone); kubectl delete pv openstack-galera-data-2; then plan again and apply (README, "Day 2": replacing a controller)']);
    // Once the old volume is deleted, it is created again, pinned to the new node.
    live['PersistentVolume openstack-galera-data-2'] = { state: 'absent' };
    const again = planChanges({ objects: moved, live, defaultNamespace: NAMESPACE });
    expect(refused(again)).toEqual([]);
    expect(of(again, 'create')).toEqual(['PLAN  create PersistentVolume openstack-galera-data-2: not in the cluster: created']);
    // A changed local path is refused the same way; an unchanged volume is not mentioned.
    const path = objects.map((o) => (o.kind === 'PersistentVolume' && o.metadata.name === 'openstack-galera-data-1'
      ? { ...o, spec: { ...(o.spec as object), local: { path: '/mnt/other' } } } : o));
    live['PersistentVolume openstack-galera-data-2'] = { state: 'found', value: objects.find((o) => o.metadata.name === 'openstack-galera-data-2')! };
    expect(refused(planChanges({ objects: path, live, defaultNamespace: NAMESPACE }))).toEqual([
      expect.stringMatching(/^REFUSE  change PersistentVolume openstack-galera-data-1: source \{"path":"\/mnt\/disks\/galera"\} -> \{"path":"\/mnt\/other"\}: /)]);

    // RabbitMQ: the same count, one broker replaced: the plan still names the one to forget.
    const rabbit = (nodes: InventoryNode[]) => {
      const chart = newChart(NAMESPACE);
      new RabbitDaemonSet(chart, 'rabbitmq', { placement: Placement.onNodes(nodes), version: RabbitVersion.V3_13,
        erlangCookie: SecretValue.fromSecret('rabbitmq-erlang-cookie', 'cookie'), users: adminAndNova() });
      return synth(chart) as KubeObject[];
    };
    const rabbitLive: Record<string, Lookup<KubeObject>> = {};
    for (const o of rabbit(NODES)) rabbitLive[objectId(o, NAMESPACE)] = { state: 'found', value: o };
    const replaced = planChanges({ objects: rabbit([NODES[0], NODES[1], { name: 'ctl-6', ip: '10.0.0.16' }]), live: rabbitLive, defaultNamespace: NAMESPACE });
    expect(of(replaced, 'members')).toEqual([
      'PLAN  members DaemonSet openstack/rabbitmq: 3 -> 3 brokers: rabbit@ctl-6 join; rabbit@ctl-3 leave',
      expect.stringMatching(/^WARN  members DaemonSet openstack\/rabbitmq: before applying, make rabbit@ctl-3 leave the cluster, .* forget_cluster_node .* lists only rabbit@ctl-1, rabbit@ctl-2, rabbit@ctl-6; then apply/)]);
    expect(refused(replaced)).toEqual([]);
    // The same brokers: no members line.
    expect(of(planChanges({ objects: rabbit(NODES), live: rabbitLive, defaultNamespace: NAMESPACE }), 'members')).toEqual([]);
  });

  test('a replaced controller: the new VIP node waits for an advert (no taint); by name the VIP\'s DaemonSets roll (warned), by label none does; '
    + 'memcached keeps its items (warm restart), and a node moved in its list is warned about', () => {
    const edge = (nodes: InventoryNode[], byLabel = false) => {
      const chart = newChart(NAMESPACE);
      const placement = byLabel ? Placement.onLabelledNodes('openstack-ha.cdk8s.io/edge', 'true', { nodes }) : Placement.onNodes(nodes);
      const vip = new KeepalivedVip(chart, 'vip', { name: 'api-vip', address: '10.0.0.100', interface: 'eth0', virtualRouterId: 51, placement });
      new HaproxyLoadBalancer(chart, 'api-lb', { placement, vip,
        services: [LoadBalancedService.openStackApi('keystone', { servers: [{ address: 'keystone-api.openstack.svc', port: 5000 }] })] });
      new MemcachedPool(chart, 'memcached', { placement: Placement.onNodes(nodes) });
      return synth(chart) as KubeObject[];
    };
    const liveOf = (objects: KubeObject[]) => Object.fromEntries(objects.map((o) => [objectId(o, NAMESPACE), { state: 'found', value: o } as Lookup<KubeObject>]));
    const live = liveOf(edge(NODES));
    const ctl6 = { name: 'ctl-6', ip: '10.0.0.16' };
    // ctl-3 replaced in place by ctl-6.
    const inPlace = planChanges({ objects: edge([NODES[0], NODES[1], ctl6]), live, defaultNamespace: NAMESPACE });
    expect(of(inPlace, 'members')).toEqual([
      'PLAN  members DaemonSet openstack/api-vip: ctl-6 joins the VIP, ctl-3 leaves it; its keepalived does not bid for the VIP a peer holds until a peer sends it an '
        + 'advert (once the holder has rolled; no taint needed), out of the election meanwhile (keepalived_vrrp_fault 1); a WARNING every 60 s in its log means the '
        + 'holder has not rolled (kubectl -n openstack rollout status daemonset/api-vip) or IP protocol 112 does not reach it (README, "Day 2": replacing a controller)',
      'WARN  members DaemonSet openstack/api-vip: ctl-1, ctl-2 restart in the roll (the pod template names the nodes): each restart of the holder moves the VIP, and '
        + 'DaemonSet api-lb (HAProxy, placed the same way) rolls at the same time, independently: while one node\'s keepalived restarts and another\'s HAProxy drains, '
        + 'no node may hold the VIP for seconds (up to 4.4 s measured); place the VIP\'s DaemonSets by a node label (OpenStackControlPlane vip.nodeLabel, or '
        + 'Placement.onLabelledNodes with the nodes) and an inventory change rolls neither: keepalived reloads its peers live (README, "Day 2": replacing a controller)',
      'PLAN  members DaemonSet openstack/memcached: memcached on ctl-1, ctl-2 restart in the roll (the node list is in the pod template), one node at a time, '
        + 'and keep their items: warm restart: each memcached saves its items on the node\'s RAM disk as it stops and the new pod restores them (a downgrade of '
        + 'the image starts clean); ctl-6 starts empty; the services\' memcache_servers change: roll them after; ctl-3 keeps the saved cache in '
        + '/dev/shm/openstack-ha-memcached/openstack-memcached (RAM, up to the item memory) until a reboot: remove it there (rm -rf /dev/shm/openstack-ha-memcached/openstack-memcached)']);
    expect(refused(inPlace)).toEqual([]);
    // All three roll.
    expect(of(inPlace, 'roll')).toEqual([expect.stringMatching(/^PLAN  roll DaemonSet openstack\/api-vip: pods roll/),
      expect.stringMatching(/^PLAN  roll DaemonSet openstack\/api-lb: pods roll/), expect.stringMatching(/^PLAN  roll DaemonSet openstack\/memcached: pods roll/)]);
    // By label: no VIP pod rolls; keepalived reloads its peers live.
    const labelLive = liveOf(edge(NODES, true));
    const byLabel = planChanges({ objects: edge([NODES[0], NODES[1], ctl6], true), live: labelLive, defaultNamespace: NAMESPACE });
    expect(of(byLabel, 'members').filter((l) => l.includes('api-vip'))).toEqual([
      'PLAN  members DaemonSet openstack/api-vip: ctl-6 joins the VIP, ctl-3 leaves it: no pod rolls (the pod template names no node): keepalived on ctl-1, ctl-2 '
        + 'reload their new peer list live once the kubelet has updated their ConfigMap volume (within about a minute; "changed: keepalived reloads it" in the log) '
        + 'and keep their state and the VIP; its keepalived does not bid for the VIP a peer holds until a peer sends it an advert (once the holder has reloaded its '
        + 'file; no taint needed), out of the election meanwhile (keepalived_vrrp_fault 1); a WARNING every 60 s in its log means the holder has not reloaded (its log) '
        + 'or IP protocol 112 does not reach it; its pods start once it carries the label openstack-ha.cdk8s.io/edge=true (README, "Day 2": replacing a controller)']);
    expect(of(byLabel, 'roll')).toEqual([expect.stringMatching(/^PLAN  roll DaemonSet openstack\/memcached: pods roll/)]);
    expect(of(byLabel, 'change')).toContain('PLAN  change ConfigMap openstack/api-vip-config: changed: data.ctl-1.conf, data.ctl-2.conf, data.ctl-6.conf');
    // By label, a node removed only: the survivors reload, nothing rolls, nobody waits.
    expect(of(planChanges({ objects: edge([NODES[0], NODES[1]], true), live: labelLive, defaultNamespace: NAMESPACE }), 'members').filter((l) => l.includes('api-vip')))
      .toEqual([expect.stringMatching(/^PLAN  members DaemonSet openstack\/api-vip: ctl-3 leaves it: no pod rolls .*keep their state and the VIP \(README/)]);
    // The new node first: every survivor changes position in memcached's list.
    const shifted = of(planChanges({ objects: edge([ctl6, NODES[0], NODES[1]]), live, defaultNamespace: NAMESPACE }), 'members');
    expect(shifted[2]).toBe('WARN  members DaemonSet openstack/memcached: memcached servers ctl-1, ctl-2, ctl-3 -> ctl-6, ctl-1, ctl-2: ctl-1, ctl-2 change position in the '
      + 'server list, and python-memcached (oslo.cache, keystonemiddleware) places keys by position: most cached keys move, and services on the old and the new list '
      + 'use different servers for one key until every service has rolled; keep the nodes that stay in their positions (a new node in the place of the one it replaces) '
      + '(README, "Day 2": replacing a controller)');
    // By name, a node removed only (no new one): nobody waits, but the survivors roll (warned); the same nodes: no members line at all.
    expect(of(planChanges({ objects: edge([NODES[0], NODES[1]]), live, defaultNamespace: NAMESPACE }), 'members').filter((l) => l.includes('api-vip')))
      .toEqual([expect.stringMatching(/^WARN  members DaemonSet openstack\/api-vip: ctl-1, ctl-2 restart in the roll/)]);
    expect(of(planChanges({ objects: edge(NODES), live, defaultNamespace: NAMESPACE }), 'members')).toEqual([]);
  });

  test('memcached: what a roll does to the cache (warm restart): kept through a TLS or image change, emptied by a new item memory, '
    + 'and once when warm restart turns on', () => {
    const pool = (props: Partial<MemcachedPoolProps> = {}) => {
      const chart = newChart(NAMESPACE);
      new MemcachedPool(chart, 'memcached', { placement: Placement.onNodes(NODES), ...props });
      return synth(chart) as KubeObject[];
    };
    const liveOf = (objects: KubeObject[]) => Object.fromEntries(objects.map((o) => [objectId(o, NAMESPACE), { state: 'found', value: o } as Lookup<KubeObject>]));
    const members = (from: KubeObject[], to: KubeObject[]) => of(planChanges({ objects: to, live: liveOf(from), defaultNamespace: NAMESPACE }), 'members');
    expect(members(pool(), pool({ image: 'docker.io/library/memcached:1.6.40' }))).toEqual([
      'PLAN  members DaemonSet openstack/memcached: memcached restarts in the roll, one node at a time, and keeps its items: warm restart: each memcached '
        + 'saves its items on the node\'s RAM disk as it stops and the new pod restores them (a downgrade of the image starts clean)']);
    expect(members(pool(), pool({ resources: { memoryLimitMiB: 2048, memoryRequestMiB: 2048 } }))).toEqual([
      'PLAN  members DaemonSet openstack/memcached: memcached restarts in the roll, one node at a time, and comes back empty: the item memory changes '
        + '(-m 857 -> 1779 MiB): memcached refuses the restore and starts clean']);
    expect(members(pool({ warmRestart: false }), pool())).toEqual([expect.stringMatching(/comes back empty: warm restart turns on with this roll/)]);
    expect(members(pool(), pool({ warmRestart: false }))).toEqual([expect.stringMatching(/comes back empty: warm restart is off$/)]);
    expect(members(pool(), pool())).toEqual([]);
  });

  test('a new Erlang cookie by a roll is refused; a new database password Secret is planned with its order', () => {
    expect(refused(plan({}, { cookieSecret: 'rabbitmq-cookie-2' }))).toEqual([
      'REFUSE  credentials DaemonSet openstack/rabbitmq erlang cookie: Secret rabbitmq-erlang-cookie key cookie -> Secret rabbitmq-cookie-2 key cookie: '
        + 'a broker with another cookie cannot talk to the others, so a roll would split the cluster; change the cookie by the full restart procedure (README, "Day 2: changing the Erlang cookie")']);
    // Once every broker is stopped (the procedure's first step), the same change passes.
    const objects = manifests({ cookieSecret: 'rabbitmq-cookie-2' });
    const live: Record<string, Lookup<KubeObject>> = {};
    for (const o of manifests()) live[objectId(o, NAMESPACE)] = { state: 'found', value: o.kind === 'DaemonSet' ? { ...o, status: { currentNumberScheduled: 0 } } : o };
    expect(of(planChanges({ objects, live, defaultNamespace: NAMESPACE }), 'credentials')).toEqual([
      'PLAN  credentials DaemonSet openstack/rabbitmq erlang cookie: Secret rabbitmq-erlang-cookie key cookie -> Secret rabbitmq-cookie-2 key cookie: no broker runs: every broker starts with the new cookie']);
    const rotate = plan({}, { novaSecret: 'nova-db-2' });
    expect(of(rotate, 'credentials')).toEqual([expect.stringMatching(/^PLAN  credentials StatefulSet openstack\/galera volume credentials file GALERA_PASSWORD_NOVA: Secret nova-db key password -> Secret nova-db-2 key password: rotates live with the roll/)]);
    // A broker user pointed at another Secret: the template changes, so the brokers roll, and the first one sets it.
    const rabbit = plan({}, { novaRabbitSecret: 'rabbitmq-nova-2' });
    expect(of(rabbit, 'credentials')).toEqual(['PLAN  credentials DaemonSet openstack/rabbitmq volume credentials file nova: Secret rabbitmq-users key nova -> Secret rabbitmq-nova-2 key nova: '
      + 'the first broker restarted in the roll sets its password for the whole cluster (RabbitMQ has no dual passwords: new connections with the old one are refused from then on, '
      + 'so this should be an account no client uses; README, "Day 2: rotating a RabbitMQ password")']);
    expect(of(rabbit, 'roll')).toEqual([expect.stringMatching(/^PLAN  roll DaemonSet openstack\/rabbitmq: brokers restart one node at a time/)]);
    expect(refused(rabbit)).toEqual([]);
  });
});
