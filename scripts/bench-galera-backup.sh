#!/usr/bin/env bash
# GaleraBackup's benchmark (part of `npm run bench`): ~1 GiB in a real 3-member cluster; backup throughput against
# the floor of copying the data directory on the same disk, restore time to 3 Synced, peak memory. Needs what the
# Galera integration tests need (scripts/install-deps.sh, root) and takes their lock. BENCH_ROWS sets the size
# (rows of 1 KiB; default 1,000,000). Prints figures; asserts nothing but that each step succeeds.
set -euo pipefail
cd "$(dirname "$0")/.."
config='{"testEnvironment":"node","rootDir":".","transform":{"^.+\\.ts$":["ts-jest",{"tsconfig":"tsconfig.dev.json"}]},"testMatch":["<rootDir>/test/integration/galera-backup.bench.ts"]}'
exec flock /tmp/cdk8s-itest.lock npx jest --config "$config" --ci --runInBand --forceExit
