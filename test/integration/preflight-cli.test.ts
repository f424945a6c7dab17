/**
 * The built preflight CLI (one esbuild bundle, as published) run as a child process against a fake Kubernetes API
 * server on 127.0.0.1 over HTTPS, with a kubeconfig whose non-default context points at it: a cluster that is
 * ready for the synthesized chart passes with exit status 0; a broken one fails with exit status 1 and one line
 * per problem; and nothing but dry runs is ever sent. The fake server refuses what a real API server's validation
 * refuses (the API-rules check), so the manifests of issue 11 (several node names in one node field requirement) fail
 * here as they failed on a real cluster.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Chart } from 'cdk8s';
import { parseAllDocuments, stringify } from 'yaml';
import { Node } from '../../lib/cli/preflight/types';
import { RabbitVersion } from '../../lib';
import { Day2Options, INVENTORY, NAMESPACE, TOPOLOGY, addControlPlane, addDay2ControlPlane, clusterNode } from '../support/fixtures';
import { describeWithBinaries } from './support/daemons';
import { FakeCluster, FakeKubeApi, liveObjects, selfSignedCertificate } from './support/fake-kube-api';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { buildCli } = require('../../scripts/build-cli') as { buildCli: (outfile: string) => { outfile: string; bytes: number } };

const TOKEN = 'preflight-test-token';
const PASSWORD = Buffer.from('not-a-real-password').toString('base64');
const ENFORCE = 'pod-security.kubernetes.io/enforce';

const READY_CLUSTER: FakeCluster = {
  nodes: [...INVENTORY.map((n) => clusterNode(n.name, n.ip)), clusterNode('compute-1', '10.0.0.21', { labels: { 'kubernetes.io/hostname': 'compute-1' } })],
  namespaces: { [NAMESPACE]: { [ENFORCE]: 'privileged' } },
  secrets: Object.fromEntries(['galera-root', 'galera-sst', 'galera-monitor', 'nova-db'].map((s) => [`${NAMESPACE}/${s}`, { password: PASSWORD }])),
};

const notReady: Node = clusterNode('ctl-3', '10.0.0.13', { ready: false, labels: { 'kubernetes.io/hostname': 'ctl-3' } });
const BROKEN_CLUSTER: FakeCluster = {
  nodes: [clusterNode('ctl-1', '10.0.0.11'), clusterNode('ctl-2', '10.0.0.12', { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] }), notReady],
  namespaces: { [NAMESPACE]: { [ENFORCE]: 'baseline' } },
  secrets: { ...READY_CLUSTER.secrets, [`${NAMESPACE}/nova-db`]: { pass: PASSWORD } },
  warnings: {
    [`/apis/apps/v1/namespaces/${NAMESPACE}/daemonsets/memcached`]: [
      'would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true), hostPort (container "memcached" uses hostPort 11211)',
    ],
  },
  refusals: {
    [`/apis/apps/v1/namespaces/${NAMESPACE}/statefulsets/galera`]: {
      status: 422,
      message: 'StatefulSet.apps "galera" is invalid: spec: Forbidden: updates to statefulset spec for fields other than \'replicas\', \'ordinals\', \'template\', \'updateStrategy\', \'persistentVolumeClaimRetentionPolicy\' and \'minReadySeconds\' are forbidden',
    },
  },
};

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

describeWithBinaries('preflight CLI against a fake API server', ['openssl'], ['openssl'], () => {
  let dir: string;
  let cli: string;
  let manifests: string;
  let topologyFile: string;
  let certFile: string;
  let keyFile: string;
  const servers: FakeKubeApi[] = [];
  const children: ChildProcess[] = [];

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-cli-'));
    ({ certFile, keyFile } = selfSignedCertificate(dir));
    const built = buildCli(path.join(dir, 'preflight.mjs'));
    cli = built.outfile;
    process.stdout.write(`preflight bundle: ${built.bytes} bytes\n`);
    manifests = path.join(dir, 'manifests');
    const app = new App({ outdir: manifests });
    addControlPlane(new Chart(app, 'control-plane', { namespace: NAMESPACE, disableResourceNameHashes: true }));
    app.synth();
    topologyFile = path.join(dir, 'control-plane.topology.json');
    fs.writeFileSync(topologyFile, JSON.stringify(TOPOLOGY, null, 2));
  }, 60_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(servers.map((s) => s.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Serves `cluster`, writes a kubeconfig whose context `fake` points at it, and runs the CLI. */
  async function preflight(cluster: FakeCluster, extraArgs: string[] = [], manifestDir: string = manifests): Promise<Run & { api: FakeKubeApi }> {
    const api = new FakeKubeApi(cluster, TOKEN);
    servers.push(api);
    const server = await api.start(certFile, keyFile);
    const kubeconfig = path.join(dir, `kubeconfig-${servers.length}`);
    fs.writeFileSync(kubeconfig, stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'fake', cluster: { 'server': server, 'certificate-authority': certFile } },
        // The current context points at a closed port: the CLI must use --context.
        { name: 'elsewhere', cluster: { 'server': 'https://127.0.0.1:1', 'certificate-authority': certFile } },
      ],
      users: [{ name: 'tester', user: { token: TOKEN } }],
      contexts: [
        { name: 'fake', context: { cluster: 'fake', user: 'tester', namespace: NAMESPACE } },
        { name: 'elsewhere', context: { cluster: 'elsewhere', user: 'tester' } },
      ],
      'current-context': 'elsewhere',
    }));
    const args = [cli, '--manifests', manifestDir, '--kubeconfig', kubeconfig, '--context', 'fake', ...extraArgs];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => { stdout += c.toString('utf8'); });
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
    const started = Date.now();
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    process.stdout.write(`preflight run: ${Date.now() - started} ms, ${api.requests.length} API requests\n`);
    return { code, stdout, stderr, api };
  }

  test('a cluster ready for the chart: every check passes, exit status 0, and only dry runs are sent', async () => {
    const run = await preflight(READY_CLUSTER, ['--topology', topologyFile]);
    const lines = run.stdout.trim().split('\n');
    expect(run.stderr).toBe('');
    expect(lines[0]).toMatch(/^preflight: 14 objects from .*manifests against https:\/\/127\.0\.0\.1:\d+ \(context fake\)$/);
    expect(lines.slice(1, -1).filter((l) => !l.startsWith('PASS  '))).toEqual([]);
    expect(lines).toEqual(expect.arrayContaining([
      'PASS  node ctl-1: Ready, InternalIP 10.0.0.11, openstack-control-plane=enabled',
      'PASS  placement DaemonSet memcached: can run on ctl-1, ctl-2, ctl-3',
      'PASS  placement StatefulSet galera: can run on ctl-1, ctl-2, ctl-3 (3 replicas, one per node)',
      'PASS  placement PersistentVolume openstack-galera-data-2: on ctl-3',
      'PASS  taints StatefulSet galera: no untolerated taint on ctl-1, ctl-2, ctl-3',
      "PASS  vip 10.0.0.10: is no node's address (on bond0)",
      'PASS  namespace openstack: enforces privileged; the pods need privileged (DaemonSet memcached: hostNetwork, hostPath volume warm-restart)',
      'PASS  secret openstack/nova-db: has key password',
      'PASS  dry-run StatefulSet openstack/galera: accepted',
      'PASS  dry-run StorageClass galera-local: accepted',
      'PASS  version v1.33.1: supported: Kubernetes 1.27 to 1.33',
      'PASS  api-rules: 14 objects: no controller or version problem (Kubernetes 1.33.1)',
    ]));
    expect(lines[lines.length - 1]).toBe('32 checks: 32 passed, 0 warnings, 0 failed');
    expect(run.code).toBe(0);

    const writes = run.api.requests.filter((r) => r.method !== 'GET');
    expect(writes).toHaveLength(14);
    expect(writes.every((r) => r.method === 'PATCH' && new URL(r.url, 'https://x').searchParams.get('dryRun') === 'All')).toBe(true);
    expect(run.api.requests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    // Secrets are read one by one, only those referenced; never listed.
    expect(run.api.requests.filter((r) => r.url.includes('/secrets')).map((r) => r.url).sort()).toEqual(
      ['galera-monitor', 'galera-root', 'galera-sst', 'nova-db'].map((s) => `/api/v1/namespaces/openstack/secrets/${s}`));
  }, 60_000);

  test('a broken cluster: one FAIL line per problem and exit status 1', async () => {
    const run = await preflight(BROKEN_CLUSTER, ['--topology', topologyFile]);
    const failures = run.stdout.split('\n').filter((l) => l.startsWith('FAIL  '));
    expect(failures).toEqual([
      'FAIL  node ctl-3: not Ready (KubeletNotReady: container runtime network not ready); label openstack-control-plane=enabled missing; kubectl label node ctl-3 openstack-control-plane=enabled',
      'FAIL  taints DaemonSet memcached: ctl-2 has node-role.kubernetes.io/control-plane:NoSchedule, not tolerated; add a toleration to the workload or remove the taint',
      'FAIL  taints StatefulSet galera: ctl-2 has node-role.kubernetes.io/control-plane:NoSchedule, not tolerated; add a toleration to the workload or remove the taint',
      'FAIL  namespace openstack: enforces baseline, but the pods need privileged (DaemonSet memcached: hostNetwork, hostPath volume warm-restart); label it pod-security.kubernetes.io/enforce=privileged',
      'FAIL  secret openstack/nova-db: has no key password; referenced by StatefulSet galera volume credentials file GALERA_PASSWORD_NOVA',
      `FAIL  dry-run StatefulSet openstack/galera: HTTP 422: ${BROKEN_CLUSTER.refusals![`/apis/apps/v1/namespaces/${NAMESPACE}/statefulsets/galera`].message}`,
    ]);
    expect(run.stdout).toContain('\nWARN  dry-run DaemonSet openstack/memcached: accepted, with warnings: '
      + 'would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true), hostPort (container "memcached" uses hostPort 11211)\n');
    expect(run.stdout).toMatch(/\n32 checks: 25 passed, 1 warning, 6 failed\n$/);
    expect(run.code).toBe(1);
  }, 60_000);

  test('issue 11 is caught: the old node field selector is refused (422), the DaemonSet PDB and a 1.26 server fail', async () => {
    // The manifests as the library wrote them before the fix: every node name in one `metadata.name In [...]`
    // requirement, and a PDB with maxUnavailable over the memcached DaemonSet's pods.
    const old = path.join(dir, 'manifests-issue-11');
    fs.mkdirSync(old, { recursive: true });
    const objects = fs.readdirSync(manifests).filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(manifests, f), 'utf8')).map((d) => d.toJS()));
    for (const o of objects) {
      if (o.kind === 'StatefulSet') {
        o.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms = [
          { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ctl-1', 'ctl-2', 'ctl-3'] }] }];
      }
      if (o.kind === 'PodDisruptionBudget' && o.metadata.name === 'memcached') o.spec = { selector: o.spec.selector, maxUnavailable: 1 };
    }
    fs.writeFileSync(path.join(old, 'control-plane.k8s.yaml'), objects.map((o) => stringify(o)).join('---\n'));
    const run = await preflight({ ...READY_CLUSTER, version: 'v1.26.15' }, ['--topology', topologyFile], old);
    const failures = run.stdout.split('\n').filter((l) => l.startsWith('FAIL  '));
    expect(failures).toEqual([
      'FAIL  version v1.26.15: is older than Kubernetes 1.27, the oldest this library supports: the API server would drop fields the manifests rely on '
        + '(StatefulSet persistentVolumeClaimRetentionPolicy) without an error; upgrade the cluster to 1.27 or newer',
      'FAIL  dry-run StatefulSet openstack/galera: HTTP 422: StatefulSet.apps "galera" is invalid: '
        + 'spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values: '
        + 'Required value: must be only one value when `operator` is \'In\' or \'NotIn\' for node field selector; use one node selector term per node '
        + '(terms are ORed): [{matchFields: [metadata.name In [a]]}, {matchFields: [metadata.name In [b]]}]',
      'FAIL  api-rules PodDisruptionBudget/memcached: spec: selects the pods of DaemonSet memcached, which has no scale subresource: the disruption '
        + 'controller cannot compute maxUnavailable (SyncFailed, disruptionsAllowed 0) and refuses every eviction; use an integer minAvailable, e.g. the node count minus 1',
    ]);
    expect(run.code).toBe(1);
  }, 60_000);

  test('without a topology the VIPs are a warning and the run still passes', async () => {
    const run = await preflight(READY_CLUSTER);
    expect(run.stdout).toContain('\nWARN  vip: no --topology file: VIPs not checked\n');
    expect(run.stdout).toContain('\nPASS  node ctl-1: Ready, InternalIP 10.0.0.11 (no topology: not compared)\n');
    expect(run.code).toBe(0);
  }, 60_000);

  test('an unknown context, an unreachable API server or an unreadable topology stops the run with exit status 2', async () => {
    const badContext = await preflight(READY_CLUSTER, ['--context', 'nowhere']);
    expect(badContext.stderr).toBe('preflight: --context nowhere is not in the kubeconfig; it has: fake, elsewhere\n');
    expect(badContext.code).toBe(2);
    const unreachable = await preflight(READY_CLUSTER, ['--context', 'elsewhere']);
    expect(unreachable.stderr).toMatch(/^preflight: GET https:\/\/127\.0\.0\.1:1\/version: connect ECONNREFUSED 127\.0\.0\.1:1\n$/);
    expect(unreachable.code).toBe(2);
    const badTopology = path.join(dir, 'bad.topology.json');
    fs.writeFileSync(badTopology, JSON.stringify({ nodes: [{ name: 'ctl-1', ip: '10.0.0.1/24' }], vips: [] }));
    const run = await preflight(READY_CLUSTER, ['--topology', badTopology]);
    expect(run.stderr).toContain('nodes[0].ip: "10.0.0.1/24" is not an IP address');
    expect(run.code).toBe(2);
    expect(badContext.api.requests).toEqual([]);
  }, 60_000);

  /** The day-2 control plane of `options`, synthesized into its own directory; returns the directory and the objects. */
  function day2Manifests(label: string, options: Day2Options): { dir: string; objects: any[] } {
    const out = path.join(dir, `day2-${label}`);
    const app = new App({ outdir: out });
    addDay2ControlPlane(new Chart(app, 'control-plane', { namespace: NAMESPACE, disableResourceNameHashes: true }), options);
    app.synth();
    const objects = fs.readdirSync(out).filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(out, f), 'utf8')).map((d) => d.toJS()));
    return { dir: out, objects };
  }

  /** A cluster that runs the day-2 control plane of `running`; galera-0's agent answers that the writer row names it. */
  function runningCluster(running: Day2Options): FakeCluster {
    return {
      ...READY_CLUSTER,
      objects: liveObjects(day2Manifests('running', running).objects, NAMESPACE),
      agents: { 'galera-0': { status: 200, body: { writer: true, named: 'galera-0', synced: true, running: true } } },
    };
  }

  test('--plan: an upgrade, a setting, a rotation and a growth are printed in order, exit 0, and only GETs are sent', async () => {
    // Growth and upgrade are separate applies (the plan refuses both at once): Galera grows while RabbitMQ upgrades.
    const running: Day2Options = { rabbitVersion: RabbitVersion.V3_13 };
    const next = day2Manifests('upgrade', { gcacheSize: '2G', novaSecret: 'nova-db-2', rabbitVersion: RabbitVersion.V4_0, galeraReplicas: 5 });
    const run = await preflight(runningCluster(running), ['--plan'], next.dir);
    expect(run.stderr).toBe('');
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^plan: \d+ objects from .*day2-upgrade against https:\/\/127\.0\.0\.1:\d+ \(context fake\)$/);
    const galera = lines.filter((l) => / StatefulSet openstack\/galera[ :]/.test(l));
    expect(galera).toEqual([
      "PLAN  members StatefulSet openstack/galera: 3 -> 5 members: galera-3, galera-4 join by SST from a Synced member; every member's gcomm list grows in the roll",
      'PLAN  setting StatefulSet openstack/galera wsrep_provider_options gcache.size: 1G -> 2G: per member, changes in the roll',
      expect.stringMatching(/^PLAN  credentials StatefulSet openstack\/galera volume credentials file GALERA_PASSWORD_NOVA: Secret nova-db key password -> Secret nova-db-2 key password: rotates live with the roll/),
      expect.stringMatching(/^PLAN  roll StatefulSet openstack\/galera: pods roll one at a time, highest ordinal first, each Ready \(Synced\) before the next: galera-2, galera-1, galera-0 \(galera-0 last: the writer, named by the members' writer row as galera-0 reads it\); changed: /),
    ]);
    expect(lines).toEqual(expect.arrayContaining([
      'PLAN  create PersistentVolume openstack-galera-data-4: not in the cluster: created',
      expect.stringMatching(/^WARN  version DaemonSet openstack\/rabbitmq: RabbitMQ 3\.13 -> 4\.0: the next release line; before applying, every stable feature flag must be enabled/),
    ]));
    // The defaults the API server added to the stored objects are no change: memcached-free, the PDBs did not move.
    expect(lines.filter((l) => /PodDisruptionBudget openstack\/rabbitmq/.test(l))).toEqual([]);
    expect(lines.filter((l) => l.startsWith('REFUSE'))).toEqual([]);
    expect(lines[lines.length - 1]).toMatch(/^plan: \d+ changes, 1 warning, 0 refused$/);
    expect(run.code).toBe(0);
    expect(run.api.requests.every((r) => r.method === 'GET')).toBe(true);
    // The writer is asked of the agents through the pod proxy; a Secret is only ever read as metadata (PartialObjectMetadata).
    expect(run.api.requests.filter((r) => r.url.includes('/proxy/')).map((r) => r.url)).toEqual(['/api/v1/namespaces/openstack/pods/galera-0:9200/proxy/writer']);
    expect(run.api.requests.filter((r) => r.url.includes('/secrets/') && !r.accept?.includes('as=PartialObjectMetadata'))).toEqual([]);
  }, 60_000);

  test('--plan refuses the unsafe transitions with the reason and the safe path: exit status 1', async () => {
    const next = day2Manifests('refused', {
      mariadbImage: 'docker.io/library/mariadb:10.11.9', clusterName: 'openstack-db', rabbitVersion: RabbitVersion.V4_1, cookieSecret: 'rabbitmq-cookie-2',
    });
    const run = await preflight(runningCluster({}), ['--plan'], next.dir);
    const refused = run.stdout.split('\n').filter((l) => l.startsWith('REFUSE'));
    expect(refused).toEqual([
      expect.stringMatching(/^REFUSE  version StatefulSet openstack\/galera: MariaDB 11\.4\.7 -> 10\.11\.9 is a downgrade of the release series: .*keep 11\.4/),
      expect.stringMatching(/^REFUSE  setting StatefulSet openstack\/galera wsrep_cluster_name: galera -> openstack-db: cluster-wide: members only join peers with the same cluster name.*"Day 2: changing a cluster-wide Galera setting"$/),
      expect.stringMatching(/^REFUSE  version DaemonSet openstack\/rabbitmq: RabbitMQ 3\.13 -> 4\.1 skips 4\.0: rolling upgrades do not skip release lines; upgrade 3\.13 -> 4\.0 -> 4\.1/),
      expect.stringMatching(/^REFUSE  credentials DaemonSet openstack\/rabbitmq erlang cookie: .*a roll would split the cluster/),
    ]);
    expect(run.stdout).toMatch(/, 4 refused; resolve every refused change before applying\n$/);
    expect(run.code).toBe(1);
  }, 60_000);

  test('with no kubeconfig anywhere, the error names every source tried and how to point at one', () => {
    const home = fs.mkdtempSync(path.join(dir, 'home-'));
    const r = spawnSync(process.execPath, [cli, '--manifests', manifests], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: home } });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`preflight: no kubeconfig found; tried --kubeconfig (not given), $KUBECONFIG (not set), ${home}/.kube/config `
      + '(no such file), the in-cluster service account (not in a pod: $KUBERNETES_SERVICE_HOST not set). Pass --kubeconfig <path>, '
      + 'set KUBECONFIG=<path>, or create ~/.kube/config (e.g. with your installer\'s admin kubeconfig)\n');
    expect(r.stderr).not.toMatch(/HTTP protocol/);
  });

});
