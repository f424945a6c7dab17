import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { ControlPlaneSecrets, ControlPlaneTlsOptions, GaleraStorage, InventoryNode, OpenStackControlPlane, OpenStackRelease, OpenStackService, RabbitVersion, SecretValue } from '../lib';

/** A Secret this example assumes exists (sealed-secrets, external-secrets, ...): only its name is in the YAML. */
const secret = (name: string) => SecretValue.fromSecret(name, 'password');

/** The OpenStack services of the examples, with their databases, messaging users and APIs. */
export const SERVICES: OpenStackService[] = [
  { name: 'keystone', databasePassword: secret('keystone-db'), messagingPassword: secret('keystone-rabbitmq'), api: { serviceName: 'keystone-api' } },
  { name: 'glance', databasePassword: secret('glance-db'), messagingPassword: secret('glance-rabbitmq'), api: { serviceName: 'glance-api' } },
  { name: 'placement', databasePassword: secret('placement-db'), api: { serviceName: 'placement-api' } },
  {
    name: 'nova', databases: ['nova', 'nova_api', 'nova_cell0'], databasePassword: secret('nova-db'), maxDatabaseConnections: 1000,
    messagingPassword: secret('nova-rabbitmq'), api: { serviceName: 'nova-api' },
  },
  { name: 'neutron', databasePassword: secret('neutron-db'), maxDatabaseConnections: 1000, messagingPassword: secret('neutron-rabbitmq'), api: { serviceName: 'neutron-server' } },
  { name: 'cinder', databasePassword: secret('cinder-db'), messagingPassword: secret('cinder-rabbitmq'), api: { serviceName: 'cinder-api' } },
  { name: 'heat', databasePassword: secret('heat-db'), messagingPassword: secret('heat-rabbitmq'), api: { serviceName: 'heat-api' } },
  { name: 'horizon', databases: [], api: { serviceName: 'horizon' } },
];

/** The HA layer's own Secrets (created beforehand, like the services'). */
export const CONTROL_PLANE_SECRETS: ControlPlaneSecrets = {
  galeraRootPassword: secret('galera-root'),
  galeraSstPassword: secret('galera-sst'),
  galeraMonitorPassword: secret('galera-monitor'),
  proxySqlAdminPassword: secret('proxysql-admin'),
  rabbitErlangCookie: SecretValue.fromSecret('rabbitmq-erlang-cookie', 'cookie'),
  rabbitAdminPassword: secret('rabbitmq-admin'),
  memcacheSecretKey: SecretValue.fromSecret('memcache-secret-key', 'key'),
};

export interface ControlPlaneExampleProps {
  readonly controllers: InventoryNode[];
  readonly rabbitNodes?: InventoryNode[];
  readonly galeraReplicas?: number;
  readonly rabbitVersion?: RabbitVersion;
  readonly openStackRelease?: OpenStackRelease;
  /** TLS on every connection (examples/index.ts: `full-tls`). */
  readonly tls?: ControlPlaneTlsOptions;
}

/** The HA layer of an OpenStack control plane from one inventory, in namespace `openstack`. */
export class OpenStackControlPlaneChart extends Chart {
  public readonly controlPlane: OpenStackControlPlane;

  public constructor(scope: Construct, id: string, props: ControlPlaneExampleProps) {
    super(scope, id, { namespace: 'openstack', disableResourceNameHashes: true });
    this.controlPlane = new OpenStackControlPlane(this, 'control-plane', {
      controllers: props.controllers,
      vip: { address: '10.0.0.10', prefixLength: 24, interface: 'bond0', virtualRouterId: 51 },
      galeraStorage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
      secrets: CONTROL_PLANE_SECRETS,
      services: SERVICES,
      rabbitNodes: props.rabbitNodes,
      galeraReplicas: props.galeraReplicas,
      rabbitVersion: props.rabbitVersion,
      openStackRelease: props.openStackRelease,
      tls: props.tls,
    });
  }
}
