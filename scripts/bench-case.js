'use strict';
/** One benchmark case (see bench.js): `node bench-case.js <nodes> library|floor <runs>`, prints JSON. */
const { App, ApiObject, Chart, Testing } = require('cdk8s');
const { GaleraStorage, OpenStackControlPlane, SecretValue } = require('../dist');

const [size, mode, runs] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
const nodes = Array.from({ length: size }, (_, i) => ({ name: `node-${i}`, ip: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}` }));

const secret = (name) => SecretValue.fromSecret(name, 'password');
const services = ['keystone', 'glance', 'placement', 'nova', 'neutron', 'cinder', 'heat'].map((name) => ({
  name, databasePassword: secret(`${name}-db`), messagingPassword: secret(`${name}-rabbitmq`), api: { serviceName: `${name}-api` },
}));

/**
 * The library's synth of a control plane on `size` controllers: memcached on every controller and ProxySQL
 * eligible on all of them; Galera and the VIP/HAProxy edge on the first three.
 */
function librarySynth() {
  const app = new App({ outdir: '/tmp' });
  const chart = new Chart(app, 'bench', { namespace: 'openstack', disableResourceNameHashes: true });
  new OpenStackControlPlane(chart, 'cp', {
    controllers: nodes,
    vip: { address: '10.255.255.254', prefixLength: 8, interface: 'bond0' },
    galeraStorage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
    secrets: {
      galeraRootPassword: secret('galera-root'), galeraSstPassword: secret('galera-sst'), galeraMonitorPassword: secret('galera-monitor'),
      proxySqlAdminPassword: secret('proxysql-admin'), memcacheSecretKey: secret('memcache-secret-key'),
      rabbitErlangCookie: secret('rabbitmq-erlang-cookie'), rabbitAdminPassword: secret('rabbitmq-admin'),
    },
    services,
  });
  return Testing.synth(chart);
}

// The floor: the same objects, from their JSON, as plain ApiObjects.
const reference = librarySynth();
function floorSynth() {
  const chart = new Chart(new App({ outdir: '/tmp' }), 'bench', { disableResourceNameHashes: true });
  reference.forEach((o, i) => new ApiObject(chart, `o${i}`, o));
  return Testing.synth(chart);
}

const synth = mode === 'floor' ? floorSynth : librarySynth;
synth(); // warm-up: module loading and JIT are not what is measured
const times = [];
for (let i = 0; i < runs; i++) {
  const start = process.hrtime.bigint();
  synth();
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
}
times.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ objects: reference.length, ms: times[Math.floor(times.length / 2)], rssMiB: process.resourceUsage().maxRSS / 1024 }));
