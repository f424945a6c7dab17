/**
 * The keepalived pod as plain data: its container (the rendered command, the node's file chosen by NODE_NAME, the
 * capabilities it needs and nothing else) and its volumes.
 */
import { ResolvedResources, toResourceRequirements } from '../common/resources';
import { containerSecurityContext, rootContainerSecurityContext } from '../common/security';
import { k8s } from '../k8s';
import { KEEPALIVED_CAPABILITIES, KEEPALIVED_CONFIG_DIR, KEEPALIVED_METRICS_DIR, KEEPALIVED_METRICS_PORT, KEEPALIVED_RUN_DIR, VRRP_STATE_EXPORTER_IMAGE } from './model';

/** `command`: the start script's (start.ts `keepalivedCommand`). */
export function keepalivedContainer(image: string, resources: ResolvedResources, command: string[]): k8s.Container {
  const pidAlive: k8s.Probe = {
    exec: { command: ['/bin/sh', '-c', `kill -0 "$(cat ${KEEPALIVED_RUN_DIR}/vrrp.pid)"`] },
  };
  return {
    name: 'keepalived',
    image,
    imagePullPolicy: 'IfNotPresent',
    command,
    env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
    resources: toResourceRequirements(resources),
    // keepalived restarts a dead VRRP child itself; these probes catch a process that is gone or never started. They
    // pass while the start script waits for a peer's advert (its listener's VRRP PID): a new node's pod must be Ready,
    // or the DaemonSet would never roll the old pods whose adverts end the wait. They pass too while it waits for its
    // node's file (the script's PID; bounded, start.ts step 0): a failing liveness probe would restart it into the
    // crash-loop back-off the wait avoids.
    readinessProbe: { ...pidAlive, initialDelaySeconds: 2, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
    livenessProbe: { ...pidAlive, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
    volumeMounts: [
      { name: 'config', mountPath: KEEPALIVED_CONFIG_DIR, readOnly: true },
      { name: 'run', mountPath: KEEPALIVED_RUN_DIR },
    ],
    securityContext: rootContainerSecurityContext(KEEPALIVED_CAPABILITIES),
  };
}

/**
 * node-exporter with only its textfile collector, serving the VRRP state file keepalived writes (render.ts
 * `vrrpStateWrite`) on the node's address. Read-only mount, no capability, the image's own non-root user.
 */
export function vrrpStateExporterContainer(): k8s.Container {
  const port = KEEPALIVED_METRICS_PORT;
  const probe: k8s.Probe = { httpGet: { path: '/', port: k8s.IntOrString.fromNumber(port) }, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 3 };
  return {
    name: 'vrrp-state-exporter',
    image: VRRP_STATE_EXPORTER_IMAGE,
    imagePullPolicy: 'IfNotPresent',
    args: [
      `--web.listen-address=$(HOST_IP):${port}`,
      '--collector.disable-defaults',
      '--collector.textfile',
      `--collector.textfile.directory=${KEEPALIVED_METRICS_DIR}`,
    ],
    env: [{ name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } }],
    ports: [{ name: 'metrics', containerPort: port, protocol: 'TCP' }],
    resources: toResourceRequirements({ cpuRequestMillis: 5, cpuLimitMillis: 50, memoryRequestMiB: 16, memoryLimitMiB: 32 }),
    readinessProbe: probe,
    livenessProbe: probe,
    volumeMounts: [{ name: 'run', mountPath: KEEPALIVED_RUN_DIR, readOnly: true }],
    // The image's user is `nobody` by name: kubelet can only check runAsNonRoot against a number.
    securityContext: { ...containerSecurityContext(), runAsUser: 65534, runAsGroup: 65534 },
  };
}

export function keepalivedVolumes(configName: string): k8s.Volume[] {
  return [
    { name: 'config', configMap: { name: configName } },
    // PID files must not outlive the pod's processes (a stale one blocks the restart): memory only.
    { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('1Mi') } },
  ];
}
