/**
 * The memcached pod as plain data: one container listening on the node's or the pod's IP, TCP probes, the
 * restricted security context. MemcachedPool wires it into a DaemonSet or a StatefulSet.
 */
import { basePodSpec } from '../common/pod';
import { toResourceRequirements } from '../common/resources';
import { containerSecurityContext, restrictedPodSecurityContext } from '../common/security';
import { hostPort } from '../common/validation';
import { k8s } from '../k8s';
import { memcachedExporterContainer } from '../monitoring/exporters';
import { memcachedArgs } from './memcached-args';
import { MemcachedModel } from './model';

/** The uid/gid of the `memcache` user in the official image. */
const MEMCACHE_UID = 11211;

/** The pod spec, and the rendered args (their hash rolls the pods). */
export function memcachedPod(m: MemcachedModel, selector: Record<string, string>): { spec: k8s.PodSpec; args: string[] } {
  const { network, port, resources } = m;
  const args = memcachedArgs({
    listenAddress: network.isHostNetwork ? '$(HOST_IP)' : '$(POD_IP)',
    port,
    maxConnections: m.maxConnections,
    memoryLimitMiB: resources.memoryLimitMiB,
    cpuLimitMillis: resources.cpuLimitMillis,
  });
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
  const exporter = m.metricsExporter ? [memcachedExporterContainer({ memcached: hostPort(address, port), listenHost: address, env: [addressEnv] })] : [];
  const spec: k8s.PodSpec = {
    ...basePodSpec({ hostNetwork: network.isHostNetwork }),
    // memcached exits at once on SIGTERM; there is nothing to drain, clients remap the keys.
    terminationGracePeriodSeconds: 10,
    securityContext: restrictedPodSecurityContext(MEMCACHE_UID),
    affinity: m.placement._affinity(selector),
    tolerations: m.placement._tolerations(),
    containers: [{
      name: 'memcached',
      image: m.image,
      imagePullPolicy: 'IfNotPresent',
      command: ['memcached'],
      args,
      env: [addressEnv],
      ports: [{ name: 'memcache', containerPort: port, protocol: 'TCP' }],
      resources: toResourceRequirements(resources),
      readinessProbe: probe(5, 2),
      livenessProbe: probe(10, 3),
      securityContext: containerSecurityContext(),
    }, ...exporter],
  };
  return { spec, args };
}
