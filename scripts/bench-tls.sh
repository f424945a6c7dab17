#!/usr/bin/env bash
# TLS against plaintext (part of `npm run bench`): per component (SQL to MariaDB/Galera, AMQP publish with confirms,
# memcached get, HTTPS through HAProxy), the real daemon with the configuration the library renders, certificates made
# with openssl; one table of ops/s, p50/p99 latency and new-connection (handshake) cost. Needs what the integration
# tests need (scripts/install-deps.sh, root) and takes their lock; about 3 minutes on an idle 2-core machine.
# TLS_BENCH_SECONDS, TLS_BENCH_SETUP_SECONDS and TLS_BENCH_CONCURRENCY change the method (printed with the table).
# Prints figures; fails when a component cannot be measured.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/run-bench.sh test/integration/tls.bench.ts
