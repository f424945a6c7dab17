import { isIP } from 'net';
import { duplicates, isDns1123Subdomain, isIpAddress, isPort, Validator } from '../common/validation';
import { validateImage, validatePortName, validatePriorityClassName } from '../common/k8s-rules';
import { validateObjectName } from '../common/network';
import { RenamingValidator, propRenames } from '../common/prop-names';
import { ContainerResources, validateResources } from '../common/resources';
import type { KeepalivedVipProps, VipServiceOptions } from './props';
import { KeepalivedVipModel, VrrpNode } from './model';

/**
 * Records every problem of one VIP model in `v`, with props named as the construct would (`prefix` + field),
 * e.g. `nodes[2].priority: 150 is used by node "lb-1"; ...`.
 */
export function validateKeepalivedVip(model: KeepalivedVipModel, v: Validator, prefix = ''): void {
  const p = (field: string) => `${prefix}${field}`;
  v.check(!/^[A-Za-z0-9_-]{1,32}$/.test(model.name), p('name'), model.name,
    'must be 1-32 letters, digits, "_" or "-" (it names the VRRP instance and its check script)');

  const family = isIP(model.address);
  if (!v.check(family === 0, p('address'), model.address, 'must be a literal IPv4 or IPv6 address, without prefix')) {
    const max = family === 4 ? 32 : 128;
    v.check(!Number.isInteger(model.prefixLength) || model.prefixLength < 1 || model.prefixLength > max,
      p('prefixLength'), model.prefixLength, `must be an integer 1..${max} for an IPv${family} VIP`);
    const owner = model.nodes.find((n) => n.address === model.address);
    if (owner) v.add(p('address'), model.address, `is node "${owner.name}"'s own address; pick an unused address`);
    const reserved = reservedVipAddress(model.address, model.subnet !== undefined ? model.prefixLength : undefined);
    if (reserved) v.add(p('address'), model.address, reserved);
  }
  checkInterfaceName(model.interface, v, p('interface'));
  v.check(!Number.isInteger(model.virtualRouterId) || model.virtualRouterId < 1 || model.virtualRouterId > 255,
    p('virtualRouterId'), model.virtualRouterId, 'must be an integer 1..255, unique on the layer-2 segment');
  const centis = model.advertIntervalSeconds * 100;
  const wholeCentis = Math.round(centis);
  v.check(!(wholeCentis >= 1 && wholeCentis <= 4095 && Math.abs(centis - wholeCentis) < 1e-6),
    p('advertIntervalSeconds'), model.advertIntervalSeconds,
    'must be 0.01..40.95 seconds in 0.01 steps (VRRPv3); 0.2 gives sub-second failover');

  validateNodes(model, family, v, p);
  validateTrackCheck(model, v, p);
  if (model.subnet !== undefined) validateSubnet(model, v, p);
}

/**
 * Problems across several VIPs managed together: a virtual router id used twice on one interface makes both
 * VRRP routers drop each other's adverts as misconfigured (or, worse, fight over the same virtual MAC).
 */
export function validateKeepalivedVipSet(models: readonly KeepalivedVipModel[], v: Validator): void {
  for (const name of duplicates(models.map((m) => m.name))) {
    v.add('vips[].name', name, 'is used by several VIPs; give each VIP its own name');
  }
  for (const address of duplicates(models.map((m) => m.address))) {
    v.add('vips[].address', address, 'is claimed by several VIPs; each VIP needs its own address');
  }
  const seen = new Map<string, string>();
  for (const m of models) {
    // The interface can differ per node, so a collision is a (node, interface, id) used by two VIPs.
    const keys = new Set(m.nodes.map((n) => `${n.name}/${n.interface ?? m.interface}/${m.virtualRouterId}`));
    for (const key of keys) {
      const other = seen.get(key);
      if (other !== undefined && other !== m.name) {
        const [node, iface] = key.split('/');
        v.add(`vips["${m.name}"].virtualRouterId`, m.virtualRouterId,
          `is also used by VIP "${other}" on ${iface} of node "${node}"; use a different id per VIP on one segment`);
        break;
      }
      seen.set(key, m.name);
    }
  }
}

function validateNodes(model: KeepalivedVipModel, family: number, v: Validator, p: (f: string) => string): void {
  v.check(model.nodes.length < 2, p('nodes'), model.nodes.map((n) => n.name),
    'must list at least 2 nodes: a VIP on one node cannot fail over (and unicast VRRP with no peer stays in FAULT)');
  model.nodes.forEach((node: VrrpNode, i) => {
    const np = p(`nodes[${i}]`);
    v.check(!isDns1123Subdomain(node.name), `${np}.name`, node.name,
      'must be a Kubernetes node name (lower-case RFC 1123 subdomain); it selects the node\'s config file');
    if (!v.check(!isIpAddress(node.address), `${np}.address`, node.address, 'must be a literal IPv4 or IPv6 address')
      && family !== 0) {
      v.check(isIP(node.address) !== family, `${np}.address`, node.address,
        `must be IPv${family} like the VIP: VRRP adverts and the VIP share one address family`);
    }
    v.check(!Number.isInteger(node.priority) || node.priority < 1 || node.priority > 254, `${np}.priority`,
      node.priority, 'must be an integer 1..254 (255 is reserved for the address owner)');
    if (node.interface !== undefined) checkInterfaceName(node.interface, v, `${np}.interface`);
  });
  for (const name of duplicates(model.nodes.map((n) => n.name))) {
    v.add(p('nodes[].name'), name, 'is listed twice; list each node once');
  }
  for (const address of duplicates(model.nodes.map((n) => n.address))) {
    v.add(p('nodes[].address'), address, 'is used by several nodes; each node needs its own address');
  }
  for (const priority of duplicates(model.nodes.map((n) => n.priority))) {
    v.add(p('nodes[].priority'), priority,
      'is used by several nodes; give each node a distinct priority so the takeover order is explicit');
  }
}

function validateTrackCheck(model: KeepalivedVipModel, v: Validator, p: (f: string) => string): void {
  const c = model.trackCheck;
  const cp = p('trackCheck');
  v.check(c.kind !== 'tcp' && c.kind !== 'http', `${cp}.kind`, c.kind, 'must be "tcp" or "http"');
  v.check(!isIpAddress(c.host), `${cp}.host`, c.host, 'must be a literal address (e.g. 127.0.0.1)');
  v.check(!isPort(c.port), `${cp}.port`, c.port, 'must be a port 1..65535');
  if (c.kind === 'http' && c.path !== undefined) {
    // keepalived splits the command on spaces and treats quotes specially: keep the path to URL-safe characters.
    v.check(!/^\/[A-Za-z0-9._~\/%?=&-]*$/.test(c.path), `${cp}.path`, c.path,
      'must start with "/" and use only letters, digits and . _ ~ / % ? = & -');
  }
  // keepalived 2.2.7's own ranges: it logs "outside range" and silently ignores or defaults the value (and
  // `keepalived -t` still exits 0), so the check would not run as written.
  v.check(!Number.isInteger(c.intervalSeconds) || c.intervalSeconds < 1 || c.intervalSeconds > MAX_SCRIPT_SECONDS, `${cp}.intervalSeconds`,
    c.intervalSeconds, `must be a whole number of seconds, 1..${MAX_SCRIPT_SECONDS} (keepalived 2.2.7 rounds it, and ignores a larger one)`);
  v.check(!Number.isInteger(c.timeoutSeconds) || c.timeoutSeconds < 1 || c.timeoutSeconds > c.intervalSeconds,
    `${cp}.timeoutSeconds`, c.timeoutSeconds, 'must be a whole number of seconds, 1..intervalSeconds');
  v.check(!Number.isInteger(c.rise) || c.rise < 1 || c.rise > MAX_INT32, `${cp}.rise`, c.rise, `must be a whole number 1..${MAX_INT32}`);
  v.check(!Number.isInteger(c.fall) || c.fall < 1 || c.fall > MAX_INT32, `${cp}.fall`, c.fall, `must be a whole number 1..${MAX_INT32}`);
}

function validateSubnet(model: KeepalivedVipModel, v: Validator, p: (f: string) => string): void {
  const subnet = parseCidr(model.subnet ?? '');
  if (!subnet) {
    v.add(p('subnet'), model.subnet, 'must be a CIDR such as 10.0.0.0/24 or fd00::/64');
    return;
  }
  v.check(isIpAddress(model.address) && !cidrContains(subnet, model.address), p('address'), model.address,
    `is outside the interface subnet ${model.subnet}; the VIP must be on the nodes' segment to move by ARP`);
  // Nodes of another family than the subnet are already reported as not matching the VIP's family.
  model.nodes.forEach((node, i) => {
    v.check(isIP(node.address) === subnet.family && !cidrContains(subnet, node.address), p(`nodes[${i}].address`), node.address,
      `is outside the interface subnet ${model.subnet}; VRRP peers must share the segment`);
  });
}

/** keepalived's range for `vrrp_script` interval and timeout (seconds; it keeps them in microseconds in 32 bits). */
const MAX_SCRIPT_SECONDS = 4294;
/** keepalived's range for rise and fall (`read_int`). */
const MAX_INT32 = 2 ** 31 - 1;

/**
 * Why `address` cannot be a VIP, or undefined: an address no host may hold (unspecified, loopback, multicast,
 * limited broadcast, IPv4 link-local used by the kernel's own autoconfiguration), or, with the subnet's prefix
 * length, its network address or (IPv4) its broadcast address, which routers and hosts of the segment treat
 * specially (a directed broadcast, the IPv6 subnet-router anycast address), so clients never reach the holder.
 */
export function reservedVipAddress(address: string, prefixLength?: number): string | undefined {
  const family = isIP(address);
  if (family === 0) return undefined;
  const value = addressToBigInt(address);
  const width = family === 4 ? 32 : 128;
  const inside = (cidr: string) => {
    const c = parseCidr(cidr);
    return c !== undefined && cidrContains(c, address);
  };
  const fix = 'pick a free unicast address of the nodes\' subnet';
  if (value === 0n) return `is the unspecified address; ${fix}`;
  if (inside('127.0.0.0/8') || address === '::1') return `is a loopback address; ${fix}`;
  if (inside('224.0.0.0/4') || inside('ff00::/8')) return `is a multicast address; ${fix}`;
  if (address === '255.255.255.255') return `is the limited broadcast address; ${fix}`;
  if (inside('169.254.0.0/16') || inside('fe80::/10')) return `is link-local (not routed, and reused by autoconfiguration); ${fix}`;
  if (prefixLength === undefined || !Number.isInteger(prefixLength) || prefixLength >= width - 1) return undefined;
  const host = value & ((1n << BigInt(width - prefixLength)) - 1n);
  if (host === 0n) return `is the network address of its prefix /${prefixLength}; ${fix}`;
  if (family === 4 && host === (1n << BigInt(32 - prefixLength)) - 1n) return `is the broadcast address of its prefix /${prefixLength}; ${fix}`;
  return undefined;
}

/** Kernel interface names: 1..15 bytes (IFNAMSIZ 16 with the NUL), no "/", ":" or white space, not "." or "..". */
function checkInterfaceName(name: string, v: Validator, prop: string): void {
  v.check(!/^[A-Za-z0-9_.@-]{1,15}$/.test(name) || name === '.' || name === '..', prop, name,
    'must be a Linux interface name: 1-15 letters, digits, "_", ".", "@" or "-"');
}

interface Cidr {
  readonly family: number;
  readonly network: bigint;
  readonly bits: number;
}

function parseCidr(text: string): Cidr | undefined {
  const [address, bitsText, ...rest] = text.split('/');
  const family = isIP(address ?? '');
  const bits = Number(bitsText);
  if (rest.length > 0 || family === 0 || !/^\d{1,3}$/.test(bitsText ?? '') || bits > (family === 4 ? 32 : 128)) {
    return undefined;
  }
  return { family, network: addressToBigInt(address), bits };
}

function cidrContains(cidr: Cidr, address: string): boolean {
  if (isIP(address) !== cidr.family) return false;
  const width = BigInt(cidr.family === 4 ? 32 : 128);
  const shift = width - BigInt(cidr.bits);
  return addressToBigInt(address) >> shift === cidr.network >> shift;
}

/** An IPv4 or IPv6 address as an integer (IPv6 may contain "::" and a dotted IPv4 tail). */
function addressToBigInt(address: string): bigint {
  if (isIP(address) === 4) return address.split('.').reduce((acc, octet) => (acc << 8n) + BigInt(octet), 0n);
  let text = address.split('%')[0];
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4tail) {
    const n = Number(addressToBigInt(v4tail[1]));
    text = text.slice(0, -v4tail[1].length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : new Array(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...zeros, ...tailGroups].reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g, 16)), 0n);
}

/** KeepalivedVip's own props, before the model is built from them. */
export function validateVipProps(v: Validator, props: KeepalivedVipProps,
  r: { readonly name: string; readonly resources: Required<ContainerResources>; readonly image: string }): void {
  validateObjectName(v, 'name', r.name, 32);
  props.placement._validate(v, 'placement');
  v.check(props.placement.nodes === undefined, 'placement', 'labelled nodes without an inventory',
    'gives no node addresses for the unicast peers; use Placement.onNodes or pass `nodes` to Placement.onLabelledNodes');
  validateResources(v, 'resources', r.resources);
  validateImage(v, 'image', r.image);
  validatePriorityClassName(v, 'priorityClassName', props.priorityClassName ?? 'system-node-critical');
}

/**
 * The model's rules, its fields renamed to the props they come from: `nodes[i]` is the placement's i-th node,
 * `trackCheck` the track.
 */
export function validateVipModel(v: Validator, model: KeepalivedVipModel): void {
  validateKeepalivedVip(model, new RenamingValidator(v, propRenames([[/^nodes/, 'placement nodes'], [/^trackCheck/, 'track']])));
}

/** Every problem of `KeepalivedVip.exposeService` options; `claimedPorts`: ports already served on the VIP, by owner. */
export function validateVipServiceOptions(v: Validator, options: VipServiceOptions, claimedPorts: ReadonlyMap<number, string>): void {
  validateObjectName(v, 'name', options.name);
  v.check(Object.keys(options.podSelector).length === 0, 'podSelector', options.podSelector,
    'is empty, which would select every pod; pass the workload\'s pod selector, e.g. proxySql.podSelector');
  v.check(options.ports.length === 0, 'ports', [], 'is empty; list the ports to expose on the VIP');
  options.ports.forEach((p, i) => {
    validatePortName(v, `ports[${i}].name`, p.name);
    v.check(!isPort(p.port), `ports[${i}].port`, p.port, 'must be a port 1..65535');
    v.check(p.targetPort !== undefined && !isPort(p.targetPort), `ports[${i}].targetPort`, p.targetPort, 'must be a port 1..65535');
    const owner = claimedPorts.get(p.port);
    v.check(owner !== undefined, `ports[${i}].port`, p.port,
      `is already served on this VIP by ${owner} (host network, 0.0.0.0); use another port`);
  });
  for (const dup of duplicates(options.ports.map((p) => p.port))) v.add('ports', dup, 'is listed twice');
  for (const dup of duplicates(options.ports.map((p) => p.name))) v.add('ports[].name', dup, 'is used twice; name each port once');
  (options.allowedSourceCidrs ?? []).forEach((cidr, i) => v.check(!isCidr(cidr), `allowedSourceCidrs[${i}]`, cidr,
    'is not a CIDR; use e.g. "192.0.2.0/24"'));
}

function isCidr(text: string): boolean {
  const [address, bits, ...rest] = text.split('/');
  const max = address.includes(':') ? 128 : 32;
  return rest.length === 0 && isIpAddress(address) && /^\d{1,3}$/.test(bits ?? '') && Number(bits) <= max;
}
