/**
 * HaproxyLoadBalancer's TLS options (the rest of its props are still in haproxy-load-balancer.ts). The rules are
 * in validation.ts; the rendering in render.ts.
 */
import { TlsCertificates } from '../tls/tls-certificates';

/**
 * TLS termination on every API (HTTP) service of the load balancer. The certificate covers the VIP, every node
 * address and `hostnames`; it is renewed in place (the reloader hands HAProxy the new files through its runtime
 * API: no reload, no connection dropped). TCP services and the Galera listener are passed through unchanged.
 */
export interface HaproxyTlsOptions {
  /** Where the certificate comes from (`TlsCertificates.certManager` or `.fromSecrets`, component = the load balancer's name). */
  readonly certificates: TlsCertificates;
  /**
   * DNS names clients use for the VIP (e.g. `api.example.com`): the certificate covers them and the endpoint URLs
   * use the first one instead of the VIP address.
   *
   * @default - none: clients use the VIP address (an IP subject alternative name)
   */
  readonly hostnames?: string[];
  /**
   * Also listen in plain HTTP on each API's `httpRedirectPort` (the dashboard's 80 by default) and redirect every
   * request there to HTTPS (308: a POST stays a POST).
   *
   * @default false
   */
  readonly redirectHttp?: boolean;
  /**
   * Send `Strict-Transport-Security` on every HTTPS response, so browsers never use plain HTTP for these names
   * again (for `hstsMaxAgeSeconds`).
   *
   * @default true
   */
  readonly hsts?: boolean;
  /**
   * HSTS `max-age`, in seconds.
   *
   * @default 63072000 (2 years)
   */
  readonly hstsMaxAgeSeconds?: number;
  /**
   * TLS to the API backends as well (`ssl verify required`), verified with the CA of `certificates` (the `ca.crt`
   * beside the certificate: one CA signs every component) and the server's DNS name.
   *
   * @default false (plain HTTP to the backends, inside the cluster network)
   */
  readonly reencrypt?: boolean;
}
