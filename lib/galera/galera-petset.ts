import { Chart, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { configHash } from '../common/config-hash';
import { registerAppChecks } from '../common/app-checks';
import { dataOwnerInitContainer } from '../common/data-owner';
import { validateImage } from '../common/k8s-rules';
import { podDisruptionBudget } from '../common/disruption';
import { CAPABILITIES_ANNOTATION, CONFIG_HASH_ANNOTATION, selectorLabels, standardLabels } from '../common/labels';
import { ClientSelector, toNetworkPolicyPeers, validateClientSelectors, validateObjectName } from '../common/network';
import { Placement } from '../common/placement';
import { clusterScoped } from '../common/scope';
import { ContainerResources, resolveResources, toResourceRequirements, validateResources } from '../common/resources';
import { SecretValue, validateSecretValue } from '../common/secret';
import { CapabilityGrant, containerSecurityContext, describeGrants, restrictedPodSecurityContext } from '../common/security';
import { Validator } from '../common/validation';
import { basePodSpec } from '../common/pod';
import { k8s } from '../k8s';
import { galeraAgentBundle, galeraScripts } from './assets';
import { DatabaseUser, GaleraCredentials } from './credentials';
import {
  GALERA_SERVER_DEFAULTS, GaleraServerConfigModel, parseKubernetesQuantity, parseSize, renderServerConfig, validateServerConfig,
} from './server-config';
import { GaleraStorage } from './storage';
import { DatabaseUserModel, databaseUserProblems, renderUsersFile } from './users';

/** Ports every member listens on; names are what other constructs and NetworkPolicies refer to. */
const PORTS = { mysql: 3306, galera: 4567, ist: 4568, sst: 4444, agent: 9200 } as const;
/** The `mysql` user of the official mariadb image. */
const MYSQL_UID = 999;
const COMPONENT = 'galera';
const RUN_DIR = '/run/galera';
const DATA_DIR = '/var/lib/mysql';
const SCRIPTS_DIR = '/opt/galera';
const CONFIG_DIR = '/etc/galera';
const AGENT_DIR = '/opt/galera-agent';
const RECOVERY_DIR = '/etc/galera-recovery';

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
   * The official MariaDB image (with mariabackup and socat, as the official image has).
   *
   * @default GaleraPetSet.DEFAULT_IMAGE
   */
  readonly image?: string;
  /**
   * A stock Node.js image (20 or later) for the recovery agent.
   *
   * @default GaleraPetSet.DEFAULT_AGENT_IMAGE
   */
  readonly agentImage?: string;
}

/**
 * A MariaDB Galera cluster on local disks, one member per node, that rebuilds itself after a full outage from
 * the member with the most recent data, with no operator: a recovery agent beside each member exchanges states
 * with its peers over the headless Service and tells mariadbd whether to join or (once) to bootstrap.
 */
export class GaleraPetSet extends Construct {
  /** The official MariaDB image, pinned (an LTS release). */
  public static readonly DEFAULT_IMAGE = 'docker.io/library/mariadb:11.4.7';
  /** The official Node.js image, pinned, for the recovery agent. */
  public static readonly DEFAULT_AGENT_IMAGE = 'docker.io/library/node:22.12.0-bookworm-slim';

  /** Base name of the objects and of the members (`<name>-<ordinal>`). */
  public readonly name: string;
  public readonly replicas: number;
  /** The headless Service that gives every member a stable DNS name, ready or not. */
  public readonly peerServiceName: string;
  /** The ClusterIP Service of Synced members, for tools (OpenStack services should go through ProxySQL). */
  public readonly clientServiceName: string;
  /** Every member's DNS name, in ordinal order. */
  public readonly memberHosts: string[];
  /** The database accounts, for ProxySqlLayer. */
  public readonly users: DatabaseUser[];
  /** The monitor account's name. */
  public readonly monitorUser: string;
  /** The monitor account's password. */
  public readonly monitorPassword: SecretValue;
  /** Labels that select the members' pods. */
  public readonly podSelector: Record<string, string>;
  /** The MySQL port. */
  public readonly port: number = PORTS.mysql;
  /** The recovery agent's port (`GET /synced` answers 200 only on a Primary, Synced member). */
  public readonly agentPort: number = PORTS.agent;
  public readonly statefulSet: k8s.KubeStatefulSet;

  private readonly clients: ClientSelector[];
  private readonly healthCheckers: ClientSelector[] = [];

  public constructor(scope: Construct, id: string, props: GaleraPetSetProps) {
    super(scope, id);
    const name = props.name ?? id;
    const replicas = props.replicas ?? 3;
    const users = [...(props.users ?? [])];
    const credentials = props.credentials;
    const sstUser = credentials.sstUser ?? 'mariabackup';
    const monitorUser = credentials.monitorUser ?? 'monitor';
    const gcacheSize = props.gcacheSize ?? GALERA_SERVER_DEFAULTS.gcacheSize;
    const tmpSizeMiB = props.tmpSizeMiB ?? 2048;
    const resources = resolveResources(props.resources, {
      cpuRequestMillis: 500, cpuLimitMillis: 4000, memoryRequestMiB: 2048, memoryLimitMiB: 2048,
    });
    const namespace = Chart.of(this).namespace;
    const storage = props.storage;

    const v = new Validator(`GaleraPetSet '${id}'`);
    validateObjectName(v, 'name', name, 40);
    v.check(!Number.isInteger(replicas) || replicas < 3 || replicas % 2 === 0, 'replicas', replicas,
      'must be odd and at least 3 (3, 5, 7): with an even count a partition can leave no side with a majority');
    props.placement._validate(v, 'placement', replicas);
    if (!(storage instanceof GaleraStorage)) {
      v.add('storage', storage, 'is not a storage mode; use GaleraStorage.localVolume(), .hostPath() or .storageClass()');
    } else {
      storage._validate(v, 'storage');
      if (storage.mode === 'localVolume') {
        v.check(props.placement.nodes === undefined, 'storage', 'localVolume',
          'pins member N to the N-th inventory node; give the placement an inventory (Placement.onNodes or `nodes`)');
        v.check(namespace === undefined, 'storage', 'localVolume',
          'pre-binds each volume to its member\'s claim, which needs a namespace; give the chart a namespace');
      }
    }
    for (const [prop, secret] of Object.entries({ rootPassword: credentials.rootPassword, sstPassword: credentials.sstPassword, monitorPassword: credentials.monitorPassword })) {
      validateSecretValue(v, `credentials.${prop}`, secret);
    }
    for (const [prop, account] of Object.entries({ sstUser, monitorUser })) {
      const problems = databaseUserProblems({ name: account, passwordEnv: 'X', databases: ['*'] }).filter((p) => p.field === 'name' && account !== 'root');
      for (const p of problems) v.add(`credentials.${prop}`, account, p.fix);
      v.check(account === 'root', `credentials.${prop}`, account, 'must not be the admin account; use a dedicated account, e.g. "mariabackup"');
    }
    v.check(sstUser === monitorUser, 'credentials.sstUser', sstUser, 'is also the monitor account; use two accounts');
    const gcacheBytes = typeof gcacheSize === 'string' && gcacheSize === gcacheSize.trim() ? parseSize(gcacheSize) : undefined;
    v.check(gcacheBytes === undefined || gcacheBytes < 1024 ** 2 || gcacheBytes > 2 ** 50, 'gcacheSize', gcacheSize,
      'is not a size Galera can allocate; use a whole number with an optional K, M, G or T, from 1M to 1024T, e.g. "1G" or "512M"');
    const volumeBytes = storage instanceof GaleraStorage && storage.size !== undefined ? parseKubernetesQuantity(storage.size) : undefined;
    if (gcacheBytes !== undefined && volumeBytes !== undefined) {
      // gcache is a file in the data directory; it must leave room for the data itself.
      v.check(gcacheBytes >= volumeBytes / 2, 'gcacheSize', gcacheSize,
        `does not fit storage.size ${JSON.stringify(storage.size)} with room for the data; keep gcacheSize under half of storage.size, or raise storage.size`);
    }
    const clusterName = props.clusterName ?? name;
    v.check(typeof clusterName !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(clusterName), 'clusterName', clusterName,
      'is not a cluster name; use 1-63 letters, digits, "_", "." or "-" starting with a letter or digit, e.g. "openstack"');
    const userModels = users.map((u, i) => toUserModel(v, `users[${i}]`, u));
    const accounts = users.map((u) => `${u.name}@${u.host ?? '%'}`);
    const envs = userModels.map((m) => m.passwordEnv);
    users.forEach((u, i) => {
      v.check(accounts.indexOf(accounts[i]) < i, `users[${i}].name`, u.name, `is defined more than once (as ${accounts[i]}); define each account once`);
      v.check(accounts.indexOf(accounts[i]) === i && envs.indexOf(envs[i]) < i, `users[${i}].name`, u.name,
        `has the same password variable as users[${envs.indexOf(envs[i])}] (the names differ only in punctuation or case); rename one`);
      v.check([sstUser, monitorUser].includes(u.name), `users[${i}].name`, u.name,
        'is a built-in account (credentials.sstUser or credentials.monitorUser); choose another name');
    });
    validateClientSelectors(v, 'allowedClients', props.allowedClients ?? []);
    validateResources(v, 'resources', resources);
    v.check(!Number.isInteger(tmpSizeMiB) || tmpSizeMiB < 256 || tmpSizeMiB > 1024 * 1024, 'tmpSizeMiB', tmpSizeMiB,
      'must be a whole number of MiB from 256 (on-disk temporary tables of ordinary queries need room) to 1048576 (1 TiB of node disk)');
    const recovery = props.recovery ?? {};
    const pcRecoverySeconds = recovery.pcRecoveryTimeoutSeconds ?? 60;
    const missingMemberSeconds = recovery.missingMemberTimeoutSeconds ?? 120;
    v.check(!(Number.isInteger(pcRecoverySeconds) && pcRecoverySeconds >= 10 && pcRecoverySeconds <= 3600), 'recovery.pcRecoveryTimeoutSeconds',
      pcRecoverySeconds, 'must be a whole number of seconds from 10 to 3600');
    v.check(!(Number.isInteger(missingMemberSeconds) && missingMemberSeconds >= 10 && missingMemberSeconds <= 86400), 'recovery.missingMemberTimeoutSeconds',
      missingMemberSeconds, 'must be a whole number of seconds from 10 to 86400');
    const serverConfig = validateServerConfig(v, 'serverConfig', props.serverConfig);
    validateImage(v, 'image', props.image ?? GaleraPetSet.DEFAULT_IMAGE);
    validateImage(v, 'agentImage', props.agentImage ?? GaleraPetSet.DEFAULT_AGENT_IMAGE);
    v.throwIfInvalid();
    registerAppChecks(this);

    this.name = name;
    this.replicas = replicas;
    this.users = users;
    this.monitorUser = monitorUser;
    this.monitorPassword = credentials.monitorPassword;
    this.clients = [...(props.allowedClients ?? [])];
    this.peerServiceName = `${name}-peers`;
    this.clientServiceName = name;
    const domain = namespace ? `${this.peerServiceName}.${namespace}.svc` : this.peerServiceName;
    this.memberHosts = Array.from({ length: replicas }, (_, i) => `${name}-${i}.${domain}`);
    const selector = selectorLabels(name, COMPONENT);
    this.podSelector = selector;
    const labels = standardLabels(name, COMPONENT);

    // --- configuration: static server config, users, scripts and the agent bundle -------------------------
    const serverModel: GaleraServerConfigModel = {
      ...GALERA_SERVER_DEFAULTS,
      clusterName,
      peerHosts: this.memberHosts,
      gcacheSize,
      tmpDiskTableSizeMiB: Math.floor(tmpSizeMiB / 2),
      // Checked: nothing the library owns, provider options merged into ours key by key.
      overrides: serverConfig.overrides,
      ...(Object.keys(serverConfig.providerOptions).length > 0 ? { providerOptions: serverConfig.providerOptions } : {}),
    };
    const configData = {
      // Also checks the merged, rendered file (every owned option once, with our value): the last guard.
      'server.cnf': renderServerConfig(serverModel),
      'users.tsv': renderUsersFile(userModels),
    };
    const scripts = galeraScripts();
    const agent = galeraAgentBundle();
    new k8s.KubeConfigMap(this, 'Config', { metadata: { name: `${name}-config`, labels }, data: configData });
    new k8s.KubeConfigMap(this, 'Scripts', { metadata: { name: `${name}-scripts`, labels }, data: scripts });
    new k8s.KubeConfigMap(this, 'Agent', { metadata: { name: `${name}-agent`, labels }, data: agent });

    // --- services -------------------------------------------------------------------------------------------
    const servicePort = (portName: keyof typeof PORTS): k8s.ServicePort => ({
      name: portName, port: PORTS[portName], targetPort: k8s.IntOrString.fromString(portName), protocol: 'TCP',
    });
    new k8s.KubeService(this, 'Peers', {
      metadata: { name: this.peerServiceName, labels },
      spec: {
        clusterIp: 'None',
        // Members must find each other while none is Ready: that is exactly the state of a cluster to recover.
        publishNotReadyAddresses: true,
        selector,
        ports: (['mysql', 'galera', 'ist', 'sst', 'agent'] as const).map(servicePort),
      },
    });
    new k8s.KubeService(this, 'Client', {
      metadata: { name: this.clientServiceName, labels },
      spec: { type: 'ClusterIP', selector, ports: [servicePort('mysql')] },
    });

    // --- storage --------------------------------------------------------------------------------------------
    const storageClassName = storage.mode === 'localVolume' ? storage.storageClassName ?? `${name}-local` : storage.storageClassName;
    if (storage.mode === 'localVolume') {
      const nodes = (props.placement.nodes ?? []).map((n) => n.name);
      this.localVolumes(name, namespace ?? '', storage, storageClassName ?? '', nodes, labels);
    }

    // --- pod --------------------------------------------------------------------------------------------------
    const secretEnv = (envName: string, secret: SecretValue) => secret._toEnvVar(envName);
    const fieldEnv = (envName: string, fieldPath: string): k8s.EnvVar => ({ name: envName, valueFrom: { fieldRef: { fieldPath } } });
    const exec = (...args: string[]) => ({ exec: { command: ['bash', `${SCRIPTS_DIR}/probe.sh`, ...args] } });
    const hostPathStorage = storage.mode === 'hostPath';
    const dataMount: k8s.VolumeMount = { name: 'data', mountPath: DATA_DIR, ...(hostPathStorage ? { subPathExpr: '$(POD_NAME)' } : {}) };

    const mariadb: k8s.Container = {
      name: 'mariadb',
      image: props.image ?? GaleraPetSet.DEFAULT_IMAGE,
      imagePullPolicy: 'IfNotPresent',
      // Through bash, so that the ConfigMap's file mode never matters.
      command: ['bash', `${SCRIPTS_DIR}/entrypoint.sh`],
      env: [
        fieldEnv('POD_NAME', 'metadata.name'),
        fieldEnv('POD_IP', 'status.podIP'),
        { name: 'GALERA_RUN_DIR', value: RUN_DIR },
        { name: 'GALERA_DATADIR', value: DATA_DIR },
        { name: 'GALERA_CONFIG_FILE', value: `${CONFIG_DIR}/server.cnf` },
        { name: 'GALERA_USERS_FILE', value: `${CONFIG_DIR}/users.tsv` },
        { name: 'GALERA_SST_PORT', value: String(PORTS.sst) },
        { name: 'GALERA_SST_USER', value: sstUser },
        secretEnv('GALERA_SST_PASSWORD', credentials.sstPassword),
        { name: 'GALERA_MONITOR_USER', value: monitorUser },
        secretEnv('GALERA_MONITOR_PASSWORD', credentials.monitorPassword),
        secretEnv('MARIADB_ROOT_PASSWORD', credentials.rootPassword),
        ...userModels.map((m, i) => secretEnv(m.passwordEnv, users[i].password)),
      ],
      ports: [
        { name: 'mysql', containerPort: PORTS.mysql, protocol: 'TCP' },
        { name: 'galera', containerPort: PORTS.galera, protocol: 'TCP' },
        { name: 'ist', containerPort: PORTS.ist, protocol: 'TCP' },
        { name: 'sst', containerPort: PORTS.sst, protocol: 'TCP' },
      ],
      resources: withEphemeralStorageRequest(toResourceRequirements(resources), tmpSizeMiB),
      // The liveness rule spares every phase but "running" and any SST in progress, so neither an SST nor a
      // recovery wait is ever killed; the startup probe only delays the first liveness check.
      startupProbe: { ...exec('live'), periodSeconds: 10, timeoutSeconds: 10, failureThreshold: 60 },
      livenessProbe: { ...exec('live'), periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
      // Ready only when Primary, Synced, not desynced, not rejecting queries: donors and joiners get no traffic.
      readinessProbe: { ...exec('ready'), periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 2, successThreshold: 1 },
      volumeMounts: [
        dataMount,
        { name: 'run', mountPath: RUN_DIR },
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
        { name: 'scripts', mountPath: SCRIPTS_DIR, readOnly: true },
      ],
      securityContext: containerSecurityContext(),
    };

    const agentContainer: k8s.Container = {
      name: 'agent',
      image: props.agentImage ?? GaleraPetSet.DEFAULT_AGENT_IMAGE,
      imagePullPolicy: 'IfNotPresent',
      command: ['node', `${AGENT_DIR}/agent.bundle.js`],
      env: [
        fieldEnv('POD_NAME', 'metadata.name'),
        { name: 'GALERA_CLUSTER_SIZE', value: String(replicas) },
        { name: 'GALERA_STATEFULSET', value: name },
        { name: 'GALERA_PEER_URL_TEMPLATE', value: `http://{name}.${domain}:${PORTS.agent}` },
        { name: 'GALERA_AGENT_PORT', value: String(PORTS.agent) },
        { name: 'GALERA_RUN_DIR', value: RUN_DIR },
        { name: 'GALERA_OVERRIDE_FILE', value: `${RECOVERY_DIR}/bootstrap-from` },
        { name: 'GALERA_PC_RECOVERY_SECONDS', value: String(pcRecoverySeconds) },
        { name: 'GALERA_BLOCK_AFTER_SECONDS', value: String(missingMemberSeconds) },
      ],
      ports: [{ name: 'agent', containerPort: PORTS.agent, protocol: 'TCP' }],
      resources: toResourceRequirements({ cpuRequestMillis: 20, cpuLimitMillis: 200, memoryRequestMiB: 64, memoryLimitMiB: 128 }),
      livenessProbe: { httpGet: { path: '/healthz', port: k8s.IntOrString.fromString('agent') }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
      readinessProbe: { httpGet: { path: '/healthz', port: k8s.IntOrString.fromString('agent') }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
      volumeMounts: [
        { name: 'run', mountPath: RUN_DIR },
        { name: 'agent', mountPath: AGENT_DIR, readOnly: true },
        // A directory mount (not subPath) so that the operator's override appears without a restart.
        { name: 'recovery', mountPath: RECOVERY_DIR, readOnly: true },
      ],
      // The same uid as mariadbd: both write files in the shared run dir that the other must read.
      securityContext: containerSecurityContext(),
    };

    const grants: CapabilityGrant[] = [];
    const initContainers: k8s.Container[] = [];
    if (hostPathStorage) {
      const owner = dataOwnerInitContainer({
        image: props.image ?? GaleraPetSet.DEFAULT_IMAGE, uid: MYSQL_UID, dataDir: DATA_DIR, dataMount,
        env: [fieldEnv('POD_NAME', 'metadata.name')], user: 'mysql',
      });
      grants.push(owner.grant);
      initContainers.push(owner.container);
    }

    const volumes: k8s.Volume[] = [
      { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('16Mi') } },
      { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString(`${tmpSizeMiB}Mi`) } },
      { name: 'config', configMap: { name: `${name}-config` } },
      { name: 'scripts', configMap: { name: `${name}-scripts` } },
      { name: 'agent', configMap: { name: `${name}-agent` } },
      { name: 'recovery', configMap: { name: `${name}-recovery`, optional: true } },
      ...(hostPathStorage ? [{ name: 'data', hostPath: { path: storage.path ?? '', type: 'DirectoryOrCreate' } }] : []),
    ];

    const annotations: Record<string, string> = { [CONFIG_HASH_ANNOTATION]: configHash(configData, scripts, agent) };
    if (grants.length > 0) annotations[CAPABILITIES_ANNOTATION] = describeGrants(grants);

    this.statefulSet = new k8s.KubeStatefulSet(this, 'Resource', {
      metadata: { name, labels },
      spec: {
        serviceName: this.peerServiceName,
        replicas,
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
            affinity: props.placement._affinity(selector),
            tolerations: props.placement._tolerations(),
            initContainers: initContainers.length > 0 ? initContainers : undefined,
            containers: [mariadb, agentContainer],
            volumes,
          },
        },
        volumeClaimTemplates: hostPathStorage ? undefined : [{
          metadata: { name: 'data', labels },
          spec: {
            accessModes: ['ReadWriteOnce'],
            storageClassName,
            resources: { requests: { storage: k8s.Quantity.fromString(storage.size ?? '') } },
          },
        }],
      },
    });

    // A majority must stay up through voluntary disruptions: integer minAvailable, never a percentage.
    podDisruptionBudget(this, 'Budget', { name, labels, selector, minAvailable: Math.floor(replicas / 2) + 1 });
    this.networkPolicy(name, labels, selector);
  }

  /** Lets more pods reach MySQL (3306), e.g. ProxySQL. */
  public allowClients(client: ClientSelector): void {
    const v = new Validator(`GaleraPetSet '${this.node.id}'.allowClients`);
    validateClientSelectors(v, 'client', [client]);
    v.throwIfInvalid();
    this.clients.push(client);
  }

  /** Lets pods read the agent's `/synced` health endpoint (port 9200), e.g. HAProxy's Galera checks. */
  public allowHealthChecks(client: ClientSelector): void {
    const v = new Validator(`GaleraPetSet '${this.node.id}'.allowHealthChecks`);
    validateClientSelectors(v, 'client', [client]);
    v.throwIfInvalid();
    this.healthCheckers.push(client);
  }

  /** One `local` PV per member on its node, pre-bound to its claim, and the no-provisioner StorageClass. */
  private localVolumes(name: string, namespace: string, storage: GaleraStorage, storageClassName: string,
    nodes: readonly string[], labels: Record<string, string>): void {
    const storageClass = new k8s.KubeStorageClass(this, 'StorageClass', {
      metadata: { name: storageClassName, labels },
      provisioner: 'kubernetes.io/no-provisioner',
      // Bind when the pod is scheduled, so the scheduler honours the volume's node together with the pod's rules.
      volumeBindingMode: 'WaitForFirstConsumer',
      reclaimPolicy: 'Retain',
    });
    clusterScoped(storageClass);
    for (let i = 0; i < this.replicas; i++) {
      const pv = new k8s.KubePersistentVolume(this, `Volume${i}`, {
        // PersistentVolumes are cluster-wide: the namespace in the name keeps two clusters apart.
        metadata: { name: `${namespace}-${name}-data-${i}`, labels: { ...labels, 'openstack-ha.cdk8s.io/member': `${name}-${i}` } },
        spec: {
          capacity: { storage: k8s.Quantity.fromString(storage.size ?? '') },
          accessModes: ['ReadWriteOnce'],
          volumeMode: 'Filesystem',
          persistentVolumeReclaimPolicy: 'Retain',
          storageClassName,
          local: { path: storage.path ?? '' },
          claimRef: { namespace, name: `data-${name}-${i}` },
          nodeAffinity: {
            required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [nodes[i]] }] }] },
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
  private networkPolicy(name: string, labels: Record<string, string>, selector: Record<string, string>): void {
    const tcp = (port: number): k8s.NetworkPolicyPort => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) });
    new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata: { name, labels },
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ['Ingress'],
        ingress: Lazy.any({
          produce: () => [
            { from: [{ podSelector: { matchLabels: selector } }], ports: [PORTS.galera, PORTS.ist, PORTS.sst, PORTS.agent].map(tcp) },
            ...(this.clients.length > 0 ? [{ from: this.clients.flatMap(toNetworkPolicyPeers), ports: [tcp(PORTS.mysql)] }] : []),
            ...(this.healthCheckers.length > 0 ? [{ from: this.healthCheckers.flatMap(toNetworkPolicyPeers), ports: [tcp(PORTS.agent)] }] : []),
          ],
        }),
      },
    });
  }
}

/** The users-file model of a user: its password travels in an env var named after it, fed by its Secret. */
function toUserModel(v: Validator, prop: string, user: DatabaseUser): DatabaseUserModel {
  validateSecretValue(v, `${prop}.password`, user.password);
  const model: DatabaseUserModel = {
    name: user.name,
    host: user.host,
    passwordEnv: userPasswordEnv(user),
    databases: [...user.databases],
    privileges: user.privileges,
    maxConnections: user.maxConnections,
  };
  for (const problem of databaseUserProblems(model)) {
    // The password variable is derived from the name: a bad one is the name's problem, already reported.
    if (problem.field !== 'passwordEnv') v.add(`${prop}.${problem.field}`, problem.value, problem.fix);
  }
  return model;
}

/** The env var that carries a user's password into the mariadb container: readable, and stable for the same user. */
function userPasswordEnv(user: DatabaseUser): string {
  const slug = (text: string) => text.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  const host = user.host ?? '%';
  return `GALERA_PASSWORD_${slug(user.name)}${host === '%' ? '' : `_AT_${slug(host)}`}`;
}

/** Reserves the tmpdir emptyDir on the node: the scheduler places the member only where that much disk is free. */
function withEphemeralStorageRequest(r: k8s.ResourceRequirements, mib: number): k8s.ResourceRequirements {
  return { ...r, requests: { ...r.requests, 'ephemeral-storage': k8s.Quantity.fromString(`${mib}Mi`) } };
}
