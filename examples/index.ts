import { App } from 'cdk8s';
import { ControlPlaneChart } from './control-plane';
import { CONTROLLERS, FIVE_CONTROLLERS, RABBIT_NODES } from './inventory';
import { NovaApiChart } from './nova';
import { OpenStackControlPlaneChart } from './openstack-control-plane';

/** Every example app, by name: the tests check invariants over all of them. */
export const EXAMPLES: Record<string, (app: App) => void> = {
  'control-plane': (app) => new OpenStackControlPlaneChart(app, 'control-plane', { controllers: CONTROLLERS }),
  'five-controllers': (app) => new OpenStackControlPlaneChart(app, 'five-controllers', { controllers: FIVE_CONTROLLERS, rabbitNodes: RABBIT_NODES, galeraReplicas: 5 }),
  'hand-wired': (app) => new ControlPlaneChart(app, 'hand-wired'),
  'nova': (app) => {
    const cp = new OpenStackControlPlaneChart(app, 'control-plane', { controllers: CONTROLLERS });
    new NovaApiChart(app, 'nova', { connection: cp.controlPlane.connection('nova'), controllers: CONTROLLERS });
  },
};
