/**
 * The human-readable topology summary written beside the YAML: which pods land on which node, which VIP fronts
 * what, which ports are open where. Derived from the synthesized objects themselves (so it cannot drift from
 * them), rendered as Markdown with a Mermaid diagram. Pure: plain JSON in, text out.
 */

import { MEMBER_LABEL } from '../common/labels';

type Json = { [key: string]: any };

/** One workload as the summary shows it. */
export interface WorkloadSummary {
  readonly kind: string;
  readonly name: string;
  /** Nodes it may run on (from required node affinity by node name), or a label expression. */
  readonly nodes: readonly string[];
  readonly nodeLabel?: string;
  /** Members pinned to nodes, by ordinal (local PersistentVolumes): `galera-0` → `ctl-1`. */
  readonly pinned: Readonly<Record<string, string>>;
  readonly replicas: string;
  readonly hostNetwork: boolean;
  readonly ports: ReadonlyArray<{ readonly name: string; readonly port: number }>;
}

/** A Service as the summary shows it. */
export interface ServiceSummary {
  readonly name: string;
  readonly kind: string;
  readonly externalIps: readonly string[];
  readonly ports: ReadonlyArray<{ readonly name: string; readonly port: number }>;
  /** Workloads it selects. */
  readonly selects: readonly string[];
}

/** A virtual IP: where keepalived may hold it, and what listens on it. */
export interface VipSummary {
  readonly address: string;
  readonly interface: string;
  readonly nodes: readonly string[];
  /** What is reachable on it, e.g. `keystone 5000`. */
  readonly fronts: readonly string[];
  /** The host-network workloads that answer on it (the VIP follows their health). */
  readonly workloads: readonly string[];
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

function matches(selector: Json | undefined, labels: Json | undefined): boolean {
  return selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** Every workload of `objects`. */
export function summarizeWorkloads(objects: readonly Json[]): WorkloadSummary[] {
  const volumes = objects.filter((o) => o.kind === 'PersistentVolume');
  return objects.filter((o) => WORKLOADS.has(o.kind)).map((o) => {
    const spec = o.spec.template.spec;
    const terms: Json[] = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
    // One term per node name (a node field requirement takes one value), or one label term.
    const byName: string[] = terms.flatMap((t) => (t.matchFields ?? []).filter((f: Json) => f.key === 'metadata.name').flatMap((f: Json) => f.values ?? []));
    const byLabel = (terms[0]?.matchExpressions ?? [])[0];
    // A member's volume names its member (the label) and is selected by its workload's pod selector: no name is
    // parsed apart, and a volume of another workload never matches.
    const pinned: Record<string, string> = {};
    for (const pv of volumes) {
      const member: string | undefined = pv.metadata.labels?.[MEMBER_LABEL];
      if (o.kind === 'StatefulSet' && member !== undefined && matches(o.spec.selector?.matchLabels, pv.metadata.labels)) {
        pinned[member] = pv.spec.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.[0]?.values?.[0];
      }
    }
    const ports = (spec.containers as Json[]).flatMap((c) => (c.ports ?? []).map((p: Json) => ({ name: p.name ?? '', port: p.containerPort })));
    return {
      kind: o.kind,
      name: o.metadata.name,
      nodes: byName,
      ...(byLabel ? { nodeLabel: `${byLabel.key}=${(byLabel.values ?? []).join('|')}` } : {}),
      pinned,
      replicas: o.kind === 'DaemonSet' ? 'one per node' : String(o.spec.replicas ?? 1),
      hostNetwork: spec.hostNetwork === true,
      ports,
    };
  });
}

/** Every Service of `objects`, with the workloads it selects. */
export function summarizeServices(objects: readonly Json[]): ServiceSummary[] {
  const workloads = objects.filter((o) => WORKLOADS.has(o.kind));
  return objects.filter((o) => o.kind === 'Service').map((s) => ({
    name: s.metadata.name,
    kind: s.spec.clusterIP === 'None' ? 'headless' : (s.spec.type ?? 'ClusterIP'),
    externalIps: s.spec.externalIPs ?? [],
    ports: (s.spec.ports ?? []).map((p: Json) => ({ name: p.name ?? '', port: p.port })),
    selects: workloads.filter((w) => matches(s.spec.selector, w.spec.template.metadata?.labels)).map((w) => `${w.kind} ${w.metadata.name}`),
  }));
}

export interface TopologyInput {
  readonly title: string;
  readonly namespace: string;
  readonly nodes: ReadonlyArray<{ readonly name: string; readonly ip: string }>;
  readonly objects: readonly Json[];
  readonly vips: readonly VipSummary[];
}

/** Renders the summary. Same input, same bytes. */
export function renderTopologyMarkdown(t: TopologyInput): string {
  const workloads = summarizeWorkloads(t.objects);
  const services = summarizeServices(t.objects);
  const lines: string[] = [`# ${t.title}`, '', `Namespace \`${t.namespace}\`. Generated by cdk8s-openstack-ha at synth: do not edit.`, ''];

  lines.push('## Pods per node', '');
  lines.push(`| node | IP | ${workloads.map((w) => w.name).join(' | ')} |`, `|---|---|${workloads.map(() => '---').join('|')}|`);
  for (const node of t.nodes) {
    const cells = workloads.map((w) => {
      const member = Object.entries(w.pinned).find(([, n]) => n === node.name)?.[0];
      if (member) return member;
      if (!w.nodes.includes(node.name)) return '';
      return w.kind === 'DaemonSet' ? 'yes' : 'may run';
    });
    lines.push(`| ${node.name} | ${node.ip} | ${cells.join(' | ')} |`);
  }
  lines.push('');

  lines.push('## Workloads and their ports', '', '| workload | pods | network | ports |', '|---|---|---|---|');
  for (const w of workloads) {
    const ports = w.ports.map(portLabel).join(', ');
    lines.push(`| ${w.kind} ${w.name} | ${w.replicas} | ${w.hostNetwork ? 'host (node IP)' : 'pod'} | ${ports} |`);
  }
  lines.push('');

  lines.push('## Services', '', '| service | type | ports | selects |', '|---|---|---|---|');
  for (const s of services) {
    const type = s.externalIps.length > 0 ? `${s.kind}, external IP ${s.externalIps.join(', ')}` : s.kind;
    lines.push(`| ${s.name} | ${type} | ${s.ports.map(portLabel).join(', ')} | ${s.selects.join(', ')} |`);
  }
  lines.push('');

  if (t.vips.length > 0) {
    lines.push('## Virtual IPs', '', '| address | interface | nodes | fronts |', '|---|---|---|---|');
    for (const vip of t.vips) lines.push(`| ${vip.address} | ${vip.interface} | ${vip.nodes.join(', ')} | ${vip.fronts.join('; ')} |`);
    lines.push('');
  }

  lines.push('## Traffic', '', '```mermaid', 'flowchart LR', '  clients([OpenStack services and users])');
  const id = (name: string) => name.replace(/[^A-Za-z0-9]/g, '_');
  t.vips.forEach((vip, i) => lines.push(`  vip${i}{{"VIP ${vip.address}"}}`, `  clients --> vip${i}`));
  for (const w of workloads) lines.push(`  ${id(w.name)}["${w.kind} ${w.name}"]`);
  t.vips.forEach((vip, i) => vip.workloads.forEach((w) => lines.push(`  vip${i} --> ${id(w)}`)));
  for (const s of services.filter((x) => x.kind !== 'headless')) {
    for (const target of s.selects) {
      const from = s.externalIps.length > 0 ? `vip${t.vips.findIndex((v) => s.externalIps.includes(v.address))}` : 'clients';
      lines.push(`  ${from} -->|${s.name}: ${s.ports.map((p) => p.port).join(',')}| ${id(target.split(' ')[1])}`);
    }
  }
  for (const edge of networkPolicyEdges(t.objects)) lines.push(`  ${id(edge.from)} -->|${edge.ports.join(',')}| ${id(edge.to)}`);
  lines.push('```', '');
  return lines.join('\n');
}

function portLabel(p: { readonly name: string; readonly port: number }): string {
  return p.name ? `${p.name} ${p.port}` : String(p.port);
}

/** Which workload may reach which, on which ports, according to the NetworkPolicies (pod-selector peers). */
export function networkPolicyEdges(objects: readonly Json[]): Array<{ from: string; to: string; ports: number[] }> {
  const workloads = objects.filter((o) => WORKLOADS.has(o.kind));
  const selected = (selector: Json | undefined) => workloads.filter((w) => matches(selector, w.spec.template.metadata?.labels));
  const edges: Array<{ from: string; to: string; ports: number[] }> = [];
  for (const policy of objects.filter((o) => o.kind === 'NetworkPolicy')) {
    for (const target of selected(policy.spec.podSelector?.matchLabels)) {
      for (const rule of policy.spec.ingress ?? []) {
        for (const peer of rule.from ?? []) {
          for (const source of selected(peer.podSelector?.matchLabels)) {
            if (source === target) continue;
            edges.push({ from: source.metadata.name, to: target.metadata.name, ports: (rule.ports ?? []).map((p: Json) => p.port) });
          }
        }
      }
    }
  }
  return edges;
}
