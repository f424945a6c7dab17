/**
 * The props of TlsCertificates: where certificates come from (cert-manager, or Secrets the user brings). The
 * rules are in validation.ts; what each component asks for is in model.ts.
 */

/** A cert-manager issuer (`Issuer` in the component's namespace, or a `ClusterIssuer`). */
export interface CertManagerIssuerRef {
  /** The issuer's name. */
  readonly name: string;
  /**
   * `Issuer` or `ClusterIssuer` (or an external issuer's kind with `group`).
   *
   * @default 'Issuer'
   */
  readonly kind?: string;
  /**
   * The issuer's API group (an external issuer's, e.g. `awspca.cert-manager.io`).
   *
   * @default 'cert-manager.io'
   */
  readonly group?: string;
}

/** Certificates issued and renewed by cert-manager. */
export interface CertManagerTlsOptions {
  /**
   * Who signs. Every component of one deployment must be signed by one CA (peers verify each other with the
   * `ca.crt` cert-manager writes beside the certificate): a CA issuer, Vault, or an external issuer of one CA.
   */
  readonly issuer: CertManagerIssuerRef;
  /**
   * Certificate lifetime, as cert-manager reads it (Go duration in hours, e.g. `2160h`).
   *
   * @default '2160h' (90 days)
   */
  readonly duration?: string;
  /**
   * How long before expiry cert-manager renews: the daemons pick the new certificate up in place (see the
   * README, "TLS"), so a renewal is routine, not an outage; leave time for a failed renewal to be noticed.
   *
   * @default '720h' (30 days)
   */
  readonly renewBefore?: string;
}

/** A certificate the user brings, in a `kubernetes.io/tls`-shaped Secret. */
export interface TlsSecret {
  /** The `name` of the construct that uses it (e.g. `galera` for the GaleraPetSet named `galera`). */
  readonly component: string;
  /** The Secret in the component's namespace. */
  readonly secretName: string;
  /**
   * Every DNS name and IP address the certificate is valid for (its subject alternative names; `*.` wildcards
   * cover one label). The construct refuses a certificate that does not cover every name its peers and
   * clients connect to, and names the missing ones.
   */
  readonly covers: string[];
  /**
   * The Secret key of the PEM certificate (chain).
   *
   * @default 'tls.crt'
   */
  readonly certificateKey?: string;
  /**
   * The Secret key of the PEM private key.
   *
   * @default 'tls.key'
   */
  readonly privateKeyKey?: string;
  /**
   * The Secret key of the PEM CA bundle peers and clients are verified with (may hold the old and the new CA
   * during a CA rotation).
   *
   * @default 'ca.crt'
   */
  readonly caKey?: string;
}

/** Certificates the user brings. */
export interface TlsSecretsOptions {
  /** One Secret per component that uses TLS. */
  readonly secrets: TlsSecret[];
}
