/**
 * The memcached pod as plain data: one container listening on the node's or the pod's IP, TCP probes, the
 * restricted security context; with TLS, the certificate mount and the reloader sidecar. MemcachedPool wires it into
 * a DaemonSet or a StatefulSet.
 */
import { dataOwnerInitContainer } from '../common/data-owner';
import { basePodSpec } from '../common/pod';
import { toResourceRequirements } from '../common/resources';
import { CapabilityGrant, containerSecurityContext, restrictedPodSecurityContext } from '../common/security';
import { hostPort } from '../common/validation';
import { k8s } from '../k8s';
import { memcachedExporterContainer } from '../monitoring/exporters';
import { TlsMaterial } from '../tls/model';
import { TlsMount, tlsMount } from '../tls/pod';
import { CERT_RELOADER_SCRIPT } from './assets';
import { memcachedArgs } from './memcached-args';
import { MemcachedModel } from './model';
import { WARM_RESTART_DIR, WARM_RESTART_VOLUME, warmRestartCommand } from './warm-restart';

/** The uid/gid of the `memcache` user in the official image. */
const MEMCACHE_UID = 11211;
/** Where the certificate Secret is mounted (tls.crt, tls.key, ca.crt), in every container that uses it. */
export const MEMCACHED_TLS_DIR = '/etc/memcached-tls';
const RELOADER_DIR = '/opt/memcached-reloader';
const RUN_DIR = '/run/memcached-reloader';
const RELOADER_HEARTBEAT = `${RUN_DIR}/alive`;

/** What the pod needs besides the model: the certificate and the reloader's image and ConfigMap, with TLS. */
export interface MemcachedPodTls {
  readonly material: TlsMaterial;
  readonly reloaderImage: string;
  readonly reloaderConfigMap: string;
}

/**
 * The pool's certificate mount: key 0440 (root:fsGroup): memcached, the reloader and the exporter run as the memcache
 * uid in that group. memcached reads the key again at each `refresh_certs`, as that user.
 */
export function memcachedTlsMount(material: TlsMaterial): TlsMount {
  return tlsMount(material, 'tls', MEMCACHED_TLS_DIR);
}

/**
 * The pod spec, the rendered args (their hash rolls the pods), and the capabilities a container adds (for the pod's
 * capabilities annotation: the warm-restart directory's owner step).
 */
export function memcachedPod(m: MemcachedModel, selector: Record<string, string>, tls?: MemcachedPodTls): { spec: k8s.PodSpec; args: string[]; grants: CapabilityGrant[] } {
  const { network, port, resources } = m;
  const mount = tls && memcachedTlsMount(tls.material);
  const args = memcachedArgs({
    listenAddress: network.isHostNetwork ? '$(HOST_IP)' : '$(POD_IP)',
    port,
    maxConnections: m.maxConnections,
    memoryLimitMiB: resources.memoryLimitMiB,
    cpuLimitMillis: resources.cpuLimitMillis,
    ...(mount && m.tls ? { tls: { paths: mount.paths, verifyClients: m.tls.verifyClients } } : {}),
  });
  // A TCP connect only: it proves the listener without a TLS handshake (memcached logs nothing for it).
  const probe = (periodSeconds: number, failureThreshold: number): k8s.Probe => ({
    tcpSocket: { port: k8s.IntOrString.fromNumber(port) },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold,
  });
  const addressEnv: k8s.EnvVar = network.isHostNetwork
    ? { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } }
    : { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } };
  const address = network.isHostNetwork ? '$(HOST_IP)' : '$(POD_IP)';
  // The name a TLS client verifies: the node IP itself, or the pod's DNS name (pod IPs are in no certificate).
  const podNameEnv: k8s.EnvVar[] = mount && !network.isHostNetwork ? [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] : [];
  const serverName = network.isHostNetwork ? address : `$(POD_NAME).${m.namespace ? `${m.name}.${m.namespace}.svc` : m.name}`;
  const exporter = m.metricsExporter ? [memcachedExporterContainer({
    memcached: hostPort(address, port),
    listenHost: address,
    env: [addressEnv, ...podNameEnv],
    ...(mount ? { tls: { mount: mount.mount, paths: mount.paths, serverName, clientCertificate: m.tls?.verifyClients === true } } : {}),
  })] : [];
  const reloader: k8s.Container[] = mount && tls
    ? [reloaderContainer(tls.reloaderImage, port, address, serverName, [addressEnv, ...podNameEnv], mount, m.tls?.verifyClients === true)] : [];
  // The node directory that keeps the item memory across the pod's replacement (warm-restart.ts), handed to memcached's
  // user once: kubelet creates a missing hostPath directory as root 0755, and fsGroup does not apply to hostPath.
  const warmMount: k8s.VolumeMount | undefined = m.warmRestart && { name: WARM_RESTART_VOLUME, mountPath: WARM_RESTART_DIR };
  const owner = warmMount && dataOwnerInitContainer({
    image: m.image, uid: MEMCACHE_UID, dataDir: WARM_RESTART_DIR, dataMount: warmMount, user: 'memcache (the warm-restart file)',
  });
  const volumes: k8s.Volume[] = [
    ...(m.warmRestart ? [{ name: WARM_RESTART_VOLUME, hostPath: { path: m.warmRestart.hostPath, type: 'DirectoryOrCreate' } }] : []),
    ...(mount && tls ? [
      mount.volume,
      { name: 'reloader', configMap: { name: tls.reloaderConfigMap, defaultMode: 0o444 } },
      { name: 'reloader-run', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('1Mi') } },
    ] : []),
  ];
  const mounts = [...(warmMount ? [warmMount] : []), ...(mount ? [mount.mount] : [])];
  const spec: k8s.PodSpec = {
    ...basePodSpec({ hostNetwork: network.isHostNetwork }),
    // Without warm restart memcached exits at once on SIGTERM (nothing to drain, clients remap the keys); with it, it
    // saves its index (the items are already in the file) and its threads stop: 0.1-0.9 s (memcached-warm-restart.test.ts).
    // A save cut by the grace period's SIGKILL only costs that node's cache: the next start is clean.
    terminationGracePeriodSeconds: 10,
    securityContext: restrictedPodSecurityContext(MEMCACHE_UID),
    affinity: m.placement._affinity(selector),
    tolerations: m.placement._tolerations(),
    ...(owner ? { initContainers: [owner.container] } : {}),
    containers: [{
      name: 'memcached',
      image: m.image,
      imagePullPolicy: 'IfNotPresent',
      command: m.warmRestart ? warmRestartCommand() : ['memcached'],
      args,
      env: [addressEnv],
      ports: [{ name: 'memcache', containerPort: port, protocol: 'TCP' }],
      resources: toResourceRequirements(resources),
      readinessProbe: probe(5, 2),
      livenessProbe: probe(10, 3),
      securityContext: containerSecurityContext(),
      ...(mounts.length > 0 ? { volumeMounts: mounts } : {}),
    }, ...reloader, ...exporter],
    ...(volumes.length > 0 ? { volumes } : {}),
  };
  return { spec, args, grants: owner ? [owner.grant] : [] };
}

/**
 * The certificate reloader (assets/memcached/cert-reloader.js): sends memcached `refresh_certs` when the kubelet swaps
 * in a renewed Secret. A sidecar rather than a loop in the memcached container: the official image runs memcached
 * itself as PID 1 and has no TLS client to send the command with (memcached with `-Z` has no plaintext listener).
 * Same uid and group as memcached, no capability, read-only mounts but its heartbeat.
 */
function reloaderContainer(image: string, port: number, address: string, serverName: string, env: k8s.EnvVar[], mount: TlsMount,
  clientCertificate: boolean): k8s.Container {
  const heartbeatFresh = `const s=require('fs').statSync('${RELOADER_HEARTBEAT}');process.exit(Date.now()-s.mtimeMs<60000?0:1)`;
  const probe: k8s.Probe = { exec: { command: ['node', '-e', heartbeatFresh] }, timeoutSeconds: 5 };
  return {
    name: 'cert-reloader',
    image,
    imagePullPolicy: 'IfNotPresent',
    command: ['node', `${RELOADER_DIR}/${CERT_RELOADER_SCRIPT}`],
    env: [
      ...env,
      { name: 'MEMCACHED_HOST', value: address },
      { name: 'MEMCACHED_PORT', value: String(port) },
      { name: 'MEMCACHED_SERVER_NAME', value: serverName },
      { name: 'TLS_CERT', value: mount.paths.certificate },
      { name: 'TLS_KEY', value: mount.paths.privateKey },
      { name: 'TLS_CA', value: mount.paths.ca },
      { name: 'TLS_CLIENT_CERTIFICATE', value: String(clientCertificate) },
      { name: 'RELOADER_INTERVAL_MS', value: '5000' },
      { name: 'RELOADER_HEARTBEAT', value: RELOADER_HEARTBEAT },
    ],
    resources: toResourceRequirements({ cpuRequestMillis: 10, cpuLimitMillis: 100, memoryRequestMiB: 32, memoryLimitMiB: 64 }),
    // The heartbeat is written at every pass, also when a refresh fails (it is retried): only a stuck loop fails these.
    readinessProbe: { ...probe, initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 3 },
    livenessProbe: { ...probe, initialDelaySeconds: 10, periodSeconds: 30, failureThreshold: 3 },
    securityContext: containerSecurityContext(),
    volumeMounts: [
      mount.mount,
      { name: 'reloader', mountPath: RELOADER_DIR, readOnly: true },
      { name: 'reloader-run', mountPath: RUN_DIR },
    ],
  };
}
