/**
 * The TLS files a service's pods need for what `OpenStackControlPlane.connection()` renders: the CA bundle that
 * verifies the HA layer's daemons, and the service's own client certificate when a daemon verifies clients
 * (memcached with `verifyClients`). Pure renderers here; ServiceConfigRenderer adds them to its pod parts.
 *
 * Why projected volumes: the connection names files, not directories (`/etc/openstack-ha-tls/ca.crt`), and the CA
 * (a trust-manager ConfigMap, or one key of a Secret) and the client certificate (another Secret) come from
 * different objects. One projected volume per directory puts them side by side; a `subPath` mount would do it too
 * but the kubelet never updates a subPath, so a renewed certificate would never reach the pod.
 */
import { Construct } from 'constructs';
import { Validator } from '../common/validation';
import { k8s } from '../k8s';
import { TLS_KEY_MODE, TLS_PUBLIC_MODE } from '../tls/pod';
import { CertManagerTlsOptions } from '../tls/props';
import { clientCertificateName } from '../tls/model';
import { certManagerClientCertificate } from '../tls/tls-certificates';
import { certManagerProblems } from '../tls/validation';
import { ServiceConnection } from './connections';

const SECRET_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * Where a service's pods get the CA bundle (PEM) that verifies the HA layer's daemons. Only the one key is
 * projected into the pod, so a Secret that also holds a private key (a cert-manager certificate's) gives away
 * nothing else.
 */
export class TlsTrustBundle {
  /**
   * A ConfigMap key: e.g. the target of a trust-manager `Bundle`, the usual way to distribute a CA to workloads.
   *
   * @param configMapName the ConfigMap in the service's namespace
   * @param key the key holding the PEM bundle
   */
  public static fromConfigMap(configMapName: string, key: string = 'ca.crt'): TlsTrustBundle {
    return new TlsTrustBundle('configMap', configMapName, key);
  }

  /**
   * A Secret key: e.g. `ca.crt` of any certificate Secret cert-manager wrote with the deployment's CA issuer
   * (one CA signs every component).
   *
   * @param secretName the Secret in the service's namespace
   * @param key the key holding the PEM bundle
   */
  public static fromSecret(secretName: string, key: string = 'ca.crt'): TlsTrustBundle {
    return new TlsTrustBundle('secret', secretName, key);
  }

  /** `configMap` or `secret`. @internal */
  public readonly _source: string;
  /** The ConfigMap or Secret the bundle comes from. */
  public readonly objectName: string;
  /** The key of the PEM bundle in it. */
  public readonly key: string;

  private constructor(source: string, objectName: string, key: string) {
    this._source = source;
    this.objectName = objectName;
    this.key = key;
  }

  /** `configMap/name/key` or `secret/name/key`, for messages. */
  public toString(): string {
    return `${this._source}/${this.objectName}/${this.key}`;
  }
}

/** The service's client certificate, presented to daemons that verify clients (memcached with `verifyClients`). */
export class ServiceClientCertificate {
  /**
   * Issued and renewed by cert-manager: a `Certificate` `<name>-client-tls` for client authentication only, with
   * the service's name as its common name, signed by the deployment's issuer.
   */
  public static certManager(options: CertManagerTlsOptions): ServiceClientCertificate {
    const v = new Validator('ServiceClientCertificate.certManager');
    for (const p of certManagerProblems(options)) v.add(p.field, p.value, p.fix);
    v.throwIfInvalid();
    return new ServiceClientCertificate(options, undefined, 'tls.crt', 'tls.key');
  }

  /**
   * A certificate the user brings in a Secret of the service's namespace.
   *
   * @param secretName the Secret
   * @param certificateKey the key of the PEM certificate (chain)
   * @param privateKeyKey the key of the PEM private key
   */
  public static fromSecret(secretName: string, certificateKey: string = 'tls.crt', privateKeyKey: string = 'tls.key'): ServiceClientCertificate {
    return new ServiceClientCertificate(undefined, secretName, certificateKey, privateKeyKey);
  }

  private constructor(
    private readonly certManagerOptions: CertManagerTlsOptions | undefined,
    private readonly secretName: string | undefined,
    private readonly certificateKey: string,
    private readonly privateKeyKey: string) {}

  /**
   * The Secret the pods mount: with cert-manager, the Certificate is created in `scope` first.
   * @internal
   */
  public _secretFor(scope: Construct, name: string, service: string): { secretName: string; certificateKey: string; privateKeyKey: string } {
    if (this.secretName !== undefined) return { secretName: this.secretName, certificateKey: this.certificateKey, privateKeyKey: this.privateKeyKey };
    const secretName = clientCertificateName(name);
    // Named after the service (memcached checks only that the CA signed it).
    certManagerClientCertificate(scope, 'ClientCertificate', this.certManagerOptions!, secretName, service);
    return { secretName, certificateKey: 'tls.crt', privateKeyKey: 'tls.key' };
  }

  /** Problems with a user's Secret reference (cert-manager options are checked when made). @internal */
  public _problems(prop: string): Array<{ field: string; value: unknown; fix: string }> {
    if (this.secretName === undefined) return [];
    const problems: Array<{ field: string; value: unknown; fix: string }> = [];
    if (!OBJECT_NAME.test(this.secretName)) problems.push({ field: `${prop}.secretName`, value: this.secretName, fix: 'is not a Secret name; use a DNS-1123 subdomain such as "nova-client-tls"' });
    for (const [field, key] of [['certificateKey', this.certificateKey], ['privateKeyKey', this.privateKeyKey]]) {
      if (!SECRET_KEY.test(key)) problems.push({ field: `${prop}.${field}`, value: key, fix: "is not a Secret key; use letters, digits, '-', '_' or '.'" });
    }
    if (this.certificateKey === this.privateKeyKey) problems.push({ field: `${prop}.privateKeyKey`, value: this.privateKeyKey, fix: 'is the certificate\'s key too; the certificate and the private key are two keys of the Secret' });
    return problems;
  }
}


/** The TLS files of ServiceConfigRendererProps. @internal */
export interface ServiceTlsSources {
  readonly caBundle?: TlsTrustBundle;
  readonly clientCertificate?: ServiceClientCertificate;
}

/** One file the pod must have at a path the connection names. @internal */
interface ProjectedFile {
  readonly path: string;
  readonly source: k8s.VolumeProjection;
}

/** The volumes and mounts of the service's TLS files, and the fsGroup the private key needs. @internal */
export interface ServiceTlsParts {
  readonly volumes: k8s.Volume[];
  readonly mounts: k8s.VolumeMount[];
  /** Set when a private key is mounted (mode 0440, group-readable): the pod's `securityContext.fsGroup` must be it. */
  readonly fsGroup?: number;
}

const dirname = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/';
const basename = (p: string) => p.slice(p.lastIndexOf('/') + 1);
/** Whether one mount would hide or sit inside the other. */
const overlaps = (a: string, b: string) => a === b || a.startsWith(b === '/' ? '/' : `${b}/`) || b.startsWith(a === '/' ? '/' : `${a}/`);

/** Every problem with the TLS sources against what the connection names, in `v`. @internal */
export function validateServiceTls(v: Validator, sources: ServiceTlsSources, connection: ServiceConnection, configMountPath: string): void {
  const { caBundle, clientCertificate } = sources;
  if (caBundle !== undefined) {
    if (!(caBundle instanceof TlsTrustBundle)) {
      v.add('caBundle', typeof caBundle, 'must come from TlsTrustBundle.fromConfigMap(name, key) or TlsTrustBundle.fromSecret(name, key)');
    } else {
      v.check(!OBJECT_NAME.test(caBundle.objectName), 'caBundle', caBundle.toString(), 'names no valid object; use a DNS-1123 subdomain such as "openstack-ca"');
      v.check(!SECRET_KEY.test(caBundle.key), 'caBundle', caBundle.toString(), "has an invalid key; use letters, digits, '-', '_' or '.'");
      v.check(connection.caBundlePath === undefined, 'caBundle', caBundle.toString(),
        'is given but nothing the service reaches has TLS (the connection names no CA file); remove caBundle');
    }
  }
  if (clientCertificate !== undefined) {
    if (!(clientCertificate instanceof ServiceClientCertificate)) {
      v.add('clientCertificate', typeof clientCertificate, 'must come from ServiceClientCertificate.certManager({...}) or ServiceClientCertificate.fromSecret(name)');
    } else {
      for (const p of clientCertificate._problems('clientCertificate')) v.add(p.field, p.value, p.fix);
      v.check(connection.clientCertificatePath === undefined, 'clientCertificate', '(given)',
        'is given but no daemon the service reaches verifies clients (the connection names no client certificate); remove clientCertificate');
    }
  } else if (caBundle !== undefined && connection.clientCertificatePath !== undefined) {
    // Half the files mounted by the library and half by hand is a pod that fails at its first memcached call.
    v.add('clientCertificate', undefined, `is required with caBundle: a daemon the service reaches verifies clients (memcached or RabbitMQ verifyClients) and the connection names ${connection.clientCertificatePath}; `
      + 'give ServiceClientCertificate.certManager({ issuer }) or .fromSecret(name), or leave both out and mount the files yourself');
  }
  const paths = [connection.caBundlePath, connection.clientCertificatePath, connection.clientKeyPath].filter((p): p is string => p !== undefined);
  if (caBundle === undefined && clientCertificate === undefined) return;
  for (const p of paths) {
    v.check(overlaps(dirname(p), configMountPath), 'mountPath', configMountPath,
      `overlaps the TLS directory ${dirname(p)} the connection names for ${basename(p)}; mount the config elsewhere or name other TLS paths in connection()`);
  }
  v.check(new Set(paths).size !== paths.length, 'connection', paths.join(', '), 'names one file for two TLS files; give each its own path in connection()');
  const dirs = [...new Set(paths.map(dirname))];
  for (const a of dirs) {
    for (const b of dirs) {
      v.check(a < b && overlaps(a, b), 'connection', `${a}, ${b}`, 'names TLS directories inside one another; put the TLS files in one directory or in unrelated ones');
    }
  }
}

/**
 * The projected volumes (one per directory the connection's TLS paths live in) and their read-only mounts.
 * Call only after validateServiceTls passed.
 * @internal
 */
export function serviceTlsParts(scope: Construct, sources: ServiceTlsSources, connection: ServiceConnection, name: string, uid: number): ServiceTlsParts {
  const files: ProjectedFile[] = [];
  const { caBundle, clientCertificate } = sources;
  if (caBundle !== undefined && connection.caBundlePath !== undefined) {
    const item = { key: caBundle.key, path: basename(connection.caBundlePath), mode: TLS_PUBLIC_MODE };
    files.push({
      path: connection.caBundlePath,
      source: caBundle._source === 'configMap' ? { configMap: { name: caBundle.objectName, items: [item] } } : { secret: { name: caBundle.objectName, items: [item] } },
    });
  }
  let withKey = false;
  if (clientCertificate !== undefined && connection.clientCertificatePath !== undefined && connection.clientKeyPath !== undefined) {
    const secret = clientCertificate._secretFor(scope, name, connection.service);
    // Two projections of one Secret when the two files go to different directories; one item each.
    files.push({ path: connection.clientCertificatePath, source: { secret: { name: secret.secretName, items: [{ key: secret.certificateKey, path: basename(connection.clientCertificatePath), mode: TLS_PUBLIC_MODE }] } } });
    files.push({ path: connection.clientKeyPath, source: { secret: { name: secret.secretName, items: [{ key: secret.privateKeyKey, path: basename(connection.clientKeyPath), mode: TLS_KEY_MODE }] } } });
    withKey = true;
  }
  const dirs = [...new Set(files.map((f) => dirname(f.path)))];
  const volumeName = (i: number) => (dirs.length === 1 ? `${name}-ha-tls` : `${name}-ha-tls-${i}`);
  return {
    // Not optional: a service without its CA would fail every TLS connection with a verification error far
    // from the cause; the kubelet's "couldn't find key" event names the object instead.
    volumes: dirs.map((dir, i) => ({
      name: volumeName(i),
      projected: { defaultMode: TLS_PUBLIC_MODE, sources: files.filter((f) => dirname(f.path) === dir).map((f) => f.source) },
    })),
    mounts: dirs.map((dir, i) => ({ name: volumeName(i), mountPath: dir, readOnly: true })),
    ...(withKey ? { fsGroup: uid } : {}),
  };
}
