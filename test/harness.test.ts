/**
 * The harness' own checks must be able to fail: each test breaks one invariant on otherwise valid objects
 * and expects exactly that problem to be reported.
 */
import { ChildProcess, spawn } from 'child_process';
import { MemcachedNetwork, MemcachedPool, Placement } from '../lib';
import { killAll, spawnInGroup } from './support/background-script';
import { K8sObject, apiRulesProblems, invariantProblems, newChart, schemaProblems, secretLookingValues, synth } from './support/harness';

function validObjects(): K8sObject[] {
  const chart = newChart('ns');
  new MemcachedPool(chart, 'mc', {
    placement: Placement.onNodes([{ name: 'a', ip: '10.0.0.1' }, { name: 'b', ip: '10.0.0.2' }]),
    network: MemcachedNetwork.podNetwork({ allowedClients: [{ podLabels: { app: 'x' } }] }),
  });
  return synth(chart);
}

function broken(mutate: (objects: K8sObject[]) => void): string[] {
  const objects = validObjects();
  mutate(objects);
  return [...schemaProblems(objects), ...apiRulesProblems(objects), ...invariantProblems(objects)];
}

const sts = (objects: K8sObject[]) => objects.find((o) => o.kind === 'StatefulSet')!;
const container = (objects: K8sObject[]) => sts(objects).spec.template.spec.containers[0];

test('valid objects have no problem', () => {
  expect(broken(() => undefined)).toEqual([]);
});

test.each<[string, (o: K8sObject[]) => void, RegExp]>([
  ['schema: replicas not an integer', (o) => { sts(o).spec.replicas = 'three'; }, /replicas must be integer/],
  ['schema: an API version Kubernetes 1.33 no longer serves', (o) => { o.find((x) => x.kind === 'PodDisruptionBudget')!.apiVersion = 'policy/v1beta1'; }, /policy\/v1beta1 is not one this library may emit/],
  ['a null leaf', (o) => { sts(o).metadata.labels.broken = null; }, /null leaf at \.metadata\.labels\.broken/],
  ['api rules: a multi-port Service with an unnamed port', (o) => { o.find((x) => x.kind === 'Service')!.spec.ports.push({ port: 1 }); }, /every port of a multi-port Service needs a name/],
  ['api rules: several node names in one node field requirement', (o) => {
    sts(o).spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms = [
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a', 'b'] }] }];
  }, /must be only one value when `operator` is 'In' or 'NotIn' for node field selector/],
  ['api rules: a PDB with maxUnavailable over DaemonSet pods', (o) => {
    o.push({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'd', namespace: 'ns' },
      spec: { selector: { matchLabels: { d: 'd' } }, template: { metadata: { labels: { d: 'd' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } });
    o.push({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'd', namespace: 'ns' }, spec: { selector: { matchLabels: { d: 'd' } }, maxUnavailable: 1 } });
  }, /no scale subresource/],
  ['a Service that selects nothing', (o) => { o.find((x) => x.kind === 'Service')!.spec.selector = { app: 'nothing' }; }, /selects no pods/],
  ['api rules: a selector that misses the template labels', (o) => { sts(o).spec.selector.matchLabels = { other: 'x' }; }, /`selector` does not match template `labels`/],
  ['api rules: a mount without a volume', (o) => { container(o).volumeMounts = [{ name: 'data', mountPath: '/data' }]; }, /Not found: "data"/],
  ['a container without limits', (o) => { delete container(o).resources.limits; }, /no complete resource requests and limits/],
  ['a container without a liveness probe', (o) => { delete container(o).livenessProbe; }, /missing readiness or liveness probe/],
  ['a container that keeps its capabilities', (o) => { container(o).securityContext.capabilities = {}; }, /must drop ALL capabilities/],
  ['a pod template without a config hash', (o) => { delete sts(o).spec.template.metadata.annotations; }, /no config-hash annotation/],
  ['a workload without placement', (o) => { delete sts(o).spec.template.spec.affinity.nodeAffinity; }, /no node placement/],
  ['a replicated workload without anti-affinity', (o) => { delete sts(o).spec.template.spec.affinity.podAntiAffinity; }, /without required anti-affinity/],
  ['a replicated workload without a PDB', (o) => { o.splice(o.findIndex((x) => x.kind === 'PodDisruptionBudget'), 1); }, /no PodDisruptionBudget selects its pods/],
  ['a PDB that selects nothing', (o) => { o.find((x) => x.kind === 'PodDisruptionBudget')!.spec.selector.matchLabels = { a: 'b' }; }, /selects no pods of this chart/],
  ['app-wide: two objects with one kind, namespace and name and different content', (o) => {
    o.push({ ...o.find((x) => x.kind === 'Service')!, spec: { clusterIP: 'None', ports: [{ name: 'memcache', port: 1 }] } });
  }, /Service ns\/mc is emitted by Service mc and by Service mc with different content/],
  ['app-wide: two host-network listeners on one node and port', (o) => {
    sts(o).spec.template.spec.hostNetwork = true;
    const other = JSON.parse(JSON.stringify(sts(o)));
    other.metadata.name = 'mc2';
    o.push(other);
  }, /port 11211\/TCP on node a is listened on by StatefulSet mc and by StatefulSet mc2/],
  ['app-wide: two workloads sharing a host directory', (o) => {
    sts(o).spec.template.spec.volumes = [{ name: 'd', hostPath: { path: '/var/lib/x' } }];
    const other = JSON.parse(JSON.stringify(sts(o)));
    other.metadata.name = 'mc2';
    other.spec.template.spec.volumes = [{ name: 'd', hostPath: { path: '/var/lib/x/y' } }];
    o.push(other);
  }, /host directory \/var\/lib\/x of StatefulSet mc and \/var\/lib\/x\/y of StatefulSet mc2 on node a are the same or nested/],
  ['api rules: an invalid image', (o) => { container(o).image = 'memcached:1.6 '; }, /not a valid image reference/],
])('catches %s', (_name, mutate, expected) => {
  const problems = broken(mutate);
  expect(problems.join('\n')).toMatch(expected);
});

describe('secret-looking ConfigMap values', () => {
  const cm = (text: string): K8sObject[] => [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { 'f.cnf': text } }];
  test.each([
    ['wsrep_sst_auth = sst:hunter2'],
    ['password = "s3cret"'],
    ['{"password": "abcd"}'],
    ['memcache_secret_key = 0123456789abcdef'],
    ['-----BEGIN RSA PRIVATE KEY-----'],
  ])('flags %s', (text) => {
    expect(secretLookingValues(cm(text))).toHaveLength(1);
  });
  test.each([
    ['password = ${DB_PASSWORD}'],
    ['wsrep_sst_auth = $(SST_AUTH)'],
    ['admin_password = @@ADMIN_PASSWORD@@'],
    ['# password = example in a comment'],
    ['password_file = /run/secrets/password'],
    ['max_connections = 8192'],
    ['token_cache_time = 300'],
    ['[[ -n ${GALERA_SST_PASSWORD:-} ]] && grant'],
    ['[[ $password_env =~ ^[A-Za-z_]+$ ]]'],
    ['wsrep_sst_auth = \\"$auth\\"'],
  ])('accepts %s', (text) => {
    expect(secretLookingValues(cm(text))).toEqual([]);
  });
});

describe('background scripts: a failed test leaves no process behind (test/support/background-script.ts)', () => {
  // A script that starts a long-lived grandchild sharing its stderr pipe, as a stand-in daemon's sleep loop does.
  const SCRIPT = 'sleep 300 & echo started >&2; wait';
  /** Resolves true once the child's pipes are closed (every holder gone), false after `ms`. */
  const closed = (child: ChildProcess, ms: number) => new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('close', () => { clearTimeout(timer); resolve(true); });
  });
  const started = (child: ChildProcess) => new Promise<void>((resolve) => child.stderr!.once('data', () => resolve()));

  test('killAll ends the script and its grandchild: the pipe closes (jest can exit)', async () => {
    const children: ChildProcess[] = [];
    const child = spawnInGroup(children, 'bash', ['-c', SCRIPT], { stdio: ['ignore', 'ignore', 'pipe'] });
    await started(child);
    killAll(children);
    expect(await closed(child, 5_000)).toBe(true);
    expect(children).toEqual([]);
  });

  test('the contrast: killing only the script leaves the grandchild holding the pipe open', async () => {
    const child = spawn('bash', ['-c', SCRIPT], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    await started(child);
    child.kill('SIGKILL');
    try {
      expect(await closed(child, 1_000)).toBe(false);
    } finally {
      process.kill(-child.pid!, 'SIGKILL');
    }
    expect(await closed(child, 5_000)).toBe(true);
  });
});
