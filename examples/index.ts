import { App } from 'cdk8s';
import { ServiceClientCertificate, TlsCertificates, TlsTrustBundle } from '../lib';
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
  // Everything over TLS from one prop, certificates from cert-manager's ClusterIssuer `openstack-ca`; nova mounts the
  // CA (the `ca.crt` of a certificate Secret: one CA signs them all) and its own client certificate (memcached
  // verifies clients).
  'full-tls': (app) => {
    const issuer = { issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } };
    const cp = new OpenStackControlPlaneChart(app, 'control-plane', {
      controllers: CONTROLLERS, tls: { certificates: TlsCertificates.certManager(issuer), apiHostnames: ['api.openstack.example.com'] },
    });
    new NovaApiChart(app, 'nova', {
      connection: cp.controlPlane.connection('nova'), controllers: CONTROLLERS,
      caBundle: TlsTrustBundle.fromSecret('proxysql-tls'), clientCertificate: ServiceClientCertificate.certManager(issuer),
    });
  },
};
