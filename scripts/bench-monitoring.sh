#!/usr/bin/env bash
# The monitoring scrape benchmark (part of `npm run bench`): RabbitMQ's two scraped endpoints (and /metrics/per-object)
# on three real brokers with 0, 100 and 1000 quorum queues: series, bytes, scrape duration, broker CPU per scrape.
# Needs what the RabbitMQ integration tests need (scripts/install-deps.sh, root) and takes their lock. Prints figures.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/run-bench.sh test/integration/monitoring-scrape.bench.ts
