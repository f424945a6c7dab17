import { Placement, RabbitDaemonSet, RabbitDaemonSetProps, RabbitVersion, SecretValue } from '../lib';
import { CAPABILITIES_ANNOTATION, CONFIG_HASH_ANNOTATION } from '../lib/common/labels';
import { rabbitScripts } from '../lib/rabbitmq/assets';
import { errorOf, expectValidManifests, find, K8sObject, newChart, ofKind, synth } from './support/harness';
import { adminAndNova } from './support/fixtures';
import { NODES } from './support/fixtures';


function props(overrides: Partial<RabbitDaemonSetProps> = {}): RabbitDaemonSetProps {
  return {
    placement: Placement.onNodes(NODES),
    version: RabbitVersion.V3_13,
    erlangCookie: SecretValue.fromSecret('rabbitmq-erlang-cookie', 'cookie'),
    users: adminAndNova(),
    ...overrides,
  };
}

function build(overrides: Partial<RabbitDaemonSetProps> = {}): { rabbit: RabbitDaemonSet; objects: K8sObject[] } {
  const chart = newChart('openstack');
  const rabbit = new RabbitDaemonSet(chart, 'rabbitmq', props(overrides));
  return { rabbit, objects: synth(chart) };
}

function pod(objects: K8sObject[]): any {
  return find(objects, 'DaemonSet', 'rabbitmq').spec.template;
}

function broker(objects: K8sObject[]): any {
  return pod(objects).spec.containers.find((c: any) => c.name === 'rabbitmq');
}

function validationError(overrides: Partial<RabbitDaemonSetProps>): string {
  return errorOf(() => build(overrides));
}

describe('RabbitDaemonSet workload', () => {
  test('one broker per inventory node on the host network, rolled one at a time, never surging onto a busy node', () => {
    const { objects } = build();
    const ds = find(objects, 'DaemonSet', 'rabbitmq');
    // maxSurge is left at its default, 0: two brokers cannot share a node's ports.
    expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    expect(ds.spec.minReadySeconds).toBe(30);
    const spec = pod(objects).spec;
    expect(spec.hostNetwork).toBe(true);
    expect(spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ctl-1'] }] },
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ctl-2'] }] },
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ctl-3'] }] },
    ]);
    expect(broker(objects).command).toEqual(['bash', '/opt/rabbitmq-ha/start.sh']);
    expect(broker(objects).image).toBe('docker.io/library/rabbitmq:3.13.7-management');
  });

  test('env: node name and IP from the downward API, no password (a volume), schedulers from the CPU limit', () => {
    const env: any[] = broker(build({ resources: { cpuLimitMillis: 3500 } }).objects).env;
    const byName = Object.fromEntries(env.map((e) => [e.name, e]));
    expect(byName.NODE_NAME.valueFrom).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
    expect(byName.HOST_IP.valueFrom).toEqual({ fieldRef: { fieldPath: 'status.hostIP' } });
    expect(byName.RABBITMQ_NODENAME.value).toBe('rabbit@$(NODE_NAME)');
    expect(env.findIndex((e) => e.name === 'NODE_NAME')).toBeLessThan(env.findIndex((e) => e.name === 'RABBITMQ_NODENAME'));
    // Passwords are files the kubelet updates in place (live rotation), not env vars fixed at container start.
    expect(env.filter((e) => e.valueFrom?.secretKeyRef !== undefined)).toEqual([]);
    expect(byName.RABBITMQ_CREDENTIALS_DIR.value).toBe('/etc/rabbitmq-credentials');
    expect(byName.RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS.value).toContain('+S 3:3');
    expect(byName.ERL_INETRC.value).toBe('/etc/rabbitmq/erl_inetrc');
    for (const e of env) expect(e.value === undefined || !('valueFrom' in e)).toBe(true);
  });

  test('mounts: templates, memory-backed render dir, cookie Secret as .erlang.cookie, script, hostPath data owned by an init container', () => {
    const { objects } = build({ erlangCookie: SecretValue.fromSecret('rabbitmq-erlang-cookie', 'cookie') });
    const spec = pod(objects).spec;
    const mounts = Object.fromEntries(broker(objects).volumeMounts.map((m: any) => [m.mountPath, m]));
    const volume = (mountPath: string) => spec.volumes.find((vol: any) => vol.name === mounts[mountPath].name);
    expect(volume('/etc/rabbitmq-template').configMap.name).toBe('rabbitmq-config');
    expect(mounts['/etc/rabbitmq-template'].readOnly).toBe(true);
    expect(volume('/etc/rabbitmq').emptyDir.medium).toBe('Memory');
    expect(volume('/etc/rabbitmq-cookie').secret).toEqual({
      secretName: 'rabbitmq-erlang-cookie', items: [{ key: 'cookie', path: '.erlang.cookie' }], defaultMode: 0o440,
    });
    expect(volume('/opt/rabbitmq-ha').configMap.name).toBe('rabbitmq-scripts');
    expect(volume('/var/lib/rabbitmq').hostPath).toEqual({ path: '/var/lib/rabbitmq/openstack-rabbitmq', type: 'DirectoryOrCreate' });
    expect(volume('/tmp').emptyDir).toBeDefined();
    // One file per user, named after it, 0440 (the rabbitmq user reads it through fsGroup); mounted whole, read-only:
    // a subPath mount would never see the kubelet's update.
    expect(mounts['/etc/rabbitmq-credentials']).toEqual({ name: 'credentials', mountPath: '/etc/rabbitmq-credentials', readOnly: true });
    expect(volume('/etc/rabbitmq-credentials').projected).toEqual({
      defaultMode: 0o440,
      sources: [
        { secret: { name: 'rabbitmq-users', items: [{ key: 'admin', path: 'admin', mode: 0o440 }] } },
        { secret: { name: 'rabbitmq-users', items: [{ key: 'nova', path: 'nova', mode: 0o440 }] } },
      ],
    });
    expect(broker(objects).volumeMounts.filter((m: any) => m.subPath !== undefined)).toEqual([]);

    expect(find(objects, 'ConfigMap', 'rabbitmq-scripts').data['start.sh']).toBe(rabbitScripts()['start.sh']);
    expect(Object.keys(find(objects, 'ConfigMap', 'rabbitmq-config').data).sort())
      .toEqual(['definitions.json', 'enabled_plugins', 'erl_inetrc', 'peers', 'rabbitmq.conf']);

    const [init] = spec.initContainers;
    expect(init.name).toBe('data-owner');
    expect(init.securityContext).toMatchObject({ runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['CHOWN'] } });
    // Root with CHOWN only may chmod only what root owns: take it, set the mode, give it; skip once owned
    // (test/integration/data-owner.test.ts runs it with exactly these capabilities).
    expect(init.command[2]).toMatch(/\|\| \{ chown 0:0 \/var\/lib\/rabbitmq && chmod 0750 \/var\/lib\/rabbitmq && chown 999:999 \/var\/lib\/rabbitmq; \}$/);
    expect(pod(objects).metadata.annotations[CAPABILITIES_ANNOTATION]).toMatch(/^CHOWN: init container data-owner/);
    expect(broker(objects).securityContext.capabilities).toEqual({ drop: ['ALL'] });
    expect(spec.securityContext).toMatchObject({ runAsUser: 999, runAsNonRoot: true });
  });

  test('ports on the node IP; TCP readiness on AMQP (fails while paused), ping liveness, preStop drain inside the grace period', () => {
    const c = broker(build({ drainTimeoutSeconds: 120 }).objects);
    expect(c.ports.map((p: any) => [p.name, p.containerPort])).toEqual([
      ['amqp', 5672], ['management', 15672], ['prometheus', 15692], ['epmd', 4369], ['dist', 25672],
    ]);
    expect(c.readinessProbe.tcpSocket).toEqual({ port: 5672 });
    expect(c.livenessProbe).toEqual({
      exec: { command: ['bash', '-c', '[ -e "$RABBITMQ_RENDER_DIR/waiting-for-peers" ] || exec rabbitmq-diagnostics -q ping'] },
      periodSeconds: 30, timeoutSeconds: 20, failureThreshold: 10,
    });
    expect(c.lifecycle.preStop.exec.command[2]).toBe(
      'rabbitmq-upgrade await_online_synchronized_mirror -t 120 || true; rabbitmq-upgrade drain -t 120');
    const { objects } = build({ drainTimeoutSeconds: 120 });
    expect(pod(objects).spec.terminationGracePeriodSeconds).toBe(300);
    const quorum = broker(build({ version: RabbitVersion.V4_1 }).objects);
    expect(quorum.lifecycle.preStop.exec.command[2]).toMatch(/^rabbitmq-upgrade await_online_quorum_plus_one -t 300/);
    expect(quorum.image).toBe('docker.io/library/rabbitmq:4.1.8-management');
  });

  test('the memory watermark comes from the container limit', () => {
    const { objects } = build({ resources: { memoryRequestMiB: 4096, memoryLimitMiB: 4096 } });
    const conf: string = find(objects, 'ConfigMap', 'rabbitmq-config').data['rabbitmq.conf'];
    expect(conf).toContain(`total_memory_available_override_value = ${4096 * 1024 * 1024 - Math.floor(4096 * 1024 * 1024 * 0.2)}`);
    expect(broker(objects).resources.limits.memory).toBe('4096Mi');
  });

  test('a config change rolls the brokers; the same props give the same hash', () => {
    const hash = (o: Partial<RabbitDaemonSetProps>) => pod(build(o).objects).metadata.annotations[CONFIG_HASH_ANNOTATION];
    expect(hash({})).toBe(hash({}));
    expect(hash({ notificationsMaxLength: 5000 })).not.toBe(hash({}));
    expect(hash({ users: [...adminAndNova(), { name: 'neutron', password: SecretValue.fromSecret('rabbitmq-users', 'neutron') }] })).not.toBe(hash({}));
  });

  test('a PDB lets one broker go at a time; a headless Service for monitoring selects the brokers', () => {
    const { objects, rabbit } = build();
    const pdb = find(objects, 'PodDisruptionBudget', 'rabbitmq');
    // A DaemonSet has no scale subresource, so maxUnavailable would never allow an eviction: minAvailable nodes - 1.
    expect(pdb.spec).toEqual({ selector: { matchLabels: rabbit.podSelector }, minAvailable: 2 });
    const svc = find(objects, 'Service', 'rabbitmq');
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.ports.map((p: any) => p.name)).toEqual(['amqp', 'management', 'prometheus']);
  });

  test('no secret value anywhere in the manifests: only Secret names and keys, and placeholders', () => {
    const { objects } = build();
    const text = JSON.stringify(objects);
    expect(text).toContain('@@RABBITMQ_PASSWORD_NOVA@@');
    expect(ofKind(objects, 'Secret')).toEqual([]);
  });

  test('schema-valid and every invariant holds, with labelled-node placement and control-plane tolerations too', () => {
    expectValidManifests(build().objects);
    const labelled = build({ placement: Placement.onLabelledNodes('openstack-control-plane', 'enabled', { nodes: NODES, tolerateControlPlane: true }) });
    expectValidManifests(labelled.objects);
    expect(pod(labelled.objects).spec.tolerations).toEqual([{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }]);
  });

  test('snapshot (3.13, three controllers)', () => {
    expect(build().objects).toMatchSnapshot();
  });
});

describe('RabbitDaemonSet client outputs', () => {
  test('transport URLs list every broker in peer-list order, with a password placeholder, never a value', () => {
    const { rabbit } = build();
    expect(rabbit.transportUrl('nova')).toBe(
      'rabbit://nova:@@RABBITMQ_PASSWORD_NOVA@@@10.0.0.11:5672,nova:@@RABBITMQ_PASSWORD_NOVA@@@10.0.0.12:5672,nova:@@RABBITMQ_PASSWORD_NOVA@@@10.0.0.13:5672/');
    expect(rabbit.notificationsTransportUrl('nova')).toMatch(/^rabbit:\/\/nova:@@RABBITMQ_PASSWORD_NOVA@@@10\.0\.0\.11:5672,.*@10\.0\.0\.13:5672\/notifications\?amqp_durable_queues=true$/);
    expect(rabbit.erlangNodeNames).toEqual(['rabbit@ctl-1', 'rabbit@ctl-2', 'rabbit@ctl-3']);
  });

  test('4.x: notifications through quorum queues, RPC explicitly not; the oslo config carries both URLs', () => {
    const { rabbit } = build({ version: RabbitVersion.V4_2, amqpPort: 5671 });
    expect(rabbit.notificationsTransportUrl('nova')).toMatch(/@10\.0\.0\.13:5671\/notifications\?rabbit_quorum_queue=true$/);
    expect(rabbit.recommendedOsloOptions.rpc).toEqual({ quorumQueue: false, transientQuorumQueue: false, durableQueues: false, useQueueManager: true });
    const config = rabbit.osloConfig('nova');
    expect(config.DEFAULT.transport_url).toBe(rabbit.transportUrl('nova'));
    expect(config.oslo_messaging_notifications.transport_url).toBe(rabbit.notificationsTransportUrl('nova'));
    expect(config.oslo_messaging_rabbit).toEqual({
      rabbit_quorum_queue: 'false', rabbit_transient_quorum_queue: 'false', use_queue_manager: 'true', amqp_durable_queues: 'false',
    });
  });

  test('asking for a user the cluster does not define, or for a vhost the user has no permission on, fails', () => {
    expect(() => build().rabbit.transportUrl('glance')).toThrow(/no user "glance"; users are admin, nova/);
    const { rabbit } = build({ users: [...adminAndNova(), { name: 'ceilometer', password: SecretValue.fromSecret('c', 'p'), vhosts: ['notifications'] }] });
    expect(rabbit.notificationsTransportUrl('ceilometer')).toMatch(/^rabbit:\/\/ceilometer:/);
    expect(() => rabbit.transportUrl('ceilometer')).toThrow(/user "ceilometer" has no permission on vhost "\/"/);
    expect(() => rabbit.osloConfig('ceilometer')).toThrow(/no permission on vhost "\/"/);
  });
});

describe('RabbitDaemonSet validation', () => {
  test('reports every problem at once: count, version, password, node IP, names RabbitMQ rejects, cookie, resources', () => {
    const message = validationError({
      placement: Placement.onNodes([{ name: 'ctl-1', ip: '10.0.0.11' }, { name: 'ctl.2', ip: 'not-an-ip' }]),
      version: undefined as any,
      erlangCookie: 'plain-cookie' as any,
      users: [{ name: 'admin', administrator: true, password: undefined as any }, { name: 'nova api', password: SecretValue.fromSecret('s', 'k') }],
      notificationsVhost: 'notif/ications',
      resources: { memoryRequestMiB: 128, memoryLimitMiB: 128 },
      drainTimeoutSeconds: 1,
      dataPath: 'relative/path',
    });
    const lines = message.split('\n');
    expect(lines[0]).toBe('RabbitDaemonSet \'rabbitmq\' has invalid props:');
    const expected = [
      /^- placement nodes\[1\]\.ip: "not-an-ip" is not an IP address/,
      /^- placement nodes: \["ctl-1","ctl.2"\] has 2 broker\(s\); use an odd number, at least 3/,
      /^- placement nodes\[1\]\.name: "ctl.2" contains a dot/,
      /^- version: \(not set\) is not a known release line/,
      /^- erlangCookie: "\(a string\)" must be a Secret reference/,
      /^- users\[0\]\.password: \(not set\) must be a Secret reference/,
      /^- users\[1\]\.name: "nova api" must be 1-128 letters/,
      /^- notificationsVhost: "notif\/ications" must be "\/" or 1-255 letters/,
      /^- resources.memoryLimitMiB: 128 must be at least 256/,
      /^- drainTimeoutSeconds: 1 must be a whole number of seconds from 10 to 3600/,
      /^- dataPath: "relative\/path" is not absolute/,
    ];
    for (const re of expected) expect(lines.some((l) => re.test(l))).toBe(true);
    expect(lines).toHaveLength(expected.length + 1);
  });

  test('pause_minority needs an odd count of 3 or more; the placement must carry an inventory', () => {
    const four = [...NODES, { name: 'ctl-4', ip: '10.0.0.14' }];
    expect(validationError({ placement: Placement.onNodes(four) })).toMatch(/has 4 broker\(s\); use an odd number, at least 3 \(pause_minority pauses the smaller side/);
    expect(validationError({ placement: Placement.onLabelledNodes('openstack-control-plane', 'enabled') }))
      .toMatch(/placement: "labelled nodes without an inventory" gives no node IPs/);
  });

  test('a node name listed twice or an IPv6 node is reported once, by the placement or by the broker rules', () => {
    const message = validationError({ placement: Placement.onNodes([NODES[0], NODES[0], { name: 'ctl-3', ip: 'fd00::13' }]) });
    expect(message.match(/"ctl-1" is listed more than once/g)).toHaveLength(1);
    expect(message).toMatch(/placement nodes\[2\]\.ip: "fd00::13" is IPv6/);
  });

  test('the Debian test-only line cannot be deployed', () => {
    expect(validationError({ version: RabbitVersion.V3_10 })).toMatch(/version: "3\.10\.8" is a test-only target/);
  });
});
