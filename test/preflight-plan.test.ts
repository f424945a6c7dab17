import { GaleraPetSet, RabbitVersion, TlsCertificates } from '../lib';
import { objectId } from '../lib/cli/preflight/manifests';
import { changedFields, formatPlanLine, planChanges, planSummary } from '../lib/cli/preflight/plan';
import { CheckResult, KubeObject, Lookup } from '../lib/cli/preflight/types';
import { Day2Options, NAMESPACE, addDay2ControlPlane } from './support/fixtures';
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

  test('a gcache size change rolls Galera one member at a time, the writer (ordinal 0) last', () => {
    const lines = plan({}, { gcacheSize: '2G' });
    expect(of(lines, 'setting')).toEqual(['PLAN  setting StatefulSet openstack/galera wsrep_provider_options gcache.size: 1G -> 2G: per member, changes in the roll']);
    expect(of(lines, 'roll')[0]).toMatch(/^PLAN  roll StatefulSet openstack\/galera: pods roll one at a time, highest ordinal first, each Ready \(Synced\) before the next: galera-2, galera-1, galera-0 \(galera-0 last, the writer\); changed: spec\.template\.metadata\.annotations\.openstack-ha\.cdk8s\.io\/config-hash$/);
    expect(refused(lines)).toEqual([]);
  });

  test('a MariaDB upgrade LTS to LTS is planned; a downgrade and a skipped series are refused with the path', () => {
    const from = { mariadbImage: 'docker.io/library/mariadb:10.11.9' };
    expect(of(plan(from, { mariadbImage: GaleraPetSet.DEFAULT_IMAGE }), 'version')).toEqual([
      'PLAN  version StatefulSet openstack/galera: MariaDB 10.11.9 -> 11.4.7: a rolling upgrade of the release series; each member runs mariadb-upgrade once after it is Synced']);
    expect(refused(plan({}, from))).toEqual([expect.stringMatching(/^REFUSE  version StatefulSet openstack\/galera: MariaDB 11\.4\.7 -> 10\.11\.9 is a downgrade of the release series/)]);
    expect(refused(plan({ mariadbImage: 'docker.io/library/mariadb:10.6.20' }, {}))).toEqual([
      expect.stringMatching(/skips the long-term series 10\.11: .* upgrade 10\.6 -> 10\.11 -> 11\.4, one apply per step$/)]);
  });

  test('an upgrade whose roll would not end with the writer is refused; a config roll only warns', () => {
    const lines = plan({ mariadbImage: 'docker.io/library/mariadb:11.4.5', writerOrdinal: 1 }, { writerOrdinal: 1 });
    expect(refused(lines)).toEqual([expect.stringMatching(/^REFUSE  roll StatefulSet openstack\/galera: the writer galera-1 would roll before galera-0: .*apply writerOrdinal 0 alone first/)]);
    const config = plan({ writerOrdinal: 1 }, { writerOrdinal: 1, gcacheSize: '2G' });
    expect(refused(config)).toEqual([]);
    expect(of(config, 'roll')[1]).toMatch(/^WARN  roll .*ProxySQL moves the writer away and back once/);
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

  test('Galera 3 -> 5 -> 3 is planned; 5 -> 3 in one step is fine, 7 -> 3 is refused with the safe sequence, 5 -> 4 as even', () => {
    const grow = plan({}, { galeraReplicas: 5 });
    expect(of(grow, 'members')).toEqual(['PLAN  members StatefulSet openstack/galera: 3 -> 5 members: galera-3, galera-4 join by SST from a Synced member; every member\'s gcomm list grows in the roll']);
    expect(of(grow, 'create')).toEqual(expect.arrayContaining(['PLAN  create PersistentVolume openstack-galera-data-3: not in the cluster: created']));
    expect(of(grow, 'roll')[0]).toMatch(/galera-2, galera-1, galera-0 \(galera-0 last, the writer\)/);
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
    expect(of(plan({ rabbitNodes: 5 }, {}), 'members')).toEqual([
      'PLAN  members DaemonSet openstack/rabbitmq: 5 -> 3 brokers: rabbit@ctl-4, rabbit@ctl-5 leave: run rabbitmqctl forget_cluster_node for each once its pod is gone']);
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
  });
});
