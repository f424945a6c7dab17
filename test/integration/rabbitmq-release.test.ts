/**
 * The release checks with the real broker (Debian's rabbitmq-server 3.10.8, the only line installable here): three
 * brokers of a synthesized `RabbitDaemonSet` in network namespaces i20-a/b/c (10.20.0.11-13 on a bridge in i20-br),
 * run by support/rabbit-cluster.ts as the kubelet would run the DaemonSet's container.
 *
 * What 3.10 can show: post-start.sh records the release on each data dir once its broker has booted; the brokers
 * first boot with one feature flag enabled (RABBITMQ_FEATURE_FLAGS, as a cluster upgraded from an older line would
 * be), and post-start.sh enables the others with `rabbitmqctl enable_feature_flag all` once all three run 3.10;
 * start.sh refuses a data dir whose crafted marker names a skipped line (3.8) or a newer one (3.11), with the fix in
 * the log, and starts on one the previous line (3.9) ran. An actual 3.13 -> 4.x roll needs the official images.
 */
import { existsSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { RabbitDaemonSet } from '../../lib';
import { newChart, synth } from '../support/harness';
import { debianRabbitDaemonSet, eventually, missingRabbitTools, RabbitNamespaceCluster, tearDownAndPrint, waitFor } from './support/rabbit-cluster';

const NODES = [
  { name: 'i20-a', ip: '10.20.0.11' },
  { name: 'i20-b', ip: '10.20.0.12' },
  { name: 'i20-c', ip: '10.20.0.13' },
];
const COOKIE = 'I20RELEASETESTCOOKIEABCDEFGH';
function secretValue(name: string, key: string): string {
  if (name === 'rabbitmq-users') return `${key}-pass`;
  if (name === 'i20-cookie' && key === 'cookie') return COOKIE;
  throw new Error(`the manifest refers to an unknown Secret ${name}/${key}`);
}

const missing = missingRabbitTools();
const describeIfTools = missing.length > 0 && !process.env.CI ? describe.skip : describe;

describeIfTools('RabbitMQ 3.10: the release marker, the refusals, the feature flags', () => {
  let cluster: RabbitNamespaceCluster;
  let daemonSet: RabbitDaemonSet;
  const figures: string[] = [];
  const marker = (node: string) => join(cluster.volumeDir(node, 'data'), 'mnesia', `rabbit@${node}-release`);
  const log = (node: string) => readFileSync(join(cluster.nodeDir(node), 'broker.log'), 'utf8');
  const disabledFlags = (node: string): string[] | undefined => {
    const r = cluster.ctl(node, ['list_feature_flags', 'name', 'state', '--formatter', 'json']);
    return r.status === 0 ? (JSON.parse(r.stdout) as { name: string; state: string }[]).filter((f) => f.state !== 'enabled').map((f) => f.name).sort() : undefined;
  };

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`CI is set but tools are missing: ${missing.join(', ')}`);
    cluster = new RabbitNamespaceCluster({
      bridge: 'i20-br', nodes: NODES, daemonSet: 'i20', secretValue,
      // A cluster that came from an older line: only quorum_queue enabled at the first boot; post-start.sh every 2 s.
      extraEnv: { RABBITMQ_FEATURE_FLAGS: 'quorum_queue', RABBITMQ_POST_START_POLL_SECONDS: '2' },
    });
    const chart = newChart('openstack');
    daemonSet = debianRabbitDaemonSet(chart, 'i20', NODES, 'i20-cookie');
    cluster.setUp(synth(chart));
    figures.push(`formation: ${(await cluster.startAllBrokers()).toFixed(1)} s`);
  }, 360_000);

  afterAll(() => tearDownAndPrint(cluster, 'RabbitMQ release figures', figures), 90_000);

  test('each booted broker records 3.10.8 beside its data dir, and the flags are enabled once all three run 3.10', async () => {
    expect(daemonSet.version.line).toBe('3.10');
    for (const node of NODES) await waitFor(`${node.name}'s release marker`, 60_000, () => (existsSync(marker(node.name)) ? true : undefined));
    for (const node of NODES) expect(readFileSync(marker(node.name), 'utf8')).toBe('3.10.8\n');
    const t0 = Date.now();
    for (const node of NODES) await eventually(`every feature flag enabled, seen from ${node.name}`, 90_000, () => disabledFlags(node.name), []);
    figures.push(`feature flags enabled within ${((Date.now() - t0) / 1000).toFixed(1)} s of the markers`);
    expect(NODES.map((n) => log(n.name)).join('').match(/enabled every stable feature flag/g)?.length).toBeGreaterThanOrEqual(1);
  }, 200_000);

  test('a data dir a skipped line ran is refused with the line to run first; a newer line\'s is refused; the previous line\'s starts', async () => {
    const node = NODES[2];
    await cluster.stopBroker(node.name);
    const refusedBoot = async (recorded: string, expected: RegExp) => {
      writeFileSync(marker(node.name), `${recorded}\n`);
      const before = log(node.name).length;
      cluster.startBroker(node);
      // start.sh exits before rabbitmq-server: the namespace runs nothing once it is done.
      await waitFor(`start.sh to refuse ${recorded}`, 30_000, () => (expected.test(log(node.name).slice(before)) ? true : undefined));
      await cluster.stopBroker(node.name);
      expect(log(node.name).slice(before)).not.toMatch(/starting rabbit@/);
    };
    await refusedBoot('3.8.35', /FATAL: .* last run by RabbitMQ 3\.8\.35; this image runs 3\.10\.8, which skips release lines: .* Fix: run RabbitMQ 3\.9 on this node first \(the whole path: 3\.8 -> 3\.9 -> 3\.10/);
    await refusedBoot('3.11.28', /FATAL: .* last run by RabbitMQ 3\.11\.28, a newer release line than this image's 3\.10\.8: RabbitMQ does not support downgrades/);
    writeFileSync(marker(node.name), '3.9.29\n');
    const t0 = Date.now();
    cluster.startBroker(node);
    await eventually('the broker back in the cluster', 90_000, () => cluster.runningNodes('i20-a'), NODES.map((n) => `rabbit@${n.name}`));
    figures.push(`restart on the previous line's marker -> running: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(log(node.name)).toContain('the data dir was last run by RabbitMQ 3.9.29; this image runs 3.10.8, the next release line');
    await waitFor('the marker rewritten', 60_000, () => (readFileSync(marker(node.name), 'utf8') === '3.10.8\n' ? true : undefined));
  }, 240_000);
});
