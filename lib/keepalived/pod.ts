/**
 * The keepalived pod as plain data: its container (the rendered command, the node's file chosen by NODE_NAME, the
 * capabilities it needs and nothing else) and its volumes.
 */
import { ResolvedResources, toResourceRequirements } from '../common/resources';
import { rootContainerSecurityContext } from '../common/security';
import { k8s } from '../k8s';
import { KEEPALIVED_CAPABILITIES, KEEPALIVED_CONFIG_DIR, KEEPALIVED_RUN_DIR } from './model';
import { keepalivedCommand } from './render';

export function keepalivedContainer(image: string, resources: ResolvedResources): k8s.Container {
  const pidAlive: k8s.Probe = {
    exec: { command: ['/bin/sh', '-c', `kill -0 "$(cat ${KEEPALIVED_RUN_DIR}/vrrp.pid)"`] },
  };
  return {
    name: 'keepalived',
    image,
    imagePullPolicy: 'IfNotPresent',
    command: keepalivedCommand(),
    env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
    resources: toResourceRequirements(resources),
    // keepalived restarts a dead VRRP child itself; these probes catch a process that is gone or never started.
    readinessProbe: { ...pidAlive, initialDelaySeconds: 2, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
    livenessProbe: { ...pidAlive, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
    volumeMounts: [
      { name: 'config', mountPath: KEEPALIVED_CONFIG_DIR, readOnly: true },
      { name: 'run', mountPath: KEEPALIVED_RUN_DIR },
    ],
    securityContext: rootContainerSecurityContext(KEEPALIVED_CAPABILITIES),
  };
}

export function keepalivedVolumes(configName: string): k8s.Volume[] {
  return [
    { name: 'config', configMap: { name: configName } },
    // PID files must not outlive the pod's processes (a stale one blocks the restart): memory only.
    { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('1Mi') } },
  ];
}
