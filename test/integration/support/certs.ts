/**
 * Real certificates for the TLS tests, made with the openssl CLI: a CA, leaf certificates signed by it (server and
 * client use unless told otherwise, with the subject alternative names given), expired or not yet valid ones, and a
 * second unrelated CA. Each leaf is written as a directory the way a Secret volume presents it (`tls.crt`, `tls.key`,
 * `ca.crt`), and replaced with an atomic rename, as the kubelet swaps a Secret volume on renewal.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export interface LeafOptions {
  /** Subject alternative names: `IP:127.0.18.1`, `DNS:localhost`. */
  readonly sans: readonly string[];
  readonly commonName?: string;
  /** Valid from 2020-01-01 to 2020-01-02. */
  readonly expired?: boolean;
  /** Valid from 2099-01-01 to 2099-01-02. */
  readonly notYetValid?: boolean;
  /** The extendedKeyUsage extension. @default 'serverAuth,clientAuth' */
  readonly extendedKeyUsage?: string;
}

function openssl(args: string[], cwd: string): string {
  return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

export class TestCa {
  public readonly dir: string;
  private serial = 1;

  public constructor(root: string, public readonly name: string) {
    this.dir = path.join(root, `ca-${name}`);
    fs.mkdirSync(this.dir, { recursive: true });
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], this.dir);
    openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', `/CN=${name}`, '-days', '3', '-out', 'ca.crt'], this.dir);
    fs.writeFileSync(path.join(this.dir, 'index.txt'), '');
  }

  public get caFile(): string {
    return path.join(this.dir, 'ca.crt');
  }

  /** Signs a new key pair; returns the PEM certificate, key and this CA (plus `extraCa` in the bundle, if given). */
  public issue(options: LeafOptions, extraCa?: TestCa): { certificate: string; privateKey: string; ca: string; serial: string } {
    const id = `leaf${this.serial++}`;
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${id}.key`], this.dir);
    openssl(['req', '-new', '-key', `${id}.key`, '-subj', `/CN=${options.commonName ?? 'itest'}`, '-out', `${id}.csr`], this.dir);
    fs.writeFileSync(path.join(this.dir, `${id}.cnf`), [
      '[ca]', 'default_ca = itest', '[itest]', `dir = ${this.dir}`, 'database = $dir/index.txt', 'new_certs_dir = $dir',
      'certificate = $dir/ca.crt', 'private_key = $dir/ca.key', 'default_md = sha256', 'policy = any', 'unique_subject = no',
      'copy_extensions = none', 'rand_serial = yes', '[any]', 'commonName = supplied', '[leaf]',
      `subjectAltName = ${options.sans.join(',')}`, `extendedKeyUsage = ${options.extendedKeyUsage ?? 'serverAuth,clientAuth'}`, 'keyUsage = digitalSignature,keyEncipherment',
      'basicConstraints = CA:FALSE', '',
    ].join('\n'));
    const validity = options.expired ? ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z']
      : options.notYetValid ? ['-startdate', '20990101000000Z', '-enddate', '20990102000000Z'] : ['-days', '2'];
    openssl(['ca', '-batch', '-notext', '-config', `${id}.cnf`, '-extensions', 'leaf', '-in', `${id}.csr`, '-out', `${id}.crt`, ...validity], this.dir);
    const certificate = fs.readFileSync(path.join(this.dir, `${id}.crt`), 'utf8');
    return {
      certificate,
      privateKey: fs.readFileSync(path.join(this.dir, `${id}.key`), 'utf8'),
      ca: fs.readFileSync(this.caFile, 'utf8') + (extraCa ? fs.readFileSync(extraCa.caFile, 'utf8') : ''),
      serial: certificateSerial(certificate),
    };
  }

  /**
   * Writes a new leaf into `dir` as the kubelet updates a Secret volume: the files appear together, by one rename of
   * a fresh directory over the `..data` link the three names point through. Returns the new serial.
   */
  public install(dir: string, options: LeafOptions, owner?: { uid: number; gid: number }, extraCa?: TestCa): string {
    const leaf = this.issue(options, extraCa);
    installFiles(dir, { 'tls.crt': leaf.certificate, 'tls.key': leaf.privateKey, 'ca.crt': leaf.ca }, owner);
    return leaf.serial;
  }
}

/** The kubelet's atomic writer, simplified: `..<n>/` with the files, `..data -> ..<n>`, `name -> ..data/name`. */
export function installFiles(dir: string, files: Record<string, string>, owner?: { uid: number; gid: number }): void {
  fs.mkdirSync(dir, { recursive: true });
  const version = `..${Date.now()}_${Math.random().toString(16).slice(2, 8)}`;
  const versionDir = path.join(dir, version);
  fs.mkdirSync(versionDir);
  for (const [name, content] of Object.entries(files)) {
    fs.writeFileSync(path.join(versionDir, name), content, { mode: name.endsWith('.key') ? 0o440 : 0o444 });
    if (owner) fs.chownSync(path.join(versionDir, name), 0, owner.gid);
  }
  const previous = fs.existsSync(path.join(dir, '..data')) ? fs.readlinkSync(path.join(dir, '..data')) : undefined;
  fs.symlinkSync(version, path.join(dir, '..data_tmp'));
  fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  for (const name of Object.keys(files)) {
    if (!fs.existsSync(path.join(dir, name))) fs.symlinkSync(path.join('..data', name), path.join(dir, name));
  }
  if (previous) fs.rmSync(path.join(dir, previous), { recursive: true, force: true });
}

/** The serial number of a PEM certificate, as openssl prints it (upper-case hex). */
export function certificateSerial(pem: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-serial'], { input: pem }).toString().trim().replace(/^serial=/, '');
}

/**
 * The serial of the certificate a TLS server presents at `host:port` (`starttls` for protocols that negotiate TLS
 * inside, e.g. `mysql`), or undefined when no TLS session was established with these options.
 */
export function presentedSerial(host: string, port: number, options: { ca: string; starttls?: string; extra?: string[] }): string | undefined {
  const args = ['s_client', '-connect', `${host}:${port}`, '-CAfile', options.ca, '-verify_return_error', ...(options.starttls ? ['-starttls', options.starttls] : []), ...(options.extra ?? [])];
  let out: string;
  try {
    out = execFileSync('openssl', args, { input: '', timeout: 10_000, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  } catch {
    return undefined;
  }
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out)?.[0];
  return pem ? certificateSerial(pem) : undefined;
}
