/**
 * The resolved ProxySQL layer: props with their defaults applied, and the `proxysql.cnf` model, computed once into
 * plain data. The Galera members come from `GaleraPetSet.members`; nothing here rebuilds a member's name.
 *
 * Resolving never throws: it runs before validation, which reports on whatever it resolved.
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s.
 */
import { ClientSelector, serviceDnsName } from '../common/network';
import { isIpAddress } from '../common/validation';
import { Placement } from '../common/placement';
import { ContainerResources, resolveResources } from '../common/resources';
import { DatabaseUser } from '../galera/credentials';
import { GaleraPetSet } from '../galera/galera-petset';
import { METRICS_PORTS } from '../monitoring/exporters';
import { TLS12_CIPHERS, TlsCertificateRequest, serviceDnsNames } from '../tls/model';
import { tlsPaths } from '../tls/pod';
import type { ProxySqlHostgroups, ProxySqlLayerProps, ProxySqlTlsOptions } from './proxysql-layer';

/** The four hostgroups of one `mysql_galera_hostgroups` row. */
export interface HostgroupIds {
  readonly writer: number;
  readonly backupWriter: number;
  readonly reader: number;
  readonly offline: number;
}

export interface BackendServerModel {
  /** DNS name (or address) of the Galera member. */
  readonly host: string;
  readonly port: number;
  /** Higher is preferred as the writer; ProxySQL orders writers by weight, then hostname, then port (descending). */
  readonly weight: number;
  /** Connections this ProxySQL opens to this member at most. */
  readonly maxConnections: number;
  readonly comment: string;
}

export interface FrontendUserModel {
  readonly name: string;
  /** The environment variable holding the password; it must start with USER_PASSWORD_ENV_PREFIX. */
  readonly passwordEnv: string;
  /** Client connections of this user to this ProxySQL, at most. */
  readonly maxConnections: number;
  /** `use_ssl=1` for this user alone: the Galera account requires TLS (DatabaseUser.requireTls). */
  readonly requireTls: boolean;
}

export interface HealthCheckModel {
  /** `monitor_galera_healthcheck_interval`: how often each member's wsrep state is read. */
  readonly intervalMs: number;
  /** `monitor_galera_healthcheck_timeout`. */
  readonly timeoutMs: number;
  /** `monitor_galera_healthcheck_max_timeout_count`: timeouts in a row before a member goes OFFLINE. */
  readonly maxTimeoutCount: number;
}

export interface ProxySqlConfigModel {
  readonly dataDir: string;
  readonly adminPort: number;
  /** Not written to the file (start.sh pairs PROXYSQL_ADMIN_USER with the password); checked against the users. */
  readonly adminUser: string;
  /** Port for read-write traffic: every query goes to the writer. */
  readonly readWritePort: number;
  /** Port for read-only traffic: plain SELECTs go to the readers, everything else to the writer. */
  readonly readOnlyPort: number;
  /** `admin-restapi_port` with `admin-restapi_enabled`: ProxySQL's `/metrics`; absent when the exporter is off. */
  readonly metricsPort?: number;
  /** `mysql-threads` (read at startup only). */
  readonly threads: number;
  /** `mysql-max_connections`: client connections to this ProxySQL. */
  readonly maxClientConnections: number;
  /** What ProxySQL announces to clients; drivers pick SQL dialect features from it. */
  readonly serverVersion: string;
  readonly monitorUser: string;
  readonly healthCheck: HealthCheckModel;
  readonly hostgroups: HostgroupIds;
  /** Galera members in ordinal order. */
  readonly servers: readonly BackendServerModel[];
  readonly users: readonly FrontendUserModel[];
  /** TLS, when the layer has it: absent, the file is what it always was. */
  readonly tls?: ProxySqlConfigTls;
}

/** What proxysql.cnf says about TLS (the certificate files themselves are copied into the datadir at start). */
export interface ProxySqlConfigTls {
  /** `use_ssl=1` on every user: a client without TLS is refused. */
  readonly requireSecureTransport: boolean;
  /** TLS to the members: `use_ssl=1` on every server, verified with this CA file (`mysql-ssl_p2s_ca`). */
  readonly backendCaFile?: string;
  /** `mysql-ssl_p2s_cipher`: the TLS 1.2 suites offered to the members. */
  readonly backendCiphers: string;
}

/** Environment variables start.sh substitutes; their names tell it which characters ProxySQL can take. */
export const ADMIN_PASSWORD_ENV = 'PROXYSQL_ADMIN_PASSWORD';
export const MONITOR_PASSWORD_ENV = 'PROXYSQL_MONITOR_PASSWORD';
export const USER_PASSWORD_ENV_PREFIX = 'PROXYSQL_USER_PASSWORD_';

/** The query rule that sends plain SELECTs on the read-only port to the readers; the admin sidecar re-points it. */
export const READ_ONLY_SELECT_RULE_ID = 200;
/** ProxySQL reads integers as C `int`: anything wider turns into an empty string or 0. */
export const INT32_MAX = 2147483647;
/** A placeholder name start.sh substitutes. */
export const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;

/** Where ProxySQL keeps proxysql.db and its generated TLS keys (an emptyDir, set aside at every start). */
export const DATA_DIR = '/var/lib/proxysql';
/** Where the certificate Secret is mounted (read-only) in both containers. */
export const TLS_DIR = '/etc/proxysql-tls';
/** The weight of the preferred writer; the next members get one less each. */
const FIRST_WRITER_WEIGHT = 1000;

/** One Galera user ProxySQL serves, with its index in `galera.users` (problems are named after that prop). */
export interface ProxyUser {
  readonly user: DatabaseUser;
  readonly index: number;
}

/** The resolved layer. */
export interface ProxySqlModel {
  readonly name: string;
  /** The client Service's DNS name. */
  readonly host: string;
  readonly replicas: number;
  readonly placement: Placement;
  readonly drainSeconds: number;
  readonly readerFallback: boolean;
  readonly writerOrdinal: number;
  /** Every field set (the library's defaults under the user's values). */
  readonly resources: Required<ContainerResources>;
  readonly clients: ClientSelector[];
  /** The GaleraPetSet, when `props.galera` is one (validation reports anything else). */
  readonly galera?: GaleraPetSet;
  readonly users: readonly ProxyUser[];
  /** The file's model; absent without a GaleraPetSet. */
  readonly config?: ProxySqlConfigModel;
  readonly image: string;
  readonly adminImage: string;
  /** The `tls` prop with its defaults, when set. */
  readonly tls?: ProxySqlTlsModel;
  readonly namespace?: string;
}

export interface ProxySqlTlsModel {
  readonly requireSecureTransport: boolean;
  readonly backend: boolean;
  readonly additionalNames: readonly string[];
}

/**
 * Whether ProxySQL connects to the Galera members over TLS: `tls.backend`, else whenever the members have TLS. The
 * control plane's cross-part check (control-plane/tls.ts) uses the same rule, so both refuse the same pairs.
 */
export function backendTls(tls: Pick<ProxySqlTlsOptions, 'backend'> | undefined, galeraHasTls: boolean): boolean {
  return tls !== undefined && (tls.backend ?? galeraHasTls);
}

/** The images a ProxySqlLayer uses unless told otherwise (the construct exposes its own as a static constant). */
export interface ProxySqlDefaultImages {
  readonly image: string;
}

/** Resolves the props of ProxySqlLayer `id` in a chart of `namespace`. */
export function resolveProxySql(id: string, props: ProxySqlLayerProps, namespace: string | undefined, images: ProxySqlDefaultImages): ProxySqlModel {
  const name = props.name ?? id;
  const resources = resolveResources(props.resources, { cpuRequestMillis: 250, cpuLimitMillis: 2000, memoryRequestMiB: 256, memoryLimitMiB: 512 });
  const galera = props.galera instanceof GaleraPetSet ? props.galera : undefined;
  const users = galera ? proxyUsers(galera.users) : [];
  const writerOrdinal = props.writerOrdinal ?? galera?.writerOrdinal ?? 0;
  const tls: ProxySqlTlsModel | undefined = props.tls && typeof props.tls === 'object' ? {
    requireSecureTransport: props.tls.requireSecureTransport ?? false,
    backend: backendTls(props.tls, galera?.tlsSecretName !== undefined),
    additionalNames: Array.isArray(props.tls.additionalNames) ? [...props.tls.additionalNames] : [],
  } : undefined;
  return {
    name,
    host: serviceDnsName(name, namespace),
    replicas: props.replicas ?? 2,
    placement: props.placement ?? Placement.onLabelledNodes('openstack-control-plane', 'enabled'),
    drainSeconds: props.drainSeconds ?? 20,
    readerFallback: props.readerFallbackToWriter ?? true,
    writerOrdinal,
    resources,
    clients: [...(props.allowedClients ?? [])],
    galera,
    users,
    config: galera && configModel(props, galera, users, resources, writerOrdinal, tls),
    image: props.image ?? images.image,
    adminImage: props.adminImage ?? GaleraPetSet.DEFAULT_IMAGE,
    ...(tls ? { tls } : {}),
    namespace,
  };
}

function configModel(props: ProxySqlLayerProps, galera: GaleraPetSet, users: readonly ProxyUser[],
  resources: Required<ContainerResources>, writerOrdinal: number, tls: ProxySqlTlsModel | undefined): ProxySqlConfigModel {
  const maxClientConnections = props.maxClientConnections ?? 4096;
  return {
    dataDir: DATA_DIR,
    adminPort: props.adminPort ?? 6032,
    adminUser: props.adminUser ?? 'admin',
    readWritePort: props.readWritePort ?? 3306,
    readOnlyPort: props.readOnlyPort ?? 3307,
    ...(props.metricsExporter ? { metricsPort: METRICS_PORTS.proxysql } : {}),
    threads: Math.min(16, Math.max(2, Math.ceil(resources.cpuLimitMillis / 1000))),
    maxClientConnections,
    serverVersion: props.serverVersion ?? defaultServerVersion(),
    monitorUser: galera.monitorUser,
    // A member that stops answering is OFFLINE after 2 timed-out checks (about 2 s); a refused connection or a
    // non-Synced state takes it out at the next check.
    healthCheck: { intervalMs: 1000, timeoutMs: 800, maxTimeoutCount: 2 },
    hostgroups: resolveHostgroups(props.hostgroups),
    servers: galera.members.map((m) => ({
      host: m.host,
      port: galera.port,
      weight: FIRST_WRITER_WEIGHT - writerRank(m.ordinal, writerOrdinal),
      maxConnections: props.maxConnectionsPerBackend ?? 1000,
      comment: m.podName,
    })),
    users: users.map(({ user }) => ({
      name: user.name,
      passwordEnv: userPasswordEnv(user.name),
      maxConnections: user.maxConnections ? user.maxConnections : maxClientConnections,
      requireTls: user.requireTls === true,
    })),
    ...(tls ? {
      tls: {
        requireSecureTransport: tls.requireSecureTransport,
        ...(tls.backend ? { backendCaFile: tlsPaths(TLS_DIR).ca } : {}),
        backendCiphers: TLS12_CIPHERS,
      },
    } : {}),
  };
}

/**
 * The names ProxySQL's certificate must cover: the client Service's (what the connection URLs name) and any
 * `additionalNames` (e.g. the VIP it is exposed on). Clients verify the name they dial (PyMySQL checks the host name
 * as soon as it has a CA).
 */
export function proxySqlCertificateRequest(model: ProxySqlModel): TlsCertificateRequest {
  const extra = model.tls?.additionalNames ?? [];
  return {
    component: model.name,
    namespace: model.namespace,
    dnsNames: [...serviceDnsNames(model.name, model.namespace), ...extra.filter((n) => !isIpAddress(n))],
    ipAddresses: extra.filter((n) => isIpAddress(n)),
  };
}

/**
 * One ProxySQL user per account name: ProxySQL matches clients by name only and connects to Galera from its pod IP,
 * so of several accounts with one name, the one for any host ('%') is used. Keeps each user's index in the list.
 */
function proxyUsers(users: readonly DatabaseUser[]): ProxyUser[] {
  const byName = new Map<string, ProxyUser>();
  users.forEach((user, index) => {
    const seen = byName.get(user.name);
    if (!seen || ((seen.user.host ?? '%') !== '%' && (user.host ?? '%') === '%')) byName.set(user.name, { user, index });
  });
  return [...byName.values()].sort((a, b) => a.index - b.index);
}

function userPasswordEnv(userName: string): string {
  return `${USER_PASSWORD_ENV_PREFIX}${userName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** 0 for the preferred writer, then 1, 2, ... for the other members in ordinal order. */
function writerRank(ordinal: number, writerOrdinal: number): number {
  if (ordinal === writerOrdinal) return 0;
  return ordinal < writerOrdinal ? ordinal + 1 : ordinal;
}

function resolveHostgroups(hostgroups: ProxySqlHostgroups = {}): HostgroupIds {
  return {
    writer: hostgroups.writer ?? 10,
    backupWriter: hostgroups.backupWriter ?? 20,
    reader: hostgroups.reader ?? 30,
    offline: hostgroups.offline ?? 9999,
  };
}

/** `11.4.7-MariaDB` from `docker.io/library/mariadb:11.4.7`. */
function defaultServerVersion(): string {
  const tag = /:(\d+\.\d+\.\d+)/.exec(GaleraPetSet.DEFAULT_IMAGE)?.[1] ?? '';
  return `${tag}-MariaDB`;
}
