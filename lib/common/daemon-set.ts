import { Construct } from 'constructs';
import { k8s } from '../k8s';

/**
 * A DaemonSet that replaces its pods one node at a time: the host-level daemons (VIP holders, proxies) hand their
 * work to the other nodes while one restarts. @internal
 */
export function oneNodeAtATimeDaemonSet(scope: Construct, id: string, options: {
  name: string;
  labels: Record<string, string>;
  selector: Record<string, string>;
  template: k8s.PodTemplateSpec;
  /** Seconds a new pod must stay Ready before the rollout moves to the next node. */
  minReadySeconds?: number;
}): k8s.KubeDaemonSet {
  return new k8s.KubeDaemonSet(scope, id, {
    metadata: { name: options.name, labels: options.labels },
    spec: {
      selector: { matchLabels: options.selector },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(1) } },
      minReadySeconds: options.minReadySeconds,
      template: options.template,
    },
  });
}
