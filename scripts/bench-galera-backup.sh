#!/usr/bin/env bash
# GaleraBackup's benchmark (part of `npm run bench`): ~1 GiB in a real 3-member cluster; backup throughput against
# the floor of copying the data directory on the same disk, restore time to 3 Synced, peak memory. Needs what the
# Galera integration tests need (scripts/install-deps.sh, root) and takes their lock. BENCH_ROWS sets the size
# (rows of 1 KiB; default 1,000,000). Prints figures; asserts nothing but that each step succeeds.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/run-bench.sh test/integration/galera-backup.bench.ts
