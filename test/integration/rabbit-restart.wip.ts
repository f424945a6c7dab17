/** Session 32 proof (not for the suite): the harness restarts a broker container that exits, as the kubelet would. */
import { Placement, RabbitDaemonSet, RabbitVersion, SecretValue } from '../../lib';
import { newChart, synth } from '../support/harness';
import { adminAndNova } from '../support/fixtures';
import { RabbitNamespaceCluster, sh, tearDownAndPrint } from './support/rabbit-cluster';

const NODES = [
  { name: 'rmqw-a', ip: '10.241.0.11' },
  { name: 'rmqw-b', ip: '10.241.0.12' },
  { name: 'rmqw-c', ip: '10.241.0.13' },
];
const secretValue = (name: string, key: string) => (name === 'rmqw-cookie' ? 'RMQWCOOKIEABCDEFGHIJKLMNOPQ' : key === 'admin' ? 'admin-pw' : 'nova-pw');

describe('harness restart', () => {
  let cluster: RabbitNamespaceCluster;
  const figures: string[] = [];
  beforeAll(async () => {
    cluster = new RabbitNamespaceCluster({ bridge: 'rmqw-br', nodes: NODES, daemonSet: 'rmqw', secretValue });
    const chart = newChart('openstack');
    new RabbitDaemonSet(chart, 'rmqw', {
      placement: Placement.onNodes(NODES), version: RabbitVersion.V3_10, image: 'x',
      erlangCookie: SecretValue.fromSecret('rmqw-cookie', 'cookie'), users: adminAndNova(),
      resources: { memoryRequestMiB: 1024, memoryLimitMiB: 1024 }, diskFreeLimitBytes: 50_000_000, drainTimeoutSeconds: 60,
    });
    cluster.setUp(synth(chart));
    figures.push(`formation ${(await cluster.startAllBrokers()).toFixed(1)} s`);
  }, 360_000);
  afterAll(() => tearDownAndPrint(cluster, 'restart proof', figures), 90_000);

  test('a broker whose VM is SIGKILLed is restarted after 10 s and rejoins; epmd and the helpers went with it', async () => {
    const beam = sh('ip', ['netns', 'pids', 'rmqw-b']).stdout.split('\n').filter((p) => p && /beam/.test(sh('cat', [`/proc/${p}/comm`]).stdout));
    expect(beam).toHaveLength(1);
    const t0 = Date.now();
    sh('kill', ['-KILL', beam[0]]);
    await cluster.waitFor('the restart recorded', 30_000, () => (cluster.restarts.length === 1 ? true : undefined));
    const after = sh('ip', ['netns', 'pids', 'rmqw-b']).stdout.trim();
    figures.push(`left in the namespace right after the exit: ${after === '' ? 'nothing' : after}`);
    await cluster.waitFor('b back in the cluster', 120_000, () => (cluster.runningNodes('rmqw-a')?.length === 3 ? true : undefined));
    figures.push(`b back in the cluster ${((Date.now() - t0) / 1000).toFixed(1)} s after the kill`);
    expect(cluster.restarts[0]).toMatch(/rmqw-b: the container exited .* restarted after 10 s \(kubelet back-off, restart 1\)/);
    // A test's own stop is not a crash: no restart.
    await cluster.stopBroker('rmqw-c');
    await new Promise((r) => setTimeout(r, 12_000));
    expect(cluster.restarts).toHaveLength(1);
    expect(sh('ip', ['netns', 'pids', 'rmqw-c']).stdout.trim()).toBe('');
  }, 300_000);
});
