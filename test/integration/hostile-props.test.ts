/**
 * Random strings in every free-text prop of HaproxyLoadBalancer and KeepalivedVip: either the construct refuses
 * the value, or every rendered config file still passes the real daemon's own checker (`haproxy -c`,
 * `keepalived -t`) and contains the string only in the lines meant for it. Bounded (100 runs per prop), and
 * only config checks: no daemon is started.
 *
 * memcached has no config file (its arguments are numbers and a `$(HOST_IP)` reference, covered by the unit
 * tests). RabbitMQ's free text (user and vhost names, policy patterns) goes into definitions.json, which the
 * broker parses only at boot; cuttlefish's own parser ships inside rabbitmq-server but checking the rendered
 * files needs a booted node, which the rabbitmq suite does: not repeated here.
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as fc from 'fast-check';
import { HaproxyLoadBalancer, KeepalivedVip, LoadBalancedService, Placement, VipTrack } from '../../lib';
import { HOSTILE_STRINGS } from '../support/hostile';
import { newChart, synth } from '../support/harness';
import { describeWithBinaries } from './support/daemons';

const NODES = [{ name: 'ctl-1', ip: '10.0.0.11' }, { name: 'ctl-2', ip: '10.0.0.12' }, { name: 'ctl-3', ip: '10.0.0.13' }];
const RUNS = 100;
/** Random text, the hostile list, and plausible values, so that both refusals and accepted values are exercised. */
const text = (plausible: fc.Arbitrary<string>) => fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom(...HOSTILE_STRINGS), plausible);

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'hostile-props-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(command: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Built, or undefined when the construct refused the value (the refusal is what the unit tests check). */
function built<T>(build: () => T): T | undefined {
  try { return build(); } catch (e) { if (/has invalid props/.test((e as Error).message)) return undefined; throw e; }
}

/**
 * The string lands only where intended: every line that differs from the config rendered with a baseline value
 * (the lines the value changed or added, e.g. by a newline injection) matches `where`.
 */
function onlyWhere(config: string, baseline: string, where: RegExp): boolean {
  const before = new Set(baseline.split('\n'));
  return config.split('\n').filter((l) => !before.has(l)).every((l) => where.test(l));
}

describeWithBinaries('hostile props: haproxy -c', ['haproxy'], ['haproxy'], () => {
  function check(services: LoadBalancedService[], name: string): { cfg: string; ok: boolean } | undefined {
    const chart = newChart('openstack');
    if (!built(() => new HaproxyLoadBalancer(chart, 'lb', { placement: Placement.onNodes(NODES), services }))) return undefined;
    const cfg = synth(chart).find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'lb-config')!.data['haproxy.cfg'];
    const file = join(dir, `${name}.cfg`);
    writeFileSync(file, cfg);
    const r = run('haproxy', ['-c', '-f', file]);
    return { cfg, ok: r.status === 0 };
  }
  const props: [string, fc.Arbitrary<string>, (s: string) => LoadBalancedService, RegExp, string][] = [
    ['checkPath', fc.stringMatching(/^\/[a-z0-9._~\/?=&-]{0,20}$/), (s) => LoadBalancedService.openStackApi('keystone', { servers: [{ address: '10.1.0.5' }], checkPath: s }), /^  http-check send meth GET uri /, '/baseline'],
    ['service name', fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/), (s) => LoadBalancedService.tcp(s, 5000, { servers: [{ address: '10.1.0.5' }] }), /^(listen |  server |# )/, 'baseline'],
    ['server address', fc.stringMatching(/^[a-z][a-z0-9-]{0,10}(\.[a-z0-9-]{1,10}){0,3}$/), (s) => LoadBalancedService.tcp('x', 5000, { servers: [{ address: s }] }), /^  server x-0 /, 'baseline.example'],
    ['discoverFrom', fc.stringMatching(/^[a-z][a-z0-9-]{0,10}(\.[a-z0-9-]{1,10}){0,3}$/), (s) => LoadBalancedService.tcp('x', 5000, { discoverFrom: s }), /^  server-template x- /, 'baseline.example'],
  ];
  test.each(props)('%s: refused, or accepted by haproxy -c and only where intended', (name, plausible, service, where, base) => {
    const baseline = check([service(base)], 'baseline')!;
    expect(baseline.ok).toBe(true);
    fc.assert(fc.property(text(plausible), (s) => {
      const r = check([service(s)], name.replace(/ /g, '-'));
      return r === undefined || (r.ok && onlyWhere(r.cfg, baseline.cfg, where));
    }), { numRuns: RUNS });
  });
});

describeWithBinaries('hostile props: keepalived -t', ['keepalived'], ['keepalived'], () => {
  // keepalived -t needs the interface to exist: the first non-loopback one of this machine.
  const iface = run('sh', ['-c', "ls /sys/class/net | grep -v '^lo$' | head -1"]).output.trim();
  function check(props: { name?: string; track?: VipTrack }): { files: string[]; ok: boolean; output: string } | undefined {
    const chart = newChart('openstack');
    const vip = built(() => new KeepalivedVip(chart, 'vip', {
      address: '10.0.0.10', prefixLength: 24, interface: iface, placement: Placement.onNodes(NODES), virtualRouterId: 51,
      track: props.track ?? VipTrack.tcp(5000), name: props.name,
    }));
    if (!vip) return undefined;
    const cm = synth(chart).find((o) => o.kind === 'ConfigMap')!;
    const files = Object.values<string>(cm.data);
    const file = join(dir, 'keepalived.conf');
    writeFileSync(file, files[0]);
    const r = run('keepalived', ['-t', '-f', file]);
    // keepalived -t exits 0 even when it ignores a bad value: any line of output is a problem.
    return { files, ok: r.status === 0 && r.output.trim() === '', output: r.output };
  }
  test('the unmodified config passes (so the property below can fail)', () => {
    expect(check({})).toMatchObject({ ok: true });
  });
  test('track path: refused, or accepted by keepalived -t and only in the track script', () => {
    const baseline = check({ track: VipTrack.http(8404, '/baseline') })!;
    fc.assert(fc.property(text(fc.stringMatching(/^\/[a-z0-9._~\/?=&-]{0,20}$/)), (s) => {
      const r = check({ track: VipTrack.http(8404, s) });
      return r === undefined || (r.ok && r.files.every((f, i) => onlyWhere(f, baseline.files[i], /^  script "\/usr\/bin\/curl /)));
    }), { numRuns: RUNS });
  });
  test('name: refused, or accepted by keepalived -t and only in instance, script and comment lines', () => {
    const baseline = check({ name: 'baseline' })!;
    fc.assert(fc.property(text(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/)), (s) => {
      const r = check({ name: s });
      return r === undefined || (r.ok && r.files.every((f, i) => onlyWhere(f, baseline.files[i], /^(# keepalived\.conf|vrrp_script chk_|vrrp_instance VI_|    chk_)/)));
    }), { numRuns: RUNS });
  });
});
