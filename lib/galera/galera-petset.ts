import { Chart, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { configHash } from '../common/config-hash';
import { registerAppChecks } from '../common/app-checks';
import { podDisruptionBudget } from '../common/disruption';
import { CAPABILITIES_ANNOTATION, CONFIG_HASH_ANNOTATION, MEMBER_LABEL, selectorLabels, standardLabels } from '../common/labels';
import { ClientSelector, toNetworkPolicyPeers, validateClientSelectors } from '../common/network';
import { Placement } from '../common/placement';
import { clusterScoped } from '../common/scope';
import { SecretValue } from '../common/secret';
import { describeGrants, restrictedPodSecurityContext } from '../common/security';
import { Validator } from '../common/validation';
import { basePodSpec } from '../common/pod';
import { k8s } from '../k8s';
import { galeraAgentBundle, galeraScripts } from './assets';
import { DatabaseUser } from './credentials';
import { TlsMaterial } from '../tls/model';
import { TlsCertificates } from '../tls/tls-certificates';
import { TlsMount } from '../tls/pod';
import { GaleraMember, GaleraModel, galeraCertificateRequest, resolveGalera } from './model';
import { GaleraPetSetProps } from './props';
import { MYSQL_UID, galeraConfigMapNames, galeraPod, galeraTlsMount } from './pod';
import { GALERA_SERVER_DEFAULTS, GaleraBinlogConfig, GaleraServerConfigModel, normalizeOptionName, readIni, renderServerConfig } from './server-config';
import { renderUsersFile } from './users';
import { CheckedServerConfig, validateGalera } from './validation';

const COMPONENT = 'galera';

/**
 * A MariaDB Galera cluster on local disks, one member per node, that rebuilds itself after a full outage from
 * the member with the most recent data, with no operator: a recovery agent beside each member exchanges states
 * with its peers over the headless Service and tells mariadbd whether to join or (once) to bootstrap.
 *
 * The construct only wires: props resolve into the model (model.ts), the rules check them (validation.ts), the
 * renderers write the files (server-config.ts, users.ts), the pod is plain data (pod.ts).
 */
export class GaleraPetSet extends Construct {
  /** The official MariaDB image, pinned (an LTS release). */
  public static readonly DEFAULT_IMAGE = 'docker.io/library/mariadb:11.4.7';
  /** The official Node.js image, pinned, for the recovery agent. */
  public static readonly DEFAULT_AGENT_IMAGE = 'docker.io/library/node:22.12.0-bookworm-slim';

  /** Base name of the objects and of the members (`<name>-<ordinal>`). */
  public readonly name: string;
  /** Number of members. */
  public readonly replicas: number;
  /** The headless Service that gives every member a stable DNS name, ready or not. */
  public readonly peerServiceName: string;
  /** The ClusterIP Service of Synced members, for tools (OpenStack services should go through ProxySQL). */
  public readonly clientServiceName: string;
  /**
   * Every member in ordinal order: pod name, DNS name, and (with localVolume storage) node, claim and volume.
   * Other constructs (ProxySQL, HAProxy, the topology summary) read members here instead of rebuilding names.
   */
  public readonly members: GaleraMember[];
  /** The database accounts, for ProxySqlLayer. */
  public readonly users: DatabaseUser[];
  /** The monitor account's name. */
  public readonly monitorUser: string;
  /** The monitor account's password. */
  public readonly monitorPassword: SecretValue;
  /** Labels that select the members' pods. */
  public readonly podSelector: Record<string, string>;
  /** The MySQL port. */
  public readonly port: number;
  /**
   * The recovery agent's port: `GET /synced` answers 200 only on a Primary, Synced member, `GET /writer` only on
   * the member the replicated writer row names, while it is Primary and Synced.
   */
  public readonly agentPort: number;
  /** The member named as the writer when the cluster is created (the members move it when it is not Synced). */
  public readonly writerOrdinal: number;
  /**
   * The Secret holding the members' certificate (`tls.crt`, `tls.key`, `ca.crt` by default), when TLS is on:
   * clients verify the members with its CA; monitoring can read its expiry.
   */
  public readonly tlsSecretName?: string;
  /** Whether the members refuse clients without TLS (`tls.requireSecureTransport`). */
  public readonly requiresSecureTransport: boolean;
  /** The underlying StatefulSet (escape hatch: every construct of this library names its workload `workload`). */
  public readonly workload: k8s.KubeStatefulSet;
  /** The resolved cluster, for constructs of this library that extend the members' pods (GaleraBackup). @internal */
  public readonly _model: GaleraModel;
  /**
   * Where the members' certificate came from, when TLS is on: GaleraBackup asks it for its job's client
   * certificate (same issuer, so each side verifies the other with its own `ca.crt`). @internal
   */
  public readonly _tlsCertificates?: TlsCertificates;
  /** A mysqld-exporter sidecar serves MariaDB's metrics on port 9104 (`metrics`). */
  public readonly metricsExporter: boolean;

  private readonly clients: ClientSelector[];
  private serverModel!: GaleraServerConfigModel;
  private binlog?: GaleraBinlogConfig;
  private readonly healthCheckers: ClientSelector[] = [];

  public constructor(scope: Construct, id: string, props: GaleraPetSetProps) {
    super(scope, id);
    const model = resolveGalera(id, props, Chart.of(this).namespace,
      { image: GaleraPetSet.DEFAULT_IMAGE, agentImage: GaleraPetSet.DEFAULT_AGENT_IMAGE });
    let tlsMaterial: TlsMaterial | undefined;
    const serverConfig = validateGalera(id, props, model, (v) => {
      tlsMaterial = props.tls!.certificates._certificateFor(this, galeraCertificateRequest(model), v);
    });
    const tls = tlsMaterial && galeraTlsMount(tlsMaterial);
    this.tlsSecretName = tlsMaterial?.secretName;
    this._tlsCertificates = tlsMaterial ? props.tls?.certificates : undefined;
    this.requiresSecureTransport = model.tls?.requireSecureTransport === true;
    registerAppChecks(this);
    this._model = model;

    const name = model.name;
    this.name = name;
    this.replicas = model.replicas;
    this.members = [...model.members];
    this.users = model.users;
    this.monitorUser = model.monitorUser;
    this.monitorPassword = model.credentials.monitorPassword;
    this.port = model.ports.mysql;
    this.agentPort = model.ports.agent;
    this.writerOrdinal = model.writerOrdinal;
    this.metricsExporter = model.metricsExporter;
    this.clients = [...(props.allowedClients ?? [])];
    this.peerServiceName = model.peerServiceName;
    this.clientServiceName = model.clientServiceName;
    const selector = selectorLabels(name, COMPONENT);
    this.podSelector = selector;
    const labels = standardLabels(name, COMPONENT);

    const hash = this.configMaps(model, serverConfig, labels, tls);
    this.services(model, labels, selector);
    if (model.storage?.mode === 'localVolume') this.localVolumes(model, labels);
    this.workload = this.statefulSet(model, props.placement, labels, selector, hash, tls);
    // A majority must stay up through voluntary disruptions: integer minAvailable, never a percentage.
    podDisruptionBudget(this, 'Budget', { name, labels, selector, minAvailable: model.quorum });
    this.networkPolicy(model, labels, selector);
  }

  /** Lets more pods reach MySQL (3306), e.g. ProxySQL. */
  public allowClients(client: ClientSelector): void {
    const v = new Validator(`GaleraPetSet '${this.node.id}'.allowClients`);
    validateClientSelectors(v, 'client', [client]);
    v.throwIfInvalid();
    this.clients.push(client);
  }

  /** Lets pods read the agent's health endpoints (port 9200: `/synced`, `/writer`), e.g. HAProxy's Galera checks. */
  public allowHealthChecks(client: ClientSelector): void {
    const v = new Validator(`GaleraPetSet '${this.node.id}'.allowHealthChecks`);
    validateClientSelectors(v, 'client', [client]);
    v.throwIfInvalid();
    this.healthCheckers.push(client);
  }

  /** The static server config, users, scripts and agent bundle; returns the pod's config hash. */
  private configMaps(model: GaleraModel, serverConfig: CheckedServerConfig, labels: Record<string, string>, tls: TlsMount | undefined): string {
    const serverModel: GaleraServerConfigModel = {
      ...GALERA_SERVER_DEFAULTS,
      clusterName: model.clusterName,
      peerHosts: model.members.map((m) => m.host),
      gcacheSize: model.gcacheSize,
      tmpDiskTableSizeMiB: Math.floor(model.tmpSizeMiB / 2),
      // Checked: nothing the library owns, provider options merged into ours key by key.
      overrides: serverConfig.overrides,
      ...(Object.keys(serverConfig.providerOptions).length > 0 ? { providerOptions: serverConfig.providerOptions } : {}),
      ...(tls && model.tls ? { tls: { ...model.tls, certificate: tls.paths.certificate, privateKey: tls.paths.privateKey, ca: tls.paths.ca } } : {}),
    };
    this.serverModel = serverModel;
    // Rendered at synth: GaleraBackup may turn binary logs on after this constructor (_enableBinlog).
    const configData = () => ({
      // Also checks the merged, rendered file (every owned option once, with our value): the last guard.
      'server.cnf': renderServerConfig(this.binlog ? { ...serverModel, binlog: this.binlog } : serverModel),
      'users.tsv': renderUsersFile(model.userModels),
    });
    const scripts = galeraScripts();
    const agent = galeraAgentBundle();
    const maps = galeraConfigMapNames(model);
    new k8s.KubeConfigMap(this, 'Config', { metadata: { name: maps.config, labels }, data: Lazy.any({ produce: configData }) });
    new k8s.KubeConfigMap(this, 'Scripts', { metadata: { name: maps.scripts, labels }, data: scripts });
    new k8s.KubeConfigMap(this, 'Agent', { metadata: { name: maps.agent, labels }, data: agent });
    return Lazy.any({ produce: () => configHash(configData(), scripts, agent) });
  }

  /**
   * @internal GaleraBackup's binary log archive: binary logs with cluster-consistent GTIDs in server.cnf (from the
   * next roll). Refused when the user's serverConfig sets one of these options: theirs would win and break the archive.
   */
  public _enableBinlog(binlog: GaleraBinlogConfig): void {
    const v = new Validator(`GaleraPetSet '${this.node.id}'`);
    const ours = renderServerConfig({ ...this.serverModel, overrides: {}, binlog }, false);
    const mine = new Set(readIni(ours).map((o) => normalizeOptionName(o.key)));
    const without = new Set(readIni(renderServerConfig({ ...this.serverModel, overrides: {} }, false)).map((o) => normalizeOptionName(o.key)));
    for (const [section, values] of Object.entries(this.serverModel.overrides ?? {})) {
      for (const key of Object.keys(values)) {
        const name = normalizeOptionName(key);
        v.check(mine.has(name) && !without.has(name), `serverConfig.${section}.${key}`, values[key],
          'is set by GaleraBackup\'s binlogArchive (binary logs with cluster GTIDs): remove it, or turn binlogArchive off');
      }
    }
    v.throwIfInvalid();
    this.binlog = binlog;
  }

  private services(model: GaleraModel, labels: Record<string, string>, selector: Record<string, string>): void {
    const servicePort = (portName: keyof GaleraModel['ports']): k8s.ServicePort => ({
      name: portName, port: model.ports[portName], targetPort: k8s.IntOrString.fromString(portName), protocol: 'TCP',
    });
    new k8s.KubeService(this, 'Peers', {
      metadata: { name: model.peerServiceName, labels },
      spec: {
        clusterIp: 'None',
        // Members must find each other while none is Ready: that is exactly the state of a cluster to recover.
        publishNotReadyAddresses: true,
        selector,
        ports: (['mysql', 'galera', 'ist', 'sst', 'agent'] as const).map(servicePort),
      },
    });
    new k8s.KubeService(this, 'Client', {
      metadata: { name: model.clientServiceName, labels },
      spec: { type: 'ClusterIP', selector, ports: [servicePort('mysql')] },
    });
  }

  private statefulSet(model: GaleraModel, placement: Placement, labels: Record<string, string>,
    selector: Record<string, string>, hash: string, tls: TlsMount | undefined): k8s.KubeStatefulSet {
    const pod = galeraPod(model, tls);
    const annotations: Record<string, string> = { [CONFIG_HASH_ANNOTATION]: hash };
    if (pod.grants.length > 0) annotations[CAPABILITIES_ANNOTATION] = describeGrants(pod.grants);
    const storage = model.storage;
    return new k8s.KubeStatefulSet(this, 'Resource', {
      metadata: { name: model.name, labels },
      spec: {
        serviceName: model.peerServiceName,
        replicas: model.replicas,
        // Every member must start at once: the election needs all of them, and member 0 may not be the newest.
        podManagementPolicy: 'Parallel',
        updateStrategy: { type: 'RollingUpdate' },
        selector: { matchLabels: selector },
        // Data outlives the StatefulSet and scale-downs: deleting a cluster's data is an operator's decision.
        persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
        template: {
          metadata: { labels, annotations },
          spec: {
            ...basePodSpec(),
            // A clean InnoDB shutdown with a large buffer pool, and a clean Galera leave, take time; a killed
            // member loses its seqno in grastate.dat and needs --wsrep-recover (which the entrypoint does).
            terminationGracePeriodSeconds: 600,
            securityContext: restrictedPodSecurityContext(MYSQL_UID),
            affinity: placement._affinity(selector),
            tolerations: placement._tolerations(),
            initContainers: pod.initContainers.length > 0 ? pod.initContainers : undefined,
            containers: pod.containers,
            volumes: pod.volumes,
          },
        },
        // The template's name, `data`, is the prefix of every member's claimName in the model.
        volumeClaimTemplates: storage?.mode === 'hostPath' ? undefined : [{
          metadata: { name: 'data', labels },
          spec: {
            accessModes: ['ReadWriteOnce'],
            storageClassName: model.storageClassName,
            resources: { requests: { storage: k8s.Quantity.fromString(storage?.size ?? '') } },
          },
        }],
      },
    });
  }

  /** One `local` PV per member on its node, pre-bound to its claim, and the no-provisioner StorageClass. */
  private localVolumes(model: GaleraModel, labels: Record<string, string>): void {
    const storageClassName = model.storageClassName ?? '';
    const storageClass = new k8s.KubeStorageClass(this, 'StorageClass', {
      metadata: { name: storageClassName, labels },
      provisioner: 'kubernetes.io/no-provisioner',
      // Bind when the pod is scheduled, so the scheduler honours the volume's node together with the pod's rules.
      volumeBindingMode: 'WaitForFirstConsumer',
      reclaimPolicy: 'Retain',
    });
    clusterScoped(storageClass);
    for (const member of model.members) {
      const pv = new k8s.KubePersistentVolume(this, `Volume${member.ordinal}`, {
        metadata: { name: member.volumeName ?? '', labels: { ...labels, [MEMBER_LABEL]: member.podName } },
        spec: {
          capacity: { storage: k8s.Quantity.fromString(model.storage?.size ?? '') },
          accessModes: ['ReadWriteOnce'],
          volumeMode: 'Filesystem',
          persistentVolumeReclaimPolicy: 'Retain',
          storageClassName,
          local: { path: model.storage?.path ?? '' },
          claimRef: { namespace: model.namespace ?? '', name: member.claimName ?? '' },
          nodeAffinity: {
            required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [member.node ?? ''] }] }] },
          },
        },
      });
      clusterScoped(pv);
    }
  }

  /**
   * Replication, IST, SST and agent ports only between members; MySQL only from allowed clients; the agent's
   * health endpoint only from allowed health checkers. Rendered lazily so allowClients() after construction counts.
   */
  private networkPolicy(model: GaleraModel, labels: Record<string, string>, selector: Record<string, string>): void {
    const ports = model.ports;
    const tcp = (port: number): k8s.NetworkPolicyPort => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) });
    new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata: { name: model.name, labels },
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ['Ingress'],
        ingress: Lazy.any({
          produce: () => [
            { from: [{ podSelector: { matchLabels: selector } }], ports: [ports.galera, ports.ist, ports.sst, ports.agent].map(tcp) },
            ...(this.clients.length > 0 ? [{ from: this.clients.flatMap(toNetworkPolicyPeers), ports: [tcp(ports.mysql)] }] : []),
            ...(this.healthCheckers.length > 0 ? [{ from: this.healthCheckers.flatMap(toNetworkPolicyPeers), ports: [tcp(ports.agent)] }] : []),
          ],
        }),
      },
    });
  }
}
