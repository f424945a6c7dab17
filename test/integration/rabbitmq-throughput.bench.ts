/**
 * Throughput of the replicated notification queue against unreplicated ones (`npm run bench` runs it through
 * scripts/bench-rabbitmq.sh, under the integration lock): three real brokers (Debian rabbitmq-server 3.10.8 from a
 * synthesized RabbitDaemonSet, the cluster harness, namespaces rmqp-a/b/c, 10.229.0.11-13, bridge in rmqp-br), and
 * scripts/bench-rabbitmq.py on the first broker's node: per queue (bench.replicated in the notifications vhost,
 * mirrored by the rendered policy; bench.durable and bench.transient in the RPC vhost), publishes with confirms, one
 * in flight; pipelined publishes; consumption. Median of BENCH_RABBIT_ROUNDS rounds (default 3) of
 * BENCH_RABBIT_COUNT pipelined (default 3000) and BENCH_RABBIT_CONFIRMED confirmed (default 300) 1 KiB messages.
 * Until session 30 this ran inside the suite (rabbitmq.test.ts); figures, printed; nothing is asserted but that
 * each queue was measured.
 */
import { join } from 'path';
import { newChart, synth } from '../support/harness';
import { debianRabbitDaemonSet, missingRabbitTools, PYTHON, RabbitNamespaceCluster, sh, tearDownAndPrint } from './support/rabbit-cluster';

jest.setTimeout(600_000);

const BENCH_SCRIPT = join(__dirname, '..', '..', 'scripts', 'bench-rabbitmq.py');
const NODES = [
  { name: 'rmqp-a', ip: '10.229.0.11' },
  { name: 'rmqp-b', ip: '10.229.0.12' },
  { name: 'rmqp-c', ip: '10.229.0.13' },
];
const PASSWORDS: Record<string, string> = { admin: 'rmqp-admin-pass', nova: 'rmqp-nova-pass' };
const COOKIE = 'RMQPBENCHCOOKIEABCDEFGHIJKLMN';
const env = (name: string, fallback: number) => String(Number(process.env[name] ?? fallback));

test('throughput of the mirrored vs the unreplicated queues (figures, printed)', async () => {
  const missing = missingRabbitTools();
  if (missing.length > 0) throw new Error(`missing: ${missing.join(', ')} (scripts/install-deps.sh, as root)`);
  const figures: string[] = [];
  const cluster = new RabbitNamespaceCluster({
    bridge: 'rmqp-br', nodes: NODES, daemonSet: 'rmqp',
    secretValue: (name, key) => (name === 'rabbitmq-users' ? PASSWORDS[key] : COOKIE),
  });
  try {
    const chart = newChart('openstack');
    debianRabbitDaemonSet(chart, 'rmqp', NODES, 'rmqp-cookie');
    cluster.setUp(synth(chart));
    figures.push(`cluster formation (3 blank brokers, started together): ${(await cluster.startAllBrokers()).toFixed(1)} s`);
    const t0 = Date.now();
    const r = sh('ip', ['netns', 'exec', NODES[0].name, PYTHON, BENCH_SCRIPT, '--host', NODES[0].ip, '--user', 'nova',
      '--password-env', 'PW', '--count', env('BENCH_RABBIT_COUNT', 3000), '--confirmed-count', env('BENCH_RABBIT_CONFIRMED', 300),
      '--rounds', env('BENCH_RABBIT_ROUNDS', 3)], 300_000, { ...process.env, PW: PASSWORDS.nova });
    if (r.status !== 0) throw new Error(`benchmark failed: ${r.stderr}`);
    figures.push(...r.stderr.trim().split('\n'), `benchmark run: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).queue)).toEqual(['bench.replicated', 'bench.durable', 'bench.transient']);
  } finally {
    await tearDownAndPrint(cluster, 'RabbitMQ throughput (Debian 3.10.8, three brokers, one client on the first broker\'s node)', figures);
  }
});
