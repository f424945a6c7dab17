import { DatabaseUser, GaleraPetSet, GaleraPetSetProps, GaleraStorage, Placement, SecretValue } from '../lib';
import { Chart } from 'cdk8s';
import { RabbitDaemonSet, RabbitVersion } from '../lib';
import { errorOf, expectValidManifests, find, K8sObject, newApp, newChart, ofKind, synth } from './support/harness';
import { adminAndNova } from './support/fixtures';
import { NODES } from './support/fixtures';

const CREDENTIALS = {
  rootPassword: SecretValue.fromSecret('galera-root', 'password'),
  sstPassword: SecretValue.fromSecret('galera-sst', 'password'),
  monitorPassword: SecretValue.fromSecret('galera-monitor', 'password'),
};
const NOVA: DatabaseUser = { name: 'nova', password: SecretValue.fromSecret('nova-db', 'password'), databases: ['nova', 'nova_api', 'nova_cell0'], maxConnections: 500 };

function galera(props: Partial<GaleraPetSetProps> = {}, namespace: string | undefined = 'openstack') {
  const chart = newChart(namespace);
  const db = new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes(NODES),
    storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
    credentials: CREDENTIALS,
    users: [NOVA],
    ...props,
  });
  return { db, objects: synth(chart) };
}

const sts = (objects: K8sObject[]) => find(objects, 'StatefulSet', 'galera');
const container = (objects: K8sObject[], name: string) => sts(objects).spec.template.spec.containers.find((c: any) => c.name === name);
const envOf = (c: any) => Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
const serverCnf = (objects: K8sObject[]) => find(objects, 'ConfigMap', 'galera-config').data['server.cnf'] as string;

describe('GaleraPetSet StatefulSet', () => {
  test('parallel pods, one per node, an odd number of members', () => {
    const { objects } = galera();
    const s = sts(objects);
    expect(s.spec.replicas).toBe(3);
    expect(s.spec.podManagementPolicy).toBe('Parallel');
    expect(s.spec.serviceName).toBe('galera-peers');
    expect(s.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
      { labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'galera', 'app.kubernetes.io/instance': 'galera' } }, topologyKey: 'kubernetes.io/hostname' },
    ]);
    expect(s.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
    expect(s.spec.template.spec.terminationGracePeriodSeconds).toBe(600);
  });

  test('the mariadb container runs the shipped entrypoint as the mysql user, with secrets only as references', () => {
    const { objects } = galera();
    const c = container(objects, 'mariadb');
    expect(c.command).toEqual(['bash', '/opt/galera/entrypoint.sh']);
    const env = envOf(c);
    expect(env.POD_NAME).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(env.POD_IP).toEqual({ fieldRef: { fieldPath: 'status.podIP' } });
    expect(env.GALERA_SST_USER).toBe('mariabackup');
    // Every built-in password is a file of the credentials volume (it rotates live), not an env var.
    expect(env.GALERA_SST_PASSWORD).toBeUndefined();
    expect(env.MARIADB_ROOT_PASSWORD).toBeUndefined();
    expect(env.GALERA_MONITOR_PASSWORD).toBeUndefined();
    expect(sts(objects).spec.template.spec.securityContext).toMatchObject({ runAsUser: 999, runAsGroup: 999, fsGroup: 999, runAsNonRoot: true });
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c.ports.map((p: any) => [p.name, p.containerPort])).toEqual([['mysql', 3306], ['galera', 4567], ['ist', 4568], ['sst', 4444]]);
  });

  test('every password (users\', monitor, SST, root) is a file from its Secret (updated in place, so a rotation is live), never an env var', () => {
    const { objects } = galera({ passwordRotationGraceMinutes: 90 });
    const c = container(objects, 'mariadb');
    const env = envOf(c);
    expect(env.GALERA_PASSWORD_NOVA).toBeUndefined();
    expect(env.GALERA_CREDENTIALS_DIR).toBe('/etc/galera-credentials');
    expect(env.GALERA_PASSWORD_ROTATION_GRACE_SECONDS).toBe('5400');
    expect(c.volumeMounts).toContainEqual({ name: 'credentials', mountPath: '/etc/galera-credentials', readOnly: true });
    const volume = sts(objects).spec.template.spec.volumes.find((v: any) => v.name === 'credentials');
    // A projected volume, not subPath mounts: the kubelet never updates a subPath mount when its Secret changes.
    expect(volume.projected).toEqual({
      defaultMode: 0o440,
      sources: [
        { secret: { name: 'galera-sst', items: [{ key: 'password', path: 'GALERA_SST_PASSWORD', mode: 0o440 }] } },
        { secret: { name: 'galera-monitor', items: [{ key: 'password', path: 'GALERA_MONITOR_PASSWORD', mode: 0o440 }] } },
        { secret: { name: 'galera-root', items: [{ key: 'password', path: 'MARIADB_ROOT_PASSWORD', mode: 0o440 }] } },
        { secret: { name: 'nova-db', items: [{ key: 'password', path: 'GALERA_PASSWORD_NOVA', mode: 0o440 }] } },
      ],
    });
    expect(c.volumeMounts.filter((m: any) => m.subPath !== undefined)).toEqual([]);
    // No users: the built-in accounts' files alone, still live.
    const bareObjects = galera({ users: [] }).objects;
    const bare = container(bareObjects, 'mariadb');
    expect(bare.volumeMounts).toContainEqual({ name: 'credentials', mountPath: '/etc/galera-credentials', readOnly: true });
    expect(envOf(bare).GALERA_CREDENTIALS_DIR).toBe('/etc/galera-credentials');
    expect(sts(bareObjects).spec.template.spec.volumes.find((v: any) => v.name === 'credentials').projected.sources.map((s: any) => s.secret.items[0].path))
      .toEqual(['GALERA_SST_PASSWORD', 'GALERA_MONITOR_PASSWORD', 'MARIADB_ROOT_PASSWORD']);
    expect(envOf(bare).GALERA_PASSWORD_ROTATION_GRACE_SECONDS).toBe('3600');
    // No secret is an env var (one could never change), and none is in a ConfigMap.
    for (const obj of [objects, bareObjects]) {
      const refs = sts(obj).spec.template.spec.containers.flatMap((k: any) => (k.env ?? []).filter((e: any) => e.valueFrom?.secretKeyRef).map((e: any) => `${k.name} ${e.name}`));
      expect(refs).toEqual([]);
    }
  });

  test('passwordRotationGraceMinutes: 10 minutes to a week, whole minutes', () => {
    for (const bad of [9, 10081, 30.5, -1]) {
      expect(() => galera({ passwordRotationGraceMinutes: bad })).toThrow(/passwordRotationGraceMinutes.*whole number of minutes from 10/s);
    }
    expect(() => galera({ passwordRotationGraceMinutes: 10 })).not.toThrow();
  });

  test('probes: readiness only when Synced; liveness and startup spare SST and recovery', () => {
    const c = container(galera().objects, 'mariadb');
    expect(c.readinessProbe.exec.command).toEqual(['bash', '/opt/galera/probe.sh', 'ready']);
    expect(c.livenessProbe.exec.command).toEqual(['bash', '/opt/galera/probe.sh', 'live']);
    expect(c.startupProbe.exec.command).toEqual(['bash', '/opt/galera/probe.sh', 'live']);
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBeGreaterThanOrEqual(600);
  });

  test('the agent sidecar finds its peers through the headless Service and reads the optional override', () => {
    const { objects } = galera();
    const a = container(objects, 'agent');
    expect(a.command).toEqual(['node', '/opt/galera-agent/agent.bundle.js']);
    const env = envOf(a);
    // The member model's peer DNS names, by ordinal: the agent never builds a member's name itself.
    expect(env.GALERA_PEER_URLS).toBe([0, 1, 2].map((i) => `http://galera-${i}.galera-peers.openstack.svc:9200`).join(','));
    expect(env.GALERA_PEER_URL_TEMPLATE).toBeUndefined();
    expect(env.GALERA_CLUSTER_SIZE).toBe('3');
    expect(env.GALERA_OVERRIDE_FILE).toBe('/etc/galera-recovery/bootstrap-from');
    expect(a.securityContext.runAsUser).toBeUndefined(); // the pod's uid 999, like mariadbd
    const volumes = sts(objects).spec.template.spec.volumes;
    expect(volumes.find((v: any) => v.name === 'recovery')).toEqual({ name: 'recovery', configMap: { name: 'galera-recovery', optional: true } });
    expect(volumes.find((v: any) => v.name === 'run').emptyDir.medium).toBe('Memory');
    expect(a.volumeMounts.find((m: any) => m.name === 'recovery').subPath).toBeUndefined();
    // The operator's ConfigMap is not part of the manifests, so applying them never undoes an override.
    expect(ofKind(objects, 'ConfigMap').map((c) => c.metadata.name)).not.toContain('galera-recovery');
  });
});

describe('GaleraPetSet services', () => {
  test('a headless peer Service that publishes not-ready members, with every port named', () => {
    const svc = find(galera().objects, 'Service', 'galera-peers');
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.publishNotReadyAddresses).toBe(true);
    expect(svc.spec.ports.map((p: any) => `${p.name}:${p.port}`)).toEqual(['mysql:3306', 'galera:4567', 'ist:4568', 'sst:4444', 'agent:9200']);
  });

  test('a client Service on 3306', () => {
    const svc = find(galera().objects, 'Service', 'galera');
    expect(svc.spec.type).toBe('ClusterIP');
    expect(svc.spec.ports).toEqual([{ name: 'mysql', port: 3306, targetPort: 'mysql', protocol: 'TCP' }]);
  });

  test('members are addressed by stable DNS names', () => {
    expect(galera().db.members.map((m) => m.host)).toEqual(['galera-0', 'galera-1', 'galera-2'].map((m) => `${m}.galera-peers.openstack.svc`));
  });

  test('members name each member once, and the objects use those names', () => {
    const { db, objects } = galera();
    expect(db.members[1]).toEqual({
      ordinal: 1, podName: 'galera-1', host: 'galera-1.galera-peers.openstack.svc',
      claimName: 'data-galera-1', node: 'ctl-2', volumeName: 'openstack-galera-data-1',
    });
    for (const m of db.members) {
      const pv = find(objects, 'PersistentVolume', m.volumeName!);
      expect(pv.spec.claimRef.name).toBe(m.claimName);
      expect(pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values).toEqual([m.node]);
    }
    expect(serverCnf(objects)).toContain(`gcomm://${db.members.map((m) => m.host).join(',')}`);
  });

  test('members are not pinned, and have no claim with hostPath, without localVolume', () => {
    const { db } = galera({ storage: GaleraStorage.hostPath({ path: '/var/lib/galera' }) });
    expect(db.members[0]).toEqual({ ordinal: 0, podName: 'galera-0', host: 'galera-0.galera-peers.openstack.svc' });
  });
});

describe('GaleraPetSet storage', () => {
  test('localVolume: one local PV per member pinned to its node and pre-bound to its claim', () => {
    const { objects } = galera();
    const pvs = ofKind(objects, 'PersistentVolume');
    expect(pvs.map((p) => p.metadata.name)).toEqual(['openstack-galera-data-0', 'openstack-galera-data-1', 'openstack-galera-data-2']);
    pvs.forEach((pv, i) => {
      expect(pv.metadata.namespace).toBeUndefined();
      expect(pv.spec.local).toEqual({ path: '/mnt/disks/galera' });
      expect(pv.spec.claimRef).toEqual({ namespace: 'openstack', name: `data-galera-${i}` });
      expect(pv.spec.persistentVolumeReclaimPolicy).toBe('Retain');
      expect(pv.spec.capacity).toEqual({ storage: '100Gi' });
      expect(pv.spec.nodeAffinity.required.nodeSelectorTerms).toEqual([
        { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [NODES[i].name] }] },
      ]);
    });
    const sc = find(objects, 'StorageClass', 'galera-local');
    expect(sc).toMatchObject({ provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'WaitForFirstConsumer', reclaimPolicy: 'Retain' });
    expect(sc.metadata.namespace).toBeUndefined();
    expect(sts(objects).spec.volumeClaimTemplates).toEqual([expect.objectContaining({
      metadata: expect.objectContaining({ name: 'data' }),
      spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'galera-local', resources: { requests: { storage: '100Gi' } } },
    })]);
  });

  test('hostPath: a directory per member, handed to the mysql user by an init container with CHOWN only', () => {
    const { objects } = galera({ storage: GaleraStorage.hostPath({ path: '/var/lib/openstack-ha/galera' }) });
    const spec = sts(objects).spec.template.spec;
    expect(sts(objects).spec.volumeClaimTemplates).toBeUndefined();
    expect(spec.volumes.find((v: any) => v.name === 'data')).toEqual({ name: 'data', hostPath: { path: '/var/lib/openstack-ha/galera', type: 'DirectoryOrCreate' } });
    expect(container(objects, 'mariadb').volumeMounts[0]).toEqual({ name: 'data', mountPath: '/var/lib/mysql', subPathExpr: '$(POD_NAME)' });
    const init = spec.initContainers[0];
    expect(init.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['CHOWN'] });
    expect(init.securityContext.runAsUser).toBe(0);
    // With CHOWN only, root may chmod only what root owns: take it, set the mode, give it; skip once owned
    // (test/integration/data-owner.test.ts runs it with exactly these capabilities).
    expect(init.command[2]).toBe('[ "$(stat -c %u /var/lib/mysql)" = 999 ] || { chown 0:0 /var/lib/mysql && chmod 0750 /var/lib/mysql && chown 999:999 /var/lib/mysql; }');
    expect(sts(objects).spec.template.metadata.annotations['openstack-ha.cdk8s.io/capabilities']).toMatch(/^CHOWN: /);
    expect(ofKind(objects, 'PersistentVolume')).toHaveLength(0);
  });

  test('storageClass: claims from the given class, no PV', () => {
    const { objects } = galera({ storage: GaleraStorage.storageClass({ storageClassName: 'ceph-rbd', size: '50Gi' }) });
    expect(sts(objects).spec.volumeClaimTemplates[0].spec.storageClassName).toBe('ceph-rbd');
    expect(ofKind(objects, 'PersistentVolume')).toHaveLength(0);
    expect(ofKind(objects, 'StorageClass')).toHaveLength(0);
  });
});

describe('GaleraPetSet tmpdir', () => {
  const tmpVolume = (objects: K8sObject[]) => sts(objects).spec.template.spec.volumes.find((v: any) => v.name === 'tmp');

  test('2 GiB by default: reserved on the node, the emptyDir limit, half of it for one on-disk temporary table', () => {
    const { objects } = galera();
    expect(tmpVolume(objects)).toEqual({ name: 'tmp', emptyDir: { sizeLimit: '2048Mi' } });
    expect(container(objects, 'mariadb').resources.requests['ephemeral-storage']).toBe('2048Mi');
    expect(container(objects, 'mariadb').volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(serverCnf(objects)).toMatch(/^tmpdir = \/tmp$/m);
    expect(serverCnf(objects)).toMatch(/^tmp_disk_table_size = 1024M$/m);
  });

  test('sized from tmpSizeMiB', () => {
    const { objects } = galera({ tmpSizeMiB: 10240 });
    expect(tmpVolume(objects).emptyDir.sizeLimit).toBe('10240Mi');
    expect(container(objects, 'mariadb').resources.requests['ephemeral-storage']).toBe('10240Mi');
    expect(serverCnf(objects)).toMatch(/^tmp_disk_table_size = 5120M$/m);
  });
});

describe('GaleraPetSet server config', () => {
  test('every setting a production Galera needs', () => {
    const cnf = serverCnf(galera().objects);
    for (const line of [
      'wsrep_on = ON',
      'wsrep_provider = /usr/lib/galera/libgalera_smm.so',
      'wsrep_cluster_name = galera',
      'wsrep_cluster_address = gcomm://galera-0.galera-peers.openstack.svc,galera-1.galera-peers.openstack.svc,galera-2.galera-peers.openstack.svc',
      'wsrep_sst_method = mariabackup',
      'wsrep_sst_donor_rejects_queries = ON',
      'binlog_format = ROW',
      'innodb_autoinc_lock_mode = 2',
    ]) expect(cnf).toContain(line);
    expect(cnf).toMatch(/wsrep_provider_options = ".*gcache.size=1G.*pc.recovery=TRUE.*"/);
    // Per-pod and secret values are rendered at container start, never here.
    expect(cnf).not.toMatch(/wsrep_node_address|wsrep_node_name|wsrep_sst_auth/);
  });

  test('user overrides win, key by key', () => {
    const cnf = serverCnf(galera({ serverConfig: { mysqld: { max_connections: '8192' }, galera: { wsrep_slave_threads: '16' } }, gcacheSize: '4G' }).objects);
    expect(cnf).toContain('max_connections = 8192');
    expect(cnf).toContain('wsrep_slave_threads = 16');
    expect(cnf).toContain('gcache.size=4G');
    expect(cnf.match(/max_connections/g)).toHaveLength(1);
  });

  test('the users file names each password variable, never a password', () => {
    const users = find(galera().objects, 'ConfigMap', 'galera-config').data['users.tsv'];
    expect(users).toContain('nova\t%\tGALERA_PASSWORD_NOVA\t500\tALL PRIVILEGES\tnova,nova_api,nova_cell0');
  });

  test('a config change changes the pod template hash; the same props give the same bytes', () => {
    const hash = (o: K8sObject[]) => sts(o).spec.template.metadata.annotations['openstack-ha.cdk8s.io/config-hash'];
    expect(JSON.stringify(galera().objects)).toBe(JSON.stringify(galera().objects));
    expect(hash(galera({ gcacheSize: '2G' }).objects)).not.toBe(hash(galera().objects));
    expect(hash(galera({ users: [] }).objects)).not.toBe(hash(galera().objects));
  });
});

describe('GaleraPetSet disruption and network', () => {
  test.each([[3, 2], [5, 3], [7, 4]])('%i members: PodDisruptionBudget minAvailable %i (a majority)', (replicas, min) => {
    const nodes = Array.from({ length: replicas }, (_, i) => ({ name: `n${i}`, ip: `10.0.1.${i + 1}` }));
    const { objects } = galera({ replicas, placement: Placement.onNodes(nodes) });
    expect(find(objects, 'PodDisruptionBudget', 'galera').spec.minAvailable).toBe(min);
  });

  test('replication ports only between members; MySQL only from allowed clients, added before or after', () => {
    const chart = newChart('openstack');
    const db = new GaleraPetSet(chart, 'galera', {
      placement: Placement.onNodes(NODES), storage: GaleraStorage.storageClass({ storageClassName: 'x', size: '10Gi' }),
      credentials: CREDENTIALS, allowedClients: [{ podLabels: { application: 'keystone' } }],
    });
    db.allowClients({ podLabels: { 'app.kubernetes.io/name': 'proxysql' } });
    db.allowHealthChecks({ podLabels: { 'app.kubernetes.io/name': 'haproxy' } });
    const np = find(synth(chart), 'NetworkPolicy', 'galera');
    const members = { podSelector: { matchLabels: db.podSelector } };
    expect(np.spec.ingress).toEqual([
      { from: [members], ports: [4567, 4568, 4444, 9200].map((port) => ({ protocol: 'TCP', port })) },
      { from: [{ podSelector: { matchLabels: { application: 'keystone' } } }, { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'proxysql' } } }], ports: [{ protocol: 'TCP', port: 3306 }] },
      { from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'haproxy' } } }], ports: [{ protocol: 'TCP', port: 9200 }] },
    ]);
  });
});

describe('GaleraPetSet manifests', () => {
  test.each([
    ['localVolume', GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' })],
    ['hostPath', GaleraStorage.hostPath({ path: '/var/lib/galera' })],
    ['storageClass', GaleraStorage.storageClass({ storageClassName: 'ceph', size: '20Gi' })],
  ])('%s: schema-valid and meets every invariant', (_mode, storage) => {
    expectValidManifests(galera({ storage }).objects);
  });

  test('snapshot', () => {
    const objects = galera().objects.map((o) => (o.kind === 'ConfigMap' && o.metadata.name !== 'galera-config'
      ? { ...o, data: Object.fromEntries(Object.keys(o.data).map((k) => [k, `<${o.data[k].length} bytes>`])) } : o));
    expect(objects).toMatchSnapshot();
  });
});

describe('GaleraPetSet fails on bad input, listing every problem at once', () => {
  const message = (props: Partial<GaleraPetSetProps>, namespace?: string) => errorOf(() => galera(props, namespace));

  test('fails with an even member count and too few nodes, together', () => {
    const m = message({ replicas: 4 });
    expect(m).toContain("GaleraPetSet 'galera' has invalid props:");
    expect(m).toContain('replicas: 4 must be odd and at least 3');
    expect(m).toContain('are 3 nodes, but 4 replicas need 4');
  });

  test('writerOrdinal names the first value of the writer row (the entrypoint\'s GALERA_INITIAL_WRITER); 0 by default', () => {
    expect(envOf(container(galera().objects, 'mariadb')).GALERA_INITIAL_WRITER).toBe('galera-0');
    const two = galera({ writerOrdinal: 2 });
    expect(envOf(container(two.objects, 'mariadb')).GALERA_INITIAL_WRITER).toBe('galera-2');
    for (const bad of [3, -1, 0.5]) expect(message({ writerOrdinal: bad })).toContain(`writerOrdinal: ${bad} must be the ordinal of a member (0 to 2)`);
  });

  test('fails with fewer than 3 members', () => {
    expect(message({ replicas: 1 })).toContain('replicas: 1 must be odd and at least 3');
  });

  test('fails with more members than Galera keeps in step', () => {
    expect(message({ replicas: 101, placement: Placement.onLabelledNodes('galera', 'yes') })).toContain('replicas: 101 is more members than Galera keeps in step');
  });

  test('fails with a node listed twice', () => {
    expect(message({ placement: Placement.onNodes([...NODES, NODES[0]]) })).toContain('"ctl-1" is listed more than once');
  });

  test('fails when the SST user is the admin or the monitor account', () => {
    expect(message({ credentials: { ...CREDENTIALS, sstUser: 'root' } })).toContain('credentials.sstUser: "root" must not be the admin account');
    expect(message({ credentials: { ...CREDENTIALS, sstUser: 'monitor' } })).toContain('is also the monitor account');
  });

  test('fails on a password given inline', () => {
    const inline = 'hunter2' as unknown as SecretValue;
    const m = message({ credentials: { ...CREDENTIALS, rootPassword: inline }, users: [{ ...NOVA, password: inline }] });
    expect(m).toContain('credentials.rootPassword: "(a string)" must be a Secret reference, never an inline password');
    expect(m).toContain('users[0].password: "(a string)" must be a Secret reference');
    expect(m).not.toContain('hunter2');
  });

  test('fails on a tmpdir too small or not a whole number of MiB', () => {
    expect(message({ tmpSizeMiB: 100 })).toContain('tmpSizeMiB: 100 must be a whole number of MiB from 256');
    expect(message({ tmpSizeMiB: NaN })).toContain('tmpSizeMiB: NaN must be a whole number of MiB');
  });

  test('fails when gcache does not fit the volume', () => {
    expect(message({ gcacheSize: '60G' })).toContain('gcacheSize: "60G" does not fit storage.size "100Gi" with room for the data; keep gcacheSize under half of storage.size');
    expect(message({ gcacheSize: 'lots' })).toContain('gcacheSize: "lots" is not a size Galera can allocate');
  });

  test('fails on unknown storage and on localVolume without a namespace or an inventory', () => {
    expect(message({ storage: { mode: 'nfs' } as unknown as GaleraStorage })).toContain('storage: {"mode":"nfs"} is not a storage mode');
    expect(message({}, '')).toMatch(/storage: "localVolume" pre-binds each volume .* needs a namespace/);
    expect(message({ placement: Placement.onLabelledNodes('galera', 'yes') })).toContain('pins member N to the N-th inventory node');
    expect(message({ storage: GaleraStorage.localVolume({ path: 'relative', size: 'big' }) })).toMatch(/storage.path: "relative" is not absolute[\s\S]*storage.size: "big" is not a volume size/);
  });

  test('fails on a host path that is a system directory, not normalized, or top-level (the shared rule)', () => {
    expect(message({ storage: GaleraStorage.hostPath({ path: '/var/lib/kubelet/galera' }) })).toContain('storage.path: "/var/lib/kubelet/galera" is inside the system directory /var/lib/kubelet');
    expect(message({ storage: GaleraStorage.localVolume({ path: '/mnt/disks/../galera', size: '100Gi' }) })).toContain('storage.path: "/mnt/disks/../galera" is not normalized');
    expect(message({ storage: GaleraStorage.hostPath({ path: '/galera' }) })).toContain('storage.path: "/galera" is a top-level directory');
    expect(message({ storage: GaleraStorage.hostPath({ path: '/' }) })).toMatch(/storage.path: "\/" /);
  });

  test('fails on image references the kubelet would refuse', () => {
    const m = message({ image: 'mariadb:11.4 latest', agentImage: '' });
    expect(m).toMatch(/- image: "mariadb:11.4 latest" /);
    expect(m).toMatch(/- agentImage: "" /);
  });

  test('fails on duplicate users, built-in names, bad user fields, and a secret in serverConfig', () => {
    const m = message({
      users: [NOVA, NOVA, { ...NOVA, name: 'root' }, { ...NOVA, name: 'glance', databases: [] }],
      serverConfig: { galera: { wsrep_sst_auth: 'sst:pw' }, 'my sect': { x: 'a\nb' } },
    });
    expect(m).toContain('users[1].name: "nova" is defined more than once (as nova@%)');
    expect(m).toContain('users[2].name: "root" is an account MariaDB or the entrypoint manages');
    expect(m).toContain('users[3].databases: [] is empty');
    expect(m).toContain('serverConfig.galera.wsrep_sst_auth: "(a string)" is set by the library: it is a secret');
    expect(m).not.toContain('sst:pw');
    expect(m).toContain('serverConfig section: "my sect" is not a my.cnf section name');
  });
});

describe('GaleraPetSet across the app, at synth', () => {
  const props = (path: string): GaleraPetSetProps => ({
    placement: Placement.onNodes(NODES), storage: GaleraStorage.hostPath({ path }), credentials: CREDENTIALS,
  });

  test('two clusters of one name in one namespace, from two charts: the objects collide', () => {
    const app = newApp();
    new GaleraPetSet(new Chart(app, 'a', { namespace: 'openstack' }), 'galera', props('/var/lib/openstack-ha/galera'));
    new GaleraPetSet(new Chart(app, 'b', { namespace: 'openstack' }), 'galera', { ...props('/var/lib/openstack-ha/galera'), replicas: 3, clusterName: 'other' });
    expect(app.node.validate().join('\n')).toMatch(/ConfigMap openstack\/galera-config is emitted by a\/galera\/.* and by b\/galera\/.* with different content/);
  });

  test('a Galera hostPath nested in RabbitMQ\'s data directory on the same nodes: both would own it', () => {
    const app = newApp();
    const chart = new Chart(app, 'cp', { namespace: 'openstack' });
    new GaleraPetSet(chart, 'galera', props('/var/lib/rabbitmq/openstack-rabbitmq/galera'));
    new RabbitDaemonSet(chart, 'rabbitmq', {
      placement: Placement.onNodes(NODES), version: RabbitVersion.V3_13,
      erlangCookie: SecretValue.fromSecret('rabbitmq-erlang-cookie', 'cookie'), users: adminAndNova(),
    });
    expect(app.node.validate().join('\n')).toMatch(/\/var\/lib\/rabbitmq\/openstack-rabbitmq.*galera/);
  });
});

describe('GaleraPetSet contract with its scripts and agent', () => {
  const { readFileSync, readdirSync } = require('fs') as typeof import('fs');
  const scripts = readdirSync('assets/galera').filter((f) => f.endsWith('.sh')).map((f) => readFileSync(`assets/galera/${f}`, 'utf8')).join('\n');
  const agentConfig = readFileSync('lib/galera/agent/config.ts', 'utf8');

  test('every env var given to the mariadb container is read by the scripts (or names a user password in users.tsv)', () => {
    const { objects } = galera();
    const users = find(objects, 'ConfigMap', 'galera-config').data['users.tsv'];
    for (const e of container(objects, 'mariadb').env) {
      const used = new RegExp(`\\$\\{?${e.name}\\b`).test(scripts) || users.includes(`\t${e.name}\t`);
      expect([e.name, used]).toEqual([e.name, true]);
    }
  });

  test('every env var given to the agent is read by its configuration', () => {
    for (const e of container(galera().objects, 'agent').env) {
      expect([e.name, agentConfig.includes(`env.${e.name}`) || agentConfig.includes(`'${e.name}'`)]).toEqual([e.name, true]);
    }
  });

  test('the mounts are where the scripts and the agent expect them', () => {
    const { objects } = galera();
    const mounts = Object.fromEntries(container(objects, 'mariadb').volumeMounts.map((m: any) => [m.name, m.mountPath]));
    const env = envOf(container(objects, 'mariadb'));
    expect(env.GALERA_CONFIG_FILE).toBe(`${mounts.config}/server.cnf`);
    expect(env.GALERA_USERS_FILE).toBe(`${mounts.config}/users.tsv`);
    expect(env.GALERA_RUN_DIR).toBe(mounts.run);
    expect(env.GALERA_DATADIR).toBe(mounts.data);
    const agentEnv = envOf(container(objects, 'agent'));
    const agentMounts = Object.fromEntries(container(objects, 'agent').volumeMounts.map((m: any) => [m.name, m.mountPath]));
    expect(agentEnv.GALERA_RUN_DIR).toBe(agentMounts.run);
    expect(agentEnv.GALERA_OVERRIDE_FILE).toBe(`${agentMounts.recovery}/bootstrap-from`);
    expect(container(objects, 'agent').command[1]).toBe(`${agentMounts.agent}/agent.bundle.js`);
  });
});
