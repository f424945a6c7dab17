import { App, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { MemcachedPool, Placement } from '../lib';
import { CONTROLLERS } from './inventory';

/** The HA layer of a 3-controller OpenStack control plane, in namespace `openstack`. */
export class ControlPlaneChart extends Chart {
  public readonly memcached: MemcachedPool;

  public constructor(scope: Construct, id: string) {
    super(scope, id, { namespace: 'openstack', disableResourceNameHashes: true });
    const controllers = Placement.onNodes(CONTROLLERS);
    this.memcached = new MemcachedPool(this, 'memcached', { placement: controllers });
  }
}

/** Every example app, by name: the tests check invariants over all of them. */
export const EXAMPLES: Record<string, (app: App) => void> = {
  'control-plane': (app) => new ControlPlaneChart(app, 'control-plane'),
};
