/**
 * GaleraPetSet's props: what a user may set, each with its default. The rules are in validation.ts, the defaults
 * are applied in model.ts.
 */
import { ClientSelector } from '../common/network';
import { Placement } from '../common/placement';
import { ContainerResources } from '../common/resources';
import { TlsCertificates } from '../tls/tls-certificates';
import { DatabaseUser, GaleraCredentials } from './credentials';
import { GaleraStorage } from './storage';

/** Options of the recovery agent. */
export interface GaleraRecoveryOptions {
  /**
   * After a full outage in which every member kept its view state, how long Galera's own `pc.recovery` gets to
   * re-form the Primary component before the agent's seqno election takes over.
   *
   * @default 60
   */
  readonly pcRecoveryTimeoutSeconds?: number;
  /**
   * How long the agents wait for a missing (or unreadable) member before they report the cluster as blocked,
   * waiting for an operator to name the member to bootstrap from. They never bootstrap from a partial set alone.
   *
   * @default 120
   */
  readonly missingMemberTimeoutSeconds?: number;
}

/** TLS for SQL clients, Galera replication (and IST) and SST. */
export interface GaleraTlsOptions {
  /** Where the certificate comes from; it must cover every member's DNS name and the client Service's names. */
  readonly certificates: TlsCertificates;
  /**
   * `require_secure_transport`: refuse SQL clients without TLS (the members' own local-socket clients are exempt).
   * Every client, ProxySQL's backend connections included, must then use TLS.
   *
   * @default false
   */
  readonly requireSecureTransport?: boolean;
  /**
   * Encrypt Galera replication and IST. Every member must agree: to turn it on (or off) in a running
   * cluster, deploy with `replicationTransition: true` first (README, "TLS").
   *
   * @default true
   */
  readonly replication?: boolean;
  /**
   * Encrypt state transfers (mariabackup streamed through socat with OpenSSL). Joiner and donor must agree, and
   * mariabackup's script uses the SST port even for an IST, so this cannot change one member at a time: a new
   * cluster has it from the start; an existing one turns it on after replication TLS, applied with every member
   * stopped (README, "TLS"; the preflight plan refuses it while members run). Refused together with
   * `replicationTransition`.
   *
   * @default true
   */
  readonly stateTransfer?: boolean;
  /**
   * Members accept encrypted and plaintext peers (`socket.dynamic`): the first of the two rolling restarts that
   * turn replication TLS on or off without splitting the cluster (with `stateTransfer: false`). Never leave it
   * on: a plaintext peer may join.
   *
   * @default false
   */
  readonly replicationTransition?: boolean;
}

export interface GaleraPetSetProps {
  /** The nodes the members run on, one member per node (with `localVolume`, member N on the N-th node). */
  readonly placement: Placement;
  /** Where each member keeps its data. */
  readonly storage: GaleraStorage;
  /** Root, SST and monitor accounts, as Secret references. */
  readonly credentials: GaleraCredentials;
  /**
   * Base name of the Kubernetes objects; members are `<name>-0`, `<name>-1`, ...
   *
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * Number of members: odd and at least 3, so that a partition always leaves one side with a majority.
   *
   * @default 3
   */
  readonly replicas?: number;
  /**
   * Database accounts to create and keep in line (idempotently, once the cluster is Synced).
   *
   * @default - none
   */
  readonly users?: DatabaseUser[];
  /**
   * Pods allowed to connect to MySQL port 3306 (NetworkPolicy). ProxySqlLayer adds its own pods.
   *
   * @default - none besides the members themselves
   */
  readonly allowedClients?: ClientSelector[];
  /**
   * `wsrep_cluster_name`.
   *
   * @default - the name
   */
  readonly clusterName?: string;
  /**
   * `gcache.size`: how many write-sets a member keeps for peers that rejoin by IST instead of a full SST.
   *
   * @default '1G'
   */
  readonly gcacheSize?: string;
  /**
   * Server settings merged over ours, by my.cnf section then key, e.g. `{ mysqld: { max_connections: '8192' } }`.
   * Settings the library owns (bootstrap, replication, addresses, ports, paths, SST) and credentials are refused in
   * any section and any spelling MariaDB accepts; `wsrep_provider_options` is merged into ours key by key, except
   * the keys recovery depends on (see the README).
   *
   * @default - none
   */
  readonly serverConfig?: Record<string, Record<string, string>>;
  /**
   * TLS for clients, replication and SST, with certificates reloaded in place on renewal (no restart).
   *
   * @default - no TLS
   */
  readonly tls?: GaleraTlsOptions;
  /** Recovery agent options. @default - see GaleraRecoveryOptions */
  readonly recovery?: GaleraRecoveryOptions;
  /**
   * The mariadb container's resources.
   *
   * @default - requests 500m CPU / 2048 MiB, limits 4000m CPU / 2048 MiB
   */
  readonly resources?: ContainerResources;
  /**
   * Size of MariaDB's tmpdir (`/tmp`, an emptyDir on the node's disk) in MiB, where on-disk temporary tables and
   * filesort files go. The pod requests it as ephemeral storage (so the scheduler reserves it) and it is the
   * emptyDir's size limit; one on-disk temporary table may use half of it (`tmp_disk_table_size`), after which its
   * query fails with "table is full" instead of the kubelet evicting the member for an overfull emptyDir.
   *
   * @default 2048
   */
  readonly tmpSizeMiB?: number;
  /**
   * How long, in minutes, an account still accepts its previous password after its Secret changed. Every password
   * (the users', the monitor's, the SST account's, root's) is mounted from its Secret (not an env var), so a changed Secret reaches the running members (the
   * kubelet updates the files within about a minute) and the accounts change with no restart: the new password is
   * accepted at once and the old one (kept by its hash) until this grace ends, so clients are rolled to the new
   * password within it without a failed login. At least 10 (longer than the kubelet's update of every node), at
   * most 10080 (a week).
   *
   * @default 60
   */
  readonly passwordRotationGraceMinutes?: number;
  /**
   * The member named in the writer row when the cluster is first created (`galera_ha.writer`, which the members
   * change themselves when the writer is not Synced, and which HAProxy's one-writer listener follows through the
   * agent's `GET /writer`). It is also ProxySqlLayer's preferred writer unless that sets its own.
   *
   * @default 0
   */
  readonly writerOrdinal?: number;
  /**
   * The official MariaDB image (with mariabackup and socat, as the official image has).
   *
   * @default GaleraPetSet.DEFAULT_IMAGE
   */
  readonly image?: string;
  /**
   * Run a mysqld-exporter sidecar (stock image, the monitor account, port 9104 named `metrics`): MariaDB's global
   * status, wsrep included, for Prometheus. The recovery agent serves its own `/metrics` on the agent port either
   * way. `OpenStackControlPlane`'s `monitoring` prop turns this on.
   *
   * @default false
   */
  readonly metricsExporter?: boolean;
  /**
   * A stock Node.js image (20 or later) for the recovery agent.
   *
   * @default GaleraPetSet.DEFAULT_AGENT_IMAGE
   */
  readonly agentImage?: string;
}
