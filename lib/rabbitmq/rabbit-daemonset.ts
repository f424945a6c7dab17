import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { configHash } from '../common/config-hash';
import { dataOwnerInitContainer } from '../common/data-owner';
import { oneNodeAtATimeDaemonSet } from '../common/daemon-set';
import { daemonSetBudget } from '../common/disruption';
import { CAPABILITIES_ANNOTATION, CONFIG_HASH_ANNOTATION, selectorLabels, standardLabels } from '../common/labels';
import { DEFAULT_OPENSTACK_RELEASE, OpenStackRelease, validateOpenStackRelease } from '../common/openstack-release';
import { InventoryNode, Placement } from '../common/placement';
import { ContainerResources, resolveResources, toResourceRequirements } from '../common/resources';
import { SecretValue } from '../common/secret';
import { CapabilityGrant, containerSecurityContext, describeGrants, restrictedPodSecurityContext } from '../common/security';
import { registerAppChecks } from '../common/app-checks';
import { Validator } from '../common/validation';
import { basePodSpec } from '../common/pod';
import { k8s } from '../k8s';
import { RABBIT_PATHS } from './config';
import { START_SCRIPT, TLS_START_SCRIPT, rabbitScripts, rabbitTlsScripts } from './assets';
import { validateDaemonSetProps } from './validation';
import { credentialsMount, credentialsVolume } from './credentials';
import { BrokerEnvVar, brokerEnv, brokerLifecycle, brokerPorts, brokerTemplateFiles } from './container';
import { erlangNodeName, RabbitClusterOptions, RabbitUser, ResolvedRabbitCluster, resolveRabbitClusterInto } from './model';
import { OsloMessaging, OsloMessagingProfile } from './oslo';
import { RabbitClientTls, RabbitTlsOptions, RABBIT_TLS_PATHS, rabbitCertificateRequest, rabbitClientTlsProblems, rabbitTlsProblems, resolveRabbitTls } from './tls';
import { RabbitVersion } from './version';
import { TlsMaterial } from '../tls/model';
import { tlsMount } from '../tls/pod';

/** The `rabbitmq` user of the official image. */
const RABBITMQ_UID = 999;
const COMPONENT = 'rabbitmq';

export interface RabbitDaemonSetProps extends RabbitClusterOptions {
  /**
   * The nodes that run a broker, one each. It must carry the inventory (node names and IPs): the brokers'
   * peer list, host table and the clients' transport URLs are rendered from it, in its order (the first node
   * is the seed that forms a new cluster).
   */
  readonly placement: Placement;
  /** Release line: decides how notifications are replicated and which config keys exist. */
  readonly version: RabbitVersion;
  /** Key of an existing Secret holding the Erlang cookie (the brokers' shared cluster secret; 20+ random characters). */
  readonly erlangCookie: SecretValue;
  /** Broker users: one administrator, one per OpenStack service (and monitoring). Passwords are Secret references. */
  readonly users: RabbitUser[];
  /**
   * Base name of the Kubernetes objects.
   *
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * `cluster_name` (management UI, metrics labels).
   *
   * @default - the name
   */
  readonly clusterName?: string;
  /**
   * The broker container's resources. RabbitMQ's memory watermark is computed from the memory limit (less
   * headroom for the Erlang VM), and its schedulers from the CPU limit, not from the host's RAM and cores.
   *
   * @default - requests 500m CPU / 2048 MiB, limits 2000m CPU / 2048 MiB
   */
  readonly resources?: ContainerResources;
  /**
   * Directory on each node that holds the broker's data (a hostPath, created if missing and given to the
   * rabbitmq user). It must survive pod restarts: a broker that comes back blank has to be re-added.
   *
   * @default - "/var/lib/rabbitmq/<namespace>-<name>" ("/var/lib/rabbitmq/<name>" in a chart without a namespace)
   */
  readonly dataPath?: string;
  /**
   * How long a stopping broker waits for its queues to have a synchronised replica elsewhere, and then for
   * the drain (maintenance mode), each. The pod's grace period is twice this plus 60 s.
   *
   * @default 300
   */
  readonly drainTimeoutSeconds?: number;
  /**
   * Broker image (the official `rabbitmq` management image or one with the same layout: bash, the RabbitMQ
   * CLI tools on the PATH, the `rabbitmq` user as uid 999). Required with `RabbitVersion.V3_10`, which pins none.
   *
   * @default - version.image, the pinned official image of the release line
   */
  readonly image?: string;
  /**
   * The OpenStack release line of the services that connect: the oslo options of the connection outputs are
   * those its oslo.messaging has, and a line that cannot replicate notifications on this broker line is refused.
   *
   * @default OpenStackRelease.V2026_1
   */
  readonly openStackRelease?: OpenStackRelease;
  /**
   * TLS: AMQPS (plaintext AMQP closed unless `plaintextAmqp`), HTTPS management, the Erlang distribution and the CLI
   * tools over TLS; certificate `<name>-tls` covering every broker's node name and IP, renewed in place (a watcher in
   * the broker container checks the new pair and clears Erlang's PEM cache: no restart). The connection outputs
   * then carry `ssl = true` and AMQPS URLs. See the README, "TLS".
   *
   * @default - plaintext AMQP, HTTP management, plain distribution (firewall the ports on the nodes)
   */
  readonly tls?: RabbitTlsOptions;
}

/**
 * A RabbitMQ cluster for OpenStack: one broker per node on the host network, peers from a fixed node list
 * (`classic_config`, no StatefulSet ordinal needed), `pause_minority` where the release line has it, and
 * replication only for notifications (a vhost of their own); RPC stays transient and unreplicated.
 *
 * Clients get every broker in their transport URL (`transportUrl`, `notificationsTransportUrl`); there is no
 * load-balancing Service in between. Host-network pods are outside NetworkPolicy: firewall the ports on the nodes.
 */
export class RabbitDaemonSet extends Construct {
  /** Base name of the objects. */
  public readonly name: string;
  public readonly version: RabbitVersion;
  /** The brokers' nodes, in peer-list order (the first is the seed). */
  public readonly nodes: InventoryNode[];
  /** `rabbit@<node>` of every broker, in the same order. */
  public readonly erlangNodeNames: string[];
  /** The broker users' names. */
  public readonly userNames: string[];
  public readonly amqpPort: number;
  /**
   * The AMQPS port, with `tls` (the port of the transport URLs then).
   *
   * @default - none: no TLS
   */
  public readonly amqpsPort?: number;
  /** The management API's port (HTTPS with `tls`). */
  public readonly managementPort: number;
  /**
   * The Secret with the brokers' certificate, with `tls`.
   *
   * @default - none: no TLS
   */
  public readonly tlsSecretName?: string;
  /** Clients must present a certificate signed by the CA (`tls.verifyClients`). */
  public readonly requiresClientCertificates: boolean;
  public readonly prometheusPort: number;
  public readonly rpcVhost: string;
  public readonly notificationsVhost: string;
  /** The OpenStack release line the oslo options are for. */
  public readonly openStackRelease: OpenStackRelease;
  /**
   * The oslo.messaging options that match how this release line replicates: `rpc` for
   * `[oslo_messaging_rabbit]`, `notifications` for the notifications transport URL's query.
   */
  public readonly recommendedOsloOptions: OsloMessagingProfile;
  /** Labels that select the brokers' pods. */
  public readonly podSelector: Record<string, string>;
  /** The underlying DaemonSet (escape hatch: every construct of this library names its workload `workload`). */
  public readonly workload: k8s.KubeDaemonSet;

  /** Each user's vhosts, to refuse a URL the user could not log in to. */
  private readonly vhostsOf: Map<string, readonly string[]>;

  public constructor(scope: Construct, id: string, props: RabbitDaemonSetProps) {
    super(scope, id);
    const name = props.name ?? id;
    const placement = props.placement;
    const resources = resolveResources(props.resources, {
      cpuRequestMillis: 500, cpuLimitMillis: 2000, memoryRequestMiB: 2048, memoryLimitMiB: 2048,
    });
    const drainTimeoutSeconds = props.drainTimeoutSeconds ?? 300;
    // Two clusters of one name in two namespaces must not share a node's directory.
    const namespace = Chart.of(this).namespace;
    const dataPath = props.dataPath ?? `/var/lib/rabbitmq/${namespace ? `${namespace}-` : ''}${name}`;

    const v = new Validator(`RabbitDaemonSet '${id}'`);
    const memoryOk = validateDaemonSetProps(v, props, { name, resources, drainTimeoutSeconds, dataPath });
    let cluster = resolveRabbitClusterInto(v, {
      ...props,
      clusterName: props.clusterName ?? name,
      nodes: placement.nodes ?? [],
      memoryLimitBytes: memoryOk && Number.isSafeInteger(resources.memoryLimitMiB) ? resources.memoryLimitMiB * 1024 * 1024 : undefined,
    }, { requireDeployableVersion: props.image === undefined, nodesProp: 'placement nodes' });
    if (props.tls !== undefined) {
      const ports = { amqpPort: cluster.amqpPort, managementPort: cluster.managementPort, prometheusPort: cluster.prometheusPort, distributionPort: cluster.distributionPort };
      for (const p of rabbitTlsProblems(props.tls, ports)) v.add(p.field, p.value, p.fix);
    }
    const release = props.openStackRelease ?? DEFAULT_OPENSTACK_RELEASE;
    if (validateOpenStackRelease(v, 'openStackRelease', release) && cluster.version instanceof RabbitVersion) {
      OsloMessaging._validateRelease(v, 'openStackRelease', cluster.version, release);
    }
    // The certificate covers the brokers' names and IPs: asked for only once they (and the tls prop) are sound.
    let tlsMaterial: TlsMaterial | undefined;
    if (props.tls !== undefined && v.errors.length === 0) {
      tlsMaterial = props.tls.certificates._certificateFor(this, rabbitCertificateRequest(name, namespace, cluster.nodes), v);
    }
    v.throwIfInvalid();
    registerAppChecks(this);
    const tls = props.tls && resolveRabbitTls(props.tls);
    if (tls) cluster = { ...cluster, tls };

    this.name = name;
    this.version = cluster.version;
    this.nodes = [...cluster.nodes];
    this.erlangNodeNames = cluster.nodes.map((n) => erlangNodeName(n.name));
    this.userNames = cluster.users.map((u) => u.name);
    this.vhostsOf = new Map(cluster.users.map((u) => [u.name, u.vhosts]));
    this.amqpPort = cluster.amqpPort;
    this.amqpsPort = tls?.amqpsPort;
    this.managementPort = tls ? tls.managementPort : cluster.managementPort;
    this.tlsSecretName = tlsMaterial?.secretName;
    this.requiresClientCertificates = tls?.verifyClients === true;
    this.prometheusPort = cluster.prometheusPort;
    this.rpcVhost = cluster.rpcVhost;
    this.notificationsVhost = cluster.notificationsVhost;
    this.openStackRelease = release;
    this.recommendedOsloOptions = OsloMessaging.recommendedOptions(cluster.version, release);
    const selector = selectorLabels(name, COMPONENT);
    this.podSelector = selector;
    const labels = standardLabels(name, COMPONENT);

    // --- configuration: templates (no secret in them) and the start script --------------------------------
    const templates = brokerTemplateFiles(cluster);
    const scripts = tls ? { ...rabbitScripts(), ...rabbitTlsScripts() } : rabbitScripts();
    new k8s.KubeConfigMap(this, 'Config', { metadata: { name: `${name}-config`, labels }, data: templates });
    new k8s.KubeConfigMap(this, 'Scripts', { metadata: { name: `${name}-scripts`, labels }, data: scripts });

    // Headless: for monitoring (a ServiceMonitor needs a Service) and tools; clients list the brokers themselves.
    const ports = brokerPorts(cluster);
    new k8s.KubeService(this, 'Service', {
      metadata: { name, labels },
      spec: {
        clusterIp: 'None',
        selector,
        ports: ports.filter((p) => ['amqp', 'amqps', 'management', 'prometheus'].includes(p.name))
          .map((p) => ({ name: p.name, port: p.port, targetPort: k8s.IntOrString.fromNumber(p.port), protocol: 'TCP' })),
      },
    });

    this.workload = this.daemonSet(name, labels, selector, cluster, {
      placement, resources, drainTimeoutSeconds, dataPath, templates, scripts,
      erlangCookie: props.erlangCookie, image: props.image ?? cluster.version.image, tlsMaterial,
    });

    // Evictions (kubectl drain without --ignore-daemonsets, cluster autoscalers) take one broker at a time.
    // All but one broker stay up: with three or more that is a majority, so pause_minority never pauses the rest.
    daemonSetBudget(this, 'Budget', { name, labels, selector, nodeCount: this.nodes.length });
  }

  /**
   * `[DEFAULT] transport_url` for a service: every broker, the RPC vhost, and a password placeholder
   * (`@@RABBITMQ_PASSWORD_<USER>@@`) that whoever renders the service's config replaces, percent-encoded.
   */
  public transportUrl(user: string): string {
    return OsloMessaging.transportUrl(this.transport(user, [this.rpcVhost]), this.rpcVhost);
  }

  /**
   * `[oslo_messaging_notifications] transport_url`: every broker, the notifications vhost, and the query that
   * makes oslo declare replicated queues on this release line. Every publisher and consumer of a notification
   * queue (ceilometer included) must use this same URL: queue arguments must agree between declarers.
   */
  public notificationsTransportUrl(user: string): string {
    return OsloMessaging.transportUrl(this.transport(user, [this.notificationsVhost]), this.notificationsVhost, this.recommendedOsloOptions.notifications);
  }

  /**
   * A service's whole messaging configuration as section -> option -> value: `[DEFAULT] transport_url`,
   * `[oslo_messaging_notifications]` and `[oslo_messaging_rabbit]` (render it with `OsloMessaging.renderIni`).
   */
  public osloConfig(user: string, clientTls?: RabbitClientTls): { [section: string]: { [option: string]: string } } {
    if (this.amqpsPort !== undefined) {
      const v = new Validator(`RabbitDaemonSet '${this.node.id}'.osloConfig`);
      for (const p of rabbitClientTlsProblems('clientTls', this.requiresClientCertificates, clientTls)) v.add(p.field, p.value, p.fix);
      v.throwIfInvalid();
    }
    return OsloMessaging.config({
      ...this.transport(user, [this.rpcVhost, this.notificationsVhost]),
      ...(this.amqpsPort !== undefined && clientTls ? { tls: clientTls } : {}),
      version: this.version,
      openStackRelease: this.openStackRelease,
      rpcVhost: this.rpcVhost,
      notificationsVhost: this.notificationsVhost,
    });
  }

  /** Where `user` connects; throws when the cluster has no such user or it has no permission on a needed vhost. */
  private transport(user: string, vhosts: string[]) {
    const granted = this.vhostsOf.get(user);
    if (granted === undefined) {
      throw new Error(`RabbitDaemonSet '${this.node.id}': no user ${JSON.stringify(user)}; users are ${this.userNames.join(', ')}`);
    }
    const missing = vhosts.filter((vh) => !granted.includes(vh));
    if (missing.length > 0) {
      throw new Error(`RabbitDaemonSet '${this.node.id}': user ${JSON.stringify(user)} has no permission on vhost ${missing.map((vh) => JSON.stringify(vh)).join(', ')}; `
        + 'add it to the user\'s vhosts, or use the URL of the vhost it has');
    }
    return { user, nodes: this.nodes, port: this.amqpsPort ?? this.amqpPort };
  }

  private daemonSet(name: string, labels: Record<string, string>, selector: Record<string, string>, cluster: ResolvedRabbitCluster, o: {
    placement: Placement;
    resources: ReturnType<typeof resolveResources>;
    drainTimeoutSeconds: number;
    dataPath: string;
    templates: Record<string, string>;
    scripts: Record<string, string>;
    erlangCookie: SecretValue;
    image: string;
    tlsMaterial?: TlsMaterial;
  }): k8s.KubeDaemonSet {
    const lifecycle = brokerLifecycle(cluster, o.drainTimeoutSeconds);
    const cpus = Math.max(1, Math.floor(o.resources.cpuLimitMillis / 1000));
    const dataMount: k8s.VolumeMount = { name: 'data', mountPath: RABBIT_PATHS.dataDir };
    const cookieDir = RABBIT_PATHS.cookieSource.slice(0, RABBIT_PATHS.cookieSource.lastIndexOf('/'));
    const cookieFile = RABBIT_PATHS.cookieSource.slice(cookieDir.length + 1);
    // Key 0440 root:fsGroup (the rabbitmq group): only the scripts read it, to install a checked copy the broker uses.
    const tls = o.tlsMaterial && tlsMount(o.tlsMaterial, 'tls', RABBIT_TLS_PATHS.source);

    const broker: k8s.Container = {
      name: 'rabbitmq',
      image: o.image,
      imagePullPolicy: 'IfNotPresent',
      command: ['bash', `${RABBIT_PATHS.scriptDir}/${tls ? TLS_START_SCRIPT : START_SCRIPT}`],
      env: brokerEnv(cluster, cpus).map(toEnvVar),
      ports: brokerPorts(cluster).map((p) => ({ name: p.name, containerPort: p.port, protocol: 'TCP' })),
      resources: toResourceRequirements(o.resources),
      // A paused (minority) broker closes its AMQP listener: it leaves the Service and clients fail over.
      readinessProbe: { tcpSocket: { port: k8s.IntOrString.fromNumber(lifecycle.readinessTcpPort) }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
      // Answers while paused and while waiting for peers' tables: only a hung VM is restarted.
      livenessProbe: {
        exec: { command: lifecycle.livenessCommand },
        periodSeconds: lifecycle.livenessPeriodSeconds,
        timeoutSeconds: lifecycle.livenessTimeoutSeconds,
        failureThreshold: lifecycle.livenessFailureThreshold,
      },
      lifecycle: { preStop: { exec: { command: lifecycle.preStopCommand } } },
      volumeMounts: [
        dataMount,
        { name: 'template', mountPath: RABBIT_PATHS.templateDir, readOnly: true },
        { name: 'render', mountPath: RABBIT_PATHS.renderDir },
        { name: 'cookie', mountPath: cookieDir, readOnly: true },
        { name: 'scripts', mountPath: RABBIT_PATHS.scriptDir, readOnly: true },
        { name: 'tmp', mountPath: '/tmp' },
        credentialsMount(),
        ...(tls ? [tls.mount] : []),
      ],
      securityContext: containerSecurityContext(),
    };

    const dataOwner = dataOwnerInitContainer({ image: o.image, uid: RABBITMQ_UID, dataDir: RABBIT_PATHS.dataDir, dataMount, user: 'rabbitmq' });
    const grants: CapabilityGrant[] = [dataOwner.grant];

    const annotations = {
      [CONFIG_HASH_ANNOTATION]: configHash(o.templates, o.scripts),
      [CAPABILITIES_ANNOTATION]: describeGrants(grants),
    };
    // One broker at a time (maxSurge stays 0: two brokers cannot share a node's ports); a restarted broker must
    // stay Ready for a while (mirrors synchronised, clients reconnected) before the next one stops.
    return oneNodeAtATimeDaemonSet(this, 'Resource', {
      name,
      labels,
      selector,
      minReadySeconds: 30,
      template: {
        metadata: { labels, annotations },
        spec: {
          ...basePodSpec({ hostNetwork: true }),
          terminationGracePeriodSeconds: lifecycle.terminationGracePeriodSeconds,
          securityContext: restrictedPodSecurityContext(RABBITMQ_UID),
          affinity: o.placement._affinity(selector),
          tolerations: o.placement._tolerations(),
          initContainers: [dataOwner.container],
          containers: [broker],
          volumes: [
            { name: 'data', hostPath: { path: o.dataPath, type: 'DirectoryOrCreate' } },
            { name: 'template', configMap: { name: `${name}-config` } },
            // Memory-backed: the rendered definitions hold passwords. It also hides the image's conf.d.
            { name: 'render', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('16Mi') } },
            // Group-readable: the Secret volume is owned by root with the pod's fsGroup; start.sh copies it 0600.
            { name: 'cookie', secret: { secretName: o.erlangCookie.secretName, items: [{ key: o.erlangCookie.key, path: cookieFile }], defaultMode: 0o440 } },
            { name: 'scripts', configMap: { name: `${name}-scripts`, defaultMode: 0o555 } },
            { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('256Mi') } },
            // The users' passwords, updated in place by the kubelet when a Secret changes (live rotation).
            credentialsVolume(cluster),
            ...(tls ? [tls.volume] : []),
          ],
        },
      },
    });
  }
}

function toEnvVar(e: BrokerEnvVar): k8s.EnvVar {
  if (e.fieldPath !== undefined) return { name: e.name, valueFrom: { fieldRef: { fieldPath: e.fieldPath } } };
  if (e.secret !== undefined) return { name: e.name, valueFrom: { secretKeyRef: { name: e.secret.secretName, key: e.secret.key } } };
  return { name: e.name, value: e.value };
}
