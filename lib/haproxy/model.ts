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
  /**
   * A plain-HTTP port on which every request is redirected to this service's HTTPS port (needs `tls` on the model
   * and mode `http`), e.g. 80 for the dashboard on 443.
   */
  readonly redirectPort?: number;
}

/**
 * Galera through HAProxy for users without ProxySQL: exactly one writer at a time, the member the Galera members
 * named themselves (the agent's `GET /writer` answers 200 only there), so every HAProxy instance agrees without any
 * state of its own. Every server is `backup`, so only the first healthy one is used.
 */
export interface HaproxyGalera {
  /** Listen port (3306 usually). */
  readonly port: number;
  /** Galera members, in preferred order. */
  readonly servers: readonly HaproxyServer[];
  /** Port of the member's agent (9200), which serves `GET /writer`. */
  readonly checkPort: number;
  /** Path answering 200 only on the member the cluster named as writer, while it is Synced (`/writer`). */
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
  /**
   * Cluster DNS servers (`10.96.0.10`) for names in servers and discovery; empty: read /etc/resolv.conf (a
   * host-network pod needs `dnsPolicy: ClusterFirstWithHostNet` for that to be the cluster DNS).
   */
  readonly nameservers: readonly string[];
  /** Port of the stats page (`/stats`), Prometheus metrics (`/metrics`) and liveness (`/healthz`). */
  readonly statsPort: number;
  /** TLS termination on every `http` service (TCP services and the Galera listener stay passthrough). */
  readonly tls?: HaproxyTls;
}

/**
 * TLS termination on the API frontends. The files are the mounted Secret's: HAProxy reads the key from the file
 * beside the certificate (`ssl-load-extra-del-ext`: `tls.crt` -> `tls.key`), so nothing is copied or combined.
 */
export interface HaproxyTls {
  /** The PEM certificate (chain) `crt` names; its key is the `.key` file beside it. */
  readonly certificate: string;
  /** The PEM CA bundle the backends' certificates are verified with, when re-encrypting. */
  readonly ca: string;
  /** `Strict-Transport-Security` max-age in seconds on every HTTPS response; absent: no HSTS header. */
  readonly hstsMaxAgeSeconds?: number;
  /** TLS to the backends too, verified with `ca` (and the server's DNS name, when it has one). */
  readonly reencrypt: boolean;
}

/** What the load balancer's TLS changes in a service's model: its default port, its redirect listener. */
export interface ServiceTlsContext {
  readonly tls: boolean;
  readonly redirectHttp: boolean;
}

/** Paths inside the HAProxy container. */
export const HAPROXY_CONFIG_PATH = '/usr/local/etc/haproxy/haproxy.cfg';
export const HAPROXY_RUN_DIR = '/var/run/haproxy';
