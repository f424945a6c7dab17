'use strict';
/** One benchmark case (see bench.js): `node bench-case.js <nodes> library|floor <runs>`, prints JSON. */
const { App, ApiObject, Chart, Testing } = require('cdk8s');
const { MemcachedPool, Placement } = require('../dist');

const [size, mode, runs] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
const nodes = Array.from({ length: size }, (_, i) => ({ name: `node-${i}`, ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }));

/** The library's synth of a topology of `size` nodes. */
function librarySynth() {
  const app = new App({ outdir: '/tmp' });
  const chart = new Chart(app, 'bench', { namespace: 'openstack', disableResourceNameHashes: true });
  new MemcachedPool(chart, 'memcached', { placement: Placement.onNodes(nodes) });
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
