/**
 * A complete OpenStack service on the HA layer: nova-api as your own Deployment, with its HA connection settings
 * (RPC and notifications transport URLs over every broker, database URLs through ProxySQL, memcached servers,
 * the memcache secret key) rendered into the pod at start by a ServiceConfigRenderer. Nothing secret is in the
 * YAML: the renderer's ConfigMap holds `@@PLACEHOLDERS@@`, and its init container reads the Secrets.
 */
import { Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-25';
import { Construct } from 'constructs';
import { InventoryNode, ServiceClientCertificate, ServiceConfigRenderer, ServiceConnection, TlsTrustBundle } from '../lib';

export interface NovaApiChartProps {
  /** `controlPlane.connection('nova')`. */
  readonly connection: ServiceConnection;
  /** The nodes nova-api may run on. */
  readonly controllers: InventoryNode[];
  /**
   * With TLS on the control plane: where the CA bundle comes from (mounted at `connection.caBundlePath`).
   *
   * @default - none: the control plane has no TLS
   */
  readonly caBundle?: TlsTrustBundle;
  /**
   * With memcached or RabbitMQ verifying clients: nova's own certificate (mounted at `connection.clientCertificatePath`).
   *
   * @default - none
   */
  readonly clientCertificate?: ServiceClientCertificate;
}

/** nova's uid in openstack-helm's images: the rendered file belongs to it (mode 0440). */
const NOVA_UID = 42424;
const LABELS = { application: 'nova', component: 'os-api' }; // `application: nova` is what ProxySQL admits

/** nova-api in namespace `openstack`, two replicas on distinct controllers. */
export class NovaApiChart extends Chart {
  public readonly renderer: ServiceConfigRenderer;

  public constructor(scope: Construct, id: string, props: NovaApiChartProps) {
    super(scope, id, { namespace: 'openstack', disableResourceNameHashes: true });
    // /etc/nova/nova.conf.d/openstack-ha.conf: oslo.config reads it after nova.conf without any flag.
    this.renderer = new ServiceConfigRenderer(this, 'ha-config', {
      connection: props.connection, runAsUser: NOVA_UID, caBundle: props.caBundle, clientCertificate: props.clientCertificate,
    });

    // The service's own settings (nothing secret, nothing about the HA layer) stay in your ConfigMap.
    const novaConf = '[DEFAULT]\nuse_stderr = true\n\n[api]\nauth_strategy = keystone\n';
    new k8s.KubeConfigMap(this, 'nova-conf', { metadata: { name: 'nova-etc' }, data: { 'nova.conf': novaConf } });

    const securityContext: k8s.SecurityContext = {
      allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, runAsNonRoot: true,
      capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    };
    const api = k8s.IntOrString.fromNumber(8774);
    new k8s.KubeDeployment(this, 'nova-api', {
      metadata: { name: 'nova-api' },
      spec: {
        replicas: 2,
        selector: { matchLabels: LABELS },
        template: {
          metadata: {
            labels: LABELS,
            // A changed connection (a new broker, a moved ProxySQL) rolls the pods. Hash your nova.conf in too.
            annotations: { ...this.renderer.podAnnotations },
          },
          spec: {
            automountServiceAccountToken: false,
            securityContext: {
              runAsUser: NOVA_UID, runAsGroup: NOVA_UID, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' },
              // The client key is 0440 (root and this group): nova reads it through the fsGroup.
              ...(this.renderer.fsGroup !== undefined ? { fsGroup: this.renderer.fsGroup } : {}),
            },
            affinity: {
              nodeAffinity: {
                // One term per node (terms are ORed): the API server allows one value for a `metadata.name` field selector.
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: props.controllers.map((n) => ({ matchFields: [{ key: 'metadata.name', operator: 'In', values: [n.name] }] })),
                },
              },
              podAntiAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: LABELS }, topologyKey: 'kubernetes.io/hostname' }],
              },
            },
            initContainers: [this.renderer.initContainer],
            containers: [{
              name: 'nova-api',
              image: 'quay.io/airshipit/nova:2025.1-ubuntu_jammy',
              command: ['nova-api'],
              ports: [{ name: 'api', containerPort: 8774 }],
              volumeMounts: [
                { name: 'nova-etc', mountPath: '/etc/nova/nova.conf', subPath: 'nova.conf', readOnly: true },
                // The rendered config, and with TLS the CA bundle and client certificate the config names.
                ...this.renderer.volumeMounts,
              ],
              resources: {
                requests: { cpu: k8s.Quantity.fromString('250m'), memory: k8s.Quantity.fromString('512Mi') },
                limits: { cpu: k8s.Quantity.fromString('2'), memory: k8s.Quantity.fromString('1Gi') },
              },
              readinessProbe: { tcpSocket: { port: api }, periodSeconds: 10 },
              livenessProbe: { tcpSocket: { port: api }, initialDelaySeconds: 30, periodSeconds: 30, failureThreshold: 5 },
              securityContext,
            }],
            volumes: [{ name: 'nova-etc', configMap: { name: 'nova-etc' } }, ...this.renderer.volumes],
          },
        },
      },
    });
    new k8s.KubePodDisruptionBudget(this, 'nova-api-pdb', {
      metadata: { name: 'nova-api' },
      spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: LABELS } },
    });
    new k8s.KubeService(this, 'nova-api-service', {
      metadata: { name: 'nova-api' },
      spec: { selector: LABELS, ports: [{ name: 'api', port: 8774, targetPort: api }] },
    });
  }
}
