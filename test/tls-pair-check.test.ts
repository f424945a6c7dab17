/**
 * assets/common/tls-pair-check.sh, the certificate-pair check RabbitMQ's and ProxySQL's TLS watchers share, run with
 * bash and the real openssl against certificates this test makes (support/certs.ts): its verdict (exit 0 / 1 / 2)
 * and the reason it prints. The callers' own tests run it from their rendered scripts ConfigMaps: rabbitmq-tls
 * (tls-reload.sh's stage and swap), proxysql-image (the programs it runs are in the admin sidecar's image) and the
 * integration files rabbitmq-tls and proxysql-tls.
 */
import { spawnSync } from 'child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { TestCa } from './integration/support/certs';

const SCRIPT = join(__dirname, '..', 'assets', 'common', 'tls-pair-check.sh');

interface Pair { readonly certificate: string; readonly privateKey: string; readonly ca: string }

describe('tls-pair-check.sh (bash + openssl, real certificates)', () => {
  let root: string;
  let ca: TestCa;
  let other: TestCa;
  let good: Pair;
  let dirs = 0;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'tls-pair-check-unit-'));
    ca = new TestCa(root, 'ca');
    other = new TestCa(root, 'other');
    good = ca.issue({ sans: ['DNS:broker-a', 'IP:10.0.0.11'] });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** Writes the pair into a new directory (key 0400, as the watchers stage it); returns the three paths. */
  function write(pair: Pair): { cert: string; key: string; ca: string } {
    const dir = join(root, `pair-${dirs++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'tls.crt'), pair.certificate, { mode: 0o444 });
    writeFileSync(join(dir, 'tls.key'), pair.privateKey, { mode: 0o400 });
    writeFileSync(join(dir, 'ca.crt'), pair.ca, { mode: 0o444 });
    return { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') };
  }

  function check(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** The verdict on `pair` files: exit status and the printed reason (one line, newline stripped). */
  function verdict(pair: Pair, purpose?: string): { status: number | null; reason: string } {
    const f = write(pair);
    const r = check([...(purpose ? ['--purpose', purpose] : []), f.cert, f.key, f.ca]);
    expect(r.stderr).toBe('');
    return { status: r.status, reason: r.stdout.replace(/\n$/, '') };
  }

  test('a valid pair passes, with and without the TLS server purpose, printing nothing', () => {
    expect(verdict(good)).toEqual({ status: 0, reason: '' });
    expect(verdict(good, 'sslserver')).toEqual({ status: 0, reason: '' });
    expect(verdict(good, 'sslclient')).toEqual({ status: 0, reason: '' });
  });

  test('the key of another certificate is refused', () => {
    const another = ca.issue({ sans: ['DNS:broker-a'] });
    expect(verdict({ ...good, privateKey: another.privateKey })).toEqual({ status: 1, reason: 'tls.key does not match the certificate in tls.crt' });
  });

  test('an expired certificate and one not yet valid are refused, with openssl\'s reason and the depth', () => {
    const expired = ca.issue({ sans: ['DNS:broker-a'], expired: true });
    expect(verdict(expired)).toEqual({ status: 1, reason: 'tls.crt does not verify against ca.crt now: certificate has expired (depth 0)' });
    const future = ca.issue({ sans: ['DNS:broker-a'], notYetValid: true });
    expect(verdict(future)).toEqual({ status: 1, reason: 'tls.crt does not verify against ca.crt now: certificate is not yet valid (depth 0)' });
  });

  test('a certificate of another CA is refused; the same one with its own CA in the bundle passes', () => {
    const foreign = other.issue({ sans: ['DNS:broker-a'] });
    expect(verdict({ ...foreign, ca: good.ca })).toEqual({
      status: 1, reason: 'tls.crt does not verify against ca.crt now: unable to get local issuer certificate (depth 0)',
    });
    // A bundle of both CAs (a CA rotation's overlap) trusts either.
    expect(verdict({ ...foreign, ca: good.ca + foreign.ca }).status).toBe(0);
  });

  test('a certificate without serverAuth is refused only when the TLS server purpose is required', () => {
    const clientOnly = ca.issue({ sans: ['DNS:broker-a'], extendedKeyUsage: 'clientAuth' });
    expect(verdict(clientOnly, 'sslserver')).toEqual({
      status: 1, reason: 'tls.crt does not verify against ca.crt now as sslserver: unsuitable certificate purpose (depth 0)',
    });
    expect(verdict(clientOnly)).toEqual({ status: 0, reason: '' });
  });

  test('an intermediate carried in tls.crt completes the chain to the CA bundle', () => {
    // An intermediate CA signed by `ca`, and a leaf signed by the intermediate (openssl only, like TestCa).
    const dir = join(root, 'intermediate');
    mkdirSync(dir);
    const openssl = (args: string[]) => {
      const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
    };
    writeFileSync(join(dir, 'ext.cnf'), '[ica]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = keyCertSign,cRLSign\n'
      + '[leaf]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:broker-a\n');
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ica.key']);
    openssl(['req', '-new', '-key', 'ica.key', '-subj', '/CN=intermediate', '-out', 'ica.csr']);
    openssl(['x509', '-req', '-in', 'ica.csr', '-CA', ca.caFile, '-CAkey', join(ca.dir, 'ca.key'), '-CAcreateserial', '-days', '2',
      '-extfile', 'ext.cnf', '-extensions', 'ica', '-out', 'ica.crt']);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'leaf.key']);
    openssl(['req', '-new', '-key', 'leaf.key', '-subj', '/CN=broker-a', '-out', 'leaf.csr']);
    openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ica.crt', '-CAkey', 'ica.key', '-CAcreateserial', '-days', '1',
      '-extfile', 'ext.cnf', '-extensions', 'leaf', '-out', 'leaf.crt']);
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    const chained = { certificate: read('leaf.crt') + read('ica.crt'), privateKey: read('leaf.key'), ca: good.ca };
    expect(verdict(chained, 'sslserver')).toEqual({ status: 0, reason: '' });
    // Without the intermediate the leaf does not chain to the bundle.
    expect(verdict({ ...chained, certificate: read('leaf.crt') }).reason).toBe(
      'tls.crt does not verify against ca.crt now: unable to get local issuer certificate (depth 0)');
  });

  test('missing, empty, unreadable and non-PEM files are refused, naming the Secret key', () => {
    const f = write(good);
    const run = (cert: string, key: string, caFile: string) => {
      const r = check([cert, key, caFile]);
      return { status: r.status, reason: r.stdout.replace(/\n$/, '') };
    };
    expect(run(f.cert, f.key, join(root, 'no-such-ca.crt'))).toEqual({ status: 1, reason: 'ca.crt is missing or unreadable' });
    expect(run(join(root, 'no-such.crt'), f.key, f.ca)).toEqual({ status: 1, reason: 'tls.crt is missing or unreadable' });
    // A directory where a file should be (a Secret volume without the key) is not a readable file either.
    expect(run(f.cert, root, f.ca)).toEqual({ status: 1, reason: 'tls.key is missing or unreadable' });
    const empty = join(root, 'empty.key');
    writeFileSync(empty, '');
    expect(run(f.cert, empty, f.ca)).toEqual({ status: 1, reason: 'tls.key is empty' });
    const junk = join(root, 'junk.pem');
    writeFileSync(junk, 'not a PEM file\n');
    expect(run(junk, f.key, f.ca)).toEqual({ status: 1, reason: 'tls.crt holds no PEM certificate' });
    expect(run(f.cert, junk, f.ca)).toEqual({ status: 1, reason: 'tls.key holds no PEM private key' });
    // A certificate where the key should be (a Secret with its keys swapped) is no private key.
    expect(run(f.cert, f.cert, f.ca)).toEqual({ status: 1, reason: 'tls.key holds no PEM private key' });

    // A key the checking user may not read (mode 0000): as another user when the test runs as root, who reads anything.
    const dir = mkdtempSync(join(tmpdir(), 'tls-pair-check-unit-perm-'));
    try {
      chmodSync(dir, 0o755);
      const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') };
      writeFileSync(files.cert, good.certificate, { mode: 0o444 });
      writeFileSync(files.key, good.privateKey, { mode: 0o000 });
      writeFileSync(files.ca, good.ca, { mode: 0o444 });
      writeFileSync(join(dir, 'check.sh'), readFileSync(SCRIPT, 'utf8'), { mode: 0o555 });
      const asRoot = process.getuid?.() === 0;
      const argv = [...(asRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : []), 'bash', join(dir, 'check.sh'), files.cert, files.key, files.ca];
      const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
      expect({ status: r.status, reason: r.stdout.replace(/\n$/, '') }).toEqual({ status: 1, reason: 'tls.key is missing or unreadable' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('wrong arguments: exit 2 and the usage on stderr, no verdict on stdout', () => {
    const f = write(good);
    for (const args of [[], [f.cert, f.key], ['--purpose', 'anything', f.cert, f.key, f.ca], ['--purpose'], [f.cert, f.key, f.ca, 'extra']]) {
      const r = check(args);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^usage: .*tls-pair-check\.sh \[--purpose sslserver\|sslclient\] CERT KEY CA$/m);
    }
  });
});
