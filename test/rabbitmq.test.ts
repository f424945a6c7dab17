import { ChildProcess, spawnSync } from 'child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { OpenStackRelease, Placement, RabbitDaemonSet } from '../lib';
import { SecretValue } from '../lib/common/secret';
import { HOST_IP_PLACEHOLDER, RABBIT_PATHS, renderErlInetrc, renderPeers, renderRabbitmqConf } from '../lib/rabbitmq/config';
import { brokerEnv, brokerLifecycle, brokerPorts, brokerTemplateFiles } from '../lib/rabbitmq/container';
import { rabbitScripts } from '../lib/rabbitmq/assets';
import { ALL_BUT_AMQ_PATTERN, clusterPolicies, mirrorCount, renderDefinitions, TRANSIENT_RPC_QUEUE_PATTERN } from '../lib/rabbitmq/definitions';
import { RabbitClusterSpec, resolveRabbitCluster, ResolvedRabbitCluster } from '../lib/rabbitmq/model';
import { OSLO_RABBIT_OPTION_AVAILABLE, OSLO_RABBIT_OPTION_NAMES, OsloMessaging, OsloNotificationDriver } from '../lib/rabbitmq/oslo';
import { RabbitVersion } from '../lib/rabbitmq/version';
import { adminAndNova, NODES } from './support/fixtures';
import { killAll, runScriptInBackground, spawnInGroup, until } from './support/background-script';
import { errorOf, newChart } from './support/harness';
import { installFiles } from './integration/support/certs';


function spec(overrides: Partial<RabbitClusterSpec> = {}): RabbitClusterSpec {
  return {
    clusterName: 'openstack',
    version: RabbitVersion.V3_13,
    nodes: NODES,
    users: adminAndNova(),
    ...overrides,
  };
}

function resolve(overrides: Partial<RabbitClusterSpec> = {}): ResolvedRabbitCluster {
  return resolveRabbitCluster(spec(overrides), 'RabbitDaemonSet \'rabbitmq\'', overrides.version !== RabbitVersion.V3_10);
}

/** `key = value` lines of a rabbitmq.conf as a map (the format has no sections or duplicates here). */
function confKeys(text: string): Map<string, string> {
  return new Map(text.split('\n').filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(' = ') as [string, string]));
}

function validationError(overrides: Partial<RabbitClusterSpec>): string {
  return errorOf(() => resolve(overrides));
}

describe('RabbitVersion', () => {
  test('each release line knows how it replicates, partitions and treats transient queues', () => {
    const facts = RabbitVersion.all().map((v) => [v.line, v.usesClassicMirroring, v.supportsPartitionHandling, v.needsTransientNonExclusivePermit]);
    expect(facts).toEqual([
      ['3.10', true, true, false],
      ['3.13', true, true, false],
      ['4.0', false, true, false],
      ['4.1', false, true, false],
      ['4.2', false, true, false],
      ['4.3', false, false, true],
    ]);
  });

  test('deployable lines pin an official management image to a patch release; the Debian test line has none', () => {
    expect(RabbitVersion.V3_13.image).toBe('docker.io/library/rabbitmq:3.13.7-management');
    expect(RabbitVersion.V4_1.image).toBe('docker.io/library/rabbitmq:4.1.8-management');
    for (const v of RabbitVersion.all().filter((x) => x.deployable)) expect(v.image).toMatch(/:\d+\.\d+\.\d+-management$/);
    expect(RabbitVersion.V3_10.deployable).toBe(false);
    expect(() => RabbitVersion.V3_10.image).toThrow(/test-only/);
  });
});

describe('rabbitmq.conf', () => {
  test('lists every node for classic_config peer discovery, in order, and binds every listener to the host IP placeholder', () => {
    const keys = confKeys(renderRabbitmqConf(resolve()));
    expect(keys.get('cluster_formation.peer_discovery_backend')).toBe('classic_config');
    expect(['1', '2', '3'].map((i) => keys.get(`cluster_formation.classic_config.nodes.${i}`))).toEqual(['rabbit@ctl-1', 'rabbit@ctl-2', 'rabbit@ctl-3']);
    expect(keys.get('listeners.tcp.1')).toBe(`${HOST_IP_PLACEHOLDER}:5672`);
    expect(keys.get('management.tcp.ip')).toBe(HOST_IP_PLACEHOLDER);
    expect(keys.get('prometheus.tcp.ip')).toBe(HOST_IP_PLACEHOLDER);
    expect(keys.get('prometheus.tcp.port')).toBe('15692');
    expect(keys.get('loopback_users.guest')).toBe('true');
    expect(keys.get('definitions.local.path')).toBe(`${RABBIT_PATHS.renderDir}/definitions.json`);
    expect(keys.has('listeners.tcp.default')).toBe(false);
  });

  test('3.x: pause_minority and Mnesia retries, no quorum queue keys', () => {
    for (const version of [RabbitVersion.V3_10, RabbitVersion.V3_13]) {
      const keys = confKeys(renderRabbitmqConf(resolve({ version })));
      expect(keys.get('cluster_partition_handling')).toBe('pause_minority');
      expect(keys.get('mnesia_table_loading_retry_limit')).toBe('20');
      expect([...keys.keys()].filter((k) => k.startsWith('quorum_queue.') || k.startsWith('deprecated_features.'))).toEqual([]);
    }
  });

  test('4.0-4.2: pause_minority still rendered, plus quorum membership reconciliation; transient queues need no permit', () => {
    for (const version of [RabbitVersion.V4_0, RabbitVersion.V4_1, RabbitVersion.V4_2]) {
      const keys = confKeys(renderRabbitmqConf(resolve({ version })));
      expect(keys.get('cluster_partition_handling')).toBe('pause_minority');
      expect(keys.get('quorum_queue.continuous_membership_reconciliation.enabled')).toBe('true');
      expect(keys.get('quorum_queue.continuous_membership_reconciliation.target_group_size')).toBe('3');
      expect(keys.get('queue_leader_locator')).toBe('balanced');
      expect(keys.has('deprecated_features.permit.transient_nonexcl_queues')).toBe(false);
    }
  });

  test('4.3: no partition handling or Mnesia keys (no effect there), transient non-exclusive queues permitted for RPC', () => {
    const keys = confKeys(renderRabbitmqConf(resolve({ version: RabbitVersion.V4_3 })));
    expect([...keys.keys()].filter((k) => k.startsWith('cluster_partition_handling') || k.startsWith('mnesia_'))).toEqual([]);
    expect(keys.get('deprecated_features.permit.transient_nonexcl_queues')).toBe('true');
  });

  test('the memory watermark is computed from the container limit, with headroom; disk free limit is absolute', () => {
    const GiB = 1024 ** 3;
    expect(confKeys(renderRabbitmqConf(resolve({ memoryLimitBytes: 4 * GiB }))).get('total_memory_available_override_value'))
      .toBe(String(4 * GiB - Math.floor(0.8 * GiB)));
    // Headroom is capped at 2 GiB for large limits.
    expect(confKeys(renderRabbitmqConf(resolve({ memoryLimitBytes: 64 * GiB }))).get('total_memory_available_override_value'))
      .toBe(String(62 * GiB));
    const keys = confKeys(renderRabbitmqConf(resolve({ diskFreeLimitBytes: 5_000_000_000 })));
    expect(keys.has('total_memory_available_override_value')).toBe(false);
    expect(keys.get('disk_free_limit.absolute')).toBe('5000000000');
  });
});

test('erl_inetrc maps every short node name to its IP and falls back to the OS resolver', () => {
  expect(renderErlInetrc(resolve())).toBe([
    '{host, {10,0,0,11}, ["ctl-1"]}.',
    '{host, {10,0,0,12}, ["ctl-2"]}.',
    '{host, {10,0,0,13}, ["ctl-3"]}.',
    '{lookup, [file, native]}.',
    '',
  ].join('\n'));
});

test('the peer list names every broker with its IP, the seed first, like the discovery nodes and the host table', () => {
  expect(renderPeers(resolve())).toBe([
    '# Erlang node name, IP; the first is the seed (the one node that may form a new cluster).',
    'rabbit@ctl-1\t10.0.0.11',
    'rabbit@ctl-2\t10.0.0.12',
    'rabbit@ctl-3\t10.0.0.13',
    '',
  ].join('\n'));
});

describe('definitions.json', () => {
  const policy = (c: ResolvedRabbitCluster, name: string) => clusterPolicies(c).find((p) => p.name === name);

  test('3.x mirrors the notifications vhost to a majority of brokers, with promotion and a length cap', () => {
    const p = policy(resolve(), 'notifications-ha')!;
    expect(p.vhost).toBe('notifications');
    expect(p.definition).toMatchObject({ 'ha-mode': 'exactly', 'ha-params': 2, 'ha-sync-mode': 'automatic', 'ha-promote-on-shutdown': 'always', 'queue-master-locator': 'min-masters', 'max-length': 100000, 'overflow': 'drop-head' });
    expect([3, 5, 7].map(mirrorCount)).toEqual([2, 3, 4]);
    const five = resolve({ nodes: [...NODES, { name: 'ctl-4', ip: '10.0.0.14' }, { name: 'ctl-5', ip: '10.0.0.15' }] });
    expect(policy(five, 'notifications-ha')!.definition['ha-params']).toBe(3);
  });

  test('4.x: no mirroring key anywhere; the notifications vhost defaults to quorum queues, RPC to classic', () => {
    for (const version of [RabbitVersion.V4_0, RabbitVersion.V4_3]) {
      const text = renderDefinitions(resolve({ version }));
      expect(text).not.toContain('"ha-');
      const defs = JSON.parse(text);
      expect(defs.vhosts.find((v: any) => v.name === 'notifications')).toMatchObject({ default_queue_type: 'quorum', metadata: { default_queue_type: 'quorum' } });
      expect(defs.vhosts.find((v: any) => v.name === '/').default_queue_type).toBe('classic');
      expect(defs.policies.find((p: any) => p.name === 'notifications-limits').definition).toEqual({ 'max-length': 100000, 'overflow': 'drop-head' });
    }
  });

  test('the policy patterns hit the queue names oslo.messaging uses, and never the broker\'s amq.* queues', () => {
    const transient = new RegExp(TRANSIENT_RPC_QUEUE_PATTERN);
    const all = new RegExp(ALL_BUT_AMQ_PATTERN);
    expect(['reply_5e8a9c', 'compute_fanout_5e8a9c', 'conductor_fanout_host1:nova-conductor:1'].every((q) => transient.test(q))).toBe(true);
    expect(['compute', 'compute.host1', 'notifications.info'].some((q) => transient.test(q))).toBe(false);
    expect(['notifications.info', 'versioned_notifications.error', 'compute.host1'].every((q) => all.test(q))).toBe(true);
    expect(all.test('amq.gen-JzTY20BRgKO')).toBe(false);
    const rpc = clusterPolicies(resolve()).filter((p) => p.vhost === '/');
    expect(rpc.map((p) => [p.name, p.priority, p.definition])).toEqual([
      ['rpc-transient', 1, { 'message-ttl': 600000, 'expires': 1800000 }],
      ['rpc-hygiene', 0, { 'message-ttl': 600000, 'expires': 3600000 }],
    ]);
  });

  test('users carry password placeholders, never a value; permissions cover their vhosts; no default user is relied on', () => {
    const defs = JSON.parse(renderDefinitions(resolve({
      users: [
        { name: 'admin', administrator: true, password: SecretValue.fromSecret('s', 'admin') },
        { name: 'ceilometer', password: SecretValue.fromSecret('s', 'ceilometer'), vhosts: ['notifications'] },
      ],
    })));
    expect(defs.users).toEqual([
      { name: 'admin', password: '@@RABBITMQ_PASSWORD_ADMIN@@', tags: ['administrator'] },
      { name: 'ceilometer', password: '@@RABBITMQ_PASSWORD_CEILOMETER@@', tags: [] },
    ]);
    expect(defs.permissions.map((p: any) => `${p.user}@${p.vhost}`)).toEqual(['admin@/', 'admin@notifications', 'ceilometer@notifications']);
  });

  test('same input, same bytes; additional policies are appended with sorted keys', () => {
    const withExtra = () => resolve({ additionalPolicies: [{ vhost: 'notifications', name: 'audit', pattern: '^audit\\.', definition: { 'max-length': 10, 'message-ttl': 5 } }] });
    expect(renderDefinitions(withExtra())).toBe(renderDefinitions(withExtra()));
    expect(JSON.parse(renderDefinitions(withExtra())).policies.at(-1)).toEqual({
      'vhost': 'notifications', 'name': 'audit', 'pattern': '^audit\\.', 'apply-to': 'queues', 'priority': 0, 'definition': { 'max-length': 10, 'message-ttl': 5 },
    });
  });
});

describe('validation', () => {
  test('reports every problem at once', () => {
    const message = validationError({
      clusterName: '',
      nodes: [
        { name: 'ctl-1', ip: '10.0.0.11' },
        { name: 'ctl-1', ip: '' },
        { name: 'Bad_Node', ip: '10.0.0.11' },
        { name: 'ctl-4.example.com', ip: 'fd00::4' },
      ],
      users: [{ name: 'nova', password: undefined as any }, { name: 'nova', password: SecretValue.fromSecret('s', 'k') }],
      notificationsVhost: 'notif/ications',
      amqpPort: 4369,
      additionalPolicies: [
        { vhost: 'other', name: 'rpc-hygiene', pattern: '(', definition: {} },
        { vhost: '/', name: 'bad name', pattern: '', applyTo: 'streams', priority: -1, definition: { x: 1 } },
      ],
    });
    const lines = message.split('\n').slice(1);
    const expected = [
      /^- clusterName: "" must be/,
      /^- nodes: \[.*\] has 4 broker\(s\); use an odd number, at least 3 \(pause_minority/,
      /^- nodes\[1\]\.ip: "" is not an IP address/,
      /^- nodes\[2\]\.name: "Bad_Node" is not a valid node name/,
      /^- nodes\[3\]\.name: "ctl-4.example.com" contains a dot/,
      /^- nodes\[3\]\.ip: "fd00::4" is IPv6/,
      /^- nodes: "ctl-1" is listed more than once/,
      /^- nodes: "10.0.0.11" is the IP of more than one node/,
      /^- notificationsVhost: "notif\/ications" must be "\/" or/,
      /^- amqpPort: 4369 collides with epmd/,
      /^- users: \["nova","nova"\] has no administrator/,
      /^- users\[0\]\.password: \(not set\) must be a Secret reference/,
      /^- users: "nova" is defined twice/,
      /^- additionalPolicies\[0\]\.vhost: "other" is not a vhost/,
      /^- additionalPolicies\[0\]\.name: "rpc-hygiene" is a policy this library generates/,
      /^- additionalPolicies\[0\]\.pattern: "\(" is not a valid regular expression/,
      /^- additionalPolicies\[0\]\.definition: \{\} is empty/,
      /^- additionalPolicies\[1\]\.name: "bad name" must be/,
      /^- additionalPolicies\[1\]\.pattern: "" must be a regular expression/,
      /^- additionalPolicies\[1\]\.priority: -1 must be a whole number 0-255/,
    ];
    for (const re of expected) expect(lines.some((l) => re.test(l))).toBe(true);
    expect(message.startsWith('RabbitDaemonSet \'rabbitmq\' has invalid props:')).toBe(true);
  });

  test('even or too few brokers are refused on every line, with the reason of that line', () => {
    expect(validationError({ nodes: NODES.slice(0, 2) })).toMatch(/has 2 broker\(s\); use an odd number, at least 3 \(pause_minority/);
    expect(validationError({ version: RabbitVersion.V4_3, nodes: [...NODES, { name: 'ctl-4', ip: '10.0.0.14' }] }))
      .toMatch(/has 4 broker\(s\).*Khepri/);
  });

  test('unknown or test-only versions, and mirroring keys on 4.x, are refused', () => {
    expect(validationError({ version: '3.12' as any })).toMatch(/version: "3.12" is not a known release line; use one of RabbitVersion.V3_13, RabbitVersion.V4_0/);
    expect(() => resolveRabbitCluster(spec({ version: RabbitVersion.V3_10 }), 'x')).toThrow(/version: "3.10.8" is a test-only target/);
    expect(validationError({ version: RabbitVersion.V4_1, additionalPolicies: [{ vhost: 'notifications', name: 'ha', pattern: '.*', definition: { 'ha-mode': 'all' } }] }))
      .toMatch(/additionalPolicies\[0\]\.definition\.ha-mode: "all" is a classic mirroring key/);
    expect(validationError({ additionalPolicies: [{ vhost: '/', name: 'q', pattern: '.*', applyTo: 'quorum_queues', definition: { a: 1 } }], version: RabbitVersion.V3_10 }))
      .toMatch(/applyTo: "quorum_queues" must be one of queues, exchanges, all/);
  });

  test('users whose names map to one password env var, or with a bad Secret reference, are refused', () => {
    const message = validationError({
      users: [
        { name: 'admin', administrator: true, password: SecretValue.fromSecret('Bad Secret', 'a/b') },
        { name: 'nova-api', password: SecretValue.fromSecret('s', 'k') },
        { name: 'nova_api', password: SecretValue.fromSecret('s', 'k') },
      ],
    });
    expect(message).toMatch(/users\[0\]\.password: "Bad Secret\/a\/b" secret name "Bad Secret" is not a valid Secret name/);
    expect(message).toMatch(/users\[0\]\.password: "Bad Secret\/a\/b" secret key "a\/b" is not a valid Secret key/);
    expect(message).toMatch(/users: \["nova-api","nova_api"\] share the password env var RABBITMQ_PASSWORD_NOVA_API/);
  });

  test('a password given inline, or inside a look-alike object, is refused without being echoed', () => {
    const message = validationError({
      users: [
        { name: 'admin', administrator: true, password: 'hunter2-inline' as any },
        { name: 'nova', password: { secretName: 'nova', key: 'password', value: 'hunter2-object' } as any },
      ],
    });
    expect(message).toMatch(/users\[0\]\.password: "\(a string\)" must be a Secret reference/);
    expect(message).toMatch(/users\[1\]\.password: "\(an object\)" must be a Secret reference/);
    expect(message).not.toMatch(/hunter2/);
  });
});

describe('oslo.messaging helpers', () => {
  const transport = { user: 'nova', nodes: NODES };

  test('transport URLs list every broker by IP with a password placeholder, never a value', () => {
    expect(OsloMessaging.transportUrl(transport, '/')).toBe(
      'rabbit://nova:@@RABBITMQ_PASSWORD_NOVA@@@10.0.0.11:5672,nova:@@RABBITMQ_PASSWORD_NOVA@@@10.0.0.12:5672,nova:@@RABBITMQ_PASSWORD_NOVA@@@10.0.0.13:5672/');
    expect(OsloMessaging.transportUrl({ ...transport, port: 5673, passwordPlaceholder: '${NOVA_PW}' }, 'notifications', { durableQueues: true }))
      .toBe('rabbit://nova:${NOVA_PW}@10.0.0.11:5673,nova:${NOVA_PW}@10.0.0.12:5673,nova:${NOVA_PW}@10.0.0.13:5673/notifications?amqp_durable_queues=true');
  });

  test('option names are oslo.messaging\'s own (no plural rabbit_quorum_queues as in openstack-helm)', () => {
    expect(Object.values(OSLO_RABBIT_OPTION_NAMES).sort()).toEqual([
      'amqp_durable_queues', 'heartbeat_timeout_threshold', 'rabbit_ha_queues', 'rabbit_quorum_queue',
      'rabbit_stream_fanout', 'rabbit_transient_queues_ttl', 'rabbit_transient_quorum_queue', 'use_queue_manager',
    ]);
  });

  test('3.x config: durable notifications (mirrored by the broker policy), transient RPC', () => {
    const ini = OsloMessaging.renderIni(OsloMessaging.config({ ...transport, version: RabbitVersion.V3_13 }));
    expect(ini).toContain('[oslo_messaging_notifications]\ndriver = messagingv2\n');
    expect(ini).toMatch(/\ntransport_url = rabbit:\/\/nova:.*@10\.0\.0\.13:5672\/notifications\?amqp_durable_queues=true\ntopics = notifications\n/);
    expect(ini).toContain('[oslo_messaging_rabbit]\namqp_durable_queues = false\nrabbit_ha_queues = false\n');
  });

  test('4.x config: quorum notifications through the URL, RPC explicitly not quorum', () => {
    const sections = OsloMessaging.config({ ...transport, version: RabbitVersion.V4_2, notificationDriver: OsloNotificationDriver.MESSAGING, notificationTopics: ['notifications', 'versioned_notifications'] });
    expect(sections.oslo_messaging_notifications).toMatchObject({ driver: 'messaging', topics: 'notifications,versioned_notifications' });
    // A positive retry: with -1, oslo.messaging gives kombu max_retries -1 and a new notification connection
    // never fails over past a refused first host (test/integration/openstack-messaging.test.ts sends one then).
    expect(sections.oslo_messaging_notifications.retry).toBe('10');
    expect(sections.oslo_messaging_notifications.transport_url).toMatch(/\/notifications\?rabbit_quorum_queue=true$/);
    expect(sections.oslo_messaging_rabbit).toEqual({ rabbit_quorum_queue: 'false', rabbit_transient_quorum_queue: 'false', amqp_durable_queues: 'false', use_queue_manager: 'true' });
    expect(sections.DEFAULT.transport_url.endsWith(':5672/')).toBe(true);
  });
});

describe('OpenStack release lines', () => {
  const transport = { user: 'nova', nodes: NODES };

  test('a line before 2024.1 gets no option its oslo.messaging lacks; 2024.1 and later get the queue manager', () => {
    const before = OsloMessaging.config({ ...transport, version: RabbitVersion.V4_1, openStackRelease: OpenStackRelease.V2023_2 });
    expect(before.oslo_messaging_rabbit).toEqual({ rabbit_quorum_queue: 'false', amqp_durable_queues: 'false' });
    expect(before.oslo_messaging_notifications.transport_url).toMatch(/\/notifications\?rabbit_quorum_queue=true$/);
    const since = OsloMessaging.config({ ...transport, version: RabbitVersion.V4_1, openStackRelease: OpenStackRelease.V2024_1 });
    expect(since.oslo_messaging_rabbit).toEqual({ rabbit_quorum_queue: 'false', rabbit_transient_quorum_queue: 'false', amqp_durable_queues: 'false', use_queue_manager: 'true' });
    // Without a line: the default one (2026.1), which has every option.
    expect(OsloMessaging.config({ ...transport, version: RabbitVersion.V4_1 })).toEqual(since);
  });

  test('every option the profiles can render is available on the line it is rendered for', () => {
    for (const release of OpenStackRelease.all()) {
      for (const version of RabbitVersion.all()) {
        const profile = OsloMessaging.recommendedOptions(version, release);
        for (const options of [profile.rpc, profile.notifications]) {
          for (const key of Object.keys(options) as (keyof typeof OSLO_RABBIT_OPTION_AVAILABLE)[]) {
            expect([release.line, key, OSLO_RABBIT_OPTION_AVAILABLE[key](release)]).toEqual([release.line, key, true]);
          }
        }
      }
    }
  });

  test('lines are listed oldest first with distinct names, and the option table matches the documented table', () => {
    const lines = OpenStackRelease.all().map((r) => r.line);
    expect(lines).toEqual([...lines].sort());
    expect(new Set(lines).size).toBe(lines.length);
    expect(OpenStackRelease.all().filter((r) => !r.hasQuorumQueues).map(String)).toEqual(['2021.2 (Xena)']);
    expect(OpenStackRelease.all().filter((r) => r.hasQueueManager)[0].line).toBe('2024.1');
  });

  test('RabbitMQ 4.x with a line without quorum queues is refused; 3.x with it works (mirrored durable notifications)', () => {
    const rabbit = (version: RabbitVersion, openStackRelease: OpenStackRelease) => new RabbitDaemonSet(newChart(), 'mq', {
      placement: Placement.onNodes(NODES), version, erlangCookie: SecretValue.fromSecret('c', 'cookie'), users: adminAndNova(), openStackRelease,
    });
    expect(() => rabbit(RabbitVersion.V4_1, OpenStackRelease.V2021_2)).toThrow(
      /openStackRelease: "2021\.2 \(Xena\)" has no quorum queues in oslo\.messaging .* use RabbitVersion\.V3_13 .* or OpenStackRelease\.V2022_1 or later/);
    const mirrored = rabbit(RabbitVersion.V3_13, OpenStackRelease.V2021_2);
    expect(mirrored.notificationsTransportUrl('nova')).toMatch(/\?amqp_durable_queues=true$/);
    expect(() => rabbit(RabbitVersion.V4_1, 'Caracal' as unknown as OpenStackRelease)).toThrow(/openStackRelease: "Caracal" is not a known OpenStack release line; use one of OpenStackRelease\.V2021_2, .*OpenStackRelease\.V2026_1/);
  });
});

describe('container contract', () => {
  test('env: node name and IP from the downward API, no password (files: the credentials volume), CLI-visible paths', () => {
    const env = brokerEnv(resolve(), 4);
    const byName = new Map(env.map((e) => [e.name, e]));
    expect(byName.get('HOST_IP')).toEqual({ name: 'HOST_IP', fieldPath: 'status.hostIP' });
    expect(byName.get('RABBITMQ_NODENAME')!.value).toBe('rabbit@$(NODE_NAME)');
    expect(env.findIndex((e) => e.name === 'NODE_NAME')).toBeLessThan(env.findIndex((e) => e.name === 'RABBITMQ_NODENAME'));
    expect(env.filter((e) => e.secret !== undefined || e.name.startsWith('RABBITMQ_PASSWORD_'))).toEqual([]);
    expect(byName.get('RABBITMQ_CREDENTIALS_DIR')!.value).toBe('/etc/rabbitmq-credentials');
    expect(byName.get('ERL_INETRC')!.value).toBe('/etc/rabbitmq/erl_inetrc');
    expect(byName.get('RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS')!.value).toContain('+S 4:4');
    expect(env.filter((e) => [e.value, e.fieldPath, e.secret].filter((x) => x !== undefined).length !== 1)).toEqual([]);
    expect(brokerPorts(resolve()).map((p) => p.port)).toEqual([5672, 15672, 15692, 4369, 25672]);
  });

  test('probes: TCP readiness on AMQP, ping liveness; preStop waits for replicas of the line, then drains, within the grace period', () => {
    const l3 = brokerLifecycle(resolve(), 300);
    expect(l3.readinessTcpPort).toBe(5672);
    expect(l3.livenessCommand).toEqual(['bash', '-c', '[ -e "$RABBITMQ_RENDER_DIR/waiting-for-peers" ] || exec rabbitmq-diagnostics -q ping']);
    expect(l3.preStopCommand[2]).toBe('rabbitmq-upgrade await_online_synchronized_mirror -t 300 || true; rabbitmq-upgrade drain -t 300');
    expect(l3.terminationGracePeriodSeconds).toBeGreaterThan(600);
    expect(brokerLifecycle(resolve({ version: RabbitVersion.V4_1 }), 120).preStopCommand[2]).toMatch(/^rabbitmq-upgrade await_online_quorum_plus_one -t 120 \|\| true; rabbitmq-upgrade drain/);
  });

  test('the template files hold no secret value and the start script defaults match the container paths', () => {
    const files = brokerTemplateFiles(resolve());
    expect(Object.keys(files).sort()).toEqual(['definitions.json', 'enabled_plugins', 'erl_inetrc', 'peers', 'rabbitmq.conf']);
    expect(files['definitions.json']).not.toMatch(/"password": "(?!@@RABBITMQ_PASSWORD_[A-Z0-9_]+@@")/);
    const script = rabbitScripts()['start.sh'];
    for (const path of [RABBIT_PATHS.templateDir, RABBIT_PATHS.renderDir, RABBIT_PATHS.cookieSource]) expect(script).toContain(`:-${path}}`);
  });
});

/**
 * start.sh without a broker: `rabbitmqctl` and `rabbitmq-server` are stubs on PATH that record their arguments,
 * so the templating, the cookie and the forget-on-peer decisions are checked in milliseconds. The real broker
 * runs the same script in test/integration/rabbitmq.test.ts.
 */
describe('start.sh', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rmq-start-'));
    writeTemplates(NODES);
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'secret'));
    writeFileSync(join(dir, 'secret', '.erlang.cookie'), 'COOKIE', { mode: 0o400 });
    // rabbitmqctl stub: answers per peer from STUB_<peer>: "ok", "notmember" (running, does not list this node),
    // "booting" (lists nobody and is not running yet), "after:N" (unreachable until the N-th CLI call, then
    // "notmember"), "file:PATH" (unreachable until PATH exists), "real" and "noeval" ("notmember"; see eval below),
    // anything else = unreachable.
    writeFileSync(join(dir, 'bin', 'rabbitmqctl'), [
      '#!/bin/bash',
      'echo "$*" >> "$STUB_LOG"',
      'peer=${2#rabbit@}; var=STUB_${peer//-/_}; answer=${!var:-down}',
      'if [[ $5 == await_startup ]]; then [[ $answer == booting ]] && exit 69; exit 0; fi',
      'if [[ $answer == after:* ]]; then',
      '  if (( $(wc -l < "$STUB_LOG") >= ${answer#after:} )); then answer=notmember; else answer=down; fi',
      'fi',
      'if [[ $answer == file:* ]]; then',
      '  if [[ -e ${answer#file:} ]]; then answer=notmember; else answer=down; fi',
      'fi',
      // eval (the host table): "real" evaluates the expression in a real Erlang VM (not distributed: it is its own
      // only node) whose resolver knows ctl-1 already (and not the rendered table start.sh exports); "noeval" runs
      // but its eval fails; a peer that answers otherwise added ctl-2 on itself; an unreachable one fails.
      'if [[ $5 == eval ]]; then',
      '  if [[ $answer == real ]]; then exec env -u ERL_INETRC erl -noshell -eval "inet_db:set_lookup([file]), ok = inet_db:add_host({10,0,0,11}, [\\"ctl-1\\"]), io:format(\\"~p~n\\", [begin ${6%.} end]), halt()."; fi',
      '  [[ $answer == ok || $answer == notmember || $answer == booting ]] && { echo "[{$2,[\\"ctl-2\\"]}]"; exit 0; }',
      '  echo "Error: unable to perform an operation on node"; exit 69',
      'fi',
      '[[ $answer == booting || $answer == real || $answer == noeval ]] && answer=notmember',
      'case $answer in',
      '  ok) exit 0 ;;',
      '  notmember) echo "Error: {:not_a_cluster_node, \'The node selected is not in the cluster.\'}"; exit 69 ;;',
      '  *) echo "Error: unable to perform an operation on node"; exit 69 ;;',
      'esac',
    ].join('\n'));
    writeFileSync(join(dir, 'bin', 'rabbitmq-server'), '#!/bin/bash\necho "server $ERL_EPMD_ADDRESS $RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS" >> "$STUB_LOG"\n');
    // erl stub (the blank responder): records its arguments, then idles until killed.
    writeFileSync(join(dir, 'bin', 'erl'), '#!/bin/bash\nprintf "%s\\n" "$*" >> "$STUB_LOG.erl"\nexec sleep 60\n');
    for (const stub of ['rabbitmqctl', 'rabbitmq-server', 'erl']) chmodSync(join(dir, 'bin', stub), 0o755);
  });
  afterEach(() => {
    killAll(children);
    rmSync(dir, { recursive: true, force: true });
  });

  const children: ChildProcess[] = [];
  const START = join(__dirname, '..', 'assets', 'rabbitmq', 'start.sh');
  /** Brokers on loopback addresses (only these are reachable from a test), on an unusual distribution port. */
  const LOOPBACK_NODES = [
    { name: 'ctl-1', ip: '127.0.77.11' },
    { name: 'ctl-2', ip: '127.0.77.12' },
    { name: 'ctl-3', ip: '127.0.77.13' },
  ];
  const DIST_PORT = 25979;

  function writeTemplates(nodes: typeof NODES): void {
    mkdirSync(join(dir, 'template'), { recursive: true });
    for (const [name, text] of Object.entries(brokerTemplateFiles(resolve({ nodes }), join(dir, 'render')))) writeFileSync(join(dir, 'template', name), text);
  }

  function startEnv(env: Record<string, string>): NodeJS.ProcessEnv {
    return {
      PATH: `${join(dir, 'bin')}:/usr/bin:/bin`,
      HOME: join(dir, 'home'),
      RABBITMQ_NODENAME: 'rabbit@ctl-2',
      HOST_IP: '10.0.0.12',
      RABBITMQ_TEMPLATE_DIR: join(dir, 'template'),
      RABBITMQ_RENDER_DIR: join(dir, 'render'),
      RABBITMQ_COOKIE_SOURCE: join(dir, 'secret', '.erlang.cookie'),
      RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
      RABBITMQ_PASSWORD_ADMIN: 'a"b\\c',
      RABBITMQ_PASSWORD_NOVA: 'nova',
      STUB_LOG: join(dir, 'calls'),
      // post-start.sh has its own tests (rabbitmq-release.test.ts); here it would call the stub in the background.
      RABBITMQ_POST_START_SCRIPT: '',
      ...env,
    };
  }

  /** A peer's distribution port: says `greeting` to whoever connects, or nothing (like a real Erlang node). */
  async function fakePeerPort(ip: string, greeting: string | undefined): Promise<void> {
    const program = `require('net').createServer((s) => { ${greeting ? `s.end(${JSON.stringify(greeting)})` : 's.on(\'error\', () => {})'}; })`
      + `.listen(${DIST_PORT}, ${JSON.stringify(ip)}, () => console.log('listening'))`;
    const child = spawnInGroup(children, process.execPath, ['-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  }

  /** start.sh in the background, for tests that act while it waits. */
  const runInBackground = (env: Record<string, string>) => runScriptInBackground(START, startEnv(env), children);

  /** The stub's calls: `calls` without the host-table evals (made in parallel, in no fixed order), `evals` those. */
  function recordedCalls(): { calls: string[]; evals: string[] } {
    const all = existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') : [];
    return { calls: all.filter((c) => !/^-n \S+ -t \d+ eval /.test(c)), evals: all.filter((c) => /^-n \S+ -t \d+ eval /.test(c)).sort() };
  }

  function run(env: Record<string, string>): { status: number | null; stderr: string; calls: string[]; evals: string[] } {
    const r = spawnSync('bash', [START], {
      encoding: 'utf8',
      timeout: 20_000,
      env: startEnv(env),
    });
    return { status: r.status, stderr: r.stderr, ...recordedCalls() };
  }

  test('renders the templates (IP, JSON-escaped passwords), copies the cookie 0600, binds epmd and distribution to the node IP', () => {
    const r = run({ STUB_ctl_1: 'notmember' });
    expect(r.status).toBe(0);
    const conf = readFileSync(join(dir, 'render', 'rabbitmq.conf'), 'utf8');
    expect(conf).toContain('listeners.tcp.1 = 10.0.0.12:5672');
    expect(conf).not.toContain('@@');
    const defs = JSON.parse(readFileSync(join(dir, 'render', 'definitions.json'), 'utf8'));
    expect(defs.users.map((u: any) => u.password)).toEqual(['a"b\\c', 'nova']);
    expect((statSync(join(dir, 'render', 'definitions.json')).mode & 0o777).toString(8)).toBe('600');
    expect(readFileSync(join(dir, 'home', '.erlang.cookie'), 'utf8')).toBe('COOKIE');
    expect((statSync(join(dir, 'home', '.erlang.cookie')).mode & 0o777).toString(8)).toBe('600');
    expect(r.calls.at(-1)).toBe('server 10.0.0.12  -kernel inet_dist_use_interface {10,0,0,12}');
  });

  test('with the credentials volume: the passwords come from its files (byte for byte), and the watcher starts with what was rendered', () => {
    // As the kubelet writes a projected Secret volume: ..data -> ..<n>/, each user a symlink through ..data.
    installFiles(join(dir, 'credentials'), { 'admin': 'from"file', 'nova': 'nova-file' });
    const r = run({
      RABBITMQ_PASSWORD_ADMIN: '', RABBITMQ_PASSWORD_NOVA: '', RABBITMQ_CREDENTIALS_DIR: join(dir, 'credentials'), STUB_ctl_1: 'notmember',
      // An invalid poll interval ends the watcher's loop at once (here only: its first sleep fails), after it said what it watches.
      RABBITMQ_CREDENTIALS_POLL_SECONDS: 'stop',
    });
    expect(r.status).toBe(0);
    const defs = JSON.parse(readFileSync(join(dir, 'render', 'definitions.json'), 'utf8'));
    expect(defs.users.map((u: any) => u.password)).toEqual(['from"file', 'nova-file']);
    expect(r.stderr).toMatch(/credentials\.sh: watching 2 password file\(s\) in .*\/credentials every stops/);
    // An empty file is refused like a missing env var.
    installFiles(join(dir, 'credentials'), { admin: 'from"file', nova: '' });
    expect(run({ RABBITMQ_PASSWORD_NOVA: '', RABBITMQ_CREDENTIALS_DIR: join(dir, 'credentials') }).stderr).toContain('needs env var RABBITMQ_PASSWORD_NOVA');
  });

  test('the peers come from the peer list alone, not from rabbitmq.conf or erl_inetrc', () => {
    // Templates whose discovery nodes and host table name other brokers: only the peer list may count.
    const conf = join(dir, 'template', 'rabbitmq.conf');
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(/rabbit@ctl-/g, 'rabbit@other-'));
    writeFileSync(join(dir, 'template', 'erl_inetrc'), '{lookup, [file, native]}.\n');
    const r = run({ STUB_ctl_1: 'down', STUB_ctl_3: 'ok' });
    expect(r.calls.slice(0, 2)).toEqual([
      '-n rabbit@ctl-1 -t 20 forget_cluster_node rabbit@ctl-2',
      '-n rabbit@ctl-3 -t 20 forget_cluster_node rabbit@ctl-2',
    ]);
    expect(r.stderr).toContain('(peers: rabbit@ctl-1 rabbit@ctl-3)');
  });

  test('without the peer list it refuses to start', () => {
    rmSync(join(dir, 'template', 'peers'));
    const r = run({});
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('no peer list at');
  });

  test('a blank data dir: asks peers in order to forget this node, skipping unreachable ones, then starts', () => {
    const r = run({ STUB_ctl_1: 'down', STUB_ctl_3: 'ok' });
    expect(r.calls).toEqual([
      '-n rabbit@ctl-1 -t 20 forget_cluster_node rabbit@ctl-2',
      '-n rabbit@ctl-3 -t 20 forget_cluster_node rabbit@ctl-2',
      expect.stringMatching(/^server /),
    ]);
    expect(r.stderr).toContain('rabbit@ctl-3 forgot the stale rabbit@ctl-2');
    expect(readFileSync(join(dir, 'render', 'rabbitmq.conf'), 'utf8')).toMatch(/^cluster_formation\.discovery_retry_limit = 10$/m);
  });

  test('a running peer that does not list this node ends the search; a booting one does not', () => {
    expect(run({ STUB_ctl_1: 'notmember', STUB_ctl_3: 'ok' }).calls).toEqual([
      '-n rabbit@ctl-1 -t 20 forget_cluster_node rabbit@ctl-2',
      '-n rabbit@ctl-1 -t 20 await_startup',
      expect.stringMatching(/^server /),
    ]);
    rmSync(join(dir, 'calls'));
    const r = run({ STUB_ctl_1: 'booting', STUB_ctl_3: 'ok' });
    expect(r.calls.map((c) => c.split(' ').slice(1, 5).join(' '))).toEqual([
      'rabbit@ctl-1 -t 20 forget_cluster_node', 'rabbit@ctl-1 -t 20 await_startup', 'rabbit@ctl-3 -t 20 forget_cluster_node', expect.stringMatching(/^10\.0\.0\.12 /),
    ]);
    expect(r.stderr).toContain('rabbit@ctl-1 does not list rabbit@ctl-2 but is not running yet');
  });

  test('joining a running cluster: first the host table goes, through the peer that answered, to every running broker\'s resolver', () => {
    const r = run({ STUB_ctl_1: 'notmember', STUB_ctl_3: 'down' });
    expect(r.status).toBe(0);
    // One CLI call, to the peer that answered; the expression fans out to the nodes that peer is connected to.
    const table = 'Table = [{"ctl-2", {10,0,0,12}},{"ctl-1", {10,0,0,11}},{"ctl-3", {10,0,0,13}}], ';
    expect(r.evals).toHaveLength(1);
    expect(r.evals[0].startsWith(`-n rabbit@ctl-1 -t 180 eval ${table}[{N, [H || {H, IP} <- Table,`)).toBe(true);
    expect(r.evals[0]).toMatch(/inet_db, add_host, \[IP, \[H\]\].* \|\| N <- \[node\(\) \| nodes\(\)\]\]\.$/);
    expect(r.stderr).toContain('host table shared through rabbit@ctl-1; names added per broker (only those it could not resolve): [{rabbit@ctl-1,["ctl-2"]}]');
    // Before the broker starts (its own join is what needs the names).
    expect(readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').at(-1)).toMatch(/^server /);
    // A node with data asks nobody.
    rmSync(join(dir, 'calls'));
    mkdirSync(join(dir, 'mnesia', 'rabbit@ctl-2'), { recursive: true });
    writeFileSync(join(dir, 'mnesia', 'rabbit@ctl-2', 'cluster_nodes.config'), '');
    expect(run({ STUB_ctl_1: 'notmember' }).evals).toEqual([]);
  });

  test('the host table: retried until RABBITMQ_HOST_TABLE_TIMEOUT, then the broker starts anyway with a warning', () => {
    const r = run({ STUB_ctl_1: 'noeval', RABBITMQ_HOST_TABLE_TIMEOUT: '2', RABBITMQ_PEER_RETRY_INTERVAL: '1' });
    expect(r.status).toBe(0);
    expect(r.evals.length).toBeGreaterThanOrEqual(2);
    expect(r.stderr).toContain('could not add the host table through rabbit@ctl-1 yet; retry in 1s');
    expect(r.stderr).toContain('WARNING: could not add the host table to the running brokers through rabbit@ctl-1 within 2s');
    expect(readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').at(-1)).toMatch(/^server /);
  });

  test('the host table expression adds, on each node, only the names its real Erlang resolver lacks, and says which', () => {
    rmSync(join(dir, 'bin', 'erl')); // the responder's stub: a real erl evaluates the expression
    const r = run({ STUB_ctl_1: 'real', STUB_ctl_3: 'down' });
    expect(r.status).toBe(0);
    // That resolver knows ctl-1 (its own erl_inetrc): it is left alone; ctl-2 and ctl-3 are added.
    expect(r.stderr).toContain('names added per broker (only those it could not resolve): [{nonode@nohost,["ctl-2","ctl-3"]}]');
  });

  test('a blank seed forms the cluster only when every peer says it is blank (first deployment)', async () => {
    writeTemplates(LOOPBACK_NODES);
    await fakePeerPort('127.0.77.12', 'blank rabbit@ctl-2\n');
    await fakePeerPort('127.0.77.13', 'blank rabbit@ctl-3\n');
    const r = runInBackground({ RABBITMQ_NODENAME: 'rabbit@ctl-1', HOST_IP: '127.0.77.11', RABBITMQ_DIST_PORT: String(DIST_PORT) });
    expect(await r.exit).toBe(0);
    expect(r.stderr()).toContain('this is the seed and every peer is blank: first formation');
    // No peer can be running a cluster, so discovery does not spend its retries on peers that are down.
    const conf = readFileSync(join(dir, 'render', 'rabbitmq.conf'), 'utf8');
    expect(conf).toMatch(/^cluster_formation\.discovery_retry_limit = 1$/m);
    expect(conf.replace(/^cluster_formation\.discovery_retry_limit = .*$/m, '')).toBe(
      readFileSync(join(dir, 'template', 'rabbitmq.conf'), 'utf8').replace(/@@HOST_IP@@/g, '127.0.77.11').replace(/^cluster_formation\.discovery_retry_limit = .*$/m, ''));
    expect(readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').at(-1)).toMatch(/^server 127\.0\.77\.11 /);
    expect(recordedCalls().evals).toEqual([]); // no running peer to teach
  }, 30_000);

  test('a blank seed never forms a cluster while a peer is down or answers like a broker with data; the operator\'s file ends the wait', async () => {
    writeTemplates(LOOPBACK_NODES);
    await fakePeerPort('127.0.77.12', undefined); // a real Erlang node: accepts, says nothing
    const r = runInBackground({
      RABBITMQ_NODENAME: 'rabbit@ctl-1', HOST_IP: '127.0.77.11', RABBITMQ_DIST_PORT: String(DIST_PORT),
      RABBITMQ_PEER_RETRY_INTERVAL: '0', RABBITMQ_PEER_PROBE_TIMEOUT: '1',
    });
    const reason = 'waiting for rabbit@ctl-2 (a broker that may hold the cluster\'s data) rabbit@ctl-3 (unreachable)';
    await until('two rounds of waiting', () => r.stderr().split(reason).length > 2);
    expect(existsSync(join(dir, 'calls')) && readFileSync(join(dir, 'calls'), 'utf8').includes('server')).toBe(false);
    // No Erlang VM runs yet, and the liveness probe must not restart the wait (no rabbitmq-diagnostics on this PATH).
    const liveness = () => spawnSync(brokerLifecycle(resolve()).livenessCommand[0], brokerLifecycle(resolve()).livenessCommand.slice(1),
      { env: { PATH: '/usr/bin:/bin', RABBITMQ_RENDER_DIR: join(dir, 'render') } }).status;
    expect(liveness()).toBe(0);
    writeFileSync(join(dir, 'home', 'force-new-cluster'), '');
    expect(await r.exit).toBe(0);
    expect(liveness()).not.toBe(0); // the marker is gone: the probe asks the broker again
    expect(r.stderr()).toContain('force-new-cluster found: forming a new, empty cluster as the operator asked');
    expect(existsSync(join(dir, 'home', 'force-new-cluster'))).toBe(false); // consumed: a later restart is not forced
  }, 30_000);

  test('a blank non-seed says "blank" on its distribution port while it waits (real erl), and stops before the broker starts', async () => {
    writeTemplates(LOOPBACK_NODES);
    rmSync(join(dir, 'bin', 'erl'));
    const release = join(dir, 'peer-up');
    const r = runInBackground({
      HOST_IP: '127.0.77.12', RABBITMQ_DIST_PORT: String(DIST_PORT), RABBITMQ_PEER_RETRY_INTERVAL: '0', STUB_ctl_1: `file:${release}`,
    });
    const greeting = (): string => spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.77.12/${DIST_PORT} && timeout 2 cat <&3`], { encoding: 'utf8' }).stdout;
    await until('the responder', () => greeting() === 'blank rabbit@ctl-2\n');
    writeFileSync(release, '');
    expect(await r.exit).toBe(0);
    expect(readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').at(-1)).toMatch(/^server /);
    expect(greeting()).toBe('');
  }, 30_000); // a real erl and CLI stubs: seconds on a loaded machine

  test('a blank non-seed node with no live peer waits until one answers instead of forming a cluster alone', () => {
    const r = run({ STUB_ctl_3: 'after:4', RABBITMQ_PEER_RETRY_INTERVAL: '0' });
    expect(r.status).toBe(0);
    expect(r.calls.map((c) => c.split(' ').slice(1, 5).join(' '))).toEqual([
      'rabbit@ctl-1 -t 20 forget_cluster_node', 'rabbit@ctl-3 -t 20 forget_cluster_node',
      'rabbit@ctl-1 -t 20 forget_cluster_node', 'rabbit@ctl-3 -t 20 forget_cluster_node', 'rabbit@ctl-3 -t 20 await_startup',
      expect.stringMatching(/^10\.0\.0\.12 /),
    ]);
    expect(r.stderr).toContain('no running peer answers; a blank node waits');
    // Meanwhile it tells the seed it is blank, on its own IP and distribution port only.
    expect(readFileSync(join(dir, 'calls.erl'), 'utf8')).toMatch(/gen_tcp:listen\(25672, \[\{ip, \{10,0,0,12\}\}.*"blank rabbit@ctl-2\\n"/s);
  });

  test('a node with data never calls forget', () => {
    mkdirSync(join(dir, 'mnesia', 'rabbit@ctl-2'), { recursive: true });
    writeFileSync(join(dir, 'mnesia', 'rabbit@ctl-2', 'cluster_nodes.config'), '');
    expect(run({ STUB_ctl_1: 'ok' }).calls).toEqual([expect.stringMatching(/^server /)]);
  });

  test('refuses to start without a password env var, with a control character in one, or without the cookie', () => {
    const noPassword = run({ RABBITMQ_PASSWORD_NOVA: '' });
    expect(noPassword.status).not.toBe(0);
    expect(noPassword.stderr).toContain('needs env var RABBITMQ_PASSWORD_NOVA');
    expect(run({ RABBITMQ_PASSWORD_NOVA: 'a\nb' }).stderr).toContain('RABBITMQ_PASSWORD_NOVA contains a control character');
    expect(run({ RABBITMQ_COOKIE_SOURCE: join(dir, 'nope') }).stderr).toContain('no Erlang cookie');
    expect(run({ HOST_IP: 'fd00::1' }).stderr).toContain('is not an IPv4 address');
  });
});
