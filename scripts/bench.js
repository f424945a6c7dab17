'use strict';
/**
 * `npm run bench`: synth time and peak memory for growing topologies, next to the floor: serializing the same
 * objects directly as plain ApiObjects in the same run. Each case runs in its own process so peak RSS is its own.
 * Figures, not assertions: compare runs by eye or in the closing notes.
 */
const { execFileSync } = require('child_process');
const path = require('path');

const SIZES = [3, 30, 300];
const RUNS = 20;

function runCase(size, mode) {
  const out = execFileSync(process.execPath, [path.join(__dirname, 'bench-case.js'), String(size), mode, String(RUNS)], { encoding: 'utf8' });
  return JSON.parse(out);
}

const rows = [];
for (const size of SIZES) {
  const library = runCase(size, 'library');
  const floor = runCase(size, 'floor');
  rows.push({ nodes: size, objects: library.objects, 'synth ms (median)': library.ms.toFixed(1), 'floor ms': floor.ms.toFixed(1),
    ratio: (library.ms / floor.ms).toFixed(2), 'peak RSS MiB': library.rssMiB.toFixed(0), 'floor RSS MiB': floor.rssMiB.toFixed(0) });
}
console.table(rows);

