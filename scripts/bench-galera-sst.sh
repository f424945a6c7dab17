#!/usr/bin/env bash
# How often concurrent SSTs are cut by a false eviction, per evs.suspect_timeout (test/integration/
# galera-sst-eviction.bench.ts says how). Not part of `npm run bench` (it takes ~20-40 min); run it when a Galera
# timeout changes: `bash scripts/bench-galera-sst.sh`, as root, with what the Galera integration tests need
# (scripts/install-deps.sh). BENCH_SUSPECT, BENCH_SST_ROUNDS, BENCH_CPU_HOGS and BENCH_SST_MIB set it up.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/run-bench.sh test/integration/galera-sst-eviction.bench.ts
