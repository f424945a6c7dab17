import { MemcachedNetwork, MemcachedPool, Placement } from '../lib';
import { spawnSync } from 'child_process';
import { TlsCertificates } from '../lib';
import { itemMemoryMiB, memcachedArgs, workerThreads } from '../lib/memcached/memcached-args';
import { VERSION_LE_SH, WARM_RESTART_FILE, memcachedCacheFate, warmRestartScript } from '../lib/memcached/warm-restart';
import { errorOf, expectValidManifests, find, newChart, ofKind, synth } from './support/harness';
import { NODES } from './support/fixtures';


function hostPool(props: Partial<ConstructorParameters<typeof MemcachedPool>[2]> = {}) {
  const chart = newChart('openstack');
  const pool = new MemcachedPool(chart, 'memcached', { placement: Placement.onNodes(NODES), ...props });
  return { chart, pool, objects: synth(chart) };
}

describe('memcached arguments', () => {
  test('UDP off, cachedump off, listen address and sizes from the limits', () => {
    const args = memcachedArgs({ listenAddress: '$(HOST_IP)', port: 11211, maxConnections: 8192, memoryLimitMiB: 1024, cpuLimitMillis: 2000 });
    expect(args).toEqual(['-l', '$(HOST_IP)', '-p', '11211', '-U', '0', '-X', '-c', '8192', '-m', '857', '-t', '2']);
  });

  test('item memory keeps 10% (at least 32 MiB) plus 8 KiB per connection for memcached itself', () => {
    expect(itemMemoryMiB(1024, 8192)).toBe(1024 - 103 - 64);
    expect(itemMemoryMiB(256, 1024)).toBe(256 - 32 - 8);
    expect(itemMemoryMiB(4096, 0)).toBe(4096 - 410);
  });

  test('one worker thread per whole CPU of the limit, at least one', () => {
    expect(workerThreads(500)).toBe(1);
    expect(workerThreads(1999)).toBe(1);
    expect(workerThreads(4000)).toBe(4);
  });
});

describe('MemcachedPool on the host network (default)', () => {
  test('memcache_servers lists node IPs in inventory order', () => {
    const { pool } = hostPool();
    expect(pool.memcacheServers).toBe('10.0.0.11:11211,10.0.0.12:11211,10.0.0.13:11211');
    expect(pool.servers).toHaveLength(3);
  });

  test('IPv6 nodes are bracketed in the server list', () => {
    const chart = newChart();
    const pool = new MemcachedPool(chart, 'mc', { placement: Placement.onNodes([{ name: 'a', ip: 'fd00::1' }]) });
    expect(pool.memcacheServers).toBe('[fd00::1]:11211');
  });

  test('a host-network DaemonSet on the inventory nodes, listening on the node IP only', () => {
    const { objects } = hostPool();
    const ds = find(objects, 'DaemonSet', 'memcached');
    const pod = ds.spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ctl-1'] }] },
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ctl-2'] }] },
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ctl-3'] }] },
    ]);
    const c = pod.containers[0];
    expect(c.args.slice(0, 2)).toEqual(['-l', '$(HOST_IP)']);
    expect(c.env).toEqual([{ name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } }]);
    expect(c.args).toEqual(expect.arrayContaining(['-U', '0', '-X']));
    expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    expect(ofKind(objects, 'Service')).toHaveLength(0);
    expect(ofKind(objects, 'NetworkPolicy')).toHaveLength(0);
  });

  test('non-root, read-only root filesystem, every capability dropped, TCP probes', () => {
    const { objects } = hostPool();
    const pod = find(objects, 'DaemonSet', 'memcached').spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 11211, seccompProfile: { type: 'RuntimeDefault' } });
    const c = pod.containers[0];
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c.securityContext.capabilities.add).toBeUndefined();
    expect(c.readinessProbe.tcpSocket).toEqual({ port: 11211 });
    expect(c.livenessProbe.tcpSocket).toEqual({ port: 11211 });
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  test('resources are requests and limits, and the limits size memcached', () => {
    const { objects } = hostPool({ resources: { memoryLimitMiB: 2048, memoryRequestMiB: 2048, cpuLimitMillis: 4000 }, maxConnections: 4096 });
    const c = find(objects, 'DaemonSet', 'memcached').spec.template.spec.containers[0];
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '2048Mi' }, limits: { cpu: '4000m', memory: '2048Mi' } });
    expect(c.args).toEqual(expect.arrayContaining(['-m', String(2048 - 205 - 32), '-t', '4', '-c', '4096']));
  });

  test('a PodDisruptionBudget takes one instance at a time', () => {
    const { objects } = hostPool();
    const pdb = find(objects, 'PodDisruptionBudget', 'memcached');
    // A DaemonSet has no scale subresource, so maxUnavailable would never allow an eviction: minAvailable nodes - 1.
    expect(pdb.spec).toEqual({ minAvailable: 2, selector: { matchLabels: { 'app.kubernetes.io/name': 'memcached', 'app.kubernetes.io/instance': 'memcached' } } });
  });

  test('changing the arguments changes the config hash (pods roll), the same props give the same hash', () => {
    const hash = (o: any[]) => find(o, 'DaemonSet', 'memcached').spec.template.metadata.annotations['openstack-ha.cdk8s.io/config-hash'];
    expect(hash(hostPool().objects)).toBe(hash(hostPool().objects));
    expect(hash(hostPool({ maxConnections: 1000 }).objects)).not.toBe(hash(hostPool().objects));
  });

  test('tolerates the control-plane taint only when asked', () => {
    const tolerations = (p: Placement) => {
      const chart = newChart();
      new MemcachedPool(chart, 'mc', { placement: p });
      return find(synth(chart), 'DaemonSet', 'mc').spec.template.spec.tolerations;
    };
    expect(tolerations(Placement.onNodes(NODES))).toBeUndefined();
    expect(tolerations(Placement.onNodes(NODES, { tolerateControlPlane: true }))).toEqual([
      { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
    ]);
  });

  test('labelled nodes with an inventory: node selection by label, servers from the inventory', () => {
    const chart = newChart();
    const pool = new MemcachedPool(chart, 'mc', { placement: Placement.onLabelledNodes('openstack-control-plane', 'enabled', { nodes: NODES }) });
    const pod = find(synth(chart), 'DaemonSet', 'mc').spec.template.spec;
    expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      { matchExpressions: [{ key: 'openstack-control-plane', operator: 'In', values: ['enabled'] }] },
    ]);
    expect(pool.servers).toEqual(['10.0.0.11:11211', '10.0.0.12:11211', '10.0.0.13:11211']);
  });

  test('schema-valid and meets every invariant', () => {
    expectValidManifests(hostPool().objects);
  });

  test('snapshot', () => {
    expect(hostPool().objects).toMatchSnapshot();
  });
});

describe('MemcachedPool on the pod network', () => {
  function podPool() {
    const chart = newChart('openstack');
    const pool = new MemcachedPool(chart, 'memcached', {
      placement: Placement.onNodes(NODES),
      network: MemcachedNetwork.podNetwork({ allowedClients: [{ podLabels: { application: 'keystone' } }, { podLabels: { application: 'nova' }, namespaceLabels: { 'kubernetes.io/metadata.name': 'nova' } }] }),
    });
    return { pool, objects: synth(chart) };
  }

  test('one pod per node behind a headless Service; servers are stable pod DNS names', () => {
    const { pool, objects } = podPool();
    const sts = find(objects, 'StatefulSet', 'memcached');
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.serviceName).toBe('memcached');
    expect(sts.spec.template.spec.hostNetwork).toBeUndefined();
    expect(sts.spec.template.spec.containers[0].args.slice(0, 2)).toEqual(['-l', '$(POD_IP)']);
    expect(find(objects, 'Service', 'memcached').spec.clusterIP).toBe('None');
    expect(pool.memcacheServers).toBe([0, 1, 2].map((i) => `memcached-${i}.memcached.openstack.svc:11211`).join(','));
  });

  test('a NetworkPolicy admits only the named clients, on the memcached port', () => {
    const np = find(podPool().objects, 'NetworkPolicy', 'memcached');
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    expect(np.spec.ingress).toEqual([{
      from: [
        { podSelector: { matchLabels: { application: 'keystone' } } },
        { podSelector: { matchLabels: { application: 'nova' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'nova' } } },
      ],
      ports: [{ protocol: 'TCP', port: 11211 }],
    }]);
  });

  test('schema-valid and meets every invariant', () => {
    expectValidManifests(podPool().objects);
  });

  test('snapshot', () => {
    expect(podPool().objects).toMatchSnapshot();
  });
});

describe('MemcachedPool warm restart (the cache survives the pod\'s replacement)', () => {
  const podOf = (props: Partial<ConstructorParameters<typeof MemcachedPool>[2]> = {}) => find(hostPool(props).objects, 'DaemonSet', 'memcached').spec.template;

  test('on by default on the host network: memcached runs under the wrapper with its own args, the item file on the node\'s /dev/shm', () => {
    const template = podOf();
    const pod = template.spec;
    const c = pod.containers[0];
    expect(c.command).toEqual(['sh', '-c', warmRestartScript(WARM_RESTART_FILE), 'memcached']);
    // The args are memcached's own (the wrapper adds -e when the directory is a RAM disk): the same as without it.
    expect(c.args).toEqual(podOf({ warmRestart: false }).spec.containers[0].args);
    expect(c.args).not.toContain('-e');
    expect(pod.volumes).toEqual([{ name: 'warm-restart', hostPath: { path: '/dev/shm/openstack-ha-memcached/openstack-memcached', type: 'DirectoryOrCreate' } }]);
    expect(c.volumeMounts).toEqual([{ name: 'warm-restart', mountPath: '/var/lib/memcached' }]);
    // Saving is milliseconds to a second (measured); the grace period bounds a stuck save.
    expect(pod.terminationGracePeriodSeconds).toBe(10);
    expect(c.lifecycle).toBeUndefined();
  });

  test('the directory is handed to the memcache user by a root init container with CHOWN only; memcached itself gets no capability', () => {
    const template = podOf();
    const [init] = template.spec.initContainers;
    expect(init.name).toBe('data-owner');
    expect(init.image).toBe(MemcachedPool.DEFAULT_IMAGE);
    expect(init.command[2]).toBe('[ "$(stat -c %u /var/lib/memcached)" = 11211 ] || { chown 0:0 /var/lib/memcached && chmod 0750 /var/lib/memcached && chown 11211:11211 /var/lib/memcached; }');
    expect(init.securityContext).toMatchObject({ runAsUser: 0, runAsNonRoot: false, privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['CHOWN'] } });
    expect(init.volumeMounts).toEqual([{ name: 'warm-restart', mountPath: '/var/lib/memcached' }]);
    expect(template.metadata.annotations['openstack-ha.cdk8s.io/capabilities']).toMatch(/^CHOWN: init container data-owner: give the hostPath data directory to the memcache/);
    expect(template.spec.containers[0].securityContext.capabilities).toEqual({ drop: ['ALL'] });
    expect(template.spec.containers[0].securityContext.runAsNonRoot).toBe(true);
  });

  test('the wrapper: SIGTERM becomes SIGUSR1 (save, then exit), -e on the file, a lock, the version rule, the same-second rule, RAM-disk and room checks', () => {
    const script = warmRestartScript(WARM_RESTART_FILE);
    expect(spawnSync('sh', ['-n', '-c', script]).status).toBe(0);
    expect(script).toContain('f=/var/lib/memcached/memory;');
    expect(script).toMatch(/trap '[^']*kill -USR1 \$pid' TERM INT/);
    expect(script).toContain('memcached -e "$f" "$@" & pid=$!');
    expect(script).toMatch(/while wait \$pid; rc=\$\?; kill -0 \$pid 2>\/dev\/null; do :; done\nexit \$rc$/);
    // PID 1 ignores signals it has no handler for: a stop before memcached runs (waiting for the lock) ends it at once.
    expect(script.split('\n')[0]).toBe("trap 'exit 143' TERM INT");
    expect(script).toContain('flock -n 9 || { say "waiting for the previous memcached on this node to exit"; flock 9 & wait $!; }');
    expect(script).toContain('case "$fs" in tmpfs|ramfs) ;; *) say');
    expect(script).toContain('[ $((free + have)) -lt $((m * 1024)) ]');
    expect(script).toMatch(/rm -f "\$f.meta"; say "the cache was saved by memcached/);
    expect(script).toContain('sleep 1');
  });

  test.each([
    ['1.6.18', '1.6.39', true], ['1.6.39', '1.6.39', true], ['1.6.39', '1.6.18', false], ['1.6.9', '1.6.10', true], ['1.10.0', '1.9.9', false],
    ['1.5.18', '1.6.0', true], ['', '1.6.39', false], ['1.6.39', '', false], ['1.6.39-rc1', '1.6.39', false], ['1.6', '1.6.0', true], ['1.6.0.1', '1.6.0', false],
  ])('the version rule (sh): a cache saved by %p is restored by %p: %p', (saved, running, restored) => {
    expect(spawnSync('sh', ['-c', `${VERSION_LE_SH}\nle "$1" "$2"`, 'le', saved, running]).status === 0).toBe(restored);
  });

  test('warmRestartPath sets the node directory; two pools get two default directories', () => {
    expect(podOf({ warmRestartPath: '/dev/shm/mc' }).spec.volumes[0].hostPath.path).toBe('/dev/shm/mc');
    expect(podOf({ warmRestartPath: '/var/lib/openstack-ha/mc-tmpfs' }).spec.volumes[0].hostPath.path).toBe('/var/lib/openstack-ha/mc-tmpfs');
    const chart = newChart();
    new MemcachedPool(chart, 'a', { placement: Placement.onNodes(NODES) });
    new MemcachedPool(chart, 'b', { placement: Placement.onNodes(NODES), port: 11212 });
    expect(ofKind(synth(chart), 'DaemonSet').map((d: any) => d.spec.template.spec.volumes[0].hostPath.path))
      .toEqual(['/dev/shm/openstack-ha-memcached/default-a', '/dev/shm/openstack-ha-memcached/default-b']);
  });

  test('with TLS and the exporter: only the memcached container mounts the directory', () => {
    const certificates = TlsCertificates.certManager({ issuer: { name: 'ca' } });
    const pod = podOf({ tls: { certificates }, metricsExporter: true }).spec;
    expect(pod.volumes.map((v: any) => v.name)).toEqual(['warm-restart', 'tls', 'reloader', 'reloader-run']);
    expect(pod.containers[0].volumeMounts.map((m: any) => m.name)).toEqual(['warm-restart', 'tls']);
    for (const c of pod.containers.slice(1)) expect((c.volumeMounts ?? []).map((m: any) => m.name)).not.toContain('warm-restart');
    expect(pod.containers[0].args).toContain('-Z');
  });

  test('warmRestart: false renders the pod of before: memcached as the command, no volume, no init container, no capability', () => {
    const template = podOf({ warmRestart: false });
    expect(template.spec.containers[0].command).toEqual(['memcached']);
    expect(template.spec.volumes).toBeUndefined();
    expect(template.spec.initContainers).toBeUndefined();
    expect(template.spec.containers[0].volumeMounts).toBeUndefined();
    expect(Object.keys(template.metadata.annotations)).toEqual(['openstack-ha.cdk8s.io/config-hash']);
  });

  test('off on the pod network (pods are not tied to a node), and refused there when asked for', () => {
    const network = MemcachedNetwork.podNetwork({ allowedClients: [{ podLabels: { application: 'keystone' } }] });
    const chart = newChart('openstack');
    new MemcachedPool(chart, 'memcached', { placement: Placement.onNodes(NODES), network });
    const sts = find(synth(chart), 'StatefulSet', 'memcached').spec.template.spec;
    expect(sts.containers[0].command).toEqual(['memcached']);
    expect(sts.volumes).toBeUndefined();
    expect(errorOf(() => new MemcachedPool(newChart(), 'mc', { placement: Placement.onNodes(NODES), network, warmRestart: true })))
      .toContain('warmRestart: true only applies on the host network');
    expect(errorOf(() => new MemcachedPool(newChart(), 'mc', { placement: Placement.onNodes(NODES), network, warmRestartPath: '/dev/shm/x' })))
      .toContain('warmRestartPath: "/dev/shm/x" only applies with warm restart');
  });

  test('a bad path is refused with every other problem: /dev/shm itself, outside a directory of its own, a system directory, with warm restart off', () => {
    const bad = (warmRestartPath: string, extra = {}) => errorOf(() => new MemcachedPool(newChart(), 'mc', { placement: Placement.onNodes(NODES), warmRestartPath, ...extra }));
    expect(bad('/dev/shm')).toContain('warmRestartPath: "/dev/shm" is inside the system directory /dev');
    expect(bad('/dev/shm/')).toContain('warmRestartPath: "/dev/shm/" must be a normalized directory of its own inside /dev/shm');
    expect(bad('/dev/shm/a/../../etc')).toContain('must be a normalized directory of its own inside /dev/shm');
    expect(bad('/dev/shm/a b')).toContain('must be a normalized directory of its own inside /dev/shm');
    expect(bad('/etc/memcached')).toContain('warmRestartPath: "/etc/memcached" is inside the system directory /etc');
    expect(bad('/run/memcached')).toContain('is inside the system directory /run');
    expect(bad('/memcached')).toContain('is a top-level directory');
    expect(bad('/dev/shm/x', { warmRestart: false })).toContain('warmRestartPath: "/dev/shm/x" only applies with warm restart');
    const all = bad('relative', { warmRestart: 'yes', port: 0 });
    expect(all).toContain('warmRestart: "yes" must be true or false');
    expect(all).toContain('warmRestartPath: "relative" is not absolute');
    expect(all).toContain('port: 0 is not a TCP port');
  });

  test('two pools of one app on the same directory are refused at synth', () => {
    const chart = newChart();
    new MemcachedPool(chart, 'a', { placement: Placement.onNodes(NODES), warmRestartPath: '/dev/shm/mc' });
    new MemcachedPool(chart, 'b', { placement: Placement.onNodes(NODES), port: 11212, warmRestartPath: '/dev/shm/mc' });
    expect(() => synth(chart)).toThrow(/\/dev\/shm\/mc/);
  });

  test('the plan\'s reading of a roll: kept with the same directory and item memory; why not otherwise', () => {
    const spec = (props = {}) => podOf(props).spec;
    expect(memcachedCacheFate(spec(), spec({ maxConnections: 4096 + 4096 }))).toMatchObject({ kept: true });
    expect(memcachedCacheFate(spec(), spec({ image: 'docker.io/library/memcached:1.6.40' })).kept).toBe(true);
    expect(memcachedCacheFate(spec(), spec({ resources: { memoryLimitMiB: 2048, memoryRequestMiB: 2048 } })))
      .toEqual({ kept: false, reason: 'the item memory changes (-m 857 -> 1779 MiB): memcached refuses the restore and starts clean',
        savedIn: '/dev/shm/openstack-ha-memcached/openstack-memcached' });
    expect(memcachedCacheFate(spec({ warmRestart: false }), spec()).savedIn).toBeUndefined();
    expect(memcachedCacheFate(spec({ warmRestart: false }), spec()).reason).toMatch(/^warm restart turns on with this roll/);
    expect(memcachedCacheFate(spec(), spec({ warmRestart: false })).reason).toBe('warm restart is off');
    expect(memcachedCacheFate(spec(), spec({ warmRestartPath: '/dev/shm/other' })).reason).toBe('the warm-restart directory changes (/dev/shm/openstack-ha-memcached/openstack-memcached -> /dev/shm/other)');
  });
});

describe('MemcachedPool fails on bad input, listing every problem at once', () => {
  test('fails with empty inventory', () => {
    expect(() => new MemcachedPool(newChart(), 'mc', { placement: Placement.onNodes([]) })).toThrow(
      /placement nodes: \[\] is empty/);
  });

  test('fails listing a bad IP, a duplicate node, a bad port and too little memory together', () => {
    const make = () => new MemcachedPool(newChart(), 'mc', {
      placement: Placement.onNodes([{ name: 'ctl-1', ip: '10.0.0.300' }, { name: 'ctl-1', ip: '10.0.0.12' }, { name: 'Bad_Name', ip: '10.0.0.12' }]),
      port: 70000,
      resources: { memoryLimitMiB: 96, memoryRequestMiB: 96 },
    });
    expect(make).toThrow("MemcachedPool 'mc' has invalid props:");
    const message = errorOf(make);
    expect(message).toContain('placement nodes[0].ip: "10.0.0.300" is not an IP address');
    expect(message).toContain('placement nodes: "ctl-1" is listed more than once');
    expect(message).toContain('placement nodes: "10.0.0.12" is the IP of more than one node');
    expect(message).toContain('placement nodes[2].name: "Bad_Name" is not a valid node name');
    expect(message).toContain('port: 70000 is not a TCP port');
    expect(message).toContain('resources.memoryLimitMiB: 96 leaves');
    expect(message.split('\n- ')).toHaveLength(7);
  });

  test('fails on the host network with labelled nodes but no inventory (no IPs to list)', () => {
    expect(() => new MemcachedPool(newChart(), 'mc', { placement: Placement.onLabelledNodes('role', 'ctl') })).toThrow(
      /gives no node IPs for memcache_servers/);
  });

  test('fails on the pod network with no allowed client, and with an empty client selector', () => {
    expect(() => new MemcachedPool(newChart(), 'mc', { placement: Placement.onNodes(NODES), network: MemcachedNetwork.podNetwork({ allowedClients: [] }) }))
      .toThrow(/network.allowedClients: \[\] is empty/);
    expect(() => new MemcachedPool(newChart(), 'mc', { placement: Placement.onNodes(NODES), network: MemcachedNetwork.podNetwork({ allowedClients: [{ podLabels: {} }] }) }))
      .toThrow(/would admit every pod/);
  });

  test('fails when replicas exceed the nodes on the pod network', () => {
    expect(() => new MemcachedPool(newChart(), 'mc', {
      placement: Placement.onNodes(NODES), replicas: 4,
      network: MemcachedNetwork.podNetwork({ allowedClients: [{ podLabels: { a: 'b' } }] }),
    })).toThrow(/are 3 nodes, but 4 replicas need 4/);
  });

  test('fails when the request is above the limit, and on a name that is not DNS-1123', () => {
    expect(() => new MemcachedPool(newChart(), 'Memcached', { placement: Placement.onNodes(NODES), resources: { cpuRequestMillis: 3000, cpuLimitMillis: 2000 } }))
      .toThrow(/name: "Memcached" is not usable as an object name[\s\S]*cpuRequestMillis: 3000 is above the CPU limit/);
  });
});
