/**
 * Plain data model of the HAProxy configuration shared by every HAProxy pod behind a VIP. The
 * `HaproxyLoadBalancer` construct builds it from its props; the renderer and validators know nothing of cdk8s.
 */

/** A backend server: a literal address, or a DNS name (a per-pod or Service name) resolved at run time. */
export interface HaproxyServer {
  /** Server name in HAProxy (`[A-Za-z0-9_.:-]`), shown in stats and metrics. */
  readonly name: string;
  /** IPv4/IPv6 literal or DNS name, e.g. `keystone-api-0.keystone-api.openstack.svc.cluster.local`. */
  readonly address: string;
  readonly port: number;
}

/**
 * Servers discovered from the A/AAAA records of one DNS name (a headless Service): HAProxy keeps `slots` server
 * slots and fills them from the record set, so pods may come and go without a reload.
 */
export interface HaproxyServerDiscovery {
  readonly fqdn: string;
  readonly port: number;
  /** Maximum number of servers (slots are cheap; leave room for scale-out). */
  readonly slots: number;
}

/** HTTP health check of one API backend. */
export interface HaproxyHttpCheck {
  /** Path to GET, e.g. `/healthcheck` or `/v3`. */
  readonly path: string;
  /** Port the check connects to, when it is not the server's. */
  readonly port?: number;
}

/** One load-balanced service: a `listen` section with its own port. */
export interface HaproxyService {
  /** Proxy name (`[A-Za-z0-9_.:-]`), e.g. `keystone`. */
  readonly name: string;
  /** Port HAProxy listens on (bound on `bindAddress` of the model). */
  readonly port: number;
  /** `http`: layer-7 with X-Forwarded-For and HTTP checks; `tcp`: passthrough (e.g. TLS terminated by the API). */
  readonly mode: 'http' | 'tcp';
  /** HTTP check; a TCP connect check when absent. */
  readonly httpCheck?: HaproxyHttpCheck;
  /** Explicit servers. */
  readonly servers: readonly HaproxyServer[];
  /** Servers discovered from DNS, in addition to `servers`. */
  readonly discovery?: HaproxyServerDiscovery;
  /** Client/server inactivity timeout in seconds (long for image uploads). */
  readonly timeoutSeconds: number;
}

/** One HAProxy instance, for the `peers` section that replicates the Galera stick table. */
export interface HaproxyPeer {
  /** Peer name: the node name, passed to each instance as `-L <name>` at start. */
  readonly name: string;
  /** Node address: the peer listens there (host network) on `port`. */
  readonly address: string;
}

/**
 * Galera through HAProxy for users without ProxySQL: exactly one writer at a time. Every server is `backup`, so
 * only the first healthy one is used; a one-entry stick table (without `nopurge`) remembers the current writer,
 * so it stays the writer after the old one recovers; `peers` share that entry so the HAProxy that takes over the
 * VIP keeps the same writer.
 */
export interface HaproxyGalera {
  /** Listen port (3306 usually). */
  readonly port: number;
  /** Galera members, in preferred order. */
  readonly servers: readonly HaproxyServer[];
  /** Port of the member's in-sync endpoint (the Galera agent serves `GET /synced` on 9200). */
  readonly checkPort: number;
  /** Path answering 200 only while the member is Synced. */
  readonly checkPath: string;
  /** Inactivity timeout in seconds: above oslo.db's connection_recycle_time (3600 s) so pools are not cut. */
  readonly timeoutSeconds: number;
}

export interface HaproxyModel {
  /** Address every frontend binds: `0.0.0.0` (host-network pods cannot bind a VIP they do not hold). */
  readonly bindAddress: string;
  /**
   * Global connection limit. HAProxy raises its file descriptor limit to about 2 x maxconn at start and exits
   * ("Cannot raise FD limit") when the container's hard `nofile` limit is lower; `haproxy -c` does not notice.
   */
  readonly maxConnections: number;
  readonly services: readonly HaproxyService[];
  readonly galera?: HaproxyGalera;
  /** HAProxy instances (one per node), needed with `galera` and more than one instance. */
  readonly peers: readonly HaproxyPeer[];
  /** Port of the `peers` listeners. */
  readonly peersPort: number;
  /**
   * Cluster DNS servers (`10.96.0.10`) for names in servers and discovery; empty: read /etc/resolv.conf (a
   * host-network pod needs `dnsPolicy: ClusterFirstWithHostNet` for that to be the cluster DNS).
   */
  readonly nameservers: readonly string[];
  /** Port of the stats page (`/stats`), Prometheus metrics (`/metrics`) and liveness (`/healthz`). */
  readonly statsPort: number;
}

/** Paths inside the HAProxy container. */
export const HAPROXY_CONFIG_PATH = '/usr/local/etc/haproxy/haproxy.cfg';
export const HAPROXY_RUN_DIR = '/var/run/haproxy';
