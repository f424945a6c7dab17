/**
 * The resolved MemcachedPool: props with their defaults applied, computed once into plain data, and the servers
 * clients list (the pool's members). Resolving never throws: validation reports on whatever it resolved.
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s.
 */
import { serviceDnsName } from '../common/network';
import { InventoryNode, Placement } from '../common/placement';
import { ContainerResources, resolveResources } from '../common/resources';
import { hostPort } from '../common/validation';
import { TlsCertificateRequest } from '../tls/model';
import { defaultWarmRestartPath } from './warm-restart';
import type { MemcachedNetwork, MemcachedPoolProps } from './memcached-pool';

/** The resolved pool. */
export interface MemcachedModel {
  readonly name: string;
  readonly namespace?: string;
  readonly placement: Placement;
  readonly network: MemcachedNetwork;
  /** The inventory, when the placement has one. */
  readonly nodes?: readonly InventoryNode[];
  /** Pod-network instances (host network: one per inventory node). */
  readonly replicas: number;
  readonly port: number;
  readonly maxConnections: number;
  /** Every field set (the library's defaults under the user's values). */
  readonly resources: Required<ContainerResources>;
  readonly image: string;
  /** A memcached-exporter sidecar runs beside memcached. */
  readonly metricsExporter: boolean;
  /** TLS, when the `tls` prop is set (the certificate itself is requested by the construct). */
  readonly tls?: { readonly verifyClients: boolean };
  /** Warm restart, when on: the node directory that holds the item memory file. */
  readonly warmRestart?: { readonly hostPath: string };
}

/** Resolves the props of MemcachedPool `id` in a chart of `namespace`. */
export function resolveMemcached(id: string, props: MemcachedPoolProps, namespace: string | undefined,
  defaults: { readonly image: string; readonly network: MemcachedNetwork }): MemcachedModel {
  const nodes = props.placement.nodes;
  const name = props.name ?? id;
  const network = props.network ?? defaults.network;
  // On by default where a node keeps the file for the same instance: the host network (one instance per node).
  const warmRestart = props.warmRestart ?? network.isHostNetwork;
  return {
    name,
    namespace,
    placement: props.placement,
    network,
    nodes,
    replicas: props.replicas ?? nodes?.length ?? 0,
    port: props.port ?? 11211,
    maxConnections: props.maxConnections ?? 8192,
    resources: resolveResources(props.resources, { cpuRequestMillis: 100, cpuLimitMillis: 2000, memoryRequestMiB: 1024, memoryLimitMiB: 1024 }),
    image: props.image ?? defaults.image,
    metricsExporter: props.metricsExporter ?? false,
    ...(props.tls !== undefined ? { tls: { verifyClients: props.tls?.verifyClients === true } } : {}),
    ...(warmRestart ? { warmRestart: { hostPath: props.warmRestartPath ?? defaultWarmRestartPath(namespace, name) } } : {}),
  };
}

/**
 * The servers, in inventory (or ordinal) order, as `host:port`: node addresses on the host network, the pods'
 * DNS names through the headless Service on the pod network. Call it on a validated model only (a hostile
 * replica count is refused by validation before it gets here).
 */
export function memcachedServers(m: MemcachedModel): string[] {
  return serverHosts(m).map((host) => hostPort(host, m.port));
}

/** Each instance's host as clients name it (the `host` of `memcachedServers`). */
function serverHosts(m: MemcachedModel): string[] {
  if (m.network.isHostNetwork) return (m.nodes ?? []).map((n) => n.ip);
  return Array.from({ length: m.replicas }, (_, i) => serviceDnsName(m.name, m.namespace, `${m.name}-${i}`));
}

/**
 * The names the pool's certificate must cover: exactly what clients connect to and verify, each instance's host in
 * `memcachedServers` (node IPs on the host network; the pods' DNS names through the headless Service on the pod
 * network, since pod IPs change). One certificate for every instance: they are interchangeable shards.
 */
export function memcachedCertificateRequest(m: MemcachedModel): TlsCertificateRequest {
  const hosts = serverHosts(m);
  return {
    component: m.name,
    namespace: m.namespace,
    dnsNames: m.network.isHostNetwork ? [] : hosts,
    ipAddresses: m.network.isHostNetwork ? hosts : [],
  };
}
