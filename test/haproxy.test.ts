import { Validator } from '../lib/common/validation';
import { OPENSTACK_ENDPOINTS, openStackService } from '../lib/haproxy/catalogue';
import { HaproxyModel } from '../lib/haproxy/model';
import { haproxyCommand, haproxyListenPorts, renderHaproxyCfg } from '../lib/haproxy/render';
import { validateHaproxyModel } from '../lib/haproxy/validation';
import { fullHaproxyModel } from './support/fixtures';

/** The indented lines of the section that starts with `header`, trimmed. */
function section(cfg: string, header: string): string[] {
  const lines = cfg.split('\n');
  const start = lines.indexOf(header);
  expect(start).toBeGreaterThanOrEqual(0);
  const out: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith('  ')) break;
    out.push(line.trim());
  }
  return out;
}

function problems(model: HaproxyModel): string[] {
  const v = new Validator('HaproxyLoadBalancer');
  validateHaproxyModel(model, v);
  return v.errors;
}

describe('renderHaproxyCfg', () => {
  const cfg = renderHaproxyCfg(fullHaproxyModel());

  test('global: master-worker, admin socket handing listeners over on reload, no chroot or user switch', () => {
    const global = section(cfg, 'global');
    expect(global).toEqual(expect.arrayContaining([
      'master-worker', 'maxconn 8000',
      'stats socket /var/run/haproxy/admin.sock mode 600 level admin expose-fd listeners',
    ]));
    expect(global.some((l) => /^(chroot|user|group|daemon)\b/.test(l))).toBe(false);
  });

  test('every frontend binds the node (0.0.0.0), never the VIP', () => {
    const binds = cfg.split('\n').filter((l) => l.trim().startsWith('bind '));
    expect(binds.map((l) => l.trim())).toEqual([
      'bind 0.0.0.0:8404', 'bind 0.0.0.0:5000', 'bind 0.0.0.0:8774', 'bind 0.0.0.0:9292', 'bind 0.0.0.0:3306',
    ]);
  });

  test('API services get an HTTP check of their catalogue path with fast timing', () => {
    const keystone = section(cfg, 'listen keystone');
    expect(keystone).toEqual(expect.arrayContaining([
      'mode http', 'option forwardfor', 'option httpchk', 'http-check send meth GET uri /v3',
      'http-check expect rstatus ^[23]',
    ]));
    expect(section(cfg, 'listen glance')).toEqual(expect.arrayContaining([
      'http-check send meth GET uri /healthcheck', 'timeout client 21600s', 'timeout server 21600s',
    ]));
    expect(section(cfg, 'listen nova')).toContain(
      'server nova-0 10.1.0.5:8774 check inter 1s fastinter 500ms downinter 1s rise 2 fall 3');
  });

  test('DNS-named servers resolve through the cluster DNS and never block startup', () => {
    expect(section(cfg, 'resolvers k8s')).toContain('nameserver dns0 10.96.0.10:53');
    expect(section(cfg, 'listen keystone')).toContain(
      'server keystone-0 keystone-0.keystone.openstack.svc.cluster.local:5000 check inter 1s fastinter 500ms' +
      ' downinter 1s rise 2 fall 3 resolvers k8s init-addr last,libc,none');
    expect(section(cfg, 'listen glance')).toContain(
      'server-template glance- 4 glance-api.openstack.svc.cluster.local:9292 check inter 1s fastinter 500ms' +
      ' downinter 1s rise 2 fall 3 resolvers k8s init-addr none');
    const literalOnly = renderHaproxyCfg(fullHaproxyModel({
      services: [openStackService('nova', { servers: [{ name: 'n', address: '10.1.0.5', port: 8774 }] })],
      galera: undefined,
    }));
    expect(literalOnly).not.toContain('resolvers');
  });

  test('without nameservers the resolvers read /etc/resolv.conf', () => {
    expect(section(renderHaproxyCfg(fullHaproxyModel({ nameservers: [] })), 'resolvers k8s')).toContain('parse-resolv-conf');
  });

  test('Galera: one writer, the member the cluster named (agent /writer), no state of HAProxy\'s own', () => {
    const galera = section(cfg, 'listen galera');
    expect(galera).toEqual(expect.arrayContaining([
      'mode tcp', 'option tcpka', 'timeout client 5400s', 'timeout server 5400s', 'balance first',
      'option httpchk', 'http-check send meth GET uri /writer', 'http-check expect status 200',
    ]));
    // A session sent to a writer that just died is moved within half a second, not after the default 5 s connect
    // timeout and a retry on the same dead member.
    expect(galera).toEqual(expect.arrayContaining(['timeout connect 500ms', 'option redispatch 1']));
    // A new session waits (1 s at most) while more than one member counts as up: a fresh instance before its first
    // checks, or two 200s during a takeover.
    expect(galera.join('\n')).toContain('tcp-request inspect-delay 1s\ntcp-request content accept if { nbsrv le 1 }\n' +
      'tcp-request content accept if WAIT_END');
    // Instances agree by reading the same replicated row, not by sharing a table: nothing to lose on a restart.
    expect(cfg).not.toMatch(/stick|^peers |allbackups/m);
    const servers = galera.filter((l) => l.startsWith('server '));
    expect(servers).toHaveLength(3);
    for (const s of servers) {
      expect(s).toMatch(/ check port 9200 inter 250ms fastinter 250ms downinter 250ms rise 1 fall 2 on-marked-down shutdown-sessions /);
      expect(s).not.toContain('backup');
    }
  });

  test('stats frontend serves Prometheus metrics, the stats page and a liveness URI', () => {
    expect(section(cfg, 'frontend stats')).toEqual(expect.arrayContaining([
      'http-request use-service prometheus-exporter if { path /metrics }', 'stats uri /stats', 'monitor-uri /healthz',
    ]));
  });

  test('IPv6 literals are written without brackets (HAProxy splits at the last colon)', () => {
    const v6 = renderHaproxyCfg(fullHaproxyModel({
      bindAddress: '::',
      services: [openStackService('nova', { servers: [{ name: 'n', address: 'fd00::5', port: 8774 }] })],
      galera: undefined,
    }));
    expect(v6).toContain('bind :::8774');
    expect(v6).toContain('server n fd00::5:8774 check');
  });

  test('listen ports: services, stats, Galera', () => {
    expect(haproxyListenPorts(fullHaproxyModel())).toEqual([5000, 8774, 9292, 8404, 3306]);
    expect(haproxyListenPorts(fullHaproxyModel({ galera: undefined }))).toEqual([5000, 8774, 9292, 8404]);
  });

  test('same model, same bytes', () => {
    expect(renderHaproxyCfg(fullHaproxyModel())).toBe(cfg);
  });

  test('the command runs master-worker in the foreground, the same on every node', () => {
    expect(haproxyCommand()).toEqual([
      'haproxy', '-W', '-db', '-S', '/var/run/haproxy/master.sock', '-f', '/usr/local/etc/haproxy/haproxy.cfg',
    ]);
  });
});

describe('OpenStack endpoint catalogue', () => {
  test('well-known ports and check paths', () => {
    expect(OPENSTACK_ENDPOINTS.keystone).toEqual({ port: 5000, checkPath: '/v3', timeoutSeconds: 300 });
    expect(OPENSTACK_ENDPOINTS.nova.port).toBe(8774);
    expect(OPENSTACK_ENDPOINTS.placement.port).toBe(8778);
    expect(OPENSTACK_ENDPOINTS.neutron.port).toBe(9696);
    expect(OPENSTACK_ENDPOINTS.glance).toEqual({ port: 9292, checkPath: '/healthcheck', timeoutSeconds: 21600 });
    expect(OPENSTACK_ENDPOINTS.cinder.port).toBe(8776);
    expect(OPENSTACK_ENDPOINTS.heat.port).toBe(8004);
    expect(OPENSTACK_ENDPOINTS.horizon.port).toBe(80);
  });

  test('no two catalogue endpoints share a port', () => {
    const ports = Object.values(OPENSTACK_ENDPOINTS).map((e) => e.port);
    expect(new Set(ports).size).toBe(ports.length);
  });

  test('overrides replace defaults; unknown names are refused with the list', () => {
    const s = openStackService('keystone', { port: 15000, checkPath: '/healthcheck', timeoutSeconds: 60, servers: [] });
    expect(s).toMatchObject({ port: 15000, httpCheck: { path: '/healthcheck' }, timeoutSeconds: 60, mode: 'http' });
    expect(() => openStackService('keystone2', {})).toThrow(/not a known OpenStack endpoint; known: keystone, nova/);
  });
});

describe('validateHaproxyModel', () => {
  test('a good model has no problem', () => {
    expect(problems(fullHaproxyModel())).toEqual([]);
  });

  test('reports every problem at once', () => {
    const model = fullHaproxyModel();
    const found = problems({
      ...model,
      bindAddress: '10.213.0.300',
      nameservers: ['kube-dns'],
      statsPort: 5000,
      services: [
        { ...model.services[0], name: 'key stone', servers: [
          { name: 'a', address: 'Keystone_0', port: 0 },
          { name: 'a', address: '10.0.0.1', port: 5000 },
        ] },
        { ...model.services[1], name: 'stats', servers: [], httpCheck: { path: '/a b' } },
        { ...model.services[2], discovery: { fqdn: 'glance', port: 9292, slots: 0 }, servers: [{ name: 'glance-1', address: '10.0.0.9', port: 9292 }] },
      ],
      galera: { ...model.galera!, servers: [], timeoutSeconds: 600 },
    });
    const expected = [
      /^bindAddress: "10\.213\.0\.300"/,
      /^nameservers\[0\]: "kube-dns"/,
      /^services\[0\]\.name: "key stone"/,
      /^services\[0\]\.servers\[0\]\.address: "Keystone_0"/,
      /^services\[0\]\.servers\[0\]\.port: 0/,
      /^services\[0\]\.servers\[\]\.name: "a" is used by several servers/,
      /^services\[1\]\.name: "stats" is reserved/,
      /^services\[1\]\.servers: \[\] is empty/,
      /^services\[1\]\.httpCheck\.path: "\/a b"/,
      /^services\[2\]\.discovery\.slots: 0/,
      /^services\[2\]\.servers\[\]\.name: "glance-1" collides with the discovery slots/,
      /^galera\.servers: \[\] is empty/,
      /^galera\.timeoutSeconds: 600 should exceed oslo\.db/,
      /^statsPort: 5000 is also the port of services\[0\]\.port/,
    ];
    for (const pattern of expected) expect(found).toContainEqual(expect.stringMatching(pattern));
    expect(found).toHaveLength(expected.length);
  });

  test('a duplicate port between two services is reported once', () => {
    const model = fullHaproxyModel();
    expect(problems({ ...model, services: [model.services[0], { ...model.services[1], port: 5000 }] }))
      .toEqual([expect.stringMatching(/^services\[1\]\.port: 5000 is also the port of services\[0\]\.port/)]);
  });
});
