/**
 * The HAProxy pod as plain data: haproxy on the host network (root with NET_BIND_SERVICE only when a port is below
 * 1024), the reloader sidecar (hitless reloads through the master socket, the drain on stop), the volumes.
 * HaproxyLoadBalancer wires them into its DaemonSet.
 */
import { ContainerResources, toResourceRequirements } from '../common/resources';
import {
  CapabilityGrant, containerSecurityContext, restrictedPodSecurityContext, rootContainerSecurityContext,
} from '../common/security';
import { k8s } from '../k8s';
import { TlsMaterial } from '../tls/model';
import { TlsMount, tlsMount, tlsPaths } from '../tls/pod';
import { RELOADER_SCRIPT } from './assets';
import { HAPROXY_CONFIG_PATH, HAPROXY_RUN_DIR, HaproxyModel } from './model';
import { haproxyCommand, haproxyListenPorts } from './render';

/** The `haproxy` user of the official image. */
const HAPROXY_UID = 99;
export const CONFIG_DIR = HAPROXY_CONFIG_PATH.slice(0, HAPROXY_CONFIG_PATH.lastIndexOf('/'));
const RELOADER_DIR = '/opt/haproxy-reloader';
const RELOADER_HEARTBEAT = `${HAPROXY_RUN_DIR}/reloader.alive`;
/** Where the certificate Secret is mounted (tls.crt, tls.key, ca.crt), in both containers. */
export const HAPROXY_TLS_DIR = '/etc/haproxy-tls';
/** The files haproxy.cfg names in it. */
export const HAPROXY_TLS_PATHS = tlsPaths(HAPROXY_TLS_DIR);

/**
 * The load balancer's certificate mount: key 0440 (root:fsGroup; HAProxy and the reloader run as the haproxy user in
 * that group, or as root when a port below 1024 is bound).
 */
export function haproxyTlsMount(material: TlsMaterial): TlsMount {
  return tlsMount(material, 'tls', HAPROXY_TLS_DIR);
}

/** The health endpoint on the stats port (keepalived's and the kubelet's check). */
export const HEALTH_PATH = '/healthz';

export interface HaproxyPodOptions {
  readonly model: HaproxyModel;
  readonly image: string;
  readonly reloaderImage: string;
  readonly resources: Required<ContainerResources>;
  readonly drainSeconds: number;
  readonly configMap: string;
  readonly reloaderConfigMap: string;
  /** The certificate mount, when HAProxy terminates TLS. */
  readonly tls?: TlsMount;
}

/** The pod's containers, volumes and security context, the ports it listens on, and the capabilities it needs. */
export function haproxyPod(o: HaproxyPodOptions): {
  containers: k8s.Container[]; volumes: k8s.Volume[]; securityContext: k8s.PodSecurityContext;
  grants: CapabilityGrant[]; listenPorts: number[]; command: string[];
} {
  const { model, image, reloaderImage, resources, drainSeconds } = o;
  const listenPorts = haproxyListenPorts(model);
  // A port below 1024 (the dashboard's 80) needs NET_BIND_SERVICE, which Kubernetes gives to root processes
  // only; `net.ipv4.ip_unprivileged_port_start` cannot be set for a host-network pod. Otherwise the image's
  // unprivileged haproxy user with no capability at all.
  const privilegedPorts = listenPorts.filter((p) => p < 1024);
  const grants: CapabilityGrant[] = privilegedPorts.length === 0 ? [] : [{
    capability: 'NET_BIND_SERVICE', reason: `binds port(s) ${privilegedPorts.join(', ')} below 1024 on the host network`,
  }];
  const uid = grants.length > 0 ? 0 : HAPROXY_UID;
  const securityContext = (containerGrants: CapabilityGrant[]) =>
    (uid === 0 ? rootContainerSecurityContext(containerGrants) : containerSecurityContext(containerGrants));

  const command = haproxyCommand();
  const health: k8s.Probe = { httpGet: { path: HEALTH_PATH, port: k8s.IntOrString.fromNumber(model.statsPort) } };
  const runMount: k8s.VolumeMount = { name: 'run', mountPath: HAPROXY_RUN_DIR };
  const configMount: k8s.VolumeMount = { name: 'config', mountPath: CONFIG_DIR, readOnly: true };

  const haproxy: k8s.Container = {
    name: 'haproxy',
    image,
    imagePullPolicy: 'IfNotPresent',
    command,
    ports: listenPorts.map((port) => ({ containerPort: port, protocol: 'TCP', ...(port === model.statsPort ? { name: 'stats' } : {}) })),
    resources: toResourceRequirements(resources),
    readinessProbe: { ...health, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
    livenessProbe: { ...health, initialDelaySeconds: 5, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
    // The reloader's preStop has disabled /healthz, so keepalived moves the VIP away; keep serving meanwhile.
    lifecycle: { preStop: { exec: { command: ['sleep', String(drainSeconds)] } } },
    // A directory mount (not subPath), so the kubelet swaps in a changed ConfigMap and the reloader sees it.
    volumeMounts: [configMount, runMount, ...(o.tls ? [o.tls.mount] : [])],
    securityContext: securityContext(grants),
  };

  const heartbeatFresh = `const s=require('fs').statSync('${RELOADER_HEARTBEAT}');process.exit(Date.now()-s.mtimeMs<30000?0:1)`;
  const reloaderProbe: k8s.Probe = { exec: { command: ['node', '-e', heartbeatFresh] }, timeoutSeconds: 5 };
  const reloaderScriptPath = `${RELOADER_DIR}/${RELOADER_SCRIPT}`;
  const reloader: k8s.Container = {
    name: 'reloader',
    image: reloaderImage,
    imagePullPolicy: 'IfNotPresent',
    command: ['node', reloaderScriptPath, 'watch'],
    env: [
      { name: 'HAPROXY_CONFIG', value: HAPROXY_CONFIG_PATH },
      { name: 'HAPROXY_MASTER_SOCKET', value: `${HAPROXY_RUN_DIR}/master.sock` },
      { name: 'RELOADER_HEARTBEAT', value: RELOADER_HEARTBEAT },
      { name: 'RELOADER_INTERVAL_MS', value: '5000' },
      // A renewed certificate goes to the running workers through the admin socket (set/commit ssl cert): no
      // reload, so no worker change and no connection closed. The CA too when the backends are verified with it.
      ...(o.tls ? [
        { name: 'HAPROXY_ADMIN_SOCKET', value: `${HAPROXY_RUN_DIR}/admin.sock` },
        { name: 'HAPROXY_TLS_CERT', value: o.tls.paths.certificate },
        { name: 'HAPROXY_TLS_KEY', value: o.tls.paths.privateKey },
        ...(model.tls?.reencrypt ? [{ name: 'HAPROXY_TLS_CA', value: o.tls.paths.ca }] : []),
      ] : []),
    ],
    resources: toResourceRequirements({ cpuRequestMillis: 10, cpuLimitMillis: 100, memoryRequestMiB: 32, memoryLimitMiB: 64 }),
    readinessProbe: { ...reloaderProbe, initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 3 },
    livenessProbe: { ...reloaderProbe, initialDelaySeconds: 10, periodSeconds: 15, failureThreshold: 4 },
    lifecycle: { preStop: { exec: { command: ['node', reloaderScriptPath, 'drain'] } } },
    volumeMounts: [configMount, runMount, { name: 'reloader', mountPath: RELOADER_DIR, readOnly: true }, ...(o.tls ? [o.tls.mount] : [])],
    // The master socket belongs to HAProxy's user: the reloader runs as the same one, with no capability.
    securityContext: securityContext([]),
  };
  return {
    containers: [haproxy, reloader],
    volumes: [
      { name: 'config', configMap: { name: o.configMap } },
      { name: 'reloader', configMap: { name: o.reloaderConfigMap } },
      { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('4Mi') } },
      ...(o.tls ? [o.tls.volume] : []),
    ],
    securityContext: uid === 0 ? { seccompProfile: { type: 'RuntimeDefault' } } : restrictedPodSecurityContext(HAPROXY_UID),
    grants,
    listenPorts,
    command,
  };
}
