/**
 * oslo.messaging (Debian 12: 14.0.3) talks through the generated transport URLs to a real 3-broker RabbitMQ
 * cluster run from a synthesized RabbitDaemonSet (support/rabbit-cluster.ts; its own namespaces osmq-*, on
 * 10.215.0.0/24, so it can coexist with rabbitmq.test.ts). The service's config file is rendered by the
 * ServiceConfigRenderer's init container from the broker's oslo outputs, with a password that must be
 * percent-encoded. The client runs in a namespace of its own on the same bridge:
 * - an RPC server and client on `[DEFAULT] transport_url` call each other every 0.1 s; the broker they are
 *   connected to is stopped, and they carry on through the next broker of the URL;
 * - a notification sent through `[oslo_messaging_notifications] transport_url` lands in the notifications vhost's
 *   queue, durable and mirrored by the generated policy.
 * Figures (RPC round trip, failover seen by the client) are printed, not asserted.
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { Chart } from 'cdk8s';
import { OsloMessaging, ServiceConfigRenderer, ServiceConnection } from '../../lib';
import { newApp, newChart, synth } from '../support/harness';
import { runInitContainer } from '../support/service-config';
import { describeUnlessMissing } from './support/daemons';
import { missingOsloClients, OSLO_CLIENTS, OSLO_CLIENTS_SCRIPT, PYTHON } from './support/oslo';
import { debianRabbitDaemonSet, eventually, mirrors, missingRabbitTools, RabbitNamespaceCluster, sh, tearDownAndPrint, waitFor } from './support/rabbit-cluster';

const NODES = [
  { name: 'osmq-a', ip: '10.215.0.11' },
  { name: 'osmq-b', ip: '10.215.0.12' },
  { name: 'osmq-c', ip: '10.215.0.13' },
];
const CLIENT = { name: 'osmq-client', ip: '10.215.0.100' };
/** '@', ':', '%', '?' and '#' break a URL unless percent-encoded ('/' is refused by the renderer: see render.js). */
const PASSWORDS: Record<string, string> = { admin: 'admin-pass', nova: 'n@va:p?w%rd#' };
const COOKIE = 'OSMQTESTCOOKIEABCDEFGHIJKLMNOP';
function secretValue(name: string, key: string): string {
  if (name === 'rabbitmq-users') return PASSWORDS[key];
  if (name === 'osmq-cookie' && key === 'cookie') return COOKIE;
  throw new Error(`the manifest refers to an unknown Secret ${name}/${key}`);
}
const RUN_SECONDS = 45;

interface Call { t: number; ms: number; ok: boolean; error?: string }

describeUnlessMissing('oslo.messaging through the generated transport URLs, on a real 3-broker cluster',
  [...missingRabbitTools(), ...missingOsloClients()], `apt-get install rabbitmq-server python3-pika iproute2 ${OSLO_CLIENTS.join(' ')}, and run as root`, () => {
    let cluster: RabbitNamespaceCluster;
    let configFile: string;
    const figures: string[] = [];

    beforeAll(async () => {
      cluster = new RabbitNamespaceCluster({ bridge: 'osmq-br', nodes: NODES, clients: [CLIENT], daemonSet: 'osmq', secretValue });
      const chart = newChart('openstack');
      const rabbit = debianRabbitDaemonSet(chart, 'osmq', NODES, 'osmq-cookie');
      cluster.setUp(synth(chart));

      // What a user composing the parts gives the renderer: the broker's own oslo outputs for nova.
      const connection: ServiceConnection = {
        service: 'nova',
        databaseConnections: {},
        databaseReadOnlyConnections: {},
        transportUrl: rabbit.transportUrl('nova'),
        notificationsTransportUrl: rabbit.notificationsTransportUrl('nova'),
        memcacheServers: '',
        osloConfig: OsloMessaging.renderIni(rabbit.osloConfig('nova')),
        secretReferences: { RABBITMQ_PASSWORD_NOVA: 'rabbitmq-users/nova' },
      };
      const svc = new Chart(newApp(), 'svc', { namespace: 'openstack', disableResourceNameHashes: true });
      const renderer = new ServiceConfigRenderer(svc, 'ha', { connection });
      configFile = path.join(cluster.work, 'nova.conf');
      const run = runInitContainer(renderer, synth(svc), { 'rabbitmq-users/nova': PASSWORDS.nova }, configFile);
      if (run.status !== 0) throw new Error(run.stderr);

      figures.push(`cluster formation: ${(await cluster.startAllBrokers()).toFixed(1)} s`);
    }, 360_000);

    afterAll(() => tearDownAndPrint(cluster, 'oslo.messaging figures', figures), 90_000);

    /**
     * The running brokers that hold the client's RPC connections (from CLIENT.ip, vhost "/"), most first. oslo.messaging
     * shuffles the URL's hosts for each connection, so its server, reply and publisher connections may be on
     * different brokers.
     */
    let lastListing = '';
    function brokersOfClient(): string[] {
      const counts = NODES.filter((n) => cluster.isStarted(n.name)).map((n) => {
        const r = cluster.ctl(n.name, ['list_connections', 'peer_host', 'vhost', '--formatter', 'json']);
        lastListing = `${n.name}: ${r.status} ${r.stdout}${r.stderr}`;
        // 3.10's JSON formatter gives an IPv4 peer as its four octets.
        const peer = (c: any) => (Array.isArray(c.peer_host) ? c.peer_host.join('.') : c.peer_host);
        const mine = r.status === 0 ? (JSON.parse(r.stdout) as any[]).filter((c) => peer(c) === CLIENT.ip && c.vhost === '/').length : 0;
        return { name: n.name, mine };
      });
      return counts.filter((c) => c.mine > 0).sort((a, b) => b.mine - a.mine).map((c) => c.name);
    }

    let clientLog = '';
    test('RPC calls keep working when the broker they are connected to stops; a notification lands in the mirrored queue', async () => {
      const client: ChildProcess = spawn('ip', ['netns', 'exec', CLIENT.name, PYTHON, OSLO_CLIENTS_SCRIPT, 'messaging', configFile, String(RUN_SECONDS)],
        { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      client.stdout!.on('data', (d) => { stdout += d; });
      client.stderr!.on('data', (d) => { stderr += d; });
      const exited = new Promise<number | null>((resolve) => client.once('exit', (code) => resolve(code)));
      try {
        // Connected once calls succeed: then stop the broker that holds most of the client's connections.
        await waitFor('the first successful RPC call', 30_000, () => (/'ok': True/.test(stderr) ? true : undefined))
          .catch((e) => { throw new Error(`${e.message}; the client said:\n${stderr.slice(-3000)}`); });
        await new Promise((r) => setTimeout(r, 3000));
        const [connected] = await waitFor('the client\'s connections to show on a broker', 30_000, () => {
          const brokers = brokersOfClient();
          return brokers.length > 0 ? brokers : undefined;
        }).catch((e) => { throw new Error(`${e.message}; last listing ${lastListing}`); });
        const stoppedAt = Date.now() / 1000;
        await cluster.stopBroker(connected);
        const stopped = Date.now() / 1000;
        // The client is now on the other brokers: wait for it (each broker sees the connection when it has it).
        await waitFor('the client to reconnect to another broker', 60_000, () => (brokersOfClient().length > 0 ? true : undefined));

        expect(await exited).toBe(0);
        const { calls } = JSON.parse(stdout) as { calls: Call[] };
        // From the first answer (the server may still be starting before it) to the stop.
        const firstOk = calls.find((c) => c.ok)!;
        const before = calls.filter((c) => c.t >= firstOk.t && c.t + c.ms / 1000 < stoppedAt);
        const after = calls.filter((c) => c.t > stopped);
        const firstOkAfter = after.find((c) => c.ok);
        expect(before.length).toBeGreaterThan(10);
        expect(before.every((c) => c.ok)).toBe(true);
        expect(firstOkAfter).toBeDefined();
        // Working again: every call from the first success after the stop on succeeds.
        expect(after.slice(after.indexOf(firstOkAfter!)).filter((c) => !c.ok)).toEqual([]);
        const lastOkBefore = Math.max(...calls.filter((c) => c.ok && c.t < stoppedAt).map((c) => c.t + c.ms / 1000));
        const failed = calls.filter((c) => !c.ok);
        const rtts = before.map((c) => c.ms).sort((a, b) => a - b);
        figures.push(`RPC round trip (oslo.messaging 14.0.3 call, 3 brokers on 2 shared cores): median ${rtts[rtts.length >> 1].toFixed(1)} ms, `
          + `p95 ${rtts[Math.floor(rtts.length * 0.95)].toFixed(1)} ms over ${rtts.length} calls`);
        figures.push(`connected broker (${connected}) stopped: the client's calls resumed ${(firstOkAfter!.t + firstOkAfter!.ms / 1000 - lastOkBefore).toFixed(1)} s `
          + `after its last answer before the stop (stop took ${(stopped - stoppedAt).toFixed(1)} s); ${failed.length} calls failed `
          + `(${[...new Set(failed.map((c) => c.error))].join(', ') || 'none'}), all others answered`);
      } finally {
        if (client.exitCode === null) client.kill('SIGKILL');
        clientLog = stderr;
      }

      // The notification, sent after the failover: in the notifications vhost's queue, durable, with a synchronised mirror.
      const survivor = NODES.find((n) => cluster.isStarted(n.name))!.name;
      await eventually('notifications.info to hold the notification, mirrored', 60_000, () => {
        const q = cluster.queues(survivor, 'notifications')['notifications.info'];
        return q ? { durable: q.durable, policy: q.policy, messages: q.messages, mirrors: mirrors(q.synchronised_slave_pids) } : undefined;
      }, { durable: true, policy: 'notifications-ha', messages: 1, mirrors: 1 })
        .catch((e) => { throw new Error(`${e.message}; the client said:\n${clientLog.split('\n').filter((l) => !l.startsWith('call ')).join('\n').slice(-3000)}`); });
      // RPC queues stay unmirrored (the generated policy replicates the notifications vhost only).
      for (const q of Object.values(cluster.queues(survivor, '/'))) expect([q.name, mirrors(q.slave_pids)]).toEqual([q.name, 0]);
      expect(sh('ip', ['netns', 'list']).stdout).toContain(CLIENT.name);
    }, 180_000);
  });
