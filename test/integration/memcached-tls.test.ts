/**
 * memcached TLS with the real daemon (Debian's memcached 1.6.18, built with OpenSSL) run with exactly the synthesized
 * arguments, and the real certificate reloader sidecar (assets/memcached/cert-reloader.js) with the synthesized env:
 * two instances on 127.0.18.31 (any client trusting the CA) and 127.0.18.32 (client certificates required), each with
 * a certificate made by openssl for its address, mounted the way the kubelet mounts a Secret (key 0440 root:group of
 * the daemon's user) and replaced the way the kubelet replaces it.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as tls from 'tls';
import { MemcachedPool, OpenStackControlPlane, Placement, TlsCertificates } from '../../lib';
import { CONTROL_PLANE_PROPS } from '../support/fixtures';
import { find, newChart, synth } from '../support/harness';
import { TestCa, certificateSerial, installFiles, presentedSerial } from './support/certs';
import { Daemons, describeUnlessMissing, which, waitForTcp } from './support/daemons';
import { waitFor } from './galera-harness';
import { OSLO_CLIENTS, OSLO_CLIENTS_SCRIPT, PYTHON, missingOsloClients } from './support/oslo';

const PORT = 11211;
const OPEN = '127.0.18.31';
const VERIFYING = '127.0.18.32';
/** The reloader's pass in the test (5 s in the pod): the figures below include up to one pass. */
const RELOADER_INTERVAL_MS = 500;
const MOUNT = '/etc/memcached-tls';
/** memcached drops to this user (as the image's memcache user); the kubelet gives the key to root:fsGroup, 0440. */
const NOBODY = { uid: 65534, gid: 65534 };

interface Synthesized { pool: MemcachedPool; args: string[]; reloaderEnv: Record<string, string>; reloaderCommand: string[] }

/** The memcached args and the reloader's env of a one-node pool on `ip`, with the mount directory replaced by `dir`. */
function synthesize(ip: string, verifyClients: boolean, dir: string): Synthesized {
  const chart = newChart();
  const certificates = TlsCertificates.fromSecrets({ secrets: [{ component: 'mc', secretName: 'mc-tls', covers: [ip] }] });
  const pool = new MemcachedPool(chart, 'mc', {
    placement: Placement.onNodes([{ name: 'n1', ip }]), port: PORT, resources: { memoryLimitMiB: 256, memoryRequestMiB: 256 },
    tls: { certificates, verifyClients },
  });
  const spec = find(synth(chart), 'DaemonSet', 'mc').spec.template.spec;
  const local = (s: string) => s.replace('$(HOST_IP)', ip).split(MOUNT).join(dir);
  const [memcached, reloader] = spec.containers;
  expect(reloader.name).toBe('cert-reloader');
  const reloaderEnv = Object.fromEntries((reloader.env as Array<{ name: string; value?: string }>)
    .filter((e) => e.value !== undefined).map((e) => [e.name, local(e.value!)]));
  return { pool, args: (memcached.args as string[]).map(local), reloaderEnv, reloaderCommand: reloader.command };
}

interface ClientOptions { ca: string; cert?: string; key?: string; minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion }

/** One TLS connection: sends `request`, resolves with the reply once `done(reply)`, and the protocol and serial seen. */
function tlsExchange(host: string, request: string, done: (reply: string) => boolean, o: ClientOptions, timeoutMs = 5000):
Promise<{ reply: string; protocol: string; serial: string }> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const socket = tls.connect({ host, port: PORT, ca: o.ca, cert: o.cert, key: o.key, minVersion: o.minVersion, maxVersion: o.maxVersion,
      checkServerIdentity: (_, cert) => tls.checkServerIdentity(host, cert) });
    const timer = setTimeout(() => socket.destroy(new Error(`no complete reply from ${host}: ${JSON.stringify(reply)}`)), timeoutMs);
    socket.on('secureConnect', () => socket.write(request));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (done(reply)) {
        clearTimeout(timer);
        const result = { reply, protocol: socket.getProtocol() ?? '', serial: socket.getPeerCertificate().serialNumber };
        socket.end();
        resolve(result);
      }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
    socket.on('close', () => { clearTimeout(timer); reject(new Error(`closed after ${JSON.stringify(reply)}`)); });
  });
}

const setGet = (key: string, value: string) => `set ${key} 0 60 ${value.length}\r\n${value}\r\nget ${key}\r\n`;
const untilGot = (r: string) => /END\r\n$/.test(r) || /ERROR/.test(r);

const missing = [...['memcached', 'openssl', 'setpriv'].filter((b) => !which(b)), ...missingOsloClients()];

describeUnlessMissing('memcached with TLS: the synthesized flags, the certificate reloader, oslo.cache', missing,
  `apt-get install memcached openssl util-linux ${OSLO_CLIENTS.join(' ')}`, () => {
    const daemons = new Daemons();
    let work: string;
    let ca: TestCa;
    let otherCa: TestCa;
    const dirs: Record<string, string> = {};
    let client: { cert: string; key: string };
    const reloaderLogs: Record<string, string> = { [OPEN]: '', [VERIFYING]: '' };
    let open: Synthesized;
    let verifying: Synthesized;

    beforeAll(async () => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'memcached-tls-'));
      fs.chmodSync(work, 0o755);
      ca = new TestCa(work, 'mc-ca');
      otherCa = new TestCa(work, 'other-ca');
      const leaf = ca.issue({ sans: ['DNS:nova-client'] });
      client = { cert: leaf.certificate, key: leaf.privateKey };
      for (const [ip, verify] of [[OPEN, false], [VERIFYING, true]] as const) {
        dirs[ip] = path.join(work, ip);
        ca.install(dirs[ip], { sans: [`IP:${ip}`] }, NOBODY);
        fs.chmodSync(dirs[ip], 0o755);
        const s = synthesize(ip, verify, dirs[ip]);
        if (ip === OPEN) open = s;
        else verifying = s;
        daemons.start('memcached', [...s.args, '-u', 'nobody']);
        await waitForTcp(ip, PORT);
        // The sidecar as the pod runs it: its own uid in the key's group, the synthesized env, a shorter pass.
        const [node, script] = s.reloaderCommand;
        expect(node).toBe('node');
        const reloader = daemons.start('setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', process.execPath,
          path.join(__dirname, '../../assets/memcached', path.basename(script))],
        { env: { ...s.reloaderEnv, RELOADER_INTERVAL_MS: String(RELOADER_INTERVAL_MS), RELOADER_HEARTBEAT: '' } });
        reloader.stdout?.on('data', (chunk) => { reloaderLogs[ip] += chunk.toString(); });
        reloader.stderr?.on('data', (chunk) => { reloaderLogs[ip] += chunk.toString(); });
      }
      // The first pass refreshes once and checks the served certificate.
      for (const ip of [OPEN, VERIFYING]) await waitFor(`the reloader's first pass on ${ip}`, 15_000, () => /serves certificate serial/.test(reloaderLogs[ip]) || undefined);
    }, 60_000);

    afterAll(async () => {
      await daemons.stopAll();
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    test('the flags are TLS-only, TLS 1.2 minimum, ECDHE AEAD ciphers; client verification only where configured', () => {
      const options = open.args[open.args.indexOf('-o') + 1];
      expect(open.args).toContain('-Z');
      expect(options).toMatch(/ssl_min_version=2/);
      expect(options).not.toMatch(/ssl_verify_mode/);
    });

    test('a client that verifies the server with the CA stores and reads, over TLS 1.2 or 1.3', async () => {
      for (const ip of [OPEN, VERIFYING]) {
        const r = await tlsExchange(ip, setGet('k', 'hello'), untilGot, { ca: fs.readFileSync(ca.caFile, 'utf8'), ...client });
        expect(r.reply).toBe('STORED\r\nVALUE k 0 5\r\nhello\r\nEND\r\n');
        expect(['TLSv1.2', 'TLSv1.3']).toContain(r.protocol);
      }
      const r12 = await tlsExchange(OPEN, 'version\r\n', (r) => r.endsWith('\r\n'), { ca: fs.readFileSync(ca.caFile, 'utf8'), maxVersion: 'TLSv1.2' });
      expect(r12.protocol).toBe('TLSv1.2');
      expect(r12.reply).toMatch(/^VERSION 1\.6/);
    });

    test('plaintext gets no answer: there is no plaintext listener', async () => {
      const reply = await new Promise<string>((resolve) => {
        let data = '';
        const socket = net.connect({ host: OPEN, port: PORT }, () => socket.write('version\r\nset k 0 60 1\r\nx\r\n'));
        const timer = setTimeout(() => { socket.destroy(); resolve(data); }, 2000);
        socket.on('data', (chunk) => { data += chunk.toString('latin1'); });
        socket.on('close', () => { clearTimeout(timer); resolve(data); });
        socket.on('error', () => undefined);
      });
      expect(reply).not.toMatch(/VERSION|STORED|ERROR/);
    });

    test('a client with another CA refuses the server', async () => {
      await expect(tlsExchange(OPEN, 'version\r\n', (r) => r.endsWith('\r\n'), { ca: fs.readFileSync(otherCa.caFile, 'utf8') }))
        .rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    });

    test('TLS 1.0 and 1.1 and CBC ciphers are refused by the server; TLS 1.2 (GCM) and 1.3 are accepted', () => {
      // The client offers them (SECLEVEL=0); the server's alert says who refused.
      const alert = (extra: string[]) => spawnSync('openssl', ['s_client', '-connect', `${OPEN}:${PORT}`, '-CAfile', ca.caFile, '-cipher', 'DEFAULT@SECLEVEL=0', ...extra],
        { input: '', encoding: 'utf8', timeout: 10_000 }).stderr;
      const serial = presentedSerial(OPEN, PORT, { ca: ca.caFile, extra: ['-tls1_3'] });
      expect(serial).toBeDefined();
      expect(presentedSerial(OPEN, PORT, { ca: ca.caFile, extra: ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256'] })).toBe(serial);
      expect(alert(['-tls1'])).toMatch(/alert protocol version/);
      expect(alert(['-tls1_1'])).toMatch(/alert protocol version/);
      for (const cbc of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA384']) {
        expect(alert(['-tls1_2', '-cipher', `${cbc}@SECLEVEL=0`])).toMatch(/alert handshake failure/);
      }
    });

    test('with verifyClients, a client without a certificate or with another CA\'s is refused; the CA\'s is served', async () => {
      const caPem = fs.readFileSync(ca.caFile, 'utf8');
      const other = otherCa.issue({ sans: ['DNS:nova-client'] });
      await expect(tlsExchange(VERIFYING, setGet('v', 'x'), untilGot, { ca: caPem })).rejects.toThrow();
      await expect(tlsExchange(VERIFYING, setGet('v', 'x'), untilGot, { ca: caPem, cert: other.certificate, key: other.privateKey })).rejects.toThrow();
      expect((await tlsExchange(VERIFYING, setGet('v', 'x'), untilGot, { ca: caPem, ...client })).reply).toBe('STORED\r\nVALUE v 0 1\r\nx\r\nEND\r\n');
      // The same client without a certificate is served by the instance that does not verify clients.
      expect((await tlsExchange(OPEN, setGet('v', 'x'), untilGot, { ca: caPem })).reply).toBe('STORED\r\nVALUE v 0 1\r\nx\r\nEND\r\n');
    });

    test('a renewal mounted under load is served without a restart and without a failed operation', async () => {
      const caPem = fs.readFileSync(ca.caFile, 'utf8');
      const pid = (ip: string) => spawnSync('pgrep', ['-f', `memcached -l ${ip}`], { encoding: 'utf8' }).stdout.trim();
      const pidsBefore = [pid(OPEN), pid(VERIFYING)];
      let stop = false;
      const stats = { newConnections: 0, keptAliveOps: 0, failures: [] as string[] };
      // Loops of new verified connections (set + get each) on both instances, with the client certificate.
      const connectionLoop = async (ip: string, n: number) => {
        for (let i = 0; !stop; i++) {
          try {
            const r = await tlsExchange(ip, setGet(`r${n}-${i}`, String(i)), untilGot, { ca: caPem, ...client });
            if (!r.reply.startsWith('STORED\r\nVALUE')) stats.failures.push(`${ip}: ${JSON.stringify(r.reply)}`);
            stats.newConnections++;
          } catch (err) {
            stats.failures.push(`${ip}: ${(err as Error).message}`);
          }
        }
      };
      // One connection kept open through the renewal (an oslo.cache pool connection).
      const keptAlive = (ip: string) => new Promise<void>((resolve) => {
        const socket = tls.connect({ host: ip, port: PORT, ca: caPem, ...client, checkServerIdentity: (_, c) => tls.checkServerIdentity(ip, c) });
        let buffer = '';
        let i = 0;
        const next = () => {
          if (stop) { socket.end(); resolve(); return; }
          buffer = '';
          socket.write(setGet(`ka-${i}`, String(i)));
        };
        socket.on('secureConnect', next);
        socket.on('data', (chunk) => {
          buffer += chunk.toString();
          if (untilGot(buffer)) {
            if (buffer !== `STORED\r\nVALUE ka-${i} 0 ${String(i).length}\r\n${i}\r\nEND\r\n`) stats.failures.push(`kept-alive ${ip}: ${JSON.stringify(buffer)}`);
            else stats.keptAliveOps++;
            i++;
            next();
          }
        });
        socket.on('error', (err) => { stats.failures.push(`kept-alive ${ip}: ${err.message}`); resolve(); });
        socket.on('close', () => { if (!stop) stats.failures.push(`kept-alive ${ip}: closed`); resolve(); });
      });
      const loops = [connectionLoop(OPEN, 1), connectionLoop(VERIFYING, 2), connectionLoop(VERIFYING, 3), keptAlive(OPEN), keptAlive(VERIFYING)];
      try {
        await new Promise((r) => setTimeout(r, 1000));
        const swappedAt = Date.now();
        const serials: Record<string, string> = { [OPEN]: ca.install(dirs[OPEN], { sans: [`IP:${OPEN}`] }, NOBODY), [VERIFYING]: ca.install(dirs[VERIFYING], { sans: [`IP:${VERIFYING}`] }, NOBODY) };
        const servedAfter: Record<string, number> = {};
        for (const ip of [OPEN, VERIFYING]) {
          await waitFor(`${ip} to present the renewed certificate`, 30_000, () => {
            if (presentedSerial(ip, PORT, { ca: ca.caFile, extra: ['-cert', `${dirs[ip]}/tls.crt`, '-key', `${dirs[ip]}/tls.key`] }) !== serials[ip]) return undefined;
            servedAfter[ip] = Date.now() - swappedAt;
            return true;
          });
        }
        await new Promise((r) => setTimeout(r, 1000));
        stop = true;
        await Promise.all(loops);
        expect(stats.failures).toEqual([]);
        expect(stats.newConnections).toBeGreaterThan(0);
        expect(stats.keptAliveOps).toBeGreaterThan(0);
        // No restart: the same processes serve the new certificate.
        expect([pid(OPEN), pid(VERIFYING)]).toEqual(pidsBefore);
        // eslint-disable-next-line no-console
        console.log(`memcached certificate renewal under load: ${stats.newConnections} new TLS connections (set+get) and ` +
          `${stats.keptAliveOps} set+get on 2 kept-alive connections, ${stats.failures.length} failed; renewed certificate served ` +
          `${servedAfter[OPEN]} / ${servedAfter[VERIFYING]} ms after the swap (reloader pass ${RELOADER_INTERVAL_MS} ms here, 5000 in the pod)`);
      } finally {
        stop = true;
        await Promise.all(loops);
      }
    }, 60_000);

    test('a key that does not match its certificate is not sent to memcached, the old pair stays served, the next good pair is applied', async () => {
      const before = presentedSerial(OPEN, PORT, { ca: ca.caFile });
      const a = ca.issue({ sans: [`IP:${OPEN}`] });
      const b = ca.issue({ sans: [`IP:${OPEN}`] });
      const mark = reloaderLogs[OPEN].length;
      installFiles(dirs[OPEN], { 'tls.crt': a.certificate, 'tls.key': b.privateKey, 'ca.crt': a.ca }, NOBODY);
      // memcached 1.6.18 would refuse it and then fail every new handshake until restarted: the reloader checks first.
      await waitFor('the reloader to refuse the pair', 15_000, () => /not applied[^\n]*key does not match/.test(reloaderLogs[OPEN].slice(mark)) || undefined);
      expect(presentedSerial(OPEN, PORT, { ca: ca.caFile })).toBe(before);
      const serial = ca.install(dirs[OPEN], { sans: [`IP:${OPEN}`] }, NOBODY);
      await waitFor('the good pair to be served', 15_000, () => (presentedSerial(OPEN, PORT, { ca: ca.caFile }) === serial) || undefined);
      expect(certificateSerial(fs.readFileSync(`${dirs[OPEN]}/tls.crt`, 'utf8'))).toBe(serial);
      // eslint-disable-next-line no-console
      console.log(`reloader on a mismatched pair: ${/not applied[^\n]*/.exec(reloaderLogs[OPEN].slice(mark))?.[0]}`);
    }, 40_000);
  
    test('oslo.cache (Debian\'s, with pymemcache) reaches both instances with exactly the [cache] options the pools render', () => {
      fs.writeFileSync(path.join(work, 'client.crt'), client.cert);
      fs.writeFileSync(path.join(work, 'client.key'), client.key, { mode: 0o600 });
      const files = { caFile: ca.caFile, certificateFile: path.join(work, 'client.crt'), keyFile: path.join(work, 'client.key') };
      const run = (name: string, options: Record<string, string>) => {
        const file = path.join(work, `${name}.conf`);
        fs.writeFileSync(file, `[cache]\n${Object.entries(options).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
        const r = spawnSync(PYTHON, [OSLO_CLIENTS_SCRIPT, 'tlscache', file], { encoding: 'utf8', timeout: 60_000 });
        if (r.status !== 0) throw new Error(r.stderr);
        return JSON.parse(r.stdout);
      };
      // The pool that does not verify clients: the CA only.
      const openOptions = open.pool.osloCacheOptions({ caFile: files.caFile });
      expect(openOptions).toEqual({ enabled: 'true', backend: 'dogpile.cache.pymemcache', memcache_servers: `${OPEN}:${PORT}`, tls_enabled: 'true', tls_cafile: ca.caFile });
      expect(run('open', openOptions)).toEqual({ backend: 'dogpile.cache.backends.memcached.PyMemcacheBackend', tlsContext: true, clientCertificate: false, readBack: 30 });
      // The verifying pool: with the client certificate it works; the same options without it are refused.
      const verifyingOptions = verifying.pool.osloCacheOptions(files);
      expect(verifyingOptions).toMatchObject({ tls_certfile: files.certificateFile, tls_keyfile: files.keyFile });
      expect(run('verifying', verifyingOptions)).toMatchObject({ tlsContext: true, clientCertificate: true, readBack: 30 });
      const { tls_certfile: _c, tls_keyfile: _k, ...withoutCertificate } = verifyingOptions;
      expect(run('no-certificate', withoutCertificate).error).toBeDefined();
      // And the non-TLS rendering (memcache_pool, python-memcached) cannot talk to a TLS port at all.
      expect(run('plain', { enabled: 'true', backend: 'oslo_cache.memcache_pool', memcache_servers: `${OPEN}:${PORT}` }).readBack).not.toBe(30);
    }, 120_000);
  
    test('the control plane\'s TLS options are ones the libraries register (memcache_tls_* only from keystonemiddleware 10.10)', () => {
      const cp = new OpenStackControlPlane(newChart('openstack'), 'cp', {
        ...CONTROL_PLANE_PROPS, apiTls: { certificates: TlsCertificates.certManager({ issuer: { name: 'ca' } }) },
        memcachedTls: { certificates: TlsCertificates.certManager({ issuer: { name: 'ca' } }), verifyClients: true },
      });
      // The two sections TLS changes (the others hold URL placeholders that only the init container fills in).
      const sections = cp.connection('nova').osloConfig.split(/\n(?=\[)/).filter((x) => /^\[(cache|keystone_authtoken)\]/.test(x));
      const file = path.join(work, 'control-plane.conf');
      fs.writeFileSync(file, sections.join('\n'));
      const r = spawnSync(PYTHON, [OSLO_CLIENTS_SCRIPT, 'config', file], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) throw new Error(r.stderr);
      const out = JSON.parse(r.stdout);
      const unknown: string[] = out.files[file].unknown;
      const keystonemiddleware: string = out.versions.keystonemiddleware;
      const [major, minor] = keystonemiddleware.split('.').map(Number);
      const tlsOptions = ['memcache_tls_cafile', 'memcache_tls_certfile', 'memcache_tls_enabled', 'memcache_tls_keyfile'].map((o) => `keystone_authtoken.${o}`);
      expect(unknown).toEqual(major > 10 || (major === 10 && minor >= 10) ? [] : tlsOptions);
      expect(sections.join('\n')).toMatch(/\ncafile = \/etc\/openstack-ha-tls\/ca\.crt\n/);
      // eslint-disable-next-line no-console
      console.log(`rendered TLS options not registered by keystonemiddleware ${keystonemiddleware} / oslo.cache ${out.versions['oslo.cache']}: ${unknown.join(', ') || 'none'}`);
    }, 60_000);

    test('figures: get on a kept-alive connection and new connections, plaintext vs TLS (printed, not asserted)', async () => {
      // The same flags without the last three (-Z -o ...): a plaintext instance beside the TLS one.
      const PLAIN = '127.0.18.33';
      expect(open.args.slice(-3, -1)).toEqual(['-Z', '-o']);
      daemons.start('memcached', [...open.args.slice(0, -3).map((a) => (a === OPEN ? PLAIN : a)), '-u', 'nobody']);
      await waitForTcp(PLAIN, PORT);
      const caPem = fs.readFileSync(ca.caFile, 'utf8');
      const connect = (ip: string, secure: boolean) => new Promise<net.Socket>((resolve, reject) => {
        const socket: net.Socket = secure
          ? tls.connect({ host: ip, port: PORT, ca: caPem, checkServerIdentity: (_, c) => tls.checkServerIdentity(ip, c) }, () => resolve(socket))
          : net.connect({ host: ip, port: PORT }, () => resolve(socket));
        socket.once('error', reject);
      });
      const request = (socket: net.Socket, command: string) => new Promise<void>((resolve) => {
        let reply = '';
        const onData = (chunk: Buffer) => {
          reply += chunk.toString();
          if (reply.endsWith('END\r\n') || reply.endsWith('STORED\r\n')) { socket.off('data', onData); resolve(); }
        };
        socket.on('data', onData);
        socket.write(command);
      });
      const seconds = 1.5;
      const measure = async (ip: string, secure: boolean) => {
        const kept = await connect(ip, secure);
        await request(kept, setGet('bench', 'x'.repeat(1024)).split('get')[0]);
        let gets = 0;
        for (const end = Date.now() + seconds * 1000; Date.now() < end; gets++) await request(kept, 'get bench\r\n');
        kept.end();
        const latencies: number[] = [];
        for (const end = Date.now() + seconds * 1000; Date.now() < end;) {
          const t = process.hrtime.bigint();
          const socket = await connect(ip, secure);
          await request(socket, 'get bench\r\n');
          socket.end();
          latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
        }
        latencies.sort((a, b) => a - b);
        return `${Math.round(gets / seconds)} gets/s of 1 KiB kept-alive, ${Math.round(latencies.length / seconds)} new connections/s ` +
          `(connect + get + close median ${latencies[Math.floor(latencies.length / 2)].toFixed(2)} ms, p99 ${latencies[Math.floor(latencies.length * 0.99)].toFixed(2)} ms)`;
      };
      const plain = await measure(PLAIN, false);
      const secure = await measure(OPEN, true);
      // eslint-disable-next-line no-console
      console.log(`memcached 1.6.18, one sequential node client on loopback, ${seconds} s each: plaintext ${plain}; TLS (verified, ECDSA P-256) ${secure}`);
    }, 30_000);
  });
