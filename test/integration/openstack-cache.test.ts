/**
 * oslo.cache ([cache], memcache_pool) and keystonemiddleware's token cache ([keystone_authtoken], ENCRYPT) reach the
 * real memcached instances of a control plane, configured only by the rendered service config: three memcached
 * (Debian package) run with the synthesized DaemonSet's arguments on the controllers' IPs (10.216.0.11-13, on the
 * loopback of a network namespace of its own, `osmc`), and nova's config is rendered by the ServiceConfigRenderer's
 * init container with a hostile secret key. The clients run in the same namespace.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart } from 'cdk8s';
import { GaleraStorage, OpenStackControlPlane, ServiceConfigRenderer } from '../../lib';
import { CONTROL_PLANE_SECRETS, SERVICES } from '../../examples/openstack-control-plane';
import { find, newApp, synth } from '../support/harness';
import { runInitContainer } from '../support/service-config';
import { Daemons, describeUnlessMissing, which } from './support/daemons';
import { missingOsloClients, OSLO_CLIENTS, OSLO_CLIENTS_SCRIPT, PYTHON } from './support/oslo';

const NETNS = 'osmc';
const CONTROLLERS = [{ name: 'ctl-1', ip: '10.216.0.11' }, { name: 'ctl-2', ip: '10.216.0.12' }, { name: 'ctl-3', ip: '10.216.0.13' }];
const inNetns = (command: string[]) => ['netns', 'exec', NETNS, ...command];
const SECRET_KEY = ` k$ey"with;#'`;

const missing = [
  ...missingOsloClients(),
  ...['memcached', 'ip'].filter((b) => !which(b)),
  ...(process.getuid?.() === 0 ? [] : ['root (network namespaces)']),
];

describeUnlessMissing('oslo.cache and keystonemiddleware reach the memcached instances', missing,
  `apt-get install memcached iproute2 ${OSLO_CLIENTS.join(' ')}, and run as root`, () => {
    const daemons = new Daemons();
    let work: string;
    let configFile: string;

    beforeAll(async () => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'oslo-cache-'));
      if (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').some((l) => l.split(' ')[0] === NETNS)) spawnSync('ip', ['netns', 'del', NETNS]);
      for (const args of [['netns', 'add', NETNS], ['-n', NETNS, 'link', 'set', 'lo', 'up'], ...CONTROLLERS.map((n) => ['-n', NETNS, 'addr', 'add', `${n.ip}/32`, 'dev', 'lo'])]) {
        const r = spawnSync('ip', args, { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
      }
      const cp = new OpenStackControlPlane(new Chart(newApp(), 'cp', { namespace: 'openstack', disableResourceNameHashes: true }), 'cp', {
        controllers: CONTROLLERS,
        vip: { address: '10.216.0.10', interface: 'lo' },
        galeraStorage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '10Gi' }),
        secrets: CONTROL_PLANE_SECRETS,
        services: SERVICES,
      });
      const container = find(synth(Chart.of(cp)), 'DaemonSet', 'memcached').spec.template.spec.containers[0];
      // As the kubelet runs the DaemonSet on each node; as root, memcached needs a user to drop to (the image's is memcache).
      for (const node of CONTROLLERS) daemons.start('ip', inNetns(['memcached', ...(container.args as string[]).map((a) => a.replace('$(HOST_IP)', node.ip)), '-u', 'nobody']));
      // Each listens once it has started (bounded poll, inside the namespace).
      for (const node of CONTROLLERS) {
        const deadline = Date.now() + 10_000;
        while (spawnSync('ip', inNetns(['bash', '-c', `exec 3<>/dev/tcp/${node.ip}/11211`])).status !== 0) {
          if (Date.now() > deadline) throw new Error(`memcached on ${node.ip} did not listen within 10 s`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }

      const chart = new Chart(newApp(), 'svc', { namespace: 'openstack', disableResourceNameHashes: true });
      const renderer = new ServiceConfigRenderer(chart, 'ha', { connection: cp.connection('nova') });
      configFile = path.join(work, 'nova.conf');
      const run = runInitContainer(renderer, synth(chart), { 'memcache-secret-key/key': SECRET_KEY, 'nova-db/password': 'x', 'nova-rabbitmq/password': 'y' }, configFile);
      if (run.status !== 0) throw new Error(run.stderr);
    }, 30_000);

    afterAll(async () => {
      await daemons.stopAll();
      spawnSync('ip', ['netns', 'del', NETNS]);
      fs.rmSync(work, { recursive: true, force: true });
    });

    test('both clients get every server, store and read through them, and tokens are encrypted with the rendered key', async () => {
      const r = spawnSync('ip', inNetns([PYTHON, OSLO_CLIENTS_SCRIPT, 'cache', configFile]), { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) throw new Error(r.stderr);
      const out = JSON.parse(r.stdout);
      const servers = CONTROLLERS.map((n) => `${n.ip}:11211`);
      const { items, ...rest } = out;
      expect(rest).toEqual({ cacheServers: servers, tokenServers: servers, regionOk: true, tokensOk: true, otherKeyReads: 0, strategy: 'ENCRYPT' });
      // 60 cache keys and 60 tokens, sharded by the clients over all three instances.
      expect(items.every((i: number) => i > 0)).toBe(true);
      expect(items.reduce((a: number, b: number) => a + b, 0)).toBe(120);
      // eslint-disable-next-line no-console
      console.log(`memcached items per instance after 60 oslo.cache keys and 60 keystonemiddleware tokens: ${items.join(', ')}`);
    });
  });
