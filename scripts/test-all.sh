#!/usr/bin/env bash
# The README's test command: install everything (npm and Debian packages), then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm test
