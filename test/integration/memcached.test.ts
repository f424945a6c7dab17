/**
 * The real memcached (Debian package) runs with exactly the arguments of the synthesized DaemonSet, on a
 * loopback address standing in for the node IP: set/get work over TCP, UDP is off, cachedump is off, and it
 * listens on that one address only.
 */
import { spawnSync } from 'child_process';
import * as dgram from 'dgram';
import { MemcachedPool, Placement } from '../../lib';
import { find, newChart, synth } from '../support/harness';
import { Daemons, describeWithBinaries, tcpExchange, waitForTcp } from './support/daemons';

const NODE_IP = '127.0.4.1';
const PORT = 21211;

/** The container's args as the kubelet would run them on a node whose IP is NODE_IP. */
function argsFromManifest(): string[] {
  const chart = newChart();
  new MemcachedPool(chart, 'mc', { placement: Placement.onNodes([{ name: 'n1', ip: NODE_IP }]), port: PORT, resources: { memoryLimitMiB: 256, memoryRequestMiB: 256 } });
  const container = find(synth(chart), 'DaemonSet', 'mc').spec.template.spec.containers[0];
  // memcached under the warm-restart wrapper, with these args (the wrapper is run in memcached-warm-restart.test.ts).
  expect(container.command).toEqual(['sh', '-c', expect.stringContaining('memcached -e "$f" "$@"'), 'memcached']);
  return (container.args as string[]).map((a) => a.replace('$(HOST_IP)', NODE_IP));
}

const untilEnd = (r: string) => /(END|ERROR|STORED|NOT_STORED)\r\n$/.test(r);

describeWithBinaries('memcached with the synthesized flags', ['memcached', 'ss'], ['memcached', 'iproute2'], () => {
  const daemons = new Daemons();
  let args: string[];

  beforeAll(async () => {
    args = argsFromManifest();
    // The image runs as the unprivileged `memcache` user already; the test runs as root, which memcached refuses
    // without -u, so the only added flag is the user to drop to.
    daemons.start('memcached', [...args, '-u', 'nobody']);
    await waitForTcp(NODE_IP, PORT);
  }, 20_000);
  afterAll(() => daemons.stopAll());

  test('set and get work over TCP', async () => {
    expect(await tcpExchange(NODE_IP, PORT, 'set token 0 60 5\r\nhello\r\n', untilEnd)).toBe('STORED\r\n');
    expect(await tcpExchange(NODE_IP, PORT, 'get token\r\n', untilEnd)).toBe('VALUE token 0 5\r\nhello\r\nEND\r\n');
  });

  test('the item memory and connection limit are the ones derived from the container limits', async () => {
    const stats = await tcpExchange(NODE_IP, PORT, 'stats settings\r\n', untilEnd);
    const setting = (name: string) => new RegExp(`STAT ${name} (\\S+)`).exec(stats)?.[1];
    expect(setting('maxbytes')).toBe(String(Number(args[args.indexOf('-m') + 1]) * 1024 * 1024));
    expect(setting('maxconns')).toBe(args[args.indexOf('-c') + 1]);
    expect(setting('udpport')).toBe('0');
    expect(setting('dump_enabled')).toBe('no');
  });

  test('cachedump is refused', async () => {
    const reply = await tcpExchange(NODE_IP, PORT, 'stats cachedump 1 1\r\n', (r) => r.endsWith('\r\n'));
    expect(reply).toBe('CLIENT_ERROR stats cachedump not allowed\r\n');
  });

  test('no UDP socket is open, and TCP listens on the node address only', () => {
    const udp = spawnSync('ss', ['-Hulnp'], { encoding: 'utf8' }).stdout;
    expect(udp).not.toMatch(new RegExp(`:${PORT}\\b`));
    const tcp = spawnSync('ss', ['-Htlnp'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => new RegExp(`:${PORT}\\b`).test(l));
    expect(tcp).toHaveLength(1);
    expect(tcp[0]).toContain(`${NODE_IP}:${PORT}`);
  });

  test('a UDP get gets no answer', async () => {
    const socket = dgram.createSocket('udp4');
    const answered = await new Promise<boolean>((resolve) => {
      socket.on('message', () => resolve(true));
      // memcached's UDP frame header (request id, sequence, count, reserved) before the ASCII command.
      socket.send(Buffer.concat([Buffer.from([0, 1, 0, 0, 0, 1, 0, 0]), Buffer.from('get token\r\n')]), PORT, NODE_IP);
      setTimeout(() => resolve(false), 500);
    });
    socket.close();
    expect(answered).toBe(false);
  });
});
