/**
 * Every rule of MemcachedPool's props, in one place.
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s.
 */
import { validateHostPath } from '../common/host-path';
import { validateImage } from '../common/k8s-rules';
import { validateClientSelectors, validateObjectName } from '../common/network';
import { validateResources } from '../common/resources';
import { Validator, isPort } from '../common/validation';
import { TlsCertificates } from '../tls/tls-certificates';
import { MIN_ITEM_MEMORY_MIB, itemMemoryMiB } from './memcached-args';
import type { MemcachedPoolProps } from './memcached-pool';
import { MemcachedModel } from './model';

/**
 * Checks every prop of MemcachedPool `id` (resolved into `m`) and throws once with every problem. `requestCertificate`
 * is called (with the validator, for the certificate's own problems) when the TLS props and the names are sound.
 */
export function validateMemcached(id: string, props: MemcachedPoolProps, m: MemcachedModel, requestCertificate: (v: Validator) => void = () => {}): void {
  const { network, nodes, port, maxConnections, resources } = m;
  const v = new Validator(`MemcachedPool '${id}'`);
  validateObjectName(v, 'name', m.name);
  m.placement._validate(v, 'placement', network.isHostNetwork ? undefined : m.replicas);
  v.check(network.isHostNetwork && nodes === undefined, 'placement', 'labelled nodes without an inventory',
    'gives no node IPs for memcache_servers; pass `nodes` to Placement.onLabelledNodes, or use MemcachedNetwork.podNetwork()');
  v.check(!network.isHostNetwork && props.replicas === undefined && nodes === undefined, 'replicas', undefined,
    'is needed on the pod network when the placement has no inventory; set it to the number of labelled nodes');
  v.check(props.replicas !== undefined && network.isHostNetwork, 'replicas', props.replicas,
    'only applies on the pod network; on the host network there is one instance per inventory node');
  v.check(props.replicas !== undefined && (!Number.isInteger(props.replicas) || props.replicas < 1), 'replicas', props.replicas,
    'must be a whole number of at least 1');
  v.check(!isPort(port), 'port', port, 'is not a TCP port; use 1-65535');
  v.check(!Number.isInteger(maxConnections) || maxConnections < 16 || maxConnections > 1_000_000, 'maxConnections', maxConnections,
    'must be a whole number from 16 to 1000000');
  validateResources(v, 'resources', resources);
  validateImage(v, 'image', m.image);
  const itemMemory = itemMemoryMiB(resources.memoryLimitMiB, maxConnections);
  v.check(itemMemory < MIN_ITEM_MEMORY_MIB, 'resources.memoryLimitMiB', resources.memoryLimitMiB,
    `leaves ${itemMemory} MiB for items after memcached's overhead (${maxConnections} connections); ` +
    `raise the limit so at least ${MIN_ITEM_MEMORY_MIB} MiB remain, or lower maxConnections`);
  if (!network.isHostNetwork) {
    v.check(network.allowedClients.length === 0, 'network.allowedClients', [],
      'is empty, so no client could connect; name the client pods (e.g. keystone\'s labels)');
    validateClientSelectors(v, 'network.allowedClients', network.allowedClients);
  }
  validateWarmRestart(v, props, network.isHostNetwork);
  if (props.reloaderImage !== undefined) validateImage(v, 'reloaderImage', props.reloaderImage);
  v.check(props.reloaderImage !== undefined && props.tls === undefined, 'reloaderImage', props.reloaderImage,
    'only runs with tls (it renews the certificate in place); remove it or set tls');
  if (props.tls !== undefined) {
    const tls = props.tls;
    if (!v.check(tls === null || typeof tls !== 'object', 'tls', tls, 'must be { certificates, verifyClients? }')) {
      v.check(tls.verifyClients !== undefined && typeof tls.verifyClients !== 'boolean', 'tls.verifyClients', tls.verifyClients, 'must be true or false');
      const certificatesOk = !v.check(!(tls.certificates instanceof TlsCertificates), 'tls.certificates', tls.certificates,
        'must come from TlsCertificates.certManager(...) or TlsCertificates.fromSecrets(...)');
      // The certificate covers the servers clients list: ask for it only when they are known (the checks above).
      if (certificatesOk && v.errors.length === 0) requestCertificate(v);
    }
  }
  v.throwIfInvalid();
}

/** The RAM disk every systemd Linux mounts; the one system directory a warm-restart path may be inside. */
const DEV_SHM = '/dev/shm';

/**
 * `warmRestart` and `warmRestartPath`. The path is a directory this pool owns on each node (its init container
 * chowns it): inside /dev/shm (a directory of its own, never /dev/shm itself), or anywhere the library's hostPath
 * rules allow (a tmpfs the user mounts for it; not a system directory).
 */
function validateWarmRestart(v: Validator, props: MemcachedPoolProps, hostNetwork: boolean): void {
  const { warmRestart, warmRestartPath } = props;
  v.check(warmRestart !== undefined && typeof warmRestart !== 'boolean', 'warmRestart', warmRestart, 'must be true or false');
  v.check(warmRestart === true && !hostNetwork, 'warmRestart', warmRestart,
    'only applies on the host network: pods on the pod network are not tied to a node, so another instance could restore a node\'s file; remove it');
  if (warmRestartPath === undefined) return;
  v.check(warmRestart === false || (warmRestart === undefined && !hostNetwork), 'warmRestartPath', warmRestartPath,
    'only applies with warm restart (on by default on the host network); remove it');
  if (typeof warmRestartPath === 'string' && warmRestartPath.startsWith(`${DEV_SHM}/`)) {
    const inside = warmRestartPath.slice(DEV_SHM.length + 1).split('/');
    v.check(warmRestartPath.length > 1024 || !/^[A-Za-z0-9._/+-]+$/.test(warmRestartPath) || inside.some((x) => x === '' || x === '.' || x === '..'),
      'warmRestartPath', warmRestartPath,
      'must be a normalized directory of its own inside /dev/shm (at most 1024 letters, digits, ".", "_", "+", "-" and "/"; '
      + 'no "//", "." or ".." component, no trailing "/"), e.g. "/dev/shm/openstack-ha-memcached/openstack-memcached"');
  } else {
    validateHostPath(v, 'warmRestartPath', warmRestartPath);
  }
}
