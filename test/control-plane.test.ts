import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart } from 'cdk8s';
import { BackupDestination, DatabaseAccount, GaleraBackup, MessagingAccount, OpenStackControlPlane, OpenStackControlPlaneProps, OpenStackRelease, RabbitVersion, SecretValue } from '../lib';
import { CONTROL_PLANE_SECRETS, SERVICES } from '../examples/openstack-control-plane';
import { errorOf, expectValidManifests, find, newApp, ofKind, synth } from './support/harness';
import { CONTROL_PLANE_PROPS as PROPS, NODES as CONTROLLERS } from './support/fixtures';

function controlPlane(props: Partial<OpenStackControlPlaneProps> = {}, namespace: string | undefined = 'openstack') {
  const chart = new Chart(newApp(), 'cp', { ...(namespace ? { namespace } : {}), disableResourceNameHashes: true });
  const cp = new OpenStackControlPlane(chart, 'cp', { ...PROPS, ...props });
  return { cp, objects: synth(chart) };
}

function errorOfProps(props: Partial<OpenStackControlPlaneProps>, namespace?: string): string {
  return errorOf(() => controlPlane(props, namespace));
}

describe('OpenStackControlPlane wiring', () => {
  test('the optional backup prop backs up its Galera with GaleraBackup; without it there is none', () => {
    const { cp, objects } = controlPlane({ backup: { schedule: '15 3 * * *', destination: BackupDestination.volume({ claimName: 'galera-backups' }) } });
    expect(cp.backup).toBeInstanceOf(GaleraBackup);
    expect(find(objects, 'CronJob', 'galera-backup').spec.schedule).toBe('15 3 * * *');
    expect(find(objects, 'StatefulSet', 'galera').spec.template.spec.containers.map((c: any) => c.name)).toContain('backup');
    expectValidManifests(objects);
    expect(controlPlane().cp.backup).toBeUndefined();
  });

  test('every construct names its underlying workload `workload` (the one escape hatch)', () => {
    const { cp, objects } = controlPlane();
    const kinds = Object.fromEntries(['galera', 'proxySql', 'memcached', 'rabbitmq', 'vip', 'apiLoadBalancer'].map((part) => {
      const workload = (cp as any)[part].workload;
      expect(objects.some((o) => o.kind === workload.kind && o.metadata.name === workload.name)).toBe(true);
      return [part, workload.kind];
    }));
    expect(kinds).toEqual({
      galera: 'StatefulSet', proxySql: 'Deployment', memcached: 'DaemonSet', rabbitmq: 'DaemonSet', vip: 'DaemonSet', apiLoadBalancer: 'DaemonSet',
    });
  });

  test('a namespace labelled for the host-level parts', () => {
    const ns = find(controlPlane().objects, 'Namespace', 'openstack');
    expect(ns.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'privileged',
      'pod-security.kubernetes.io/warn': 'baseline',
    });
    // Cluster-scoped: the chart's namespace is not copied onto it.
    expect(ns.metadata).not.toHaveProperty('namespace');
  });

  test('Galera on the first 3 controllers with one database user per service that has databases', () => {
    const { cp, objects } = controlPlane();
    expect(cp.galera.replicas).toBe(3);
    expect(cp.galera.users.map((u) => u.name)).toEqual(['keystone', 'glance', 'placement', 'nova', 'neutron', 'cinder', 'heat']);
    expect(cp.galera.users.find((u) => u.name === 'nova')).toMatchObject({ databases: ['nova', 'nova_api', 'nova_cell0'], maxConnections: 1000 });
    expect(ofKind(objects, 'PersistentVolume')).toHaveLength(3);
  });

  test('ProxySQL admits every service\'s pods; Galera admits ProxySQL', () => {
    const { objects } = controlPlane();
    const proxyPolicy = ofKind(objects, 'NetworkPolicy').find((p) => p.metadata.name.startsWith('proxysql'))!;
    const admitted = proxyPolicy.spec.ingress.flatMap((r: any) => r.from.map((f: any) => f.podSelector?.matchLabels?.application)).filter(Boolean);
    expect(admitted).toEqual(SERVICES.map((s) => s.name));
    const galeraPolicy = find(objects, 'NetworkPolicy', 'galera');
    expect(JSON.stringify(galeraPolicy.spec.ingress)).toContain('"app.kubernetes.io/name":"proxysql"');
  });

  test('the VIP follows HAProxy, which serves every API, and ProxySQL is reachable on the VIP', () => {
    const { cp, objects } = controlPlane();
    expect(cp.apiEndpoints).toMatchObject({ keystone: 'http://10.0.0.10:5000', nova: 'http://10.0.0.10:8774', horizon: 'http://10.0.0.10:80' });
    const cfg = Object.values<string>(ofKind(objects, 'ConfigMap').find((c) => c.metadata.name.startsWith('api-lb'))!.data).join('\n');
    expect(cfg).toContain('nova-api.openstack.svc.cluster.local:8774');
    const keepalived = Object.values<string>(ofKind(objects, 'ConfigMap').find((c) => c.metadata.name.startsWith('api-vip'))!.data)[0];
    expect(keepalived).toContain('10.0.0.10/24');
    expect(keepalived).toMatch(/healthz/);
    expect(find(objects, 'Service', 'proxysql-vip').spec.externalIPs).toEqual(['10.0.0.10']);
  });

  test('vip.nodeLabel: keepalived and HAProxy placed by the label, their pod templates the same for a replaced controller; the rest by name', () => {
    const nodeLabel = { key: 'openstack-ha.cdk8s.io/edge', value: 'true' };
    const render = (controllers: typeof CONTROLLERS) => controlPlane({ controllers, vip: { ...PROPS.vip, nodeLabel } }).objects;
    const [before, after] = [render(CONTROLLERS), render([CONTROLLERS[0], CONTROLLERS[1], { name: 'ctl-9', ip: '10.0.0.19' }])];
    const template = (objects: any[], name: string) => find(objects, 'DaemonSet', name).spec.template;
    for (const name of ['api-vip', 'api-lb']) {
      expect(template(after, name)).toEqual(template(before, name));
      expect(template(after, name).spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms)
        .toEqual([{ matchExpressions: [{ key: 'openstack-ha.cdk8s.io/edge', operator: 'In', values: ['true'] }] }]);
    }
    // The inventory is still known: the peer lists (in the ConfigMap) and the budget follow it.
    expect(Object.keys(find(after, 'ConfigMap', 'api-vip-config').data)).toEqual(['ctl-1.conf', 'ctl-2.conf', 'ctl-9.conf']);
    expect(find(after, 'PodDisruptionBudget', 'api-vip').spec.minAvailable).toBe(2);
    // memcached is placed by name (its node list is in its pod template anyway).
    expect(template(after, 'memcached')).not.toEqual(template(before, 'memcached'));
    // Without the label, by name as before.
    expect(template(controlPlane().objects, 'api-lb').spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0])
      .toEqual({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ctl-1'] }] });
    // The preflight's topology expects the label on the VIP's nodes (it fails a node without it, with the kubectl command).
    const { cp } = controlPlane({ vip: { ...PROPS.vip, nodeLabel } });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-'));
    try {
      cp.writeTopology(dir);
      const nodes = JSON.parse(fs.readFileSync(path.join(dir, 'cp.topology.json'), 'utf8')).nodes;
      expect(nodes.filter((n: any) => n.labels)).toEqual(CONTROLLERS.slice(0, 3).map((n) => ({ name: n.name, ip: n.ip, labels: { 'openstack-ha.cdk8s.io/edge': 'true' } })));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(errorOfProps({ vip: { ...PROPS.vip, nodeLabel: { key: 'bad key!', value: 'x'.repeat(64) } } }))
      .toMatch(/vip\.nodeLabel\.key: "bad key!" is not a valid label key[^]*vip\.nodeLabel\.value: "x{64}" is not a valid label value/);
  });

  test('every object is schema-valid and meets every invariant', () => {
    expectValidManifests(controlPlane().objects);
  });
});

describe('OpenStackControlPlane connections', () => {
  test('nova: database URLs through ProxySQL per database, memcached, keystone on the VIP, secrets as placeholders', () => {
    const nova = controlPlane().cp.connection('nova');
    expect(nova.databaseConnections).toEqual({
      nova: 'mysql+pymysql://nova:@@NOVA_DATABASE_PASSWORD@@@proxysql.openstack.svc:3306/nova?charset=utf8',
      nova_api: 'mysql+pymysql://nova:@@NOVA_DATABASE_PASSWORD@@@proxysql.openstack.svc:3306/nova_api?charset=utf8',
      nova_cell0: 'mysql+pymysql://nova:@@NOVA_DATABASE_PASSWORD@@@proxysql.openstack.svc:3306/nova_cell0?charset=utf8',
    });
    expect(nova.databaseReadOnlyConnections.nova).toContain(':3307/nova');
    expect(nova.memcacheServers).toBe('10.0.0.11:11211,10.0.0.12:11211,10.0.0.13:11211');
    expect(nova.secretReferences).toMatchObject({ NOVA_DATABASE_PASSWORD: 'nova-db/password', MEMCACHE_SECRET_KEY: 'memcache-secret-key/key' });
    expect(nova.osloConfig).toContain('[database]\nconnection = mysql+pymysql://nova:@@NOVA_DATABASE_PASSWORD@@@proxysql.openstack.svc:3306/nova?charset=utf8');
    expect(nova.osloConfig).toContain('www_authenticate_uri = http://10.0.0.10:5000');
    expect(nova.osloConfig).toContain('memcache_security_strategy = ENCRYPT\nmemcache_secret_key = @@MEMCACHE_SECRET_KEY@@');
    for (const line of nova.osloConfig.split('\n').filter((l) => /password|secret_key|@@/i.test(l))) {
      expect(line).toMatch(/@@[A-Z_]+@@/);
    }
  });

  test('nova: RPC and notifications transport URLs over every broker, with the oslo options of the release line', () => {
    const nova = controlPlane().cp.connection('nova');
    const brokers = ['10.0.0.11', '10.0.0.12', '10.0.0.13'].map((ip) => `nova:@@RABBITMQ_PASSWORD_NOVA@@@${ip}:5672`).join(',');
    expect(nova.transportUrl).toBe(`rabbit://${brokers}/`);
    expect(nova.notificationsTransportUrl).toBe(`rabbit://${brokers}/notifications?rabbit_quorum_queue=true`);
    expect(nova.secretReferences.RABBITMQ_PASSWORD_NOVA).toBe('nova-rabbitmq/password');
    expect(nova.osloConfig).toContain(`[DEFAULT]\ntransport_url = rabbit://${brokers}/`);
    expect(nova.osloConfig).toContain('[oslo_messaging_notifications]\ndriver = messagingv2');
  });

  test('nova with two RabbitMQ accounts (rotation without a failed login): both on the brokers, the connection on the one messagingAccount names', () => {
    const alternate = SecretValue.fromSecret('nova-rabbitmq-b', 'password');
    const withAccount = (messagingAccount?: MessagingAccount) => controlPlane({
      services: SERVICES.map((s) => (s.name === 'nova' ? { ...s, messagingAlternatePassword: alternate, ...(messagingAccount ? { messagingAccount } : {}) } : s)),
    });
    const primary = withAccount();
    expect(primary.cp.rabbitmq.userNames).toEqual(['admin', 'keystone', 'glance', 'nova', 'nova-b', 'neutron', 'cinder', 'heat']);
    const files = find(primary.objects, 'DaemonSet', 'rabbitmq').spec.template.spec.volumes.find((v: any) => v.name === 'credentials').projected.sources;
    expect(files.find((s: any) => s.secret.items[0].path === 'nova-b').secret).toEqual({ name: 'nova-rabbitmq-b', items: [{ key: 'password', path: 'nova-b', mode: 0o440 }] });
    expect(primary.cp.connection('nova').transportUrl).toMatch(/^rabbit:\/\/nova:@@RABBITMQ_PASSWORD_NOVA@@@/);
    const moved = withAccount(MessagingAccount.ALTERNATE).cp.connection('nova');
    expect(moved.transportUrl).toMatch(/^rabbit:\/\/nova-b:@@RABBITMQ_PASSWORD_NOVA_B@@@10\.0\.0\.11:5672,/);
    expect(moved.notificationsTransportUrl).toMatch(/^rabbit:\/\/nova-b:@@RABBITMQ_PASSWORD_NOVA_B@@@/);
    expect(moved.secretReferences.RABBITMQ_PASSWORD_NOVA_B).toBe('nova-rabbitmq-b/password');
    expect(moved.secretReferences.RABBITMQ_PASSWORD_NOVA).toBeUndefined();
    expect(moved.osloConfig).toContain('transport_url = rabbit://nova-b:@@RABBITMQ_PASSWORD_NOVA_B@@@');
    // The database user is still the service's own.
    expect(moved.databaseConnections.nova).toMatch(/^mysql\+pymysql:\/\/nova:/);
  });

  test('nova with two database accounts (ProxySQL has one password per user): both in Galera and ProxySQL, the connection on the one databaseAccount names', () => {
    const alternate = SecretValue.fromSecret('nova-db-b', 'password');
    const withAccount = (databaseAccount?: DatabaseAccount) => controlPlane({
      services: SERVICES.map((s) => (s.name === 'nova' ? { ...s, databaseAlternatePassword: alternate, ...(databaseAccount ? { databaseAccount } : {}) } : s)),
    });
    const primary = withAccount();
    // The same databases, privileges and limit as nova's own account.
    const users = find(primary.objects, 'ConfigMap', 'galera-config').data['users.tsv'] as string;
    const line = (name: string) => users.split('\n').find((l) => l.startsWith(`${name}\t`))!.split('\t').filter((_, i) => i !== 0 && i !== 2);
    expect(line('nova-b')).toEqual(line('nova'));
    const galeraFiles = find(primary.objects, 'StatefulSet', 'galera').spec.template.spec.volumes.find((v: any) => v.name === 'credentials').projected.sources;
    expect(galeraFiles.map((f: any) => f.secret.name)).toContain('nova-db-b');
    const proxyFiles = find(primary.objects, 'Deployment', 'proxysql').spec.template.spec.volumes.find((v: any) => v.name === 'credentials').projected.sources;
    expect(proxyFiles.find((f: any) => f.secret.items[0].path === 'PROXYSQL_USER_PASSWORD_NOVA_B').secret)
      .toEqual({ name: 'nova-db-b', items: [{ key: 'password', path: 'PROXYSQL_USER_PASSWORD_NOVA_B', mode: 0o440 }] });
    expect(find(primary.objects, 'ConfigMap', 'proxysql-config').data['proxysql.cnf']).toContain('username="nova-b"');
    const before = primary.cp.connection('nova');
    expect(before.databaseConnections.nova).toMatch(/^mysql\+pymysql:\/\/nova:@@NOVA_DATABASE_PASSWORD@@@/);
    expect(before.secretReferences.NOVA_DATABASE_PASSWORD).toBe('nova-db/password');
    const moved = withAccount(DatabaseAccount.ALTERNATE).cp.connection('nova');
    // The same placeholder, the other account and Secret: the service's pods roll onto it.
    expect(moved.databaseConnections.nova).toMatch(/^mysql\+pymysql:\/\/nova-b:@@NOVA_DATABASE_PASSWORD@@@/);
    expect(moved.databaseReadOnlyConnections.nova).toMatch(/^mysql\+pymysql:\/\/nova-b:/);
    expect(moved.secretReferences.NOVA_DATABASE_PASSWORD).toBe('nova-db-b/password');
    expect(moved.osloConfig).toContain('connection = mysql+pymysql://nova-b:');
    // The RabbitMQ account is still the service's own.
    expect(moved.transportUrl).toMatch(/^rabbit:\/\/nova:/);
  });

  test('RabbitMQ on dedicated nodes when given, and in the topology', () => {
    const mq = [{ name: 'mq-1', ip: '10.0.0.21' }, { name: 'mq-2', ip: '10.0.0.22' }, { name: 'mq-3', ip: '10.0.0.23' }];
    const { cp } = controlPlane({ rabbitNodes: mq });
    expect(cp.connection('nova').transportUrl).toContain('@10.0.0.21:5672,');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-'));
    try {
      cp.writeTopology(dir);
      expect(fs.readFileSync(path.join(dir, 'cp.topology.md'), 'utf8')).toMatch(/\| mq-1 \| 10.0.0.21 \|/);
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'cp.topology.json'), 'utf8')).nodes).toHaveLength(6);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a service without databases gets no [database] section', () => {
    const horizon = controlPlane().cp.connection('horizon');
    expect(horizon.databaseConnections).toEqual({});
    expect(horizon.transportUrl).toBeUndefined();
    expect(horizon.osloConfig).not.toContain('[database]');
  });

  test('an unknown service is a clear error', () => {
    expect(() => controlPlane().cp.connection('swift')).toThrow('no service "swift"; known: keystone, glance');
  });
});

describe('OpenStackControlPlane topology', () => {
  test('writes the Markdown summary and the preflight topology beside the manifests', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-'));
    try {
      controlPlane().cp.writeTopology(dir);
      const md = fs.readFileSync(path.join(dir, 'cp.topology.md'), 'utf8');
      expect(md).toContain('| ctl-1 | 10.0.0.11 | galera-0 |');
      expect(md).toContain('| 10.0.0.10 | bond0 | ctl-1, ctl-2, ctl-3 | keystone 5000;');
      expect(md).toContain('```mermaid');
      expect(md).toContain('proxysql -->|3306| galera');
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'cp.topology.json'), 'utf8'));
      expect(json).toEqual({ namespace: 'openstack', nodes: CONTROLLERS, vips: [{ address: '10.0.0.10', interface: 'bond0' }] });
      expect(md).toMatchSnapshot();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('OpenStackControlPlane fails on bad input, naming every problem', () => {
  test('fails with too few controllers, a VIP that is a node address, and a service without its database Secret, together', () => {
    const m = errorOfProps({
      controllers: CONTROLLERS.slice(0, 2),
      vip: { address: '10.0.0.11', interface: 'bond0' },
      services: [{ name: 'nova' }],
    });
    expect(m).toContain("OpenStackControlPlane 'cp' has invalid props:");
    expect(m).toContain('controllers: ["ctl-1","ctl-2"] are 2; an HA control plane needs at least 3 controllers');
    expect(m).toContain('vip.address: "10.0.0.11" is a controller\'s own address');
    expect(m).toContain('services[0].databasePassword: (not set) is missing for nova');
  });

  test('fails on a service listed twice and on a chart without a namespace', () => {
    expect(errorOfProps({ services: [SERVICES[0], SERVICES[0]] })).toContain('services: "keystone" is listed more than once');
    expect(errorOfProps({}, '')).toContain('namespace: (not set) is not set; give the chart a namespace');
  });

  test('fails on an OpenStack line that cannot replicate notifications on the broker line, with the other problems', () => {
    const m = errorOfProps({ openStackRelease: OpenStackRelease.V2021_2, rabbitVersion: RabbitVersion.V4_2, services: [SERVICES[0], SERVICES[0]] });
    expect(m).toContain('openStackRelease: "2021.2 (Xena)" has no quorum queues');
    expect(m).toContain('services: "keystone" is listed more than once');
    expect(controlPlane({ openStackRelease: OpenStackRelease.V2021_2, rabbitVersion: RabbitVersion.V3_13 }).cp.openStackRelease).toBe(OpenStackRelease.V2021_2);
    expect(controlPlane().cp.openStackRelease).toBe(OpenStackRelease.V2026_1);
  });

  test('fails on duplicate controller names or IPs', () => {
    expect(errorOfProps({ controllers: [...CONTROLLERS, { name: 'ctl-1', ip: '10.0.0.14' }] })).toMatch(/^OpenStackControlPlane 'cp'[\s\S]*controllers nodes: "ctl-1" is listed more than once/);
    expect(errorOfProps({ controllers: [...CONTROLLERS, { name: 'ctl-4', ip: '10.0.0.11' }] })).toContain('controllers nodes: "10.0.0.11" is the IP of more than one node');
  });

  test('fails at synth when two host-network parts would listen on one port of one node, naming both', () => {
    const chart = new Chart(newApp(), 'cp', { namespace: 'openstack', disableResourceNameHashes: true });
    new OpenStackControlPlane(chart, 'cp', { ...PROPS, services: [...SERVICES.filter((s) => s.name !== 'nova'), { ...SERVICES.find((s) => s.name === 'nova')!, api: { serviceName: 'nova-api', port: 11211 } }] });
    const m = chart.node.root.node.validate().join('\n');
    expect(m).toContain('port 11211/TCP on node ctl-1 is listened on by cp/cp/memcached/Resource (DaemonSet memcached) and by cp/cp/api-lb/Resource (DaemonSet api-lb)');
  });

  test('a missing composite secret, a reserved service name, bad pod labels, a dotted API service name and a broadcast VIP: at construct time', () => {
    const { memcacheSecretKey: _, ...secrets } = CONTROL_PLANE_SECRETS;
    const m = errorOfProps({
      secrets: secrets as any,
      vip: { address: '10.0.0.255', interface: 'bond0' },
      services: [...SERVICES, { name: 'admin', databases: [] }, { name: 'heat', databases: [], podLabels: { 'app name': 'x;y' }, api: { serviceName: 'heat-api.other' } }],
    });
    expect(m).toContain('secrets.memcacheSecretKey: (not set) must be a Secret reference');
    expect(m).toContain('vip.address: "10.0.0.255" is the broadcast address of its prefix /24');
    expect(m).toMatch(/services\[\d+\]\.name: "admin" is the RabbitMQ administrator account/);
    expect(m).toMatch(/services\[\d+\]\.podLabels key: "app name" is not a valid label key/);
    expect(m).toMatch(/services\[\d+\]\.podLabels\["app name"\]: "x;y" is not a valid label value/);
    expect(m).toMatch(/services\[\d+\]\.api\.serviceName: "heat-api\.other" must be the name of a Service in the control plane's namespace "openstack"/);
  });
});
