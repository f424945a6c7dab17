/**
 * Which certificate this member SERVES, next to the one that is MOUNTED, for the certificate alerts.
 *
 * What cert-manager renewed says nothing about what clients get: a renewal that never reached mariadbd (the kubelet
 * did not swap the files, the entrypoint's FLUSH SSL failed) is exactly the outage to catch before the old
 * certificate expires. So the agent reads both ends:
 *  - mounted: the first certificate of the mounted `tls.crt` (node's X509Certificate);
 *  - served: the certificate mariadbd presents to a client, read the way a client does: the MySQL protocol's
 *    SSLRequest after the server greeting, then a TLS handshake on the same connection. No account and no
 *    password: the connection is closed after the handshake, before any authentication (mariadbd counts it in
 *    Aborted_connects).
 * A check runs every `checkSeconds`, never per scrape, so the number of handshakes does not grow with scrapers. It
 * always reads the mounted file (cheap), but handshakes only when it must: no served certificate known yet, the
 * mounted one differs from the served one (a renewal on its way: every check until it is served), or the last
 * handshake is older than `servedRecheckSeconds`. mariadbd logs every handshake as a warning ("Aborted connection ...
 * closed normally without authentication"): 12 lines an hour at the default 300 s, not 360.
 */
import { X509Certificate } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as tls from 'tls';

/** One certificate, as far as the alerts need it. */
export interface CertificateFacts {
  /** notAfter, ms since the epoch. */
  readonly notAfterMs: number;
  /** SHA-256 fingerprint (`AB:CD:...`): served and mounted are the same certificate when these are equal. */
  readonly fingerprint: string;
}

/** The last check's result. */
export interface TlsView {
  readonly mounted?: CertificateFacts;
  readonly served?: CertificateFacts;
  /** Why the served certificate could not be read (mariadbd not running, no TLS on its port...). */
  readonly servedError?: string;
  readonly mountedError?: string;
}

export interface TlsWatchOptions {
  /** The mounted certificate file (`tls.crt`). */
  readonly certificateFile: string;
  /** mariadbd's client port, as this pod reaches it. */
  readonly host: string;
  readonly port: number;
  readonly checkSeconds: number;
  /** A served certificate that agrees with the mounted one is read again after this long. */
  readonly servedRecheckSeconds: number;
  /** Bound of one handshake. */
  readonly timeoutSeconds: number;
}

// MySQL capability flags (client/server protocol): the SSLRequest sets these.
const CLIENT_LONG_PASSWORD = 0x1;
const CLIENT_PROTOCOL_41 = 0x200;
const CLIENT_SSL = 0x800;
const CLIENT_SECURE_CONNECTION = 0x8000;
const UTF8MB4_GENERAL_CI = 45;

export class TlsWatch {
  private last: TlsView = {};
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private checking?: Promise<void>;
  private servedAtMs?: number;

  public constructor(private readonly options: TlsWatchOptions) {}

  public view(): TlsView {
    return this.last;
  }

  public start(): void {
    const loop = () => {
      if (this.stopped) return;
      this.checking = this.check().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.options.checkSeconds * 1000);
      });
    };
    loop();
  }

  public async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.checking;
  }

  /** One check: the mounted file, and the served certificate when it is due (see above). */
  public async check(nowMs = Date.now()): Promise<void> {
    let mounted: CertificateFacts | undefined;
    let mountedError: string | undefined;
    try {
      mounted = facts(new X509Certificate(fs.readFileSync(this.options.certificateFile)));
    } catch (e) {
      mountedError = String((e as Error).message ?? e);
    }
    const known = this.last.served;
    const due = known === undefined || mounted?.fingerprint !== known.fingerprint ||
      this.servedAtMs === undefined || nowMs - this.servedAtMs >= this.options.servedRecheckSeconds * 1000;
    let served = due ? undefined : known;
    let servedError: string | undefined;
    if (due) {
      try {
        served = facts(await servedCertificate(this.options.host, this.options.port, this.options.timeoutSeconds * 1000));
        this.servedAtMs = nowMs;
      } catch (e) {
        servedError = String((e as Error).message ?? e);
      }
    }
    this.last = { ...(mounted ? { mounted } : { mountedError }), ...(served ? { served } : { servedError }) };
  }
}

function facts(cert: X509Certificate): CertificateFacts {
  return { notAfterMs: Date.parse(cert.validTo), fingerprint: cert.fingerprint256 };
}

/**
 * The certificate a MySQL/MariaDB server presents: read its greeting (it must offer CLIENT_SSL), send an SSLRequest,
 * then handshake TLS on the same socket without verifying (the point is to see what is served, even when it is
 * expired or from another CA).
 */
export function servedCertificate(host: string, port: number, timeoutMs: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let secure: tls.TLSSocket | undefined;
    const done = (error?: Error, cert?: X509Certificate) => {
      clearTimeout(timer);
      secure?.destroy();
      socket.destroy();
      if (error) reject(error); else resolve(cert!);
    };
    const timer = setTimeout(() => done(new Error(`no TLS handshake with ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    let greeting = Buffer.alloc(0);
    socket.on('error', (e) => done(e));
    const onData = (chunk: Buffer) => {
      greeting = Buffer.concat([greeting, chunk]);
      if (greeting.length < 4) return;
      const length = greeting.readUIntLE(0, 3);
      if (greeting.length < 4 + length) return;
      socket.off('data', onData);
      const capabilities = serverCapabilities(greeting.subarray(4, 4 + length));
      if (capabilities === undefined) return done(new Error(`${host}:${port} did not send a MySQL greeting`));
      if ((capabilities & CLIENT_SSL) === 0) return done(new Error(`${host}:${port} does not offer TLS`));
      socket.write(sslRequest(greeting[3] + 1));
      secure = tls.connect({ socket, rejectUnauthorized: false }, () => {
        const cert = secure?.getPeerX509Certificate();
        if (cert === undefined) done(new Error(`${host}:${port} presented no certificate`)); else done(undefined, cert);
      });
      secure.on('error', (e) => done(e));
    };
    socket.on('data', onData);
  });
}

/** The lower capability flags of a protocol-10 greeting (after the version string, id, salt and filler). */
function serverCapabilities(payload: Buffer): number | undefined {
  if (payload[0] === 0xff || payload[0] !== 10) return undefined;
  const versionEnd = payload.indexOf(0, 1);
  const at = versionEnd + 1 + 4 + 8 + 1;
  if (versionEnd < 0 || payload.length < at + 2) return undefined;
  return payload.readUInt16LE(at);
}

/** The 32-byte SSLRequest packet: capabilities, max packet size, character set, 23 zero bytes. */
function sslRequest(sequence: number): Buffer {
  const packet = Buffer.alloc(4 + 32);
  packet.writeUIntLE(32, 0, 3);
  packet[3] = sequence & 0xff;
  packet.writeUInt32LE(CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION, 4);
  packet.writeUInt32LE(16 * 1024 * 1024, 8);
  packet[12] = UTF8MB4_GENERAL_CI;
  return packet;
}
