/**
 * The example app `cdk8s synth` runs (cdk8s.yaml). Writes the manifests to `manifests/` (or $CDK8S_OUTDIR) and
 * prints what OpenStack services need to connect.
 */
import { App } from 'cdk8s';
import { ControlPlaneChart } from './control-plane';

const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? 'manifests' });
const chart = new ControlPlaneChart(app, 'control-plane');
app.synth();

console.error(`[cache] memcache_servers = ${chart.memcached.memcacheServers}`);
console.error(`[database] connection = mysql+pymysql://<user>:<password>@${chart.proxysql.host}:${chart.proxysql.readWritePort}/<database>`);
console.error(`[database] slave_connection = mysql+pymysql://<user>:<password>@${chart.proxysql.host}:${chart.proxysql.readOnlyPort}/<database>`);
console.error(`[keystone_authtoken] www_authenticate_uri = http://${chart.vip.address}:${chart.apiLoadBalancer.portOf('keystone')}/v3`);
console.error(`[database] connection, from outside the cluster = mysql+pymysql://<user>:<password>@${chart.vip.address}:${chart.proxysql.readWritePort}/<database>`);
// nova's; every service has the same hosts with its own user (@@RABBITMQ_PASSWORD_<USER>@@ marks the password).
console.error(`[DEFAULT] transport_url = ${chart.rabbitmq.transportUrl('nova')}`);
console.error(`[oslo_messaging_notifications] transport_url = ${chart.rabbitmq.notificationsTransportUrl('nova')}`);
