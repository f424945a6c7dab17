import { Construct } from 'constructs';
import { readAssets } from '../common/assets';
import { configHash } from '../common/config-hash';
import { CONFIG_HASH_ANNOTATION, standardLabels } from '../common/labels';
import { validateObjectName } from '../common/network';
import { ContainerResources, resolveResources, toResourceRequirements, validateResources } from '../common/resources';
import { SecretValue } from '../common/secret';
import { containerSecurityContext } from '../common/security';
import { Validator } from '../common/validation';
import { GaleraPetSet } from '../galera/galera-petset';
import { k8s } from '../k8s';
import { ServiceConnection } from './connections';
import { ServiceClientCertificate, TlsTrustBundle, serviceTlsParts, validateServiceTls } from './service-tls';

const COMPONENT = 'service-config';
const SCRIPT = 'render.js';
const TEMPLATE = 'template.conf';
/** One line per variable: `NAME<TAB>secret-name/key` (for the script's messages; the values come from the env). */
const VARIABLES = 'variables.tsv';
const DEFAULT_RESOURCES = { cpuRequestMillis: 10, cpuLimitMillis: 200, memoryRequestMiB: 64, memoryLimitMiB: 64 };
/** Where the init container sees the ConfigMap (script, template) and the memory-backed output volume. */
const RENDER_INPUT_DIR = '/opt/openstack-ha-render';
const RENDER_OUTPUT_DIR = '/run/openstack-ha-config';

/** What a service pod needs to render its config at start. */
export interface ServiceConfigRendererProps {
  /** The service's connection outputs (`OpenStackControlPlane.connection('nova')`). */
  readonly connection: ServiceConnection;
  /**
   * Base name of the ConfigMap (`<name>-ha-config`) and of the volumes.
   *
   * @default - the service's name
   */
  readonly name?: string;
  /**
   * The directory the rendered file appears in, in the service's containers. The default is the service's own
   * config directory, which oslo.config reads after the config files without any flag
   * (`/etc/<project>/<project>.conf.d`), so the service's own `nova.conf` (from your ConfigMap) stays as it is.
   *
   * @default "/etc/<service>/<service>.conf.d"
   */
  readonly mountPath?: string;
  /**
   * The rendered file's name.
   *
   * @default "openstack-ha.conf"
   */
  readonly fileName?: string;
  /**
   * The uid and gid the file belongs to (mode 0440): the service's user. openstack-helm's images run as 42424;
   * Kolla's nova as 42436.
   *
   * @default 42424
   */
  readonly runAsUser?: number;
  /**
   * The init container's image: a stock Node.js image runs the render script (Node built-ins only).
   *
   * @default - the image of the Galera recovery agent (`GaleraPetSet.DEFAULT_AGENT_IMAGE`), already on the nodes
   */
  readonly image?: string;
  /**
   * The init container's resources.
   *
   * @default - requests 10m CPU / 64 MiB, limits 200m CPU / 64 MiB
   */
  readonly resources?: ContainerResources;
  /**
   * The CA bundle that verifies the HA layer's daemons, mounted where the connection names it
   * (`connection.caBundlePath`, e.g. `/etc/openstack-ha-tls/ca.crt`), in `volumes` and `volumeMounts`. Give it
   * when a component the service reaches has TLS; leave it out to mount the file yourself.
   *
   * @default - none mounted
   */
  readonly caBundle?: TlsTrustBundle;
  /**
   * The service's client certificate, mounted at `connection.clientCertificatePath` and `clientKeyPath` (key mode
   * 0440: set the pod's `securityContext.fsGroup` to `fsGroup`). Required with `caBundle` when memcached or RabbitMQ verifies
   * clients (`verifyClients`), refused otherwise.
   *
   * @default - none mounted
   */
  readonly clientCertificate?: ServiceClientCertificate;
}

/** The init container, volumes and mount for a service pod, as plain data (pure: same input, same output). */
export interface ServiceConfigPodParts {
  readonly initContainer: k8s.Container;
  readonly volumes: k8s.Volume[];
  readonly volumeMount: k8s.VolumeMount;
  /** `volumeMount` and the TLS files' mounts. */
  readonly volumeMounts: k8s.VolumeMount[];
  readonly fsGroup?: number;
  readonly configFile: string;
  readonly configMapData: Record<string, string>;
  readonly configHash: string;
}

/** The Secret reference behind each placeholder, from `secretReferences` (`secret-name/key`). @internal */
export function placeholderSecrets(connection: ServiceConnection): Record<string, SecretValue> {
  return Object.fromEntries(Object.entries(connection.secretReferences).map(([name, ref]) => {
    const slash = ref.indexOf('/');
    return [name, SecretValue.fromSecret(ref.slice(0, slash), ref.slice(slash + 1))];
  }));
}

/** Every problem with the props, recorded in `v`. @internal */
export function validateServiceConfig(v: Validator, props: ServiceConfigRendererProps, name: string, mountPath: string, fileName: string): void {
  // Room for the longest derived name, `<name>-ha-config-render`.
  validateObjectName(v, 'name', name, 63 - '-ha-config-render'.length);
  v.check(!/^\/[A-Za-z0-9._/-]*$/.test(mountPath) || mountPath.split('/').includes('..'), 'mountPath', mountPath,
    'must be an absolute path of letters, digits, ".", "_", "-" and "/" without ".."');
  v.check(!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(fileName), 'fileName', fileName, 'must be a plain file name such as "openstack-ha.conf"');
  validateServiceTls(v, props, props.connection, mountPath);
  const uid = props.runAsUser ?? 42424;
  v.check(!Number.isInteger(uid) || uid < 1 || uid > 2147483647, 'runAsUser', uid, 'must be a non-root uid (1 to 2147483647)');
  const used = new Set([...props.connection.osloConfig.matchAll(/@@([A-Z0-9_]+)@@/g)].map((m) => m[1]));
  for (const name of [...used].sort()) {
    v.check(!(name in props.connection.secretReferences), 'connection.secretReferences', name,
      'is a placeholder of osloConfig with no Secret reference; use the connection from OpenStackControlPlane.connection()');
  }
  for (const [placeholder, ref] of Object.entries(props.connection.secretReferences)) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(placeholder)) v.add('connection.secretReferences', placeholder, 'is not an env var name (A-Z, 0-9, _)');
    const slash = ref.indexOf('/');
    if (slash < 0) v.add(`connection.secretReferences.${placeholder}`, ref, 'must be "secret-name/key"');
    else for (const p of SecretValue.fromSecret(ref.slice(0, slash), ref.slice(slash + 1))._problems()) v.add(`connection.secretReferences.${placeholder}`, ref, p);
  }
}

/**
 * The pod parts: the ConfigMap's files (template with placeholders, the Secret each variable comes from, the
 * script), an init container that renders them into a memory-backed emptyDir, the volumes, and the read-only
 * mount for the service's containers. The env vars' secretKeyRefs are optional so that a missing Secret or key
 * reaches the script, which fails naming the variable, instead of the kubelet's generic CreateContainerConfigError.
 * @internal
 */
export function serviceConfigPodParts(scope: Construct, props: ServiceConfigRendererProps, name: string, mountPath: string, fileName: string): ServiceConfigPodParts {
  const secrets = placeholderSecrets(props.connection);
  const variables = Object.keys(secrets).sort();
  const configMapData: Record<string, string> = {
    ...readAssets('service-config', [SCRIPT]),
    [TEMPLATE]: props.connection.osloConfig,
    [VARIABLES]: variables.map((n) => `${n}\t${secrets[n]}\n`).join(''),
  };
  const uid = props.runAsUser ?? 42424;
  const resources = resolveResources(props.resources, DEFAULT_RESOURCES);
  const inputVolume = `${name}-ha-config-render`;
  const outputVolume = `${name}-ha-config`;
  const initContainer: k8s.Container = {
    name: `${name}-ha-config`,
    image: props.image ?? GaleraPetSet.DEFAULT_AGENT_IMAGE,
    command: ['node', `${RENDER_INPUT_DIR}/${SCRIPT}`, `${RENDER_INPUT_DIR}/${TEMPLATE}`, `${RENDER_INPUT_DIR}/${VARIABLES}`, `${RENDER_OUTPUT_DIR}/${fileName}`],
    env: variables.map((n) => ({ name: n, valueFrom: { secretKeyRef: { name: secrets[n].secretName, key: secrets[n].key, optional: true } } })),
    volumeMounts: [
      { name: inputVolume, mountPath: RENDER_INPUT_DIR, readOnly: true },
      { name: outputVolume, mountPath: RENDER_OUTPUT_DIR },
    ],
    resources: toResourceRequirements(resources),
    securityContext: { ...containerSecurityContext(), runAsUser: uid, runAsGroup: uid },
  };
  const volumeMount: k8s.VolumeMount = { name: outputVolume, mountPath, readOnly: true };
  const tls = serviceTlsParts(scope, props, props.connection, name, uid);
  return {
    initContainer,
    volumes: [
      { name: inputVolume, configMap: { name: `${name}-ha-config`, defaultMode: 0o444 } },
      // Memory-backed: the rendered secrets never touch the node's disk.
      { name: outputVolume, emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('1Mi') } },
      ...tls.volumes,
    ],
    volumeMount,
    volumeMounts: [volumeMount, ...tls.mounts],
    ...(tls.fsGroup !== undefined ? { fsGroup: tls.fsGroup } : {}),
    configFile: `${mountPath}/${fileName}`,
    configMapData,
    configHash: configHash(configMapData),
  };
}

/**
 * Renders an OpenStack service's HA connection settings into its pods at start, with no secret in any
 * ConfigMap: a ConfigMap holds the oslo.config snippet of `connection` (placeholders only) and a small script;
 * an init container (stock Node.js image) fills in the Secrets behind the placeholders (env vars from
 * `secretKeyRef`s; percent-encoded inside URLs, as is elsewhere) into a memory-backed volume, which the service's
 * containers mount read-only. A missing Secret or key fails the init container with the variable's name.
 *
 * Add `initContainer`, `volumes` and `volumeMounts` to your own Deployment or StatefulSet (L1 `KubeDeployment` or
 * cdk8s-plus), and `podAnnotations` to its pod template so a changed connection rolls the pods. With TLS on a
 * component, `caBundle` (and `clientCertificate` when memcached or RabbitMQ verifies clients) mounts the files the connection
 * names; `fsGroup` then says the pod's fsGroup.
 */
export class ServiceConfigRenderer extends Construct {
  /** The init container that renders the file: add it to the pod's `initContainers`. */
  public readonly initContainer: k8s.Container;
  /** The volumes it needs (the ConfigMap, the memory-backed output): add them to the pod's `volumes`. */
  public readonly volumes: k8s.Volume[];
  /** The read-only mount of the rendered file's directory: add it to every container that reads the config. */
  public readonly volumeMount: k8s.VolumeMount;
  /**
   * Every read-only mount the service's containers need: `volumeMount`, and with `caBundle`/`clientCertificate`
   * the TLS files' directories. Add them all to every container that reads the config.
   */
  public readonly volumeMounts: k8s.VolumeMount[];
  /**
   * The group the pod's `securityContext.fsGroup` must be when a client private key is mounted (0440, root and
   * this group): the service's uid, `runAsUser`.
   *
   * @default - undefined: no private key mounted, any fsGroup
   */
  public readonly fsGroup?: number;
  /** The rendered file's path in the service's containers, e.g. `/etc/nova/nova.conf.d/openstack-ha.conf`. */
  public readonly configFile: string;
  /** The ConfigMap with the template and the script. */
  public readonly configMapName: string;
  /** The config-hash annotation for the pod template: a changed connection rolls the pods. */
  public readonly podAnnotations: Record<string, string>;

  public constructor(scope: Construct, id: string, props: ServiceConfigRendererProps) {
    super(scope, id);
    const service = props.connection.service;
    const name = props.name ?? service;
    const mountPath = props.mountPath ?? `/etc/${service}/${service}.conf.d`;
    const fileName = props.fileName ?? 'openstack-ha.conf';
    const v = new Validator(`ServiceConfigRenderer '${id}'`);
    validateServiceConfig(v, props, name, mountPath, fileName);
    validateResources(v, 'resources', resolveResources(props.resources, DEFAULT_RESOURCES));
    v.throwIfInvalid();

    const parts = serviceConfigPodParts(this, props, name, mountPath, fileName);
    this.configMapName = `${name}-ha-config`;
    new k8s.KubeConfigMap(this, 'Resource', {
      metadata: { name: this.configMapName, labels: standardLabels(name, COMPONENT) },
      data: parts.configMapData,
    });
    this.initContainer = parts.initContainer;
    this.volumes = parts.volumes;
    this.volumeMount = parts.volumeMount;
    this.volumeMounts = parts.volumeMounts;
    this.fsGroup = parts.fsGroup;
    this.configFile = parts.configFile;
    this.podAnnotations = { [CONFIG_HASH_ANNOTATION]: parts.configHash };
  }
}
