import {
  checkApiRules, checkDryRun, checkNamespaces, checkVersion, checkNodes, checkPlacement, checkSecrets, checkTaints, checkVips, exitCode, formatResult,
  runChecks, summary,
} from '../lib/cli/preflight/checks';
import { ApiRequest, takeSnapshot, warningTexts } from '../lib/cli/preflight/cluster';
import { manifestSecrets, parseManifests, pinnedVolumes, secretReferences, workloads } from '../lib/cli/preflight/manifests';
import { podSecurityNeed } from '../lib/cli/preflight/pod-security';
import { matchesNodeSelector } from '../lib/cli/preflight/scheduling';
import { inventoryFromManifests, parseTopology } from '../lib/cli/preflight/topology';
import { CheckResult, ClusterSnapshot, KubeObject, PodSpec } from '../lib/cli/preflight/types';
import {
  CONTROLLER_LABEL, INVENTORY, NAMESPACE, TOPOLOGY, clusterNode, healthySnapshot, preflightChart,
} from './support/fixtures';

const objects = preflightChart();
const pods = workloads(objects, NAMESPACE);
const healthyNodes = () => INVENTORY.map((n) => clusterNode(n.name, n.ip));
const lines = (results: CheckResult[]) => results.map(formatResult);
const only = (results: CheckResult[], check: string, subject: string) => {
  const found = results.filter((r) => r.check === check && r.subject === subject);
  expect(found).toHaveLength(1);
  return found[0];
};
const CONTROL_PLANE_TAINT = { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' };

/** A Deployment with one container, for pod-level rules. */
function deployment(name: string, pod: Partial<PodSpec>, namespace = NAMESPACE): KubeObject {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace },
    spec: { replicas: 1, template: { metadata: {}, spec: { containers: [{ name: 'app' }], ...pod } } },
  };
}

/** A container that meets Pod Security `restricted`. */
const RESTRICTED_CONTAINER = {
  name: 'app',
  securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
};

describe('the whole preflight', () => {
  test('every check passes against the cluster the manifests were made for', () => {
    const results = runChecks({ objects, topology: TOPOLOGY, defaultNamespace: NAMESPACE, snapshot: healthySnapshot(objects) });
    expect(results.filter((r) => r.status !== 'pass')).toEqual([]);
    expect([...new Set(results.map((r) => r.check))]).toEqual(['version', 'node', 'placement', 'taints', 'vip', 'namespace', 'secret', 'dry-run', 'api-rules']);
    expect(results.filter((r) => r.check === 'dry-run')).toHaveLength(objects.length);
    expect(lines(results)).toContain('PASS  node ctl-1: Ready, InternalIP 10.0.0.11, openstack-control-plane=enabled');
    expect(lines(results)).toContain('PASS  namespace openstack: enforces privileged; the pods need privileged (DaemonSet memcached: hostNetwork, hostPath volume warm-restart)');
    expect(summary(results)).toBe(`${results.length} checks: ${results.length} passed, 0 warnings, 0 failed`);
    expect(exitCode(results)).toBe(0);
  });

  test('without a topology, the inventory is the node names the manifests pin to, and VIPs are a warning', () => {
    const results = runChecks({ objects, topology: undefined, defaultNamespace: NAMESPACE, snapshot: healthySnapshot(objects) });
    expect(results.filter((r) => r.check === 'node').map((r) => r.subject)).toEqual(['ctl-1', 'ctl-2', 'ctl-3']);
    expect(lines(results)).toContain('PASS  node ctl-2: Ready, InternalIP 10.0.0.12 (no topology: not compared)');
    expect(lines(results)).toContain('WARN  vip: no --topology file: VIPs not checked');
    expect(exitCode(results)).toBe(0);
  });

  test('when nodes cannot be listed, one failure replaces the node-based checks and the others still run', () => {
    const snapshot: ClusterSnapshot = { ...healthySnapshot(objects), nodes: { state: 'error', message: 'HTTP 403: nodes is forbidden' } };
    const results = runChecks({ objects, topology: TOPOLOGY, defaultNamespace: NAMESPACE, snapshot });
    expect(lines(results)[1]).toBe('FAIL  node: cannot list nodes: HTTP 403: nodes is forbidden; node, placement, taint and VIP checks not run');
    expect(results.some((r) => r.check === 'placement' || r.check === 'taints' || r.check === 'vip')).toBe(false);
    expect(results.filter((r) => r.check === 'secret')).toHaveLength(4);
    expect(exitCode(results)).toBe(1);
  });

  test('one failure among passes gives exit status 1; warnings alone give 0', () => {
    const pass: CheckResult = { status: 'pass', check: 'x', subject: 'a', message: 'ok' };
    const warn: CheckResult = { ...pass, status: 'warn' };
    expect(exitCode([pass, warn])).toBe(0);
    expect(exitCode([pass, warn, { ...pass, status: 'fail' }])).toBe(1);
    expect(summary([pass, warn, { ...pass, status: 'fail' }])).toBe('3 checks: 1 passed, 1 warning, 1 failed');
  });
});

describe('node check', () => {
  const topologyNodes = TOPOLOGY.nodes;

  test('a node of the inventory that the cluster lacks fails', () => {
    const results = checkNodes(topologyNodes, healthyNodes().slice(0, 2), true);
    expect(lines(results)[2]).toBe("FAIL  node ctl-3: not found among the cluster's 2 nodes");
  });

  test('a node that is not Ready fails with the kubelet reason', () => {
    const nodes = [clusterNode('ctl-1', '10.0.0.11', { ready: false }), ...healthyNodes().slice(1)];
    expect(lines(checkNodes(topologyNodes, nodes, true))[0])
      .toBe('FAIL  node ctl-1: not Ready (KubeletNotReady: container runtime network not ready)');
  });

  test('an InternalIP other than the topology\'s fails', () => {
    const nodes = [clusterNode('ctl-1', '10.0.0.99'), ...healthyNodes().slice(1)];
    expect(lines(checkNodes(topologyNodes, nodes, true))[0]).toBe('FAIL  node ctl-1: InternalIP is 10.0.0.99, the topology says 10.0.0.11');
  });

  test('IPv6 addresses compare in canonical form', () => {
    const results = checkNodes([{ name: 'v6', ip: 'fd00:0:0::11' }], [clusterNode('v6', 'fd00::11')], true);
    expect(results[0]).toMatchObject({ status: 'pass', message: 'Ready, InternalIP fd00:0:0::11' });
  });

  test('a missing or different expected label fails with the command that fixes it', () => {
    const nodes = [
      clusterNode('ctl-1', '10.0.0.11', { labels: {} }),
      clusterNode('ctl-2', '10.0.0.12', { labels: { 'openstack-control-plane': 'no' } }),
      clusterNode('ctl-3', '10.0.0.13'),
    ];
    expect(lines(checkNodes(topologyNodes, nodes, true))).toEqual([
      'FAIL  node ctl-1: label openstack-control-plane=enabled missing; kubectl label node ctl-1 openstack-control-plane=enabled',
      'FAIL  node ctl-2: label openstack-control-plane=enabled missing (has openstack-control-plane=no); kubectl label node ctl-2 openstack-control-plane=enabled',
      'PASS  node ctl-3: Ready, InternalIP 10.0.0.13, openstack-control-plane=enabled',
    ]);
  });

  test('every problem of one node is on its line', () => {
    const nodes = [clusterNode('ctl-1', '10.0.0.99', { ready: false, labels: {} })];
    expect(checkNodes(topologyNodes.slice(0, 1), nodes, true)[0].message)
      .toBe('not Ready (KubeletNotReady: container runtime network not ready); InternalIP is 10.0.0.99, the topology says 10.0.0.11; '
        + 'label openstack-control-plane=enabled missing; kubectl label node ctl-1 openstack-control-plane=enabled');
  });

  test('a cordoned node is a warning', () => {
    const nodes = [clusterNode('ctl-1', '10.0.0.11', { unschedulable: true })];
    expect(lines(checkNodes(topologyNodes.slice(0, 1), nodes, true))[0])
      .toBe('WARN  node ctl-1: Ready, InternalIP 10.0.0.11, openstack-control-plane=enabled, but cordoned (kubectl uncordon ctl-1)');
  });

  test('no inventory at all is a warning', () => {
    expect(lines(checkNodes([], healthyNodes(), false))).toEqual(['WARN  node: no --topology file and no workload pinned to node names: no node to check']);
  });

  test('the inventory read from the manifests is the pinned node names', () => {
    expect(inventoryFromManifests(pods)).toEqual([{ name: 'ctl-1' }, { name: 'ctl-2' }, { name: 'ctl-3' }]);
  });
});

describe('placement check', () => {
  const volumes = pinnedVolumes(objects);

  test('nodes without the placement label leave the DaemonSet nowhere to run', () => {
    const nodes = INVENTORY.map((n) => clusterNode(n.name, n.ip, { labels: { 'kubernetes.io/hostname': n.name } }));
    expect(only(checkPlacement(pods, volumes, nodes), 'placement', 'DaemonSet memcached')).toMatchObject({
      status: 'fail', message: 'no node matches openstack-control-plane In enabled; a DaemonSet needs at least one',
    });
  });

  test('a StatefulSet spread one per node fails with fewer matching nodes than replicas', () => {
    const results = checkPlacement(pods, volumes, healthyNodes().slice(0, 2));
    expect(formatResult(only(results, 'placement', 'StatefulSet galera')))
      .toBe('FAIL  placement StatefulSet galera: only ctl-1, ctl-2 match metadata.name In ctl-1,ctl-2,ctl-3; 3 replicas need 3 (one per node)');
  });

  test('a local volume whose node affinity matches no node fails (hostname label differs from the node name)', () => {
    const nodes = [clusterNode('ctl-1', '10.0.0.11', { labels: { 'kubernetes.io/hostname': 'ctl-1.example.org', ...CONTROLLER_LABEL } }), ...healthyNodes().slice(1)];
    expect(formatResult(only(checkPlacement(pods, volumes, nodes), 'placement', 'PersistentVolume openstack-galera-data-0')))
      .toBe('FAIL  placement PersistentVolume openstack-galera-data-0: no node matches its node affinity kubernetes.io/hostname In ctl-1; its pod could never be scheduled');
  });

  test('a single-replica workload needs one node; a workload without node selection is not checked', () => {
    const one = workloads([deployment('one', { nodeSelector: { role: 'x' } }), deployment('free', {})], NAMESPACE);
    const nodes = [clusterNode('a', '10.1.0.1', { labels: { role: 'x' } })];
    expect(lines(checkPlacement(one, [], nodes))).toEqual(['PASS  placement Deployment one: can run on a (1 replica)']);
  });
});

describe('node selector rules', () => {
  const node = { name: 'n1', labels: { zone: 'a', cores: '16', ssd: 'true' } };
  test.each<[string, object, boolean]>([
    ['In', { key: 'zone', operator: 'In', values: ['a', 'b'] }, true],
    ['In, other value', { key: 'zone', operator: 'In', values: ['b'] }, false],
    ['NotIn', { key: 'zone', operator: 'NotIn', values: ['b'] }, true],
    ['NotIn, own value', { key: 'zone', operator: 'NotIn', values: ['a'] }, false],
    ['NotIn, label absent', { key: 'rack', operator: 'NotIn', values: ['r1'] }, true],
    ['Exists', { key: 'ssd', operator: 'Exists' }, true],
    ['DoesNotExist', { key: 'ssd', operator: 'DoesNotExist' }, false],
    ['Gt', { key: 'cores', operator: 'Gt', values: ['8'] }, true],
    ['Lt', { key: 'cores', operator: 'Lt', values: ['8'] }, false],
  ])('%s', (_title, requirement, matches) => {
    expect(matchesNodeSelector({ nodeSelectorTerms: [{ matchExpressions: [requirement as any] }] }, node)).toBe(matches);
  });

  test('terms are ORed, requirements ANDed, matchFields see the name, an empty term matches nothing', () => {
    const byName = { key: 'metadata.name', operator: 'In', values: ['n1'] };
    const wrongZone = { key: 'zone', operator: 'In', values: ['b'] };
    expect(matchesNodeSelector({ nodeSelectorTerms: [{ matchExpressions: [wrongZone] }, { matchFields: [byName] }] }, node)).toBe(true);
    expect(matchesNodeSelector({ nodeSelectorTerms: [{ matchExpressions: [wrongZone], matchFields: [byName] }] }, node)).toBe(false);
    expect(matchesNodeSelector({ nodeSelectorTerms: [{}] }, node)).toBe(false);
  });
});

describe('taint check', () => {
  test('the control-plane taint on an inventory node fails for every workload that must run there', () => {
    const nodes = [clusterNode('ctl-1', '10.0.0.11', { taints: [CONTROL_PLANE_TAINT] }), ...healthyNodes().slice(1)];
    expect(lines(checkTaints(pods, nodes, TOPOLOGY.nodes))).toEqual([
      'FAIL  taints DaemonSet memcached: ctl-1 has node-role.kubernetes.io/control-plane:NoSchedule, not tolerated; add a toleration to the workload or remove the taint',
      'FAIL  taints StatefulSet galera: ctl-1 has node-role.kubernetes.io/control-plane:NoSchedule, not tolerated; add a toleration to the workload or remove the taint',
    ]);
  });

  test('a placement that tolerates the control plane passes on a tainted control-plane node', () => {
    const tolerant = workloads([deployment('api', {
      nodeSelector: { role: 'x' }, tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
    })], NAMESPACE);
    const nodes = [clusterNode('a', '10.1.0.1', { labels: { role: 'x' }, taints: [CONTROL_PLANE_TAINT] })];
    expect(lines(checkTaints(tolerant, nodes, []))).toEqual(['PASS  taints Deployment api: no untolerated taint on a']);
  });

  test('a value-matching toleration must match the value; PreferNoSchedule never blocks', () => {
    const tolerant = workloads([deployment('api', {
      nodeSelector: { role: 'x' }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }],
    })], NAMESPACE);
    const nodes = [
      clusterNode('a', '10.1.0.1', { labels: { role: 'x' }, taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }, { key: 'soft', effect: 'PreferNoSchedule' }] }),
      clusterNode('b', '10.1.0.2', { labels: { role: 'x' }, taints: [{ key: 'dedicated', value: 'web', effect: 'NoSchedule' }] }),
    ];
    expect(checkTaints(tolerant, nodes, [])[0].message).toBe('b has dedicated=web:NoSchedule, not tolerated; its pods avoid that node (1 other left; 1 replica needs at least one)');
  });

  test('a replicated workload is warned while enough untainted nodes are left, and fails when too few are', () => {
    const spread = (name: string) => {
      const d = deployment(name, { nodeSelector: { role: 'x' }, affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname' }] } } });
      return { ...d, spec: { ...(d.spec as object), replicas: 3 } };
    };
    const nodes = (tainted: string[]) => ['a', 'b', 'c', 'd'].map((n, i) =>
      clusterNode(n, `10.1.0.${i + 1}`, { labels: { role: 'x' }, taints: tainted.includes(n) ? [CONTROL_PLANE_TAINT] : [] }));
    const three = workloads([spread('api')], NAMESPACE);
    expect(lines(checkTaints(three, nodes(['d']), []))).toEqual([
      'WARN  taints Deployment api: d has node-role.kubernetes.io/control-plane:NoSchedule, not tolerated; its pods avoid that node (3 others left; 3 replicas need 3 (one per node))',
    ]);
    expect(checkTaints(three, nodes(['c', 'd']), [])[0]).toMatchObject({
      status: 'fail', message: 'c has node-role.kubernetes.io/control-plane:NoSchedule; d has node-role.kubernetes.io/control-plane:NoSchedule, not tolerated; add a toleration to the workload or remove the taint',
    });
  });

  test('a DaemonSet tolerates what its controller adds (cordon, pressure, network-unavailable for host network); a StatefulSet does not', () => {
    const taints = [
      { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/memory-pressure', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/network-unavailable', effect: 'NoSchedule' },
    ];
    const nodes = [clusterNode('ctl-1', '10.0.0.11', { taints }), ...healthyNodes().slice(1)];
    const results = checkTaints(pods, nodes, TOPOLOGY.nodes);
    expect(only(results, 'taints', 'DaemonSet memcached').status).toBe('pass');
    expect(only(results, 'taints', 'StatefulSet galera').message).toBe(
      'ctl-1 has node.kubernetes.io/unschedulable:NoSchedule, node.kubernetes.io/memory-pressure:NoSchedule, node.kubernetes.io/network-unavailable:NoSchedule, not tolerated; add a toleration to the workload or remove the taint');
  });

  test('an inventory node that still lacks its label is checked too (the workload must run there once labelled)', () => {
    const nodes = [clusterNode('ctl-1', '10.0.0.11', { labels: {}, taints: [CONTROL_PLANE_TAINT] }), ...healthyNodes().slice(1)];
    expect(only(checkTaints(pods, nodes, TOPOLOGY.nodes), 'taints', 'DaemonSet memcached').message).toMatch(/^ctl-1 has node-role/);
  });
});

describe('Pod Security level the pods need', () => {
  const need = (pod: Partial<PodSpec>, annotations?: Record<string, string>) =>
    podSecurityNeed({ containers: [RESTRICTED_CONTAINER], ...pod }, { name: 'p', annotations });

  test('the synthesized workloads: memcached on the host network needs privileged; Galera meets restricted', () => {
    const byId = Object.fromEntries(pods.map((w) => [w.id, podSecurityNeed(w.pod, w.podMeta)]));
    expect(byId['DaemonSet memcached']).toEqual({ level: 'privileged', reasons: ['hostNetwork', 'hostPath volume warm-restart'] });
    expect(byId['StatefulSet galera']).toEqual({ level: 'restricted', reasons: [] });
  });

  test.each<[string, Partial<PodSpec>, string]>([
    ['host PID', { hostPID: true }, 'hostPID'],
    ['a hostPath volume', { volumes: [{ name: 'data', hostPath: { path: '/srv' } }] }, 'hostPath volume data'],
    ['NET_ADMIN', { containers: [{ ...RESTRICTED_CONTAINER, securityContext: { ...RESTRICTED_CONTAINER.securityContext, capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] } } }] }, 'container app adds NET_ADMIN, NET_RAW'],
    ['a privileged container', { containers: [{ name: 'c', securityContext: { privileged: true } }] }, 'container c privileged'],
    ['a host port', { containers: [{ ...RESTRICTED_CONTAINER, ports: [{ containerPort: 80, hostPort: 80 }] }] }, 'container app hostPort 80'],
    ['an unsafe sysctl', { securityContext: { sysctls: [{ name: 'net.core.somaxconn', value: '4096' }] } }, 'pod sysctls net.core.somaxconn'],
    ['seccomp Unconfined', { securityContext: { seccompProfile: { type: 'Unconfined' } } }, 'pod seccomp Unconfined'],
  ])('%s needs privileged', (_title, pod, reason) => {
    expect(need(pod)).toEqual({ level: 'privileged', reasons: [reason] });
  });

  test('an unconfined AppArmor annotation needs privileged', () => {
    expect(need({}, { 'container.apparmor.security.beta.kubernetes.io/app': 'unconfined' }))
      .toEqual({ level: 'privileged', reasons: ['container app AppArmor unconfined'] });
  });

  test.each<[string, Partial<PodSpec>, string[]]>([
    ['root (runAsUser 0), which baseline allows', { securityContext: { runAsUser: 0 }, containers: [{ ...RESTRICTED_CONTAINER, securityContext: { ...RESTRICTED_CONTAINER.securityContext, runAsNonRoot: undefined } }] },
      ['pod runAsUser 0', 'container app runAsNonRoot not true']],
    ['CHOWN, in the runtime default set', { containers: [{ ...RESTRICTED_CONTAINER, securityContext: { ...RESTRICTED_CONTAINER.securityContext, capabilities: { drop: ['ALL'], add: ['CHOWN'] } } }] },
      ['container app adds CHOWN']],
    ['a container with no security context', { containers: [{ name: 'bare' }] },
      ['container bare allowPrivilegeEscalation not false', 'container bare runAsNonRoot not true', 'container bare seccomp not RuntimeDefault or Localhost', 'container bare does not drop ALL capabilities']],
    ['an NFS volume', { volumes: [{ name: 'share', nfs: { server: 'nas', path: '/' } }] }, ['nfs volume share']],
  ])('%s needs baseline', (_title, pod, reasons) => {
    expect(need(pod)).toEqual({ level: 'baseline', reasons });
  });

  test('NET_BIND_SERVICE, pod-level seccomp and runAsNonRoot keep restricted', () => {
    const container = { name: 'app', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } } };
    expect(need({ containers: [container], securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } }))
      .toEqual({ level: 'restricted', reasons: [] });
  });
});

describe('namespace check', () => {
  const enforcing = (level: string) => ({ [NAMESPACE]: { state: 'found' as const, value: { name: NAMESPACE, labels: { 'pod-security.kubernetes.io/enforce': level } } } });

  test('a namespace that does not exist fails and says which label to create it with', () => {
    expect(lines(checkNamespaces(objects, pods, NAMESPACE, { [NAMESPACE]: { state: 'absent' } }))).toEqual([
      'FAIL  namespace openstack: does not exist; create it labelled pod-security.kubernetes.io/enforce=privileged: the pods need privileged (DaemonSet memcached: hostNetwork, hostPath volume warm-restart)',
    ]);
  });

  test('enforcing baseline fails for host-network pods', () => {
    expect(lines(checkNamespaces(objects, pods, NAMESPACE, enforcing('baseline')))).toEqual([
      'FAIL  namespace openstack: enforces baseline, but the pods need privileged (DaemonSet memcached: hostNetwork, hostPath volume warm-restart); label it pod-security.kubernetes.io/enforce=privileged',
    ]);
  });

  test('restricted pods pass under restricted, and under any level', () => {
    const galeraOnly = objects.filter((o) => !(o.metadata.name === 'memcached'));
    const galeraPods = workloads(galeraOnly, NAMESPACE);
    expect(lines(checkNamespaces(galeraOnly, galeraPods, NAMESPACE, enforcing('restricted'))))
      .toEqual(['PASS  namespace openstack: enforces restricted; the pods need restricted']);
    expect(checkNamespaces(galeraOnly, galeraPods, NAMESPACE, { [NAMESPACE]: { state: 'found', value: { name: NAMESPACE } } })[0].status).toBe('pass');
  });

  test('no enforce label is a warning when the pods need more than restricted', () => {
    const result = checkNamespaces(objects, pods, NAMESPACE, { [NAMESPACE]: { state: 'found', value: { name: NAMESPACE } } })[0];
    expect(result.status).toBe('warn');
    expect(result.message).toMatch(/^has no pod-security.kubernetes.io\/enforce label, so the cluster's default level applies/);
  });

  test('an unknown level and an unreadable namespace fail', () => {
    expect(checkNamespaces(objects, pods, NAMESPACE, enforcing('strict'))[0].message)
      .toBe('pod-security.kubernetes.io/enforce=strict is not one of restricted, baseline, privileged');
    expect(lines(checkNamespaces(objects, pods, NAMESPACE, { [NAMESPACE]: { state: 'error', message: 'HTTP 403: forbidden' } })))
      .toEqual(['FAIL  namespace openstack: cannot read it: HTTP 403: forbidden']);
  });

  test('a namespace the manifests create is judged by its labels in the manifests', () => {
    const ns: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, labels: { 'pod-security.kubernetes.io/enforce': 'baseline' } } };
    expect(lines(checkNamespaces([ns, ...objects], pods, NAMESPACE, { [NAMESPACE]: { state: 'absent' } }))).toEqual([
      'FAIL  namespace openstack: enforces baseline (created by the manifests), but the pods need privileged (DaemonSet memcached: hostNetwork, hostPath volume warm-restart); label it pod-security.kubernetes.io/enforce=privileged',
    ]);
  });

  test('each namespace is judged by its own pods', () => {
    const mixed = [deployment('web', { containers: [RESTRICTED_CONTAINER], securityContext: { runAsNonRoot: true } }, 'apps'), ...objects];
    const results = checkNamespaces(mixed, workloads(mixed, NAMESPACE), NAMESPACE, { ...enforcing('privileged'), apps: { state: 'found', value: { name: 'apps', labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } } });
    expect(lines(results)).toEqual([
      'PASS  namespace apps: enforces restricted; the pods need restricted',
      'PASS  namespace openstack: enforces privileged; the pods need privileged (DaemonSet memcached: hostNetwork, hostPath volume warm-restart)',
    ]);
  });
});

describe('VIP check', () => {
  test('a VIP that is a node address fails, naming the node', () => {
    const topology = { ...TOPOLOGY, vips: [{ address: '10.0.0.12' }, { address: '10.0.0.10', interface: 'bond0' }] };
    expect(lines(checkVips(topology, healthyNodes()))).toEqual([
      "FAIL  vip 10.0.0.12: is already node ctl-2's InternalIP, topology node ctl-2's ip; a VIP must be a free address",
      "PASS  vip 10.0.0.10: is no node's address (on bond0)",
    ]);
  });

  test('any node of the cluster counts, not only the inventory, and IPv6 compares canonically', () => {
    const nodes = [...healthyNodes(), clusterNode('compute-1', 'fd00::21')];
    const topology = { ...TOPOLOGY, vips: [{ address: 'fd00:0::21' }] };
    expect(checkVips(topology, nodes)[0].message).toBe("is already node compute-1's InternalIP; a VIP must be a free address");
  });
});

describe('Secret check', () => {
  const refs = secretReferences(pods);
  const present = (over: Record<string, unknown> = {}) => ({ ...healthySnapshot(objects).secrets, ...over }) as ClusterSnapshot['secrets'];

  test('references come from env, envFrom, secret and projected volumes and image pull secrets', () => {
    const pod: Partial<PodSpec> = {
      containers: [{ name: 'c', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's1', key: 'k1' } } }], envFrom: [{ secretRef: { name: 's2', optional: true } }] }],
      volumes: [
        { name: 'v', secret: { secretName: 's3', items: [{ key: 'k3' }] } },
        { name: 'p', projected: { sources: [{ secret: { name: 's4' } }] } },
      ],
      imagePullSecrets: [{ name: 'registry' }],
    };
    expect(secretReferences(workloads([deployment('d', pod)], NAMESPACE))).toEqual([
      { namespace: NAMESPACE, name: 's1', key: 'k1', optional: false, from: 'Deployment d env A' },
      { namespace: NAMESPACE, name: 's2', key: undefined, optional: true, from: 'Deployment d container c envFrom' },
      { namespace: NAMESPACE, name: 's3', key: 'k3', optional: false, from: 'Deployment d volume v' },
      { namespace: NAMESPACE, name: 's4', key: undefined, optional: false, from: 'Deployment d volume p' },
      { namespace: NAMESPACE, name: 'registry', key: undefined, optional: false, from: 'Deployment d imagePullSecrets' },
    ]);
  });

  test('a missing Secret fails, naming what references it', () => {
    const results = checkSecrets(refs, new Map(), present({ 'openstack/galera-sst': { state: 'absent' } }));
    expect(formatResult(only(results, 'secret', 'openstack/galera-sst'))).toBe('FAIL  secret openstack/galera-sst: does not exist; referenced by StatefulSet galera volume credentials file GALERA_SST_PASSWORD');
    expect(results.filter((r) => r.status === 'pass')).toHaveLength(3);
  });

  test('a Secret without the referenced key fails', () => {
    const results = checkSecrets(refs, new Map(), present({ 'openstack/nova-db': { state: 'found', value: ['pass'] } }));
    expect(formatResult(only(results, 'secret', 'openstack/nova-db'))).toBe('FAIL  secret openstack/nova-db: has no key password; referenced by StatefulSet galera volume credentials file GALERA_PASSWORD_NOVA');
  });

  test('optional references only warn', () => {
    const optional = [{ namespace: NAMESPACE, name: 'extra', key: 'k', optional: true, from: 'Deployment d env X' }];
    expect(lines(checkSecrets(optional, new Map(), {}))).toEqual(['WARN  secret openstack/extra: does not exist; every reference is optional (Deployment d env X)']);
    expect(lines(checkSecrets(optional, new Map(), { 'openstack/extra': { state: 'found', value: [] } })))
      .toEqual(['WARN  secret openstack/extra: has no key k; the references are optional (Deployment d env X)']);
  });

  test('a Secret the manifests create counts, with its keys', () => {
    const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'nova-db', namespace: NAMESPACE }, stringData: { password: 'x' } };
    const created = manifestSecrets([secret], NAMESPACE);
    expect(lines(checkSecrets(refs, created, present({ 'openstack/nova-db': { state: 'absent' } })))).toContain('PASS  secret openstack/nova-db: has key password (created by the manifests)');
  });

  test('an unreadable Secret fails with the API message', () => {
    expect(only(checkSecrets(refs, new Map(), present({ 'openstack/galera-root': { state: 'error', message: 'HTTP 403: secrets "galera-root" is forbidden' } })), 'secret', 'openstack/galera-root').message)
      .toBe('cannot read it: HTTP 403: secrets "galera-root" is forbidden');
  });
});

describe('version check', () => {
  test('a server below the minimum supported version fails and says what it would drop', () => {
    expect(formatResult(checkVersion({ state: 'found', value: 'v1.26.15' }))).toBe('FAIL  version v1.26.15: is older than Kubernetes 1.27, the oldest this library supports: '
      + 'the API server would drop fields the manifests rely on (StatefulSet persistentVolumeClaimRetentionPolicy) without an error; upgrade the cluster to 1.27 or newer');
  });
  test('the supported range passes, a newer server is a warning, an unreadable version a warning', () => {
    expect(formatResult(checkVersion({ state: 'found', value: 'v1.27.0' }))).toBe('PASS  version v1.27.0: supported: Kubernetes 1.27 to 1.33');
    expect(formatResult(checkVersion({ state: 'found', value: 'v1.33.1+k3s1' }))).toBe('PASS  version v1.33.1+k3s1: supported: Kubernetes 1.27 to 1.33');
    expect(checkVersion({ state: 'found', value: 'v1.34.0' }).status).toBe('warn');
    expect(formatResult(checkVersion({ state: 'error', message: 'HTTP 403: forbidden' }))).toBe('WARN  version: cannot read the server version (HTTP 403: forbidden); not checked (supported: Kubernetes 1.27 to 1.33)');
  });
});

describe('api-rules check (controller semantics the dry run cannot show)', () => {
  test('the synthesized chart passes', () => {
    expect(lines(checkApiRules(objects, 'v1.33.1'))).toEqual([`PASS  api-rules: ${objects.length} objects: no controller or version problem (Kubernetes 1.33.1)`]);
  });
  test('a PDB with maxUnavailable over DaemonSet pods fails: the disruption controller would refuse every eviction', () => {
    const broken = objects.map((o) => (o.kind === 'PodDisruptionBudget' && o.metadata.name === 'memcached'
      ? { ...o, spec: { selector: (o.spec as any).selector, maxUnavailable: 1 } } : o));
    expect(lines(checkApiRules(broken, 'v1.33.1'))).toEqual([
      'FAIL  api-rules PodDisruptionBudget/memcached: spec: selects the pods of DaemonSet memcached, which has no scale subresource: the disruption controller cannot compute maxUnavailable (SyncFailed, disruptionsAllowed 0) and refuses every eviction; use an integer minAvailable, e.g. the node count minus 1',
    ]);
  });
  test('a field newer than the server fails against that server only', () => {
    const withSidecar = objects.map((o) => (o.kind === 'StatefulSet'
      ? { ...o, spec: { ...(o.spec as any), template: { ...(o.spec as any).template, spec: { ...(o.spec as any).template.spec, initContainers: [{ name: 's', image: 'i', restartPolicy: 'Always' }] } } } } : o));
    expect(checkApiRules(withSidecar, 'v1.28.3').map((r) => r.message)).toEqual([
      expect.stringMatching(/initContainers\[\]\.restartPolicy: needs Kubernetes 1.29 \(SidecarContainers\), but these objects must work on Kubernetes 1.28.3, which drops it/),
    ]);
    expect(checkApiRules(withSidecar, 'v1.29.0')[0].status).toBe('pass');
  });
});

describe('dry-run check', () => {
  test('the API server\'s refusal is printed as it said it', () => {
    const outcomes = healthySnapshot(objects).dryRuns.map((d) => (d.object === 'StatefulSet openstack/galera'
      ? { ...d, ok: false, message: 'HTTP 422: StatefulSet.apps "galera" is invalid: spec: Forbidden: updates to statefulset spec for fields other than \'replicas\' are forbidden' }
      : d));
    const results = checkDryRun(objects, NAMESPACE, outcomes);
    expect(results.filter((r) => r.status === 'fail').map(formatResult)).toEqual([
      'FAIL  dry-run StatefulSet openstack/galera: HTTP 422: StatefulSet.apps "galera" is invalid: spec: Forbidden: updates to statefulset spec for fields other than \'replicas\' are forbidden',
    ]);
  });

  test('an object accepted with warnings (Pod Security warn level, deprecations) is a warning that quotes them', () => {
    const cm = objects.find((o) => o.kind === 'ConfigMap')!;
    const results = checkDryRun([cm], NAMESPACE, [{ object: 'ConfigMap openstack/galera-config', ok: true, warnings: ['first', 'second'] }]);
    expect(lines(results)).toEqual(['WARN  dry-run ConfigMap openstack/galera-config: accepted, with warnings: first; second']);
  });

  test('Warning headers are read one by one and unquoted', () => {
    expect(warningTexts([
      'Content-Type', 'application/json',
      'Warning', '299 - "would violate PodSecurity \\"restricted:latest\\": host namespaces (hostNetwork=true)"',
      'warning', '299 - "policy/v1beta1 PodDisruptionBudget is deprecated"',
      'Warning', 'not in the RFC format',
    ])).toEqual([
      'would violate PodSecurity "restricted:latest": host namespaces (hostNetwork=true)',
      'policy/v1beta1 PodDisruptionBudget is deprecated',
      'not in the RFC format',
    ]);
  });

  test('an object without an outcome fails as not tried', () => {
    expect(checkDryRun(objects.slice(0, 1), NAMESPACE, [])[0]).toMatchObject({ status: 'fail', message: 'not tried' });
  });

  test('objects in a namespace the manifests create only warn when that namespace is missing', () => {
    const ns: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } };
    const cm = objects.find((o) => o.kind === 'ConfigMap')!;
    const results = checkDryRun([ns, cm], NAMESPACE, [
      { object: 'Namespace openstack', ok: true },
      { object: `ConfigMap openstack/${cm.metadata.name}`, ok: false, message: 'HTTP 404: namespaces "openstack" not found' },
    ]);
    expect(lines(results)).toEqual([
      'PASS  dry-run Namespace openstack: accepted',
      'WARN  dry-run ConfigMap openstack/galera-config: not checked: namespace openstack is created by these manifests and does not exist yet',
    ]);
  });
});

describe('reading the manifests and the topology', () => {
  test('every document of a file, empty ones skipped', () => {
    const text = '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n';
    expect(parseManifests(text, 'x.yaml').map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['ConfigMap/a', 'Secret/b']);
  });

  test('a document that is not a Kubernetes object is an error naming the file and document', () => {
    expect(() => parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nfoo: bar\n', 'm.yaml'))
      .toThrow('m.yaml: document 2 is not a Kubernetes object with apiVersion, kind and metadata.name');
    expect(() => parseManifests('a: [', 'bad.yaml')).toThrow(/^bad.yaml: document 1: /);
  });

  test('a valid topology', () => {
    expect(parseTopology(JSON.stringify(TOPOLOGY), 't.json')).toEqual(TOPOLOGY);
    expect(parseTopology('{"nodes": [{"name": "n1", "ip": "10.0.0.1"}]}', 't.json')).toEqual({ namespace: undefined, nodes: [{ name: 'n1', ip: '10.0.0.1' }], vips: [] });
  });

  test('a bad topology lists every problem at once', () => {
    const bad = { namespace: 'Open_Stack', nodes: [{ name: 'ctl-1', ip: '10.0.0.1' }, { name: 'ctl-1', ip: '10.0.0.300', labels: { a: 1 } }], vips: [{ address: '10.0.0.10/24' }] };
    expect(() => parseTopology(JSON.stringify(bad), 't.json')).toThrow([
      'topology file t.json has invalid props:',
      '- namespace: "Open_Stack" is not a namespace name; use a DNS-1123 label such as "openstack"',
      '- nodes[1].ip: "10.0.0.300" is not an IP address; use the node\'s InternalIP, e.g. "10.0.0.11"',
      '- nodes[1].labels: {"a":1} must map label keys to string values, e.g. {"openstack-control-plane": "enabled"}',
      '- vips[0].address: "10.0.0.10/24" is not an IP address; give the bare address, e.g. "10.0.0.10" (no prefix length)',
      '- nodes: "ctl-1" is listed more than once; list each node once',
    ].join('\n'));
    expect(() => parseTopology('[1]', 't.json')).toThrow(/must be an object with "nodes"/);
    expect(() => parseTopology('{', 't.json')).toThrow(/^t.json is not JSON/);
  });
});

describe('taking the snapshot', () => {
  /** A scripted API: answers by method and path, records every request. */
  function fakeApi(routes: Record<string, { status: number; body: unknown; warnings?: string[] }>) {
    const requests: { method: string; path: string; contentType?: string; text?: string }[] = [];
    const request: ApiRequest = async (method, path, body) => {
      requests.push({ method, path, contentType: body?.contentType, text: body?.text });
      const bare = path.split('?')[0];
      const route = routes[`${method} ${path}`] ?? routes[`${method} ${bare}`];
      return route ?? { status: 404, body: { kind: 'Status', message: `${bare} not found` } };
    };
    return { request, requests };
  }
  const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'ns' }, data: { a: 'b' } };
  const pv: KubeObject = { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv' } };
  const app = deployment('app', { containers: [{ name: 'c', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }] }, 'ns');
  const core = { status: 200, body: { resources: [{ name: 'configmaps', kind: 'ConfigMap', namespaced: true }, { name: 'persistentvolumes', kind: 'PersistentVolume', namespaced: false }, { name: 'pods/status', kind: 'Pod', namespaced: true }] } };

  test('nodes across pages, the namespace, Secrets reduced to key names, and one dry-run apply per object', async () => {
    const api = fakeApi({
      'GET /version': { status: 200, body: { major: '1', minor: '30', gitVersion: 'v1.30.4' } },
      'GET /api/v1/nodes?limit=500': { status: 200, body: { items: [clusterNode('a', '10.1.0.1')], metadata: { continue: 'page 2' } } },
      'GET /api/v1/nodes?limit=500&continue=page%202': { status: 200, body: { items: [clusterNode('b', '10.1.0.2')], metadata: {} } },
      'GET /api/v1/namespaces/ns': { status: 200, body: { metadata: { name: 'ns', labels: { x: 'y' } } } },
      'GET /api/v1/namespaces/ns/secrets/db': { status: 200, body: { data: { password: 'c2VjcmV0', user: 'dXNlcg==' } } },
      'GET /api/v1': core,
      'GET /apis/apps/v1': { status: 200, body: { resources: [{ name: 'deployments', kind: 'Deployment', namespaced: true }] } },
      'PATCH /api/v1/namespaces/ns/configmaps/c': { status: 200, body: {} },
      'PATCH /api/v1/persistentvolumes/pv': { status: 422, body: { kind: 'Status', message: 'PersistentVolume "pv" is invalid: spec.capacity: Required value' } },
      'PATCH /apis/apps/v1/namespaces/ns/deployments/app': { status: 201, body: {}, warnings: ['would violate PodSecurity'] },
    });
    const snapshot = await takeSnapshot(api.request, [cm, pv, app], 'ns');
    expect(snapshot.version).toEqual({ state: 'found', value: 'v1.30.4' });
    expect(snapshot.nodes).toEqual({ state: 'found', value: [clusterNode('a', '10.1.0.1'), clusterNode('b', '10.1.0.2')] });
    expect(snapshot.namespaces).toEqual({ ns: { state: 'found', value: { name: 'ns', labels: { x: 'y' } } } });
    expect(snapshot.secrets).toEqual({ 'ns/db': { state: 'found', value: ['password', 'user'] } });
    expect(JSON.stringify(snapshot)).not.toContain('c2VjcmV0');
    expect(snapshot.dryRuns).toEqual([
      { object: 'ConfigMap ns/c', ok: true },
      { object: 'PersistentVolume pv', ok: false, message: 'HTTP 422: PersistentVolume "pv" is invalid: spec.capacity: Required value' },
      { object: 'Deployment ns/app', ok: true, warnings: ['would violate PodSecurity'] },
    ]);
    const writes = api.requests.filter((r) => r.method !== 'GET');
    expect(writes.map((r) => r.path)).toEqual([
      '/api/v1/namespaces/ns/configmaps/c?dryRun=All&fieldManager=openstack-ha-preflight&force=true&fieldValidation=Strict',
      '/api/v1/persistentvolumes/pv?dryRun=All&fieldManager=openstack-ha-preflight&force=true&fieldValidation=Strict',
      '/apis/apps/v1/namespaces/ns/deployments/app?dryRun=All&fieldManager=openstack-ha-preflight&force=true&fieldValidation=Strict',
    ]);
    expect(writes[0]).toMatchObject({ contentType: 'application/apply-patch+yaml', text: JSON.stringify(cm) });
    expect(api.requests.filter((r) => r.path === '/api/v1')).toHaveLength(1);
  });

  test('absent and forbidden lookups, and kinds or versions the server does not serve', async () => {
    const custom: KubeObject = { apiVersion: 'example.org/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'ns' } };
    const odd: KubeObject = { apiVersion: 'v1', kind: 'Gadget', metadata: { name: 'g', namespace: 'ns' } };
    const api = fakeApi({
      'GET /api/v1/nodes': { status: 403, body: { kind: 'Status', message: 'nodes is forbidden: User "dev" cannot list resource "nodes"' } },
      'GET /api/v1/namespaces/ns/secrets/db': { status: 403, body: 'Forbidden' },
      'GET /api/v1': core,
    });
    const snapshot = await takeSnapshot(api.request, [app, custom, odd], 'ns');
    expect(snapshot.nodes).toEqual({ state: 'error', message: 'HTTP 403: nodes is forbidden: User "dev" cannot list resource "nodes"' });
    expect(snapshot.namespaces).toEqual({ ns: { state: 'absent' } });
    expect(snapshot.secrets).toEqual({ 'ns/db': { state: 'error', message: 'HTTP 403: Forbidden' } });
    expect(snapshot.dryRuns).toEqual([
      { object: 'Deployment ns/app', ok: false, message: 'the server does not serve apps/v1 (HTTP 404: /apis/apps/v1 not found)' },
      { object: 'Widget ns/w', ok: false, message: 'the server does not serve example.org/v1 (HTTP 404: /apis/example.org/v1 not found)' },
      { object: 'Gadget ns/g', ok: false, message: 'the server has no kind Gadget in v1' },
    ]);
  });
});
