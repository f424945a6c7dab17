import { duplicates, isDns1123Subdomain, isIpAddress, isPort, Validator } from '../common/validation';
import { validateImage } from '../common/k8s-rules';
import { validateObjectName } from '../common/network';
import { RenamingValidator, propRenames } from '../common/prop-names';
import { ContainerResources, validateResources } from '../common/resources';
import { TlsCertificateRequest } from '../tls/model';
import { TlsCertificates } from '../tls/tls-certificates';
import type { HaproxyLoadBalancerProps } from './haproxy-load-balancer';
import { HaproxyModel, HaproxyServer, HaproxyService } from './model';
import { HaproxyTlsOptions } from './props';
import { HAPROXY_RESERVED_NAMES, REDIRECT_SUFFIX, haproxyListenPorts } from './render';

/** Characters HAProxy accepts in proxy, server and peer names (anything else is a fatal config error). */
const HAPROXY_NAME = /^[A-Za-z0-9_.:-]+$/;
/** Section names the renderer uses itself (proxies, and the resolvers section). */
const RESERVED_NAMES = ['stats', 'galera', ...HAPROXY_RESERVED_NAMES];
/**
 * HAProxy keeps timeouts in milliseconds in a signed 32-bit int: `timeout client 2147484s` is a fatal
 * "timer overflow" at `haproxy -c`, after synth passed. In seconds, the largest that fits.
 */
export const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
/** HSTS max-age bound: 10 years (browsers cap it anyway; more is a typo). */
const MAX_HSTS_SECONDS = 10 * 365 * 86400;
/** HTTP paths go unquoted into `http-check send ... uri <path>`: no spaces, quotes or '#'. */
const CHECK_PATH = /^\/[A-Za-z0-9._~\/%?=&-]*$/;

/** Records every problem of the model in `v`, props named as fields of the model (`services[1].port`). */
export function validateHaproxyModel(model: HaproxyModel, v: Validator, prefix = ''): void {
  const p = (field: string) => `${prefix}${field}`;
  v.check(!isIpAddress(model.bindAddress), p('bindAddress'), model.bindAddress,
    'must be a literal address: 0.0.0.0 (or ::), or the node address; never the VIP');
  v.check(!Number.isInteger(model.maxConnections) || model.maxConnections < 1, p('maxConnections'),
    model.maxConnections, 'must be a positive integer');
  model.nameservers.forEach((ns, i) => v.check(!isIpAddress(ns), p(`nameservers[${i}]`), ns,
    'must be a literal address (the cluster DNS Service IP, e.g. 10.96.0.10)'));

  model.services.forEach((s, i) => {
    const sp = p(`services[${i}]`);
    v.check(!HAPROXY_NAME.test(s.name), `${sp}.name`, s.name, 'must use only letters, digits, "_", ".", ":" or "-"');
    v.check(RESERVED_NAMES.includes(s.name), `${sp}.name`, s.name, `is reserved (${RESERVED_NAMES.join(', ')})`);
    v.check(s.mode !== 'http' && s.mode !== 'tcp', `${sp}.mode`, s.mode, 'must be "http" or "tcp"');
    v.check(s.servers.length === 0 && !s.discovery, `${sp}.servers`, [],
      'is empty: give servers or a discovery DNS name, or remove the service (HAProxy would answer 503)');
    validateServers(s.servers, v, `${sp}.servers`);
    if (s.discovery) {
      const d = s.discovery;
      v.check(!isDns1123Subdomain(d.fqdn), `${sp}.discovery.fqdn`, d.fqdn, 'must be a DNS name (lower-case)');
      v.check(!isPort(d.port), `${sp}.discovery.port`, d.port, 'must be a port 1..65535');
      v.check(!Number.isInteger(d.slots) || d.slots < 1 || d.slots > 256, `${sp}.discovery.slots`, d.slots,
        'must be an integer 1..256');
      const template = new RegExp(`^${s.name.replace(/[.]/g, '\\.')}-\\d+$`);
      for (const server of s.servers.filter((x) => template.test(x.name))) {
        v.add(`${sp}.servers[].name`, server.name, `collides with the discovery slots "${s.name}-<n>"; rename it`);
      }
    }
    if (s.httpCheck) {
      v.check(s.mode !== 'http', `${sp}.httpCheck`, s.httpCheck, 'needs mode "http"');
      v.check(!CHECK_PATH.test(s.httpCheck.path), `${sp}.httpCheck.path`, s.httpCheck.path,
        'must start with "/" and use only letters, digits and . _ ~ / % ? = & -');
      if (s.httpCheck.port !== undefined) {
        v.check(!isPort(s.httpCheck.port), `${sp}.httpCheck.port`, s.httpCheck.port, 'must be a port 1..65535');
      }
    }
    checkTimeout(s.timeoutSeconds, v, `${sp}.timeoutSeconds`);
    if (s.redirectPort !== undefined) {
      v.check(!model.tls, `${sp}.redirectPort`, s.redirectPort, 'redirects to HTTPS, which needs tls: turn TLS on or remove the redirect');
      v.check(model.tls !== undefined && s.mode !== 'http', `${sp}.redirectPort`, s.redirectPort,
        'needs mode "http" (a TCP service is passed through, HAProxy does not terminate its TLS)');
      v.check(model.services.some((o) => o.name === `${s.name}${REDIRECT_SUFFIX}`), `${sp}.name`, s.name,
        `has a redirect frontend named "${s.name}${REDIRECT_SUFFIX}", which is also a service's name; rename that service`);
    }
  });
  if (model.tls) {
    const t = model.tls;
    v.check(!model.services.some((s) => s.mode === 'http'), p('tls'), 'on',
      'terminates TLS on HTTP services, and there is none (TCP services and Galera are passed through); remove tls or add an API');
    if (t.hstsMaxAgeSeconds !== undefined) {
      v.check(!Number.isInteger(t.hstsMaxAgeSeconds) || t.hstsMaxAgeSeconds < 1 || t.hstsMaxAgeSeconds > MAX_HSTS_SECONDS,
        p('tls.hstsMaxAgeSeconds'), t.hstsMaxAgeSeconds, `must be a whole number of seconds, 1..${MAX_HSTS_SECONDS} (2 years is usual); turn hsts off instead of 0`);
    }
    for (const [field, path] of [['certificate', t.certificate], ['ca', t.ca]]) {
      v.check(!/^\/[A-Za-z0-9._\/-]+$/.test(path), p(`tls.${field}`), path, 'must be an absolute path of letters, digits and . _ / -');
    }
  }
  for (const name of duplicates(model.services.map((s) => s.name))) {
    v.add(p('services[].name'), name, 'is used by several services; names must be unique');
  }

  if (model.galera) {
    const g = model.galera;
    v.check(g.servers.length === 0, p('galera.servers'), [], 'is empty: list the Galera members');
    validateServers(g.servers, v, p('galera.servers'));
    v.check(!isPort(g.checkPort), p('galera.checkPort'), g.checkPort, 'must be a port 1..65535');
    v.check(!CHECK_PATH.test(g.checkPath), p('galera.checkPath'), g.checkPath,
      'must start with "/" and use only letters, digits and . _ ~ / % ? = & -');
    checkTimeout(g.timeoutSeconds, v, p('galera.timeoutSeconds'));
    v.check(g.timeoutSeconds < 3600, p('galera.timeoutSeconds'), g.timeoutSeconds,
      'should exceed oslo.db connection_recycle_time (3600 s) so HAProxy does not cut pooled connections');
  }

  // Each listen port named by its field, so that a clash names both places to change.
  const ports = haproxyListenPorts(model);
  const fields = [...model.services.map((_, i) => `services[${i}].port`), 'statsPort', ...(model.galera ? ['galera.port'] : []),
    ...model.services.flatMap((s, i) => (s.redirectPort !== undefined ? [`services[${i}].redirectPort`] : []))];
  ports.forEach((port, i) => v.check(!isPort(port), p(fields[i]), port, 'must be a port 1..65535'));
  for (const port of duplicates(ports)) {
    const at = fields.filter((_, i) => ports[i] === port);
    v.add(p(at[at.length - 1]), port, `is also the port of ${at.slice(0, -1).map(p).join(', ')}; HAProxy listens on each port once, use distinct ports`);
  }
}

function validateServers(servers: readonly HaproxyServer[], v: Validator, prop: string): void {
  servers.forEach((s, i) => {
    v.check(!HAPROXY_NAME.test(s.name), `${prop}[${i}].name`, s.name,
      'must use only letters, digits, "_", ".", ":" or "-"');
    v.check(!isIpAddress(s.address) && !isDns1123Subdomain(s.address), `${prop}[${i}].address`, s.address,
      'must be an IP address or a lower-case DNS name');
    v.check(!isPort(s.port), `${prop}[${i}].port`, s.port, 'must be a port 1..65535');
  });
  for (const name of duplicates(servers.map((s) => s.name))) {
    v.add(`${prop}[].name`, name, 'is used by several servers of one backend; names must be unique');
  }
}

function checkTimeout(seconds: number, v: Validator, prop: string): void {
  v.check(!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_TIMEOUT_SECONDS, prop, seconds,
    `must be a whole number of seconds, 1..${MAX_TIMEOUT_SECONDS} (HAProxy keeps timeouts as 32-bit milliseconds)`);
}

/**
 * HAProxy asks for about 2 x maxconn file descriptors and exits when the container's hard `nofile` limit is lower.
 * containerd 2 leaves containers at a hard limit of 524288 (older runtimes give more): stay within half of it.
 */
const MAX_CONNECTIONS_LIMIT = 250_000;
/** Worst case per connection: two 16 KiB buffers (request and response). */
const KIB_PER_CONNECTION = 32;

/** HaproxyLoadBalancer's own props, before the model is built from them. */
export function validateLoadBalancerProps(v: Validator, props: HaproxyLoadBalancerProps, r: {
  readonly name: string; readonly clusterDomain: string; readonly drainSeconds: number;
  readonly resources: Required<ContainerResources>; readonly image: string; readonly reloaderImage: string;
}): void {
  const { name, clusterDomain, drainSeconds, resources } = r;
  const nodes = props.placement.nodes;
  const galera = props.galera;
  validateObjectName(v, 'name', name);
  props.placement._validate(v, 'placement');
  v.check(nodes === undefined && props.vip !== undefined, 'placement', 'labelled nodes without an inventory',
    'gives no node names and addresses for the VIP; use Placement.onNodes or pass `nodes`');
  v.check(props.services.length === 0 && galera === undefined, 'services', [], 'is empty; list the services to load-balance');
  v.check(!isDns1123Subdomain(clusterDomain), 'clusterDomain', clusterDomain, 'must be a lower-case DNS domain, e.g. "cluster.local"');
  validateImage(v, 'image', r.image);
  validateImage(v, 'reloaderImage', r.reloaderImage);
  v.check(!Number.isInteger(drainSeconds) || drainSeconds < 0 || drainSeconds > 300, 'drainSeconds', drainSeconds, 'must be a whole number from 0 to 300');
  validateResources(v, 'resources', resources);
}

/** The model's rules, named after the props each field comes from, and what the props add to them. */
export function validateLoadBalancerModel(v: Validator, props: HaproxyLoadBalancerProps, model: HaproxyModel,
  resources: Required<ContainerResources>): void {
  const nodes = props.placement.nodes;
  // The model's fields renamed to the props they come from, so every message names what the user wrote.
  validateHaproxyModel(model, new RenamingValidator(v, propRenames([
    [/^(services\[\d+\])\.httpCheck\.path$/, '$1.checkPath'],
    [/^(services\[\d+\])\.discovery\.fqdn$/, '$1.discoverFrom'],
    [/^(services\[\d+\])\.discovery\.port$/, '$1.discoveryPort'],
    [/^(services\[\d+\])\.discovery\.slots$/, '$1.discoverySlots'],
    [/^galera\.port$/, 'galeraPort'],
    [/^(services\[\d+\])\.redirectPort$/, '$1.httpRedirectPort'],
  ])));
  v.check(model.maxConnections > MAX_CONNECTIONS_LIMIT, 'maxConnections', model.maxConnections,
    `needs about ${2 * model.maxConnections} file descriptors; keep it at most ${MAX_CONNECTIONS_LIMIT} (half the usual hard nofile limit)`);
  const neededMiB = Math.ceil((model.maxConnections * KIB_PER_CONNECTION) / 1024);
  v.check(neededMiB > resources.memoryLimitMiB, 'maxConnections', model.maxConnections,
    `can use ${neededMiB} MiB of buffers (${KIB_PER_CONNECTION} KiB each) above the ${resources.memoryLimitMiB} MiB memory limit; raise resources.memoryLimitMiB or lower maxConnections`);
  if (props.vip && nodes) {
    const lbNodes = new Set(nodes.map((n) => n.name));
    for (const node of props.vip.nodeNames.filter((n) => !lbNodes.has(n))) {
      v.add('vip', props.vip.name, `may be held by node "${node}", where this HAProxy does not run (its check would never pass there); run HAProxy on every VIP node`);
    }
  }
}

/**
 * The tls prop's own rules (the model adds the rendered ones: an HTTP service to terminate on, the HSTS range); the
 * certificate itself is requested, and its names checked, through `requestCertificate`.
 */
export function validateLoadBalancerTls(v: Validator, tls: HaproxyTlsOptions, services: ReadonlyArray<HaproxyService | undefined>,
  request: TlsCertificateRequest, requestCertificate: () => void): void {
  for (const flag of ['redirectHttp', 'hsts', 'reencrypt'] as const) {
    v.check(tls[flag] !== undefined && typeof tls[flag] !== 'boolean', `tls.${flag}`, tls[flag], 'must be true or false');
  }
  v.check(tls.hsts === false && tls.hstsMaxAgeSeconds !== undefined, 'tls.hstsMaxAgeSeconds', tls.hstsMaxAgeSeconds,
    'is set while hsts is false; remove one of them');
  v.check(tls.redirectHttp === true && services.length > 0 && !services.some((s) => s?.redirectPort !== undefined), 'tls.redirectHttp', true,
    'redirects nothing: no API has a plain port to redirect from (only horizon has one by default, 80 -> 443); set httpRedirectPort on an API or remove redirectHttp');
  const hostnames = tls.hostnames ?? [];
  if (!v.check(!Array.isArray(hostnames), 'tls.hostnames', hostnames, 'must be a list of DNS names')) {
    hostnames.forEach((h, i) => v.check(typeof h !== 'string' || !isDns1123Subdomain(h), `tls.hostnames[${i}]`, h,
      'must be a lower-case DNS name clients use for the VIP, e.g. "api.example.com" (no wildcard, no IP: the VIP address is always covered)'));
    for (const dup of duplicates(hostnames)) v.add('tls.hostnames', dup, 'is listed more than once');
  }
  if (v.check(request.dnsNames.length + request.ipAddresses.length === 0, 'tls.hostnames', hostnames,
    'is empty and there is no VIP or node inventory: the certificate would cover no name; give the DNS names clients use')) return;
  if (!v.check(!(tls.certificates instanceof TlsCertificates), 'tls.certificates', tls.certificates,
    'must come from TlsCertificates.certManager(...) or TlsCertificates.fromSecrets(...)')) {
    requestCertificate();
  }
}

/**
 * The names the load balancer's certificate must cover: the VIP (IP), every node's address (clients and checks may
 * reach one node directly; the VIP moves between them), and the DNS names users give for the VIP.
 */
export function haproxyCertificateRequest(component: string, namespace: string | undefined, props: HaproxyLoadBalancerProps): TlsCertificateRequest {
  const ips = [...(props.vip ? [props.vip.address] : []), ...(props.placement.nodes ?? []).map((n) => n.ip)];
  return {
    component,
    namespace,
    dnsNames: Array.isArray(props.tls?.hostnames) ? [...props.tls!.hostnames] : [],
    ipAddresses: ips.filter((ip, i) => ips.indexOf(ip) === i),
  };
}
