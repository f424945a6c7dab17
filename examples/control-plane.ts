import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import {
  GaleraPetSet, GaleraStorage, HaproxyLoadBalancer, KeepalivedVip, LoadBalancedService, MemcachedPool, Placement,
  ProxySqlLayer, RabbitDaemonSet, RabbitVersion, SecretValue,
} from '../lib';
import { CONTROLLERS } from './inventory';

/**
 * The same HA layer as examples/openstack-control-plane.ts, wired part by part, for users who want to compose the
 * constructs themselves (namespace `openstack`).
 */
export class ControlPlaneChart extends Chart {
  public readonly memcached: MemcachedPool;
  public readonly galera: GaleraPetSet;
  public readonly proxysql: ProxySqlLayer;
  public readonly rabbitmq: RabbitDaemonSet;
  public readonly vip: KeepalivedVip;
  public readonly apiLoadBalancer: HaproxyLoadBalancer;

  public constructor(scope: Construct, id: string) {
    super(scope, id, { namespace: 'openstack', disableResourceNameHashes: true });
    const controllers = Placement.onNodes(CONTROLLERS);
    this.memcached = new MemcachedPool(this, 'memcached', { placement: controllers });

    // Secrets are created beforehand (sealed-secrets, external-secrets, ...): only their names appear here.
    const password = (service: string) => SecretValue.fromSecret(`${service}-db`, 'password');
    this.galera = new GaleraPetSet(this, 'galera', {
      placement: controllers,
      storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
      credentials: {
        rootPassword: SecretValue.fromSecret('galera-root', 'password'),
        sstPassword: SecretValue.fromSecret('galera-sst', 'password'),
        monitorPassword: SecretValue.fromSecret('galera-monitor', 'password'),
      },
      users: [
        { name: 'keystone', password: password('keystone'), databases: ['keystone'] },
        { name: 'glance', password: password('glance'), databases: ['glance'] },
        { name: 'nova', password: password('nova'), databases: ['nova', 'nova_api', 'nova_cell0'], maxConnections: 1000 },
        { name: 'placement', password: password('placement'), databases: ['placement'] },
        { name: 'neutron', password: password('neutron'), databases: ['neutron'], maxConnections: 1000 },
        { name: 'cinder', password: password('cinder'), databases: ['cinder'] },
      ],
    });

    // OpenStack services connect to proxysql.openstack.svc: 3306 for reads and writes, 3307 for their
    // `slave_connection` (reads that may lag a little behind the writer).
    this.proxysql = new ProxySqlLayer(this, 'proxysql', {
      galera: this.galera,
      placement: controllers,
      adminPassword: SecretValue.fromSecret('proxysql-admin', 'password'),
      allowedClients: ['keystone', 'glance', 'nova', 'placement', 'neutron', 'cinder'].map((service) => ({ podLabels: { application: service } })),
    });

    // One broker per controller; services get every broker in their transport_url (no load balancer).
    this.rabbitmq = new RabbitDaemonSet(this, 'rabbitmq', {
      placement: controllers,
      version: RabbitVersion.V3_13,
      erlangCookie: SecretValue.fromSecret('rabbitmq-erlang-cookie', 'cookie'),
      users: [
        { name: 'admin', administrator: true, password: SecretValue.fromSecret('rabbitmq-admin', 'password') },
        ...['nova', 'neutron', 'cinder', 'glance'].map((service) => ({ name: service, password: SecretValue.fromSecret(`${service}-rabbitmq`, 'password') })),
        // Ceilometer only consumes notifications.
        { name: 'ceilometer', password: SecretValue.fromSecret('ceilometer-rabbitmq', 'password'), vhosts: ['notifications'] },
      ],
      resources: { cpuRequestMillis: 1000, cpuLimitMillis: 4000, memoryRequestMiB: 4096, memoryLimitMiB: 4096 },
    });

    // The public face of the control plane: one address that moves to a healthy HAProxy within about 2 s.
    this.vip = new KeepalivedVip(this, 'api-vip', {
      address: '10.0.0.10',
      prefixLength: 24,
      interface: 'bond0',
      placement: controllers,
      virtualRouterId: 51,
    });
    // Each API is a Kubernetes Service; HAProxy reaches it by its cluster DNS name and the VIP follows HAProxy.
    const api = (service: string, dnsName: string, port: number) =>
      LoadBalancedService.openStackApi(service, { servers: [{ address: `${dnsName}.openstack.svc`, port }] });
    this.apiLoadBalancer = new HaproxyLoadBalancer(this, 'api-lb', {
      placement: controllers,
      vip: this.vip,
      services: [
        api('keystone', 'keystone-api', 5000),
        api('nova', 'nova-api', 8774),
        api('neutron', 'neutron-server', 9696),
        api('glance', 'glance-api', 9292),
        api('cinder', 'cinder-api', 8776),
        api('placement', 'placement-api', 8778),
        api('heat', 'heat-api', 8004),
        api('horizon', 'horizon', 80),
      ],
    });
    // Database clients outside the cluster reach ProxySQL on the VIP too (kube-proxy forwards VIP:3306/3307).
    this.vip.exposeService({
      name: 'proxysql-vip',
      podSelector: this.proxysql.podSelector,
      ports: [{ name: 'rw', port: this.proxysql.readWritePort }, { name: 'ro', port: this.proxysql.readOnlyPort }],
    });
  }
}
