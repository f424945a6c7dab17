/**
 * The agent's certificate watch (lib/galera/agent/tls-watch.ts) against a fake MySQL server that speaks the start of
 * the protocol (greeting, SSLRequest, TLS) with certificates made by openssl. The real mariadbd is in
 * test/integration/galera-tls.test.ts.
 */
import { execFileSync } from 'child_process';
import { X509Certificate } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Duplex } from 'stream';
import * as tls from 'tls';
import { configFromEnv } from '../lib/galera/agent/config';
import { servedCertificate, TlsWatch } from '../lib/galera/agent/tls-watch';

const CLIENT_SSL = 0x800;

/** A server that greets like MariaDB (protocol 10), then upgrades to TLS after an SSLRequest when it offers it. */
class FakeMysqlServer {
  public sslRequests: Buffer[] = [];
  private readonly server: net.Server;

  public constructor(private readonly options: { key: string; cert: string; offerTls: boolean }) {
    this.server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.write(this.greeting());
      socket.once('data', (chunk) => {
        this.sslRequests.push(chunk.subarray(0, 36));
        // The client's TLS hello may arrive in the same chunk as its SSLRequest (36 bytes): TLS runs over a stream
        // that starts with the rest of the chunk (a TLSSocket on the socket itself would read from its handle only).
        const stream = new Duplex({ read: () => undefined, write: (data, _encoding, callback) => socket.write(data, callback) });
        if (chunk.length > 36) stream.push(chunk.subarray(36));
        socket.on('data', (data) => stream.push(data));
        socket.on('close', () => stream.destroy());
        const secure = new tls.TLSSocket(stream, { isServer: true, key: this.options.key, cert: this.options.cert });
        secure.on('error', () => undefined);
      });
    });
  }

  public async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  public close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private greeting(): Buffer {
    const version = Buffer.from('10.11.99-MariaDB\0');
    const capabilities = Buffer.alloc(2);
    capabilities.writeUInt16LE(this.options.offerTls ? 0xffff : 0xffff & ~CLIENT_SSL);
    const payload = Buffer.concat([Buffer.from([10]), version, Buffer.alloc(4, 1), Buffer.alloc(8, 0x41), Buffer.alloc(1), capabilities, Buffer.alloc(16)]);
    const header = Buffer.alloc(4);
    header.writeUIntLE(payload.length, 0, 3);
    return Buffer.concat([header, payload]);
  }
}

describe('the certificate a MySQL server serves, and the mounted one', () => {
  let dir: string;
  const pair = (name: string) => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`,
      '-out', `${name}.crt`, '-days', name === 'old' ? '1' : '2', '-subj', `/CN=${name}`], { cwd: dir, stdio: 'ignore' });
    return { key: fs.readFileSync(path.join(dir, `${name}.key`), 'utf8'), cert: fs.readFileSync(path.join(dir, `${name}.crt`), 'utf8'), file: path.join(dir, `${name}.crt`) };
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'i19-agent-tls-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('reads the served certificate after the SSLRequest: the one the server holds', async () => {
    const served = pair('old');
    const server = new FakeMysqlServer({ ...served, offerTls: true });
    const port = await server.listen();
    try {
      const cert = await servedCertificate('127.0.0.1', port, 5000);
      const expected = new X509Certificate(served.cert);
      expect(cert.fingerprint256).toBe(expected.fingerprint256);
      expect(cert.validTo).toBe(expected.validTo);
      // The SSLRequest: 32 bytes after a header with sequence 1, CLIENT_SSL set.
      const request = server.sslRequests[0];
      expect(request.readUIntLE(0, 3)).toBe(32);
      expect(request[3]).toBe(1);
      expect(request.readUInt32LE(4) & CLIENT_SSL).toBe(CLIENT_SSL);
    } finally {
      await server.close();
    }
  });

  test('a server that does not offer TLS, or nothing listening: an error, never a certificate', async () => {
    const server = new FakeMysqlServer({ ...pair('plain'), offerTls: false });
    const port = await server.listen();
    try {
      await expect(servedCertificate('127.0.0.1', port, 5000)).rejects.toThrow(/does not offer TLS/);
    } finally {
      await server.close();
    }
    await expect(servedCertificate('127.0.0.1', port, 5000)).rejects.toThrow(/ECONNREFUSED/);
  });

  test('TlsWatch: served and mounted, the same certificate or not', async () => {
    const old = pair('old');
    const renewed = pair('new');
    const server = new FakeMysqlServer({ ...old, offerTls: true });
    const port = await server.listen();
    try {
      const watch = new TlsWatch({ certificateFile: renewed.file, host: '127.0.0.1', port, checkSeconds: 10, servedRecheckSeconds: 300, timeoutSeconds: 5 });
      await watch.check();
      const view = watch.view();
      expect(view.served?.fingerprint).toBe(new X509Certificate(old.cert).fingerprint256);
      expect(view.mounted?.fingerprint).toBe(new X509Certificate(renewed.cert).fingerprint256);
      // The renewal is valid a day longer than what is served.
      expect(view.mounted!.notAfterMs - view.served!.notAfterMs).toBeGreaterThan(23 * 3600_000);
      expect(view.mounted!.notAfterMs).toBe(Date.parse(new X509Certificate(renewed.cert).validTo));

      // While they differ, every check handshakes again (the renewal may be loaded any second).
      await watch.check();
      expect(server.sslRequests.length).toBe(2);

      const unreadable = new TlsWatch({ certificateFile: path.join(dir, 'missing.crt'), host: '127.0.0.1', port, checkSeconds: 10, servedRecheckSeconds: 300, timeoutSeconds: 5 });
      await unreadable.check();
      expect(unreadable.view().mounted).toBeUndefined();
      expect(unreadable.view().mountedError).toMatch(/ENOENT/);
      expect(unreadable.view().served).toBeDefined();
    } finally {
      await server.close();
    }
  });

  test('while served and mounted agree, the served one is read again only every servedRecheckSeconds (mariadbd logs each read)', async () => {
    const same = pair('same');
    const server = new FakeMysqlServer({ ...same, offerTls: true });
    const port = await server.listen();
    try {
      const watch = new TlsWatch({ certificateFile: same.file, host: '127.0.0.1', port, checkSeconds: 10, servedRecheckSeconds: 300, timeoutSeconds: 5 });
      const t0 = 1_000_000;
      await watch.check(t0);
      await watch.check(t0 + 10_000);
      await watch.check(t0 + 290_000);
      expect(server.sslRequests.length).toBe(1);
      expect(watch.view().served?.fingerprint).toBe(watch.view().mounted?.fingerprint);
      await watch.check(t0 + 300_000);
      expect(server.sslRequests.length).toBe(2);
    } finally {
      await server.close();
    }
  });

  test('configuration: GALERA_TLS_CERTIFICATE turns the watch on, with the loopback client port by default', () => {
    const base = { POD_NAME: 'galera-0', GALERA_CLUSTER_SIZE: '1', GALERA_PEER_URLS: 'http://galera-0.galera-peers.ns.svc:9200' };
    expect(configFromEnv(base).tls).toBeUndefined();
    expect(configFromEnv({ ...base, GALERA_TLS_CERTIFICATE: '/etc/galera-tls-certificate/tls.crt' }).tls)
      .toEqual({ certificateFile: '/etc/galera-tls-certificate/tls.crt', host: '127.0.0.1', port: 3306, checkSeconds: 10, servedRecheckSeconds: 300 });
    expect(() => configFromEnv({ ...base, GALERA_TLS_CERTIFICATE: '/x', GALERA_MYSQL_PORT: 'http' })).toThrow(/GALERA_MYSQL_PORT/);
  });
});
