/**
 * Network namespaces for the VRRP tests: one namespace per node, each with `eth0` on a bridge that lives in a
 * namespace of its own, so nothing touches the host's interfaces.
 */
import { spawnSync } from 'child_process';

export function sh(command: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

export function ip(...args: string[]): void {
  const r = sh('ip', args);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.output}`);
}

export interface BridgedNodes {
  /** The namespace that holds the bridge, and the bridge's name. */
  readonly bridgeNs: string;
  readonly bridge: string;
  /** Each node's namespace and its `eth0` address (a /24). */
  readonly nodes: ReadonlyArray<{ readonly ns: string; readonly address: string }>;
}

export function deleteNamespaces(net: BridgedNodes): void {
  for (const ns of [...net.nodes.map((n) => n.ns), net.bridgeNs]) sh('ip', ['netns', 'del', ns]);
}

/** Creates the namespaces (after removing leftovers of an interrupted run: these names are reserved for one test). */
export function createNamespaces(net: BridgedNodes): void {
  deleteNamespaces(net);
  ip('netns', 'add', net.bridgeNs);
  ip('-n', net.bridgeNs, 'link', 'add', net.bridge, 'type', 'bridge');
  ip('-n', net.bridgeNs, 'link', 'set', net.bridge, 'up');
  for (const node of net.nodes) {
    ip('netns', 'add', node.ns);
    const port = `${node.ns}-p`;
    ip('-n', net.bridgeNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.ns);
    ip('-n', net.bridgeNs, 'link', 'set', port, 'master', net.bridge, 'up');
    ip('-n', node.ns, 'link', 'set', 'lo', 'up');
    ip('-n', node.ns, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0');
    ip('-n', node.ns, 'link', 'set', 'eth0', 'up');
  }
}
