/**
 * The topology file: what the manifests assume about the cluster that the API cannot be asked for (which nodes
 * are meant to run the layer and at which addresses, which virtual IPs keepalived will hold). JSON:
 *
 *   {
 *     "namespace": "openstack",
 *     "nodes": [{ "name": "ctl-1", "ip": "10.0.0.11", "labels": { "openstack-control-plane": "enabled" } }],
 *     "vips": [{ "address": "10.0.0.10", "interface": "bond0" }]
 *   }
 *
 * Without a topology file, the inventory is the node names the manifests pin workloads to (no addresses to
 * compare, no VIPs to check).
 */
import { Validator, duplicates, isDns1123Subdomain, isIpAddress } from '../../common/validation';
import { Workload } from './manifests';
import { Topology, TopologyNode } from './types';

/** Parses and validates a topology file; throws one error listing every problem. */
export function parseTopology(text: string, source: string): Topology {
  let raw: any;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source} is not JSON: ${(e as Error).message}`);
  }
  const v = new Validator(`topology file ${source}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    v.add('(top level)', raw, 'must be an object with "nodes", "vips" and optionally "namespace"');
    v.throwIfInvalid();
  }
  const nodes: unknown[] = Array.isArray(raw.nodes) ? raw.nodes : [];
  const vips: unknown[] = Array.isArray(raw.vips) ? raw.vips : [];
  v.check(!Array.isArray(raw.nodes), 'nodes', raw.nodes, 'must be a list of {name, ip, labels?}');
  v.check(raw.vips !== undefined && !Array.isArray(raw.vips), 'vips', raw.vips, 'must be a list of {address, interface?}');
  v.check(raw.namespace !== undefined && (typeof raw.namespace !== 'string' || !isDns1123Subdomain(raw.namespace)),
    'namespace', raw.namespace, 'is not a namespace name; use a DNS-1123 label such as "openstack"');
  nodes.forEach((n: any, i) => {
    v.check(typeof n?.name !== 'string' || !isDns1123Subdomain(n.name), `nodes[${i}].name`, n?.name,
      'is not a node name; use the node\'s metadata.name, e.g. "ctl-1"');
    v.check(typeof n?.ip !== 'string' || !isIpAddress(n.ip), `nodes[${i}].ip`, n?.ip,
      'is not an IP address; use the node\'s InternalIP, e.g. "10.0.0.11"');
    const labels = n?.labels;
    v.check(labels !== undefined && (typeof labels !== 'object' || labels === null || Array.isArray(labels)
      || Object.values(labels).some((l) => typeof l !== 'string')), `nodes[${i}].labels`, labels,
    'must map label keys to string values, e.g. {"openstack-control-plane": "enabled"}');
  });
  vips.forEach((vip: any, i) => {
    v.check(typeof vip?.address !== 'string' || !isIpAddress(vip.address), `vips[${i}].address`, vip?.address,
      'is not an IP address; give the bare address, e.g. "10.0.0.10" (no prefix length)');
    v.check(vip?.interface !== undefined && typeof vip.interface !== 'string', `vips[${i}].interface`, vip?.interface,
      'must be an interface name such as "bond0"');
  });
  const names = nodes.map((n: any) => n?.name).filter((n): n is string => typeof n === 'string');
  for (const name of duplicates(names)) v.add('nodes', name, 'is listed more than once; list each node once');
  const ips = nodes.map((n: any) => n?.ip).filter((ip): ip is string => typeof ip === 'string');
  for (const ip of duplicates(ips)) v.add('nodes', ip, 'is the IP of more than one node; each node needs its own address');
  const addresses = vips.map((x: any) => x?.address).filter((a): a is string => typeof a === 'string');
  for (const a of duplicates(addresses)) v.add('vips', a, 'is listed more than once; list each VIP once');
  v.throwIfInvalid();
  return {
    namespace: raw.namespace,
    nodes: nodes.map((n: any) => ({ name: n.name, ip: n.ip, ...(n.labels ? { labels: { ...n.labels } } : {}) })),
    vips: vips.map((x: any) => ({ address: x.address, ...(x.interface ? { interface: x.interface } : {}) })),
  };
}

/**
 * The nodes the manifests pin workloads to by name (`matchFields metadata.name In [name]`, one term per node), sorted: the inventory
 * when there is no topology file.
 */
export function inventoryFromManifests(workloadList: Workload[]): TopologyNode[] {
  const names = new Set<string>();
  for (const w of workloadList) {
    for (const term of w.pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) {
      for (const f of term.matchFields ?? []) {
        if (f.key === 'metadata.name' && f.operator === 'In') (f.values ?? []).forEach((n) => names.add(n));
      }
    }
  }
  return [...names].sort().map((name) => ({ name }));
}
