/**
 * Scrape benchmark of RabbitMQ's metrics (`npm run bench` runs it through scripts/bench-monitoring.sh, under the
 * integration lock): three real brokers (Debian rabbitmq-server 3.10.8 from a synthesized RabbitDaemonSet, the
 * cluster harness, namespaces i19-ra/b/c) scraped the way the synthesized PodMonitor scrapes them, on both of its
 * endpoints (`/metrics` and `/metrics/detailed` with the queue alerts' families), with 0, then 100, then 1000
 * quorum queues (half of them holding a message). Per endpoint: series, bytes, scrape duration (median and max of
 * SCRAPES requests, curl's own timer) and the broker's CPU per scrape (beam.smp user + system time over the
 * scrapes, minus the same span idle). `/metrics/per-object` is measured too, as the alternative not chosen.
 * Figures, printed; nothing is asserted but success.
 */
import { readFileSync } from 'fs';
import { ControlPlaneMonitoring } from '../../lib';
import { newChart, synth } from '../support/harness';
import { SCRAPER } from '../support/monitoring';
import { procFile } from './support/daemons';
import { debianRabbitDaemonSet, PYTHON, RabbitNamespaceCluster, sh, sleep, waitFor } from './support/rabbit-cluster';

jest.setTimeout(900_000);

const SCRAPES = 20;
const QUEUE_COUNTS = [0, 100, 1000];
const NODES = [
  { name: 'i19-ra', ip: '10.219.1.11' },
  { name: 'i19-rb', ip: '10.219.1.12' },
  { name: 'i19-rc', ip: '10.219.1.13' },
];
const DECLARE = [
  'import sys, pika',
  'host, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])',
  'c = pika.BlockingConnection(pika.ConnectionParameters(host, 5672, "notifications", pika.PlainCredentials("nova", "nova-pass")))',
  'ch = c.channel()',
  'for i in range(first, first + count):',
  '    ch.queue_declare(f"bench.{i}", durable=True, arguments={"x-queue-type": "quorum"})',
  '    if i % 2 == 0: ch.basic_publish("", f"bench.{i}", b"{}")',
  'c.close()',
].join('\n');

/** user + system CPU seconds of the node's beam.smp. */
function beamCpuSeconds(node: string): number {
  const pid = sh('ip', ['netns', 'pids', node]).stdout.split('\n').find((p) => p.trim() && procFile(p, 'comm')?.trim() === 'beam.smp')!;
  const fields = procFile(pid, 'stat')!.split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

test('RabbitMQ scrape cost per endpoint as queues grow (figures, printed)', async () => {
  const chart = newChart('openstack');
  const rabbit = debianRabbitDaemonSet(chart, 'rabbitmq', NODES, 'i19-cookie');
  new ControlPlaneMonitoring(chart, 'monitoring', { scraper: SCRAPER, rabbitmq: rabbit });
  const objects = synth(chart);
  const monitor = objects.find((o) => o.kind === 'PodMonitor')!;
  const endpoints: Array<{ name: string; url: string }> = monitor.spec.podMetricsEndpoints.map((e: any) => ({
    name: e.relabelings[0].replacement,
    url: `${e.path}${e.params ? `?${Object.entries<string[]>(e.params).flatMap(([k, vs]) => vs.map((v) => `${k}=${v}`)).join('&')}` : ''}`,
  }));
  endpoints.push({ name: 'per-object (not chosen)', url: '/metrics/per-object' });
  const cluster = new RabbitNamespaceCluster({
    bridge: 'i19-rbr', nodes: NODES, daemonSet: 'rabbitmq',
    secretValue: (name, key) => (name === 'rabbitmq-users' ? `${key}-pass` : 'I19BENCHCOOKIEABCDEFGHIJKLMN'),
  });
  const rows: Array<Record<string, unknown>> = [];
  try {
    cluster.setUp(objects);
    for (const node of NODES) cluster.startBroker(node);
    await waitFor('3 running brokers', 150_000, () => (cluster.runningNodes(NODES[0].name)?.length === 3 ? true : undefined));
    let declared = 0;
    for (const count of QUEUE_COUNTS) {
      const r = sh('ip', ['netns', 'exec', NODES[0].name, PYTHON, '-c', DECLARE, NODES[0].ip, String(declared), String(count - declared)], 600_000);
      if (r.status !== 0) throw new Error(`declaring queues failed: ${r.stderr}`);
      declared = count;
      await sleep(10_000); // the metrics tables are refreshed every 5 s (collect_statistics_interval)
      const node = NODES[0];
      const idleCpu = beamCpuSeconds(node.name);
      const idleStart = Date.now();
      await sleep(5_000);
      const idlePerSecond = (beamCpuSeconds(node.name) - idleCpu) / ((Date.now() - idleStart) / 1000);
      for (const endpoint of endpoints) {
        const cpu0 = beamCpuSeconds(node.name);
        const t0 = Date.now();
        const times: number[] = [];
        let body = '';
        for (let i = 0; i < SCRAPES; i++) {
          const out = sh('ip', ['netns', 'exec', node.name, 'curl', '-s', '-o', '/tmp/i19-bench-scrape', '-w', '%{time_total} %{size_download}', `http://${node.ip}:15692${endpoint.url}`]);
          if (out.status !== 0) throw new Error(`scrape of ${endpoint.url} failed: ${out.stderr}`);
          times.push(Number(out.stdout.split(' ')[0]));
          if (i === 0) body = readFileSync('/tmp/i19-bench-scrape', 'utf8');
        }
        const cpu = beamCpuSeconds(node.name) - cpu0 - idlePerSecond * ((Date.now() - t0) / 1000);
        times.sort((a, b) => a - b);
        rows.push({
          queues: count, endpoint: endpoint.name,
          series: body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length,
          KiB: Math.round(body.length / 1024),
          'scrape ms (median)': Math.round(times[Math.floor(times.length / 2)] * 1000),
          'scrape ms (max)': Math.round(times[times.length - 1] * 1000),
          'broker CPU ms per scrape': Math.max(0, Math.round((cpu / SCRAPES) * 1000)),
        });
      }
    }
  } finally {
    await cluster.tearDown();
    sh('rm', ['-f', '/tmp/i19-bench-scrape']);
  }
  // eslint-disable-next-line no-console
  console.table(rows);
});
