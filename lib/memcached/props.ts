/**
 * MemcachedPool's TLS options (the rest of its props are still in memcached-pool.ts). The rules are in
 * validation.ts; the command line in memcached-args.ts; the certificate reloader in pod.ts.
 */
import { TlsCertificates } from '../tls/tls-certificates';

/**
 * TLS on every memcached instance (`-Z`): TLS 1.2 or later with strong ciphers only, nothing in plaintext. The
 * certificate covers each instance's address as clients list it (node IPs on the host network, the pods' DNS names on
 * the pod network) and is renewed in place: a sidecar sends memcached `refresh_certs` when the mounted Secret changes
 * (no restart, no connection dropped).
 */
export interface MemcachedTlsOptions {
  /** Where the certificate comes from (`TlsCertificates.certManager` or `.fromSecrets`, component = the pool's name). */
  readonly certificates: TlsCertificates;
  /**
   * Require a client certificate signed by the CA (`ssl_verify_mode=2`): only clients holding one may use the cache.
   * The clients (oslo.cache, keystonemiddleware, the exporter, the reloader) then present one: see
   * `OpenStackControlPlane.connection()`'s `clientCertificatePath`. The pool's own certificate is used by its sidecars,
   * so with `fromSecrets` it must allow client authentication (no extended key usage, or `clientAuth`).
   *
   * @default false (any client that trusts the CA; memcached has no other authentication)
   */
  readonly verifyClients?: boolean;
}

/** Where a client (an OpenStack service's pod) has the files it needs to reach a TLS memcached pool. */
export interface MemcachedClientTls {
  /** The CA bundle that signed the pool's certificate, as mounted in the client's pod (e.g. the `ca.crt` of the pool's Secret). */
  readonly caFile: string;
  /**
   * The client's certificate (PEM), required when the pool verifies clients (`tls.verifyClients`).
   *
   * @default - none: the client presents no certificate
   */
  readonly certificateFile?: string;
  /**
   * The client's private key (PEM), with `certificateFile`.
   *
   * @default - none
   */
  readonly keyFile?: string;
}
