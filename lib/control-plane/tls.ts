/**
 * OpenStackControlPlane's TLS as plain data: which TLS options each part gets from the one `tls` prop and the
 * per-component props, and the rules that span parts (ProxySQL in front of Galera, keystonemiddleware's memcached
 * TLS). No cdk8s here: the construct passes the result to its parts, which check their own options.
 *
 * Precedence: a per-component prop (`galeraTls`, `proxySqlTls`, ...) replaces what `tls` would give that component,
 * whole (no field merge). That is what the Galera steps need on a running cluster (README, "TLS": `tls` for
 * everything, `galeraTls` with `replicationTransition` for the first roll), and it keeps the result readable: each
 * component's options come from exactly one prop, which the error messages name.
 */
import { FieldProblem, duplicates, fieldProblems, isDns1123Subdomain } from '../common/validation';
import { GaleraTlsOptions } from '../galera/props';
import { OPENSTACK_ENDPOINTS } from '../haproxy/catalogue';
import { HaproxyTlsOptions } from '../haproxy/props';
import { MemcachedTlsOptions } from '../memcached/props';
import type { ProxySqlTlsOptions } from '../proxysql/proxysql-layer';
import { backendTls } from '../proxysql/model';
import type { RabbitTlsOptions } from '../rabbitmq/tls';
import { TlsCertificates } from '../tls/tls-certificates';

/** TLS on every connection of the control plane, from one prop (`OpenStackControlPlane`'s `tls`). */
export interface ControlPlaneTlsOptions {
  /**
   * Where every certificate comes from: `TlsCertificates.certManager({ issuer })` (one Certificate per component:
   * `galera-tls`, `proxysql-tls`, `memcached-tls`, `rabbitmq-tls`, `api-lb-tls`), or `TlsCertificates.fromSecrets`
   * with one Secret per component (`galera`, `proxysql`, `memcached`, `rabbitmq`, `api-lb`). One CA signs them all:
   * the components and the services verify each other with it.
   */
  readonly certificates: TlsCertificates;
  /**
   * DNS names clients use for the API VIP (e.g. `api.example.com`): the VIP's certificate covers them and the
   * endpoint URLs use the first.
   *
   * @default - none: the endpoints name the VIP's address
   */
  readonly apiHostnames?: string[];
  /**
   * Refuse plaintext SQL: `require_secure_transport` on the Galera members and `use_ssl` on every ProxySQL user (the
   * `connection()` URLs carry the CA). On a running deployment, apply `false` first and `true` once every service
   * runs with the new URLs.
   *
   * @default true
   */
  readonly requireSecureTransport?: boolean;
}

/** The control plane's TLS props, and what the derivation needs to know about its services. */
export interface ControlPlaneTlsInput {
  readonly tls?: ControlPlaneTlsOptions;
  readonly apiTls?: HaproxyTlsOptions;
  readonly memcachedTls?: MemcachedTlsOptions;
  readonly rabbitmqTls?: RabbitTlsOptions;
  readonly proxySqlTls?: ProxySqlTlsOptions;
  readonly galeraTls?: GaleraTlsOptions;
  /** The services with an API on the VIP: their catalogue name and their port, if set. */
  readonly apis: ReadonlyArray<{ readonly name: string; readonly port?: number }>;
}

/** The part whose options the derivation gives, by the control plane's prop for it. */
export const COMPONENT_PROPS = {
  api: 'apiTls', memcached: 'memcachedTls', rabbitmq: 'rabbitmqTls', proxySql: 'proxySqlTls', galera: 'galeraTls',
} as const;
export type TlsComponent = keyof typeof COMPONENT_PROPS;

/** Each part's TLS options (undefined: plaintext), and which prop they came from (`tls` or the part's own). */
export interface ResolvedControlPlaneTls {
  readonly api?: HaproxyTlsOptions;
  readonly memcached?: MemcachedTlsOptions;
  readonly rabbitmq?: RabbitTlsOptions;
  readonly proxySql?: ProxySqlTlsOptions;
  readonly galera?: GaleraTlsOptions;
  readonly from: Readonly<Record<TlsComponent, string>>;
}

/** Whether an API listens on a plain port of its own that HAProxy can redirect (horizon on its default port: 80 -> 443). */
function redirectable(api: { readonly name: string; readonly port?: number }): boolean {
  return OPENSTACK_ENDPOINTS[api.name]?.tlsPort !== undefined && api.port === undefined;
}

/**
 * What `tls` gives each part, with the per-component props in its place where set. The defaults `tls` chooses:
 * - Galera: client TLS, replication and IST, SST (GaleraTlsOptions' defaults), `require_secure_transport`;
 * - ProxySQL: TLS for clients (the VIP in its certificate) and to the members (backend: off while Galera is in its
 *   `replicationTransition` roll, when members not yet restarted have no TLS), `use_ssl` on every user;
 * - memcached: TLS with client certificates (memcached has no other authentication);
 * - RabbitMQ: AMQPS only, HTTPS management, TLS distribution; clients authenticate with their passwords
 *   (client certificates stay opt-in with `rabbitmqTls.verifyClients`);
 * - HAProxy: HTTPS for every API on the VIP (the VIP and the edge nodes' IPs in its certificate), HSTS, and the
 *   HTTP -> HTTPS redirect where an API has a plain port to redirect from (horizon's 80).
 * Without `tls`, the per-component props alone (each undefined: plaintext).
 */
export function resolveControlPlaneTls(input: ControlPlaneTlsInput): ResolvedControlPlaneTls {
  const tls = isTlsObject(input.tls) ? input.tls : undefined;
  const from = Object.fromEntries(Object.entries(COMPONENT_PROPS)
    .map(([component, prop]) => [component, input[prop] !== undefined || tls === undefined ? prop : 'tls'])) as Record<TlsComponent, string>;
  if (tls === undefined) {
    return {
      from,
      ...defined({ api: input.apiTls, memcached: input.memcachedTls, rabbitmq: input.rabbitmqTls, proxySql: input.proxySqlTls, galera: input.galeraTls }),
    };
  }
  const certificates = tls.certificates;
  const requireSecureTransport = tls.requireSecureTransport ?? true;
  const galera = input.galeraTls ?? { certificates, requireSecureTransport };
  const apis = input.apis;
  return {
    from,
    galera,
    proxySql: input.proxySqlTls ?? { certificates, requireSecureTransport, backend: galera.replicationTransition !== true },
    memcached: input.memcachedTls ?? { certificates, verifyClients: true },
    rabbitmq: input.rabbitmqTls ?? { certificates },
    // Nothing to terminate without an API: HaproxyLoadBalancer refuses TLS with no HTTP service.
    ...defined({
      api: input.apiTls ?? (apis.length === 0 ? undefined : {
        certificates,
        ...(tls.apiHostnames !== undefined ? { hostnames: tls.apiHostnames } : {}),
        redirectHttp: apis.some(redirectable),
        hsts: true,
      }),
    }),
  };
}

function isTlsObject(tls: unknown): tls is ControlPlaneTlsOptions {
  return tls !== undefined && tls !== null && typeof tls === 'object' && !Array.isArray(tls);
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * The `tls` prop's own shape, and the rules that span parts, on the resolved options (each part checks the rest of
 * its own options when it is built). Every field is named after the prop the user wrote.
 */
export function controlPlaneTlsProblems(input: ControlPlaneTlsInput, resolved: ResolvedControlPlaneTls): FieldProblem[] {
  const { problems, check } = fieldProblems();
  const tls: unknown = input.tls;
  if (tls !== undefined) {
    if (!check(!isTlsObject(tls), 'tls', tls, 'must be { certificates, apiHostnames?, requireSecureTransport? }')) {
      const o = tls as ControlPlaneTlsOptions;
      check(!(o.certificates instanceof TlsCertificates), 'tls.certificates', o.certificates,
        'must be TlsCertificates.certManager({ issuer }) or TlsCertificates.fromSecrets({ secrets }): one source for every component');
      check(o.requireSecureTransport !== undefined && typeof o.requireSecureTransport !== 'boolean', 'tls.requireSecureTransport', o.requireSecureTransport,
        'must be true or false');
      // Checked here, not by HaproxyLoadBalancer, so the error names the prop the user wrote.
      const hostnames = o.apiHostnames;
      if (!check(hostnames !== undefined && !Array.isArray(hostnames), 'tls.apiHostnames', hostnames, "must be a list of DNS names, e.g. ['api.example.com']")) {
        (hostnames ?? []).forEach((h, i) => check(typeof h !== 'string' || !isDns1123Subdomain(h), `tls.apiHostnames[${i}]`, h,
          'must be a DNS name clients use for the VIP (lower case, e.g. api.example.com)'));
        for (const dup of duplicates(hostnames ?? [])) check(true, 'tls.apiHostnames', dup, 'is listed more than once; list each name once');
      }
    }
  }
  const { galera, proxySql } = resolved;
  const galeraTls = galera !== null && typeof galera === 'object';
  const proxySqlTls = proxySql !== null && typeof proxySql === 'object';
  // ProxySQL's backend TLS by ProxySqlLayer's own rule (on whenever the GaleraPetSet has TLS, unless `backend` says).
  const backend = backendTls(proxySqlTls ? proxySql : undefined, galeraTls);
  check(galeraTls && galera.requireSecureTransport === true && !backend, `${resolved.from.galera}.requireSecureTransport`, true,
    `refuses plaintext clients, and ProxySQL would connect to the members in plaintext (${proxySqlTls ? `${resolved.from.proxySql}.backend is false` : 'no proxySqlTls'}): ` +
    `${proxySqlTls ? `set ${resolved.from.proxySql}.backend` : 'set proxySqlTls (or tls)'}, or requireSecureTransport: false`);
  check(proxySqlTls && proxySql.backend === true && !galeraTls, `${resolved.from.proxySql}.backend`, true,
    'needs TLS on the control plane\'s Galera members (galeraTls or tls): they would refuse the TLS handshake; set one, or leave backend off');
  check(galeraTls && galera.replicationTransition === true && backend, `${resolved.from.proxySql}.backend`, proxySqlTls ? proxySql.backend : undefined,
    `is on while ${resolved.from.galera}.replicationTransition rolls the members one at a time: those not yet restarted have no TLS, and ProxySQL would ` +
    'fail every connection to them; set backend: false for this step and turn it on with the next (README, "TLS")');
  return problems;
}
