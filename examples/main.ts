/**
 * The example app `cdk8s synth` runs (cdk8s.yaml): a complete 3-controller control plane. Writes the manifests to
 * `manifests/` (or $CDK8S_OUTDIR), the topology summary and preflight input beside them, and prints what one
 * OpenStack service (nova) puts in its config; nova-api itself, with that config rendered at pod start, is in
 * `nova.k8s.yaml`.
 */
import { App } from 'cdk8s';
import { CONTROLLERS } from './inventory';
import { NovaApiChart } from './nova';
import { OpenStackControlPlaneChart } from './openstack-control-plane';

const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? 'manifests' });
const chart = new OpenStackControlPlaneChart(app, 'control-plane', { controllers: CONTROLLERS });
// An OpenStack service on it: nova-api with its HA settings rendered into the pod at start (manifests/nova.k8s.yaml).
new NovaApiChart(app, 'nova', { connection: chart.controlPlane.connection('nova'), controllers: CONTROLLERS });
app.synth();
chart.controlPlane.writeTopology(app.outdir);

const nova = chart.controlPlane.connection('nova');
console.error(`# nova.conf (placeholders stand for: ${Object.entries(nova.secretReferences).map(([k, v]) => `@@${k}@@ = ${v}`).join(', ')})`);
console.error(nova.osloConfig);
console.error(`# API endpoints on the VIP: ${Object.entries(chart.controlPlane.apiEndpoints).map(([k, v]) => `${k} ${v}`).join(', ')}`);
