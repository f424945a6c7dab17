/**
 * The real HAProxy (Debian haproxy 2.6) with the rendered haproxy.cfg:
 * - `haproxy -c -dW` (warnings are errors) accepts every rendered variant and rejects a broken one; DNS server
 *   names resolve through a private /etc/hosts bind-mounted in a private mount namespace;
 * - on loopback (127.0.3.x), HTTP checks move API traffic off a failing server and back;
 * - the Galera listener sends sessions to the one member whose /writer answers 200 (fake agents here; the real
 *   agents and Galera members in haproxy-galera-writer.test.ts): a new name moves new sessions and cuts the open
 *   ones, and a freshly started HAProxy sends even its first sessions to the named member.
 * Each HAProxy runs in its own mount namespace with a private /run/haproxy, so the rendered socket paths work.
 */
import { ChildProcess, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { OPENSTACK_ENDPOINTS, openStackService } from '../../lib/haproxy/catalogue';
import { HaproxyModel } from '../../lib/haproxy/model';
import { haproxyCommand, renderHaproxyCfg } from '../../lib/haproxy/render';
import { FULL_MODEL_HOSTS, fullHaproxyModel } from '../support/fixtures';
import { TestCa } from './support/certs';
import { Daemons, describeWithBinaries, waitForTcp } from './support/daemons';

jest.setTimeout(120_000);

const LB_A = '127.0.3.1';
const API_SERVERS = ['127.0.3.11', '127.0.3.12'];
const GALERA = ['127.0.3.21', '127.0.3.22', '127.0.3.23'];
const API_PORT = 18080;
const KEYSTONE_PORT = 15000;
const GALERA_PORT = 13306;
const SYNCED_PORT = 19200;
const STATS_PORT = 18404;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeWithBinaries('HAProxy with the rendered haproxy.cfg', ['haproxy', 'unshare', 'mount'], ['haproxy', 'util-linux', 'mount'], () => {
  let work: string;
  const daemons = new Daemons();
  const servers: Array<http.Server | net.Server> = [];
  const sockets = new Set<net.Socket>();

  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vip-haproxy-'));
  });
  afterAll(async () => {
    await daemons.stopAll();
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    fs.rmSync(work, { recursive: true, force: true });
  });

  /** Shell words run in a private mount namespace with `hosts` as /etc/hosts and `runDir` as /run/haproxy. */
  function privateMounts(hosts: string, runDir: string, command: string): string[] {
    return ['-m', 'sh', '-c', `mount --bind ${hosts} /etc/hosts && mount --bind ${runDir} /run/haproxy && exec ${command}`];
  }

  function writeFiles(name: string, cfg: string, hostsLines: string[]): { cfgPath: string; hosts: string; runDir: string } {
    const dir = path.join(work, name);
    const runDir = path.join(dir, 'run');
    fs.mkdirSync(runDir, { recursive: true });
    const cfgPath = path.join(dir, 'haproxy.cfg');
    const hosts = path.join(dir, 'hosts');
    fs.writeFileSync(cfgPath, cfg);
    fs.writeFileSync(hosts, ['127.0.0.1 localhost', ...hostsLines, ''].join('\n'));
    return { cfgPath, hosts, runDir };
  }

  /** `haproxy -c -dW` as the container would read the file. */
  function check(name: string, cfg: string): { status: number | null; output: string } {
    const f = writeFiles(name, cfg, FULL_MODEL_HOSTS);
    const r = spawnSync('unshare', privateMounts(f.hosts, f.runDir, `haproxy -c -dW -f ${f.cfgPath}`),
      { encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  describe('haproxy -c -dW', () => {
    const variants: Record<string, HaproxyModel> = {
      'every feature (DNS and literal servers, discovery, the Galera writer listener)': fullHaproxyModel(),
      'resolv.conf instead of nameservers': fullHaproxyModel({ nameservers: [] }),
      'literal servers only, no Galera': fullHaproxyModel({
        services: [openStackService('nova', { servers: [{ name: 'nova-0', address: '10.1.0.5', port: 8774 }] })],
        galera: undefined,
      }),
      'IPv6 bind and servers': fullHaproxyModel({
        bindAddress: '::',
        services: [openStackService('neutron', { servers: [{ name: 'neutron-0', address: 'fd00::5', port: 9696 }] })],
        galera: { ...fullHaproxyModel().galera!, servers: [{ name: 'galera-0', address: 'fd00::10', port: 3306 }] },
      }),
      'the whole OpenStack catalogue': fullHaproxyModel({
        services: Object.keys(OPENSTACK_ENDPOINTS).map((name, i) =>
          openStackService(name, { servers: [{ name: `${name}-0`, address: `10.1.3.${i + 1}`, port: 8000 + i }] })),
      }),
    };
    for (const [title, model] of Object.entries(variants)) {
      test(`accepts: ${title}`, () => {
        const r = check(title.replace(/\W+/g, '-'), renderHaproxyCfg(model));
        expect(r.output).toContain('Configuration file is valid');
        expect(r.status).toBe(0);
      });
    }

    test('accepts: TLS termination with HSTS, a redirect port and re-encryption to DNS, literal and discovered servers', () => {
      // A Secret-volume-like directory: HAProxy loads tls.key from beside tls.crt (ssl-load-extra-del-ext).
      const dir = path.join(work, 'tls');
      new TestCa(work, 'lb').install(dir, { sans: ['IP:10.0.0.10'] });
      const base = fullHaproxyModel();
      const model = fullHaproxyModel({
        services: [...base.services, openStackService('horizon', { servers: [{ name: 'horizon-0', address: '10.1.0.7', port: 80 }], tls: true, redirectPort: 80 })],
        tls: { certificate: path.join(dir, 'tls.crt'), ca: path.join(dir, 'ca.crt'), hstsMaxAgeSeconds: 63_072_000, reencrypt: true },
      });
      const cfg = renderHaproxyCfg(model);
      expect(cfg).toMatch(/verifyhost keystone-0\.keystone\.openstack\.svc\.cluster\.local/);
      const r = check('tls', cfg);
      expect(r.output).toContain('Configuration file is valid');
      expect(r.status).toBe(0);
      // Without the key beside the certificate the same config is refused: the key really is read from there.
      fs.rmSync(path.join(dir, 'tls.key'));
      expect(check('tls-no-key', cfg).status).not.toBe(0);
    });

    test('rejects a broken config (unknown balance algorithm in the Galera listener)', () => {
      const broken = renderHaproxyCfg(fullHaproxyModel()).replace('balance first', 'balance first-ish');
      const r = check('broken', broken);
      expect(r.status).not.toBe(0);
      expect(r.output).toMatch(/ALERT/);
    });
  });

  // ----- running HAProxy on loopback -----

  /**
   * Starts HAProxy with the container's command (`haproxyCommand`) in
   * its own mount namespace where the rendered file sits at the image's config path; resolves when its stats
   * port accepts connections.
   */
  async function startHaproxy(name: string, cfg: string, bind: string): Promise<{ child: ChildProcess; admin: string; master: string }> {
    const f = writeFiles(name, cfg, []);
    const etc = path.join(work, name, 'etc');
    fs.mkdirSync(path.join(etc, 'haproxy'), { recursive: true });
    fs.copyFileSync(f.cfgPath, path.join(etc, 'haproxy', 'haproxy.cfg'));
    const command = haproxyCommand().join(' ');
    const child = daemons.start('unshare', privateMounts(f.hosts, f.runDir, `sh -c 'mount --bind ${etc} /usr/local/etc && exec ${command}'`));
    await waitForTcp(bind, STATS_PORT);
    return { child, admin: path.join(f.runDir, 'admin.sock'), master: path.join(f.runDir, 'master.sock') };
  }

  async function stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  /** One command on the admin socket. */
  function admin(socketPath: string, command: string): Promise<string> {
    return new Promise((resolve, reject) => {
      let out = '';
      // Half-close after the command: the master CLI answers only once the client has finished sending.
      const s = net.connect({ path: socketPath }, () => s.end(`${command}\n`));
      s.on('data', (d) => { out += d.toString(); });
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
  }

  /** The operational status (UP, DOWN, ...) of a server, from `show stat`. */
  async function serverStatus(socketPath: string, proxy: string, server: string): Promise<string> {
    const csv = (await admin(socketPath, 'show stat')).split('\n');
    const header = csv[0].replace(/^# /, '').split(',');
    const row = csv.map((l) => l.split(',')).find((c) => c[0] === proxy && c[1] === server);
    return row ? row[header.indexOf('status')] : 'absent';
  }

  async function waitForStatus(socketPath: string, proxy: string, server: string, status: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if ((await serverStatus(socketPath, proxy, server)) === status) return;
      await sleep(50);
    }
    throw new Error(`${proxy}/${server} never became ${status}`);
  }

  function listen<T extends http.Server | net.Server>(server: T, host: string, port: number): Promise<T> {
    servers.push(server);
    server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
  }

  /** A fake API server: answers every request with its name; the check path answers 503 while `healthy` is false. */
  async function apiServer(host: string, state: { healthy: boolean }, checkPath: string): Promise<void> {
    await listen(http.createServer((req, res) => {
      const code = req.url === checkPath && !state.healthy ? 503 : 200;
      res.writeHead(code, { 'content-type': 'text/plain', 'connection': 'close' }).end(host);
    }), host, API_PORT);
  }

  function get(host: string, port: number, urlPath = '/v3/projects'): Promise<string> {
    return new Promise((resolve, reject) => {
      http.get({ host, port, path: urlPath, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve(`${res.statusCode} ${body}`));
      }).on('error', reject);
    });
  }

  describe('API services', () => {
  const health = API_SERVERS.map(() => ({ healthy: true }));
  const keystone = openStackService('keystone', {
    port: KEYSTONE_PORT,
    servers: API_SERVERS.map((address, i) => ({ name: `keystone-${i}`, address, port: API_PORT })),
  });
  const cfg = renderHaproxyCfg(fullHaproxyModel({ bindAddress: LB_A, statsPort: STATS_PORT, services: [keystone], galera: undefined }));
  beforeAll(() => Promise.all(API_SERVERS.map((host, i) => apiServer(host, health[i], keystone.httpCheck!.path))));

  test('HTTP checks move API traffic off a failing server, and back when it recovers', async () => {
    const lb = await startHaproxy('api', cfg, LB_A);
    try {
      await waitForStatus(lb.admin, 'keystone', 'keystone-0', 'UP');
      await waitForStatus(lb.admin, 'keystone', 'keystone-1', 'UP');

      const before = await Promise.all(Array.from({ length: 10 }, () => get(LB_A, KEYSTONE_PORT)));
      expect(new Set(before)).toEqual(new Set(API_SERVERS.map((h) => `200 ${h}`)));

      // keystone-0 stays reachable for traffic; only its check fails: the move is the health check's doing.
      health[0].healthy = false;
      const failedAt = Date.now();
      let lastFromFailed = failedAt;
      while (Date.now() - failedAt < 15_000) {
        if ((await get(LB_A, KEYSTONE_PORT)) === `200 ${API_SERVERS[0]}`) lastFromFailed = Date.now();
        if ((await serverStatus(lb.admin, 'keystone', 'keystone-0')) === 'DOWN') break;
        await sleep(20);
      }
      expect(await serverStatus(lb.admin, 'keystone', 'keystone-0')).toBe('DOWN');
      const after = await Promise.all(Array.from({ length: 10 }, () => get(LB_A, KEYSTONE_PORT)));
      expect(new Set(after)).toEqual(new Set([`200 ${API_SERVERS[1]}`]));
      console.log(`API: last request served by the failing server ${lastFromFailed - failedAt} ms after its check failed`);
      // What the PodMonitor scrapes (HAProxy's built-in exporter on the stats port): the series HaproxyBackendDown reads,
      // with the failed server out, and the number of series one HAProxy serves (a figure, printed).
      const metrics = await get(LB_A, STATS_PORT, '/metrics');
      expect(metrics).toMatch(/^200 /);
      expect(metrics).toMatch(/^haproxy_backend_active_servers\{proxy="keystone"\} 1$/m);
      expect(metrics).toMatch(/^haproxy_backend_backup_servers\{proxy="keystone"\} 0$/m);
      const series = metrics.split('\n').filter((line) => /^haproxy_\w+/.test(line));
      console.log(`HAProxy /metrics: ${series.length} series (one API service with 2 servers, the stats frontend; ` +
        `per proxy: ${JSON.stringify(Object.fromEntries(['frontend', 'backend', 'server'].map((kind) => [kind, series.filter((l) => l.startsWith(`haproxy_${kind}_`)).length])))})`);

      health[0].healthy = true;
      await waitForStatus(lb.admin, 'keystone', 'keystone-0', 'UP');
      const back = await Promise.all(Array.from({ length: 10 }, () => get(LB_A, KEYSTONE_PORT)));
      expect(new Set(back)).toEqual(new Set(API_SERVERS.map((h) => `200 ${h}`)));
    } finally {
      await stop(lb.child);
    }
  });

  test('a reload (master CLI) under load refuses no request: new workers take the listeners over', async () => {
    const lb = await startHaproxy('reload', cfg, LB_A);
    try {
      await waitForStatus(lb.admin, 'keystone', 'keystone-0', 'UP');

      let running = true;
      const results: string[] = [];
      const clients = Array.from({ length: 4 }, async () => {
        while (running) results.push(await get(LB_A, KEYSTONE_PORT).catch((e: Error) => `error ${e.message}`));
      });
      await sleep(500);
      const reload = await admin(lb.master, 'reload');
      // The load runs until the new master lists its reload, and a little after: the whole takeover is under load.
      const proc = await waitForReloaded(lb.master);
      await sleep(500);
      running = false;
      await Promise.all(clients);

      const failures = results.filter((r) => !r.startsWith('200 '));
      console.log(`reload under load: ${results.length} requests, ${failures.length} failed`);
      expect(failures).toEqual([]);
      expect(reload).not.toMatch(/fail/i);
      // The master reloaded once, without failure.
      expect(proc).toMatch(/master\s+1 \[failed: 0\]/);
    } finally {
      await stop(lb.child);
    }
  });

  /**
   * `show proc` once the master has reloaded. The master re-executes itself on `reload`, so its CLI socket refuses
   * connections (or still shows 0 reloads) for a moment: a few hundred ms here, seconds on a loaded machine (one CI
   * run failed when this was read once, 1.5 s after the reload). Polls with a bound instead.
   */
  async function waitForReloaded(masterSocket: string): Promise<string> {
    const deadline = Date.now() + 30_000;
    let last = '';
    while (Date.now() < deadline) {
      last = await admin(masterSocket, 'show proc').catch((e: Error) => `(${e.message})`);
      if (/master\s+[1-9]\d* \[failed: \d+\]/.test(last)) return last;
      await sleep(100);
    }
    throw new Error(`the master never listed a reload within 30 s; last answer: ${last}`);
  }
  });

  describe('Galera single writer (the member whose agent answers /writer)', () => {
    /** Which member's /writer answers 200 (the replicated writer row, played by the test). */
    const state = { writer: 0 };

    beforeAll(async () => {
      // Each member: a TCP "database" that greets with its address and keeps the session open, and /writer.
      await Promise.all(GALERA.map(async (host, i) => {
        await listen(net.createServer((s) => s.write(`${host}\n`)), host, GALERA_PORT);
        await listen(http.createServer((req, res) => {
          res.writeHead(req.url === '/writer' && state.writer === i ? 200 : 503, { connection: 'close' }).end();
        }), host, SYNCED_PORT);
      }));
    });

    function galeraModel(bind: string): HaproxyModel {
      return fullHaproxyModel({
        bindAddress: bind,
        statsPort: STATS_PORT,
        services: [],
        galera: {
          port: GALERA_PORT, checkPort: SYNCED_PORT, checkPath: '/writer', timeoutSeconds: 5400,
          servers: GALERA.map((address, i) => ({ name: `galera-${i}`, address, port: GALERA_PORT })),
        },
      });
    }

    /**
     * Opens a session through `lb` and returns the member that greeted (`closed` when HAProxy closed it first:
     * no member up, or a session opened just as its member is marked down), and the open socket.
     */
    function session(lb: string): Promise<{ member: string; socket: net.Socket }> {
      return new Promise((resolve, reject) => {
        const socket = net.connect({ host: lb, port: GALERA_PORT });
        sockets.add(socket);
        socket.once('data', (d) => resolve({ member: d.toString().trim(), socket }));
        socket.once('close', () => resolve({ member: 'closed', socket }));
        socket.once('error', reject);
        socket.setTimeout(5000, () => { socket.destroy(); reject(new Error(`no greeting through ${lb}`)); });
      });
    }

    async function writer(lb: string): Promise<string> {
      const { member, socket } = await session(lb);
      socket.destroy();
      return member;
    }

    test('sessions go to the named member only; a new name moves them, cuts the old sessions, and never flaps back', async () => {
      state.writer = 0;
      const lb = await startHaproxy('galera-move', renderHaproxyCfg(galeraModel(LB_A)), LB_A);
      try {
        await waitForStatus(lb.admin, 'galera', 'galera-0', 'UP');
        await waitForStatus(lb.admin, 'galera', 'galera-1', 'DOWN');
        await waitForStatus(lb.admin, 'galera', 'galera-2', 'DOWN');
        expect(await writer(LB_A)).toBe(GALERA[0]);
        const open = await session(LB_A);
        const cut = new Promise<number>((resolve) => {
          const timer = setTimeout(() => resolve(Number.NaN), 10_000);
          open.socket.once('close', () => { clearTimeout(timer); resolve(Date.now()); });
        });

        // The members name galera-2 (not the next in order: the row decides, not HAProxy).
        state.writer = 2;
        const movedAt = Date.now();
        let switchedAt = 0;
        while (Date.now() - movedAt < 10_000) {
          if ((await writer(LB_A)) === GALERA[2]) { switchedAt = Date.now(); break; }
          await sleep(20);
        }
        expect(switchedAt).toBeGreaterThan(0);
        expect((await cut) - movedAt).not.toBeNaN();
        // galera-0 is Synced again but not named: its /writer stays 503 and nothing flaps back.
        await sleep(1500);
        const steady = await Promise.all(Array.from({ length: 10 }, () => writer(LB_A)));
        expect(new Set(steady)).toEqual(new Set([GALERA[2]]));
        console.log(`Galera writer (fake agents): new sessions on the newly named member ${switchedAt - movedAt} ms after its /writer answered 200`);
      } finally {
        await stop(lb.child);
      }
    });

    test('a restarted HAProxy sends its very first sessions to the named member, not to the first one listed', async () => {
      // Without the hold (tcp-request inspect-delay while more than one member is up), every server counts as UP
      // until its first check, and the first sessions of a fresh instance went to galera-0.
      state.writer = 1;
      const firsts: string[] = [];
      for (let i = 0; i < 3; i++) {
        const lb = await startHaproxy(`galera-fresh-${i}`, renderHaproxyCfg(galeraModel(LB_A)), LB_A);
        try {
          firsts.push(...await Promise.all(Array.from({ length: 5 }, () => writer(LB_A))));
        } finally {
          await stop(lb.child);
        }
      }
      expect(new Set(firsts)).toEqual(new Set([GALERA[1]]));
    });
  });
});
