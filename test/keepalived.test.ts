import { Validator } from '../lib/common/validation';
import { keepalivedConfigKey, renderKeepalivedConf } from '../lib/keepalived/render';
import { keepalivedCommand } from '../lib/keepalived/start';
import { validateKeepalivedVip, validateKeepalivedVipSet } from '../lib/keepalived/validation';
import { KeepalivedVipModel, spreadPriorities } from '../lib/keepalived/model';
import { threeNodeVip } from './support/fixtures';

function problems(model: KeepalivedVipModel): string[] {
  const v = new Validator('KeepalivedVip');
  validateKeepalivedVip(model, v);
  return v.errors;
}

/** The lines of a `name { ... }` block (one level, as the renderer emits them). */
function block(conf: string, header: string): string[] {
  const lines = conf.split('\n');
  const start = lines.findIndex((l) => l.trim() === `${header} {`);
  expect(start).toBeGreaterThanOrEqual(0);
  const indent = lines[start].length - lines[start].trimStart().length;
  const end = lines.findIndex((l, i) => i > start && l === `${' '.repeat(indent)}}`);
  return lines.slice(start + 1, end).map((l) => l.trim());
}

describe('renderKeepalivedConf', () => {
  const files = renderKeepalivedConf(threeNodeVip());
  const confB = files[keepalivedConfigKey('lb-b')];

  test('emits one complete file per node, keyed by node name', () => {
    expect(Object.keys(files)).toEqual(['lb-a.conf', 'lb-b.conf', 'lb-c.conf']);
    expect(confB).not.toMatch(/^\s*@/m);
  });

  test('every node is BACKUP with nopreempt, VRRPv3, sub-second adverts', () => {
    const instance = block(confB, 'vrrp_instance VI_api');
    expect(instance).toEqual(expect.arrayContaining([
      'state BACKUP', 'nopreempt', 'interface eth0', 'virtual_router_id 51', 'priority 128', 'advert_int 0.2',
      'unicast_src_ip 10.213.0.12', 'unicast_fault_no_peer',
    ]));
    expect(instance.some((l) => /^state MASTER/.test(l))).toBe(false);
    expect(block(confB, 'global_defs')).toContain('vrrp_version 3');
    expect(confB).not.toMatch(/authentication|auth_type/);
  });

  test('unicast peers are the other nodes only, with TTL 255', () => {
    expect(block(confB, 'unicast_peer')).toEqual([
      '10.213.0.11 min_ttl 255 max_ttl 255',
      '10.213.0.13 min_ttl 255 max_ttl 255',
    ]);
  });

  test('the VIP is added on the node interface, and a node can override the interface', () => {
    expect(block(confB, 'virtual_ipaddress')).toEqual(['10.213.0.100/24 dev eth0']);
    const model = threeNodeVip();
    const other = renderKeepalivedConf({
      ...model,
      nodes: model.nodes.map((n) => (n.name === 'lb-c' ? { ...n, interface: 'bond0' } : n)),
    })['lb-c.conf'];
    expect(block(other, 'virtual_ipaddress')).toEqual(['10.213.0.100/24 dev bond0']);
    expect(block(other, 'vrrp_instance VI_api')).toContain('interface bond0');
  });

  test('the track check starts failed, runs as root under script security, weight 0', () => {
    const script = block(confB, 'vrrp_script chk_api');
    expect(script).toEqual([
      'script "/bin/bash -c \'</dev/tcp/127.0.0.1/5000\'"', 'interval 1', 'timeout 1', 'rise 2', 'fall 2', 'init_fail',
    ]);
    expect(block(confB, 'track_script')).toEqual(['chk_api']);
    expect(confB).not.toMatch(/weight/);
    expect(block(confB, 'global_defs')).toEqual(expect.arrayContaining(['script_user root', 'enable_script_security']));
  });

  test('an HTTP track check GETs the path and fails on HTTP errors', () => {
    const conf = renderKeepalivedConf(threeNodeVip({
      trackCheck: { kind: 'http', host: '127.0.0.1', port: 8404, path: '/healthz', intervalSeconds: 2, timeoutSeconds: 1, rise: 3, fall: 2 },
    }))['lb-a.conf'];
    expect(block(conf, 'vrrp_script chk_api')[0])
      .toBe('script "/usr/bin/curl -q --silent --fail --output /dev/null --max-time 1 http://127.0.0.1:8404/healthz"');
  });

  test('advert interval is printed without float noise', () => {
    const conf = renderKeepalivedConf(threeNodeVip({ advertIntervalSeconds: 0.1 + 0.2 }))['lb-a.conf'];
    expect(block(conf, 'vrrp_instance VI_api')).toContain('advert_int 0.3');
  });

  test('same model, same bytes', () => {
    expect(renderKeepalivedConf(threeNodeVip())).toEqual(files);
  });

  test('the command clears stale PID files and selects the node file by NODE_NAME', () => {
    const [shell, flag, script] = keepalivedCommand(threeNodeVip());
    expect([shell, flag]).toEqual(['/bin/bash', '-c']);
    expect(script).toContain('clear_pids() { rm -f "$run/keepalived.pid" "$run/vrrp.pid"; }');
    expect(script).toMatch(/start\(\) \{\n {2}clear_pids\n {2}state INIT\n {2}watch_config &\n {2}exec keepalived /);
    expect(script).toContain('--use-file="$conf"');
    expect(script).toContain('conf=/etc/keepalived/"$NODE_NAME".conf');
    expect(script).toContain('--dont-fork');
    expect(script).toContain('--vrrp ');
  });
});

describe('spreadPriorities', () => {
  test('spreads distinct valid priorities as far apart as possible', () => {
    expect(spreadPriorities(3)).toEqual([254, 128, 2]);
    expect(spreadPriorities(2)).toEqual([254, 2]);
    expect(spreadPriorities(1)).toEqual([254]);
    const many = spreadPriorities(20);
    expect(new Set(many).size).toBe(20);
    expect(Math.min(...many)).toBeGreaterThanOrEqual(1);
  });
});

describe('validateKeepalivedVip', () => {
  test('a good model has no problem', () => {
    expect(problems(threeNodeVip())).toEqual([]);
  });

  test('reports every problem at once', () => {
    const found = problems(threeNodeVip({
      name: 'api vip',
      address: '10.213.0.12',
      prefixLength: 33,
      interface: 'a-very-long-interface-name',
      virtualRouterId: 256,
      advertIntervalSeconds: 0.125,
      nodes: [
        { name: 'LB_A', address: '10.213.0.11', priority: 255 },
        { name: 'lb-b', address: '10.213.0.12', priority: 140, interface: 'eth:0' },
        { name: 'lb-c', address: 'fd00::13', priority: 140 },
      ],
      trackCheck: { kind: 'tcp', host: 'localhost', port: 70000, intervalSeconds: 0.5, timeoutSeconds: 2, rise: 0, fall: 1 },
    }));
    const expected = [
      /^name: "api vip"/,
      /^prefixLength: 33 must be an integer 1\.\.32/,
      /^address: "10\.213\.0\.12" is node "lb-b"'s own address/,
      /^interface: "a-very-long-interface-name"/,
      /^virtualRouterId: 256/,
      /^advertIntervalSeconds: 0\.125/,
      /^nodes\[0\]\.name: "LB_A"/,
      /^nodes\[0\]\.priority: 255/,
      /^nodes\[1\]\.interface: "eth:0"/,
      /^nodes\[2\]\.address: "fd00::13" must be IPv4 like the VIP/,
      /^nodes\[\]\.priority: 140 is used by several nodes/,
      /^trackCheck\.host: "localhost"/,
      /^trackCheck\.port: 70000/,
      /^trackCheck\.intervalSeconds: 0\.5 must be a whole number/,
      /^trackCheck\.timeoutSeconds: 2/,
      /^trackCheck\.rise: 0/,
    ];
    for (const pattern of expected) expect(found).toContainEqual(expect.stringMatching(pattern));
    expect(found).toHaveLength(expected.length);
  });

  test('advert interval bounds follow VRRPv3 (0.01..40.95 s, 10 ms steps)', () => {
    for (const ok of [0.01, 0.2, 1, 40.95]) expect(problems(threeNodeVip({ advertIntervalSeconds: ok }))).toEqual([]);
    for (const bad of [0, 0.005, 40.96, 41, -1]) {
      expect(problems(threeNodeVip({ advertIntervalSeconds: bad }))).toEqual([expect.stringMatching(/^advertIntervalSeconds/)]);
    }
  });

  test('a VIP or node outside the known subnet is reported; an unparsable subnet too', () => {
    const model = threeNodeVip({ address: '10.213.1.100' });
    expect(problems({ ...model, nodes: [...model.nodes.slice(0, 2), { name: 'lb-c', address: '10.9.0.13', priority: 130 }] }))
      .toEqual([
        expect.stringMatching(/^address: "10\.213\.1\.100" is outside the interface subnet 10\.213\.0\.0\/24/),
        expect.stringMatching(/^nodes\[2\]\.address: "10\.9\.0\.13" is outside/),
      ]);
    expect(problems(threeNodeVip({ subnet: '10.213.0.0/33' }))).toEqual([expect.stringMatching(/^subnet:/)]);
  });

  test('IPv6 VIPs and subnets are checked with the same rules', () => {
    const v6 = threeNodeVip({
      address: 'fd00:213::100',
      prefixLength: 64,
      subnet: 'fd00:213::/64',
      nodes: [
        { name: 'lb-a', address: 'fd00:213::11', priority: 150 },
        { name: 'lb-b', address: 'fd00:213::12', priority: 140 },
      ],
      trackCheck: { kind: 'http', host: '::1', port: 8404, path: '/healthz', intervalSeconds: 1, timeoutSeconds: 1, rise: 2, fall: 2 },
    });
    expect(problems(v6)).toEqual([]);
    expect(problems({ ...v6, address: 'fd00:214::100' })).toEqual([expect.stringMatching(/outside the interface subnet/)]);
    expect(problems({ ...v6, prefixLength: 129 })).toEqual([expect.stringMatching(/^prefixLength: 129 must be an integer 1\.\.128/)]);
    expect(renderKeepalivedConf(v6)['lb-a.conf']).toContain('--max-time 1 http://[::1]:8404/healthz');
  });

  test('one node is not a VIP; duplicate names and addresses are reported', () => {
    const model = threeNodeVip();
    expect(problems({ ...model, nodes: model.nodes.slice(0, 1) })).toEqual([expect.stringMatching(/^nodes: \["lb-a"\] must list at least 2/)]);
    expect(problems({ ...model, nodes: [model.nodes[0], { ...model.nodes[0], priority: 1 }] })).toEqual([
      expect.stringMatching(/^nodes\[\]\.name: "lb-a" is listed twice/),
      expect.stringMatching(/^nodes\[\]\.address: "10\.213\.0\.11" is used by several nodes/),
    ]);
  });

  test('HTTP check paths that would break keepalived quoting are refused', () => {
    const model = threeNodeVip({ trackCheck: { ...threeNodeVip().trackCheck, kind: 'http', path: "/x' y" } });
    expect(problems(model)).toEqual([expect.stringMatching(/^trackCheck\.path/)]);
  });
});

describe('validateKeepalivedVipSet', () => {
  function setProblems(models: KeepalivedVipModel[]): string[] {
    const v = new Validator('KeepalivedVip set');
    validateKeepalivedVipSet(models, v);
    return v.errors;
  }

  test('two VIPs with one router id on the same interface collide; other interfaces or ids do not', () => {
    const api = threeNodeVip();
    const db = threeNodeVip({ name: 'db', address: '10.213.0.101' });
    expect(setProblems([api, db])).toEqual([
      expect.stringMatching(/^vips\["db"\]\.virtualRouterId: 51 is also used by VIP "api" on eth0 of node "lb-a"/),
    ]);
    expect(setProblems([api, { ...db, virtualRouterId: 52 }])).toEqual([]);
    expect(setProblems([api, { ...db, interface: 'eth1' }])).toEqual([]);
  });

  test('a per-node interface override is taken into account', () => {
    const api = threeNodeVip();
    const db = threeNodeVip({
      name: 'db', address: '10.213.0.101', interface: 'eth1',
      nodes: threeNodeVip().nodes.map((n) => (n.name === 'lb-c' ? { ...n, interface: 'eth0' } : n)),
    });
    expect(setProblems([api, db])).toEqual([expect.stringMatching(/on eth0 of node "lb-c"/)]);
  });

  test('duplicate VIP names and addresses are reported', () => {
    const api = threeNodeVip();
    expect(setProblems([api, { ...api, virtualRouterId: 52 }])).toEqual([
      expect.stringMatching(/^vips\[\]\.name: "api"/),
      expect.stringMatching(/^vips\[\]\.address: "10\.213\.0\.100"/),
    ]);
  });
});
