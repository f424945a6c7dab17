import { Construct } from 'constructs';
import { FieldProblem, Validator } from '../common/validation';
import { Certificate, CertificateSpec, CertificateSpecPrivateKeyAlgorithm, CertificateSpecPrivateKeyRotationPolicy, CertificateSpecUsages } from '../imports/cert-manager.io';
import { CERT_MANAGER_DEFAULTS, TlsCertificateRequest, TlsClientCertificateRequest, TlsMaterial, certificateName, clientCertificateName } from './model';
import { CertManagerTlsOptions, TlsSecret, TlsSecretsOptions } from './props';
import { certManagerProblems, secretKeys, tlsSecretsProblems, userClientSecretProblems, userSecretProblems } from './validation';

/**
 * Where the certificates of every TLS-enabled component come from. Give one to each construct's `tls` prop (or
 * to OpenStackControlPlane's); each component asks it for a certificate that covers the names its peers and
 * clients use (member DNS names, Service names, node IPs of host-network daemons, the VIP).
 *
 * - `certManager`: one cert-manager `Certificate` per component, named `<component>-tls`, its Secret too.
 * - `fromSecrets`: Secrets the user brings, with the names each certificate covers declared, so a missing name
 *   is an error at synth instead of a failed handshake in production.
 *
 * No private key ever appears in the synthesized YAML: the pods mount the Secret (read-only, key 0440).
 */
export class TlsCertificates {
  /** Certificates issued and renewed by cert-manager (which must be installed; the library only emits Certificates). */
  public static certManager(options: CertManagerTlsOptions): TlsCertificates {
    const v = new Validator('TlsCertificates.certManager');
    for (const p of certManagerProblems(options)) v.add(p.field, p.value, p.fix);
    v.throwIfInvalid();
    return new TlsCertificates(options, undefined);
  }

  /** Certificates the user brings in Secrets (renewed by whatever wrote them: the pods pick up the change in place). */
  public static fromSecrets(options: TlsSecretsOptions): TlsCertificates {
    const v = new Validator('TlsCertificates.fromSecrets');
    for (const p of tlsSecretsProblems(options)) v.add(p.field, p.value, p.fix);
    v.throwIfInvalid();
    return new TlsCertificates(undefined, options.secrets.map((s) => ({ ...s, covers: [...s.covers] })));
  }

  private constructor(private readonly certManagerOptions: CertManagerTlsOptions | undefined,
    private readonly secrets: TlsSecret[] | undefined) {}

  /** Whether cert-manager issues the certificates (the constructs then emit Certificate objects). */
  public get issuedByCertManager(): boolean {
    return this.certManagerOptions !== undefined;
  }

  /**
   * A component's certificate: with cert-manager, the Certificate object in `scope`; with user Secrets, the
   * component's Secret, checked to cover every requested name. Problems go to `v` (the component's validator).
   *
   * @internal
   */
  public _certificateFor(scope: Construct, request: TlsCertificateRequest, v: Validator): TlsMaterial | undefined {
    if (this.secrets !== undefined) return this.userSecret(request.component, v, (secret, known) => userSecretProblems(request, secret, known));
    const options = this.certManagerOptions!;
    const name = certificateName(request.component);
    new Certificate(scope, 'Certificate', {
      metadata: { name, ...(request.namespace ? { namespace: request.namespace } : {}) },
      spec: {
        ...certManagerCommonSpec(options),
        secretName: name,
        // No commonName: clients match subject alternative names, and cert-manager refuses a common name over 64
        // bytes, which a member name in a long namespace would exceed.
        dnsNames: request.dnsNames.length > 0 ? [...request.dnsNames] : undefined,
        ipAddresses: request.ipAddresses.length > 0 ? [...request.ipAddresses] : undefined,
        // Peers are both servers and clients of each other (Galera, Erlang distribution, SST).
        usages: [CertificateSpecUsages.SERVER_AUTH, CertificateSpecUsages.CLIENT_AUTH, CertificateSpecUsages.DIGITAL_SIGNATURE, CertificateSpecUsages.KEY_ENCIPHERMENT],
      },
    });
    return { secretName: name, certificateKey: 'tls.crt', privateKeyKey: 'tls.key', caKey: 'ca.crt' };
  }

  /** The user's Secret for `component`, or undefined with its problems (by `problems`, server or client rules) in `v`. */
  private userSecret(component: string, v: Validator, problems: (secret: TlsSecret | undefined, known: string[]) => FieldProblem[]): TlsMaterial | undefined {
    const secret = this.secrets!.find((s) => s.component === component);
    const found = problems(secret, this.secrets!.map((s) => s.component));
    for (const p of found) v.add(p.field, p.value, p.fix);
    return found.length > 0 || secret === undefined ? undefined : { secretName: secret.secretName, ...secretKeys(secret) };
  }

  /**
   * A component's client certificate (client authentication only): with cert-manager, a Certificate
   * `<component>-client-tls` in `scope` named `clientName`, signed by the same issuer as the servers it connects to
   * (its `ca.crt` verifies them); with user Secrets, the component's Secret, which must name `clientName`.
   *
   * @internal
   */
  public _clientCertificateFor(scope: Construct, request: TlsClientCertificateRequest, v: Validator): TlsMaterial | undefined {
    if (this.secrets !== undefined) return this.userSecret(request.component, v, (secret, known) => userClientSecretProblems(request, secret, known));
    const secretName = clientCertificateName(request.component);
    certManagerClientCertificate(scope, 'ClientCertificate', this.certManagerOptions!, secretName, request.clientName, request.namespace);
    return { secretName, certificateKey: 'tls.crt', privateKeyKey: 'tls.key', caKey: 'ca.crt' };
  }
}

/**
 * A cert-manager Certificate for client authentication only (it cannot impersonate a server of the HA layer),
 * named after who connects: `commonName` (a log line on the server's side says who connected; a server that checks
 * names checks this one). cert-manager writes the issuer's CA beside it (`ca.crt`).
 * @internal
 */
export function certManagerClientCertificate(scope: Construct, id: string, options: CertManagerTlsOptions, secretName: string,
  commonName: string, namespace?: string): Certificate {
  return new Certificate(scope, id, {
    metadata: { name: secretName, ...(namespace ? { namespace } : {}) },
    spec: {
      ...certManagerCommonSpec(options),
      secretName,
      commonName,
      usages: [CertificateSpecUsages.CLIENT_AUTH, CertificateSpecUsages.DIGITAL_SIGNATURE],
    },
  });
}

/**
 * What every Certificate this library emits shares, whoever it is for (a component's, a service's client
 * certificate): the issuer, lifetime and renewal from the user's options, and a new ECDSA P-256 key at every
 * renewal (a leaked key stops being useful at the next renewal).
 * @internal
 */
export function certManagerCommonSpec(options: CertManagerTlsOptions): Pick<CertificateSpec, 'issuerRef' | 'duration' | 'renewBefore' | 'privateKey'> {
  return {
    issuerRef: {
      name: options.issuer.name,
      kind: options.issuer.kind ?? CERT_MANAGER_DEFAULTS.issuerKind,
      group: options.issuer.group ?? CERT_MANAGER_DEFAULTS.issuerGroup,
    },
    duration: options.duration ?? CERT_MANAGER_DEFAULTS.duration,
    renewBefore: options.renewBefore ?? CERT_MANAGER_DEFAULTS.renewBefore,
    privateKey: { algorithm: CertificateSpecPrivateKeyAlgorithm.ECDSA, size: 256, rotationPolicy: CertificateSpecPrivateKeyRotationPolicy.ALWAYS },
  };
}
