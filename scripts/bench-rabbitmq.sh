#!/usr/bin/env bash
# RabbitMQ throughput (part of `npm run bench`): the replicated notification queue against unreplicated ones on three
# real brokers (test/integration/rabbitmq-throughput.bench.ts runs scripts/bench-rabbitmq.py; until session 30 this was a
# test of the suite). Needs what the RabbitMQ integration tests need (scripts/install-deps.sh, root) and takes their
# lock; about a minute on an idle 2-core machine. BENCH_RABBIT_COUNT, BENCH_RABBIT_CONFIRMED and BENCH_RABBIT_ROUNDS
# change the method. Prints figures; fails when a queue cannot be measured.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/run-bench.sh test/integration/rabbitmq-throughput.bench.ts
