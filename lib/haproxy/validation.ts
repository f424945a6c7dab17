import { duplicates, isDns1123Subdomain, isIpAddress, isPort, Validator } from '../common/validation';
import { validateImage } from '../common/k8s-rules';
import { validateObjectName } from '../common/network';
import { RenamingValidator, propRenames } from '../common/prop-names';
import { ContainerResources, validateResources } from '../common/resources';
import type { HaproxyLoadBalancerProps } from './haproxy-load-balancer';
import { HaproxyModel, HaproxyServer } from './model';
import { HAPROXY_RESERVED_NAMES, haproxyListenPorts } from './render';

/** Characters HAProxy accepts in proxy, server and peer names (anything else is a fatal config error). */
const HAPROXY_NAME = /^[A-Za-z0-9_.:-]+$/;
/** Section names the renderer uses itself (proxies, and the resolvers section). */
const RESERVED_NAMES = ['stats', 'galera', ...HAPROXY_RESERVED_NAMES];
/**
 * HAProxy keeps timeouts in milliseconds in a signed 32-bit int: `timeout client 2147484s` is a fatal
 * "timer overflow" at `haproxy -c`, after synth passed. In seconds, the largest that fits.
 */
export const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
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
  });
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
  const fields = [...model.services.map((_, i) => `services[${i}].port`), 'statsPort', ...(model.galera ? ['galera.port'] : [])];
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
