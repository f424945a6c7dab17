#!/usr/bin/env bash
# Runs one real-daemon benchmark file (test/integration/*.bench.ts), or a proof not yet in the suite (*.wip.ts), with jest, under the integration lock: the
# benchmarks are not tests (jest's projects do not match *.bench.ts), so they get their own config here.
# Usage: bash scripts/run-bench.sh test/integration/NAME.bench.ts (or NAME.wip.ts)
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:?usage: run-bench.sh test/integration/NAME.bench.ts}
# *.wip.ts: a real-daemon proof not yet in the suite (it joins it as *.test.ts once it passes three runs in a row).
[[ -f $file && ( $file == test/integration/*.bench.ts || $file == test/integration/*.wip.ts ) ]] || { echo "run-bench.sh: not a benchmark or work-in-progress file: $file" >&2; exit 2; }
# The Galera benchmarks render the members' ConfigMaps, which carry the agent's bundle: build it when a fresh
# checkout has none (`npm run bench` builds first; a benchmark script run alone did not, and failed after loading).
[[ -f assets/galera/agent.bundle.js ]] || node scripts/build-agent.js
config='{"testEnvironment":"node","rootDir":".","transform":{"^.+\\.ts$":["ts-jest",{"tsconfig":"tsconfig.dev.json"}]},"testMatch":["<rootDir>/'"$file"'"]}'
# ITEST_NO_LOCK=1: run beside the suite without its lock (only for a file whose netns, bridge, subnet, port and /tmp
# names no suite file uses, e.g. while a long suite run holds the lock; run it niced so the suite keeps the CPU).
if [[ ${ITEST_NO_LOCK:-} == 1 ]]; then exec npx jest --config "$config" --ci --runInBand --forceExit; fi
exec flock /tmp/cdk8s-itest.lock npx jest --config "$config" --ci --runInBand --forceExit
