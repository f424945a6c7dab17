/**
 * The resolved Galera cluster: props with their defaults applied, computed once into plain data. Everything that
 * needs a member (the StatefulSet, the local volumes, the disruption budget, the gcomm list, the agent's env,
 * ProxySQL's and HAProxy's server lists, the topology summary) reads it here instead of rebuilding names.
 *
 * Resolving never throws: it runs before validation, so a hostile prop yields a model that validation reports on.
 */
import { TlsCertificateRequest, serviceDnsNames } from '../tls/model';
import { serviceDnsName } from '../common/network';
import { ContainerResources, resolveResources } from '../common/resources';
import { DatabaseUser, GaleraCredentials } from './credentials';
import { GaleraStorage } from './storage';
import { GALERA_SERVER_DEFAULTS } from './server-config';
import { DatabaseUserModel } from './users';
import type { GaleraPetSetProps } from './props';

/** Ports every member listens on; names are what other constructs and NetworkPolicies refer to. */
export const GALERA_PORTS = { mysql: 3306, galera: 4567, ist: 4568, sst: 4444, agent: 9200 } as const;

/**
 * The most members a cluster may have: every write is certified by every member, and the bound also keeps a
 * hostile count from allocating members forever before validation has reported it.
 */
export const MAX_MEMBERS = 99;

/** One member of a GaleraPetSet: its names, and where it is pinned. */
export interface GaleraMember {
  /** The StatefulSet ordinal, from 0. */
  readonly ordinal: number;
  /** The pod's name, `<name>-<ordinal>`; also the member's name in ProxySQL, HAProxy and the topology summary. */
  readonly podName: string;
  /** The member's stable DNS name through the headless peer Service (answered whether or not it is Ready). */
  readonly host: string;
  /**
   * The member's data claim, `data-<name>-<ordinal>`.
   *
   * @default - none: hostPath storage mounts a host directory, not a claim
   */
  readonly claimName?: string;
  /**
   * The node the member is pinned to (localVolume storage: member N on the N-th inventory node).
   *
   * @default - not pinned: the scheduler picks among the placement's nodes
   */
  readonly node?: string;
  /**
   * The member's local PersistentVolume (localVolume storage), pre-bound to `claimName`.
   *
   * @default - none: no PersistentVolume is created for the member
   */
  readonly volumeName?: string;
}

/** The resolved cluster. */
export interface GaleraModel {
  readonly name: string;
  readonly replicas: number;
  readonly namespace?: string;
  /** The headless Service: every member's DNS name is `<pod>.<domain>`. */
  readonly peerServiceName: string;
  readonly clientServiceName: string;
  /** `<peers>.<namespace>.svc`, or the bare peer Service name without a namespace. */
  readonly domain: string;
  readonly members: readonly GaleraMember[];
  /** Members that must stay up: a strict majority. */
  readonly quorum: number;
  readonly ports: typeof GALERA_PORTS;
  readonly clusterName: string;
  readonly credentials: GaleraCredentials;
  readonly sstUser: string;
  readonly monitorUser: string;
  readonly users: DatabaseUser[];
  /** The users-file model of each user, in the order of `users`. */
  readonly userModels: DatabaseUserModel[];
  readonly gcacheSize: string;
  readonly tmpSizeMiB: number;
  /** How long an account still accepts its previous password after its Secret changed. */
  readonly passwordRotationGraceMinutes: number;
  /** Every field set (the library's defaults under the user's values). */
  readonly resources: Required<ContainerResources>;
  readonly pcRecoverySeconds: number;
  readonly missingMemberSeconds: number;
  /** The member the writer row names when the cluster is created. */
  readonly writerOrdinal: number;
  /** The storage, when it is one (validation reports anything else). */
  readonly storage?: GaleraStorage;
  readonly storageClassName?: string;
  readonly image: string;
  readonly agentImage: string;
  /** A mysqld-exporter sidecar runs beside mariadbd. */
  readonly metricsExporter: boolean;
  /** What TLS covers (the certificate itself is requested by the construct, which owns the Certificate object). */
  readonly tls?: GaleraTlsModel;
}

export interface GaleraTlsModel {
  readonly requireSecureTransport: boolean;
  readonly replication: boolean;
  readonly replicationTransition: boolean;
  readonly stateTransfer: boolean;
}

/** The images a GaleraPetSet uses unless told otherwise (the construct exposes them as static constants). */
export interface GaleraDefaultImages {
  readonly image: string;
  readonly agentImage: string;
}

/** Resolves the props of GaleraPetSet `id` in a chart of `namespace`. */
export function resolveGalera(id: string, props: GaleraPetSetProps, namespace: string | undefined, images: GaleraDefaultImages): GaleraModel {
  const name = props.name ?? id;
  const replicas = props.replicas ?? 3;
  const credentials = props.credentials;
  const storage = props.storage instanceof GaleraStorage ? props.storage : undefined;
  const users = [...(props.users ?? [])];
  const peerServiceName = `${name}-peers`;
  const domain = serviceDnsName(peerServiceName, namespace);
  const recovery = props.recovery ?? {};
  return {
    name,
    replicas,
    namespace,
    peerServiceName,
    clientServiceName: name,
    domain,
    members: resolveMembers(name, replicas, domain, namespace, storage, props.placement?.nodes?.map((n) => n?.name)),
    quorum: Math.floor(replicas / 2) + 1,
    ports: GALERA_PORTS,
    clusterName: props.clusterName ?? name,
    credentials,
    sstUser: credentials.sstUser ?? 'mariabackup',
    monitorUser: credentials.monitorUser ?? 'monitor',
    users,
    userModels: users.map(toUserModel),
    gcacheSize: props.gcacheSize ?? GALERA_SERVER_DEFAULTS.gcacheSize,
    tmpSizeMiB: props.tmpSizeMiB ?? 2048,
    passwordRotationGraceMinutes: props.passwordRotationGraceMinutes ?? 60,
    resources: resolveResources(props.resources, { cpuRequestMillis: 500, cpuLimitMillis: 4000, memoryRequestMiB: 2048, memoryLimitMiB: 2048 }),
    pcRecoverySeconds: recovery.pcRecoveryTimeoutSeconds ?? 60,
    missingMemberSeconds: recovery.missingMemberTimeoutSeconds ?? 120,
    writerOrdinal: props.writerOrdinal ?? 0,
    storage,
    storageClassName: storage?.mode === 'localVolume' ? storage.storageClassName ?? `${name}-local` : storage?.storageClassName,
    image: props.image ?? images.image,
    agentImage: props.agentImage ?? images.agentImage,
    ...(props.tls ? {
      tls: {
        requireSecureTransport: props.tls.requireSecureTransport ?? false,
        replication: props.tls.replication ?? true,
        replicationTransition: props.tls.replicationTransition ?? false,
        stateTransfer: props.tls.stateTransfer ?? true,
      },
    } : {}),
    metricsExporter: props.metricsExporter ?? false,
  };
}

function resolveMembers(name: string, replicas: number, domain: string, namespace: string | undefined,
  storage: GaleraStorage | undefined, nodes: readonly (string | undefined)[] | undefined): GaleraMember[] {
  // A count validation refuses resolves to no members rather than throwing before validation can say why.
  const count = Number.isInteger(replicas) && replicas > 0 && replicas <= MAX_MEMBERS ? replicas : 0;
  const local = storage?.mode === 'localVolume';
  return Array.from({ length: count }, (_, ordinal) => {
    const podName = `${name}-${ordinal}`;
    // The StatefulSet names each claim `<template>-<pod>`; the template is `data`.
    const claimName = storage?.mode === 'hostPath' ? undefined : `data-${podName}`;
    return {
      ordinal,
      podName,
      host: `${podName}.${domain}`,
      ...(claimName ? { claimName } : {}),
      ...(local && nodes?.[ordinal] !== undefined ? { node: nodes[ordinal] } : {}),
      // PersistentVolumes are cluster-wide: the namespace in the name keeps two clusters apart.
      ...(local ? { volumeName: `${namespace ?? ''}-${name}-data-${ordinal}` } : {}),
    };
  });
}

/** The users-file model of a user: its password is a file named after it in the credentials volume, fed by its Secret. */
function toUserModel(user: DatabaseUser): DatabaseUserModel {
  return {
    name: user.name,
    host: user.host,
    passwordEnv: userPasswordEnv(user),
    databases: [...user.databases],
    privileges: user.privileges,
    maxConnections: user.maxConnections,
    requireTls: user.requireTls,
  };
}

/** The env var that carries a user's password into the mariadb container: readable, and stable for the same user. */
function userPasswordEnv(user: DatabaseUser): string {
  const slug = (text: string) => text.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  const host = user.host ?? '%';
  return `GALERA_PASSWORD_${slug(user.name)}${host === '%' ? '' : `_AT_${slug(host)}`}`;
}

/**
 * The names Galera's certificate must cover: every member's DNS name (peers, ProxySQL and HAProxy reach members
 * by it) and the client Service's. No IP: pod IPs change, and SST checks the chain only (see server-config.ts).
 */
export function galeraCertificateRequest(model: GaleraModel): TlsCertificateRequest {
  return {
    component: model.name,
    namespace: model.namespace,
    dnsNames: [...model.members.map((m) => m.host), ...serviceDnsNames(model.clientServiceName, model.namespace)],
    ipAddresses: [],
  };
}
