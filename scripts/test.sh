#!/usr/bin/env bash
# The whole test suite (`npm test`). Assumes `npm install` has run and, for the integration tests, that the Debian
# packages of scripts/install-deps.sh are installed: under CI=true a missing daemon fails its test instead of
# skipping it.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n=== %s\n' "$*"; }

step "type-check lib, tests, examples, scripts"
npx tsc -p tsconfig.dev.json

step "build: jsii assembly and JavaScript (npm run build)"
npm run --silent build

step "API.md is generated from the current API"
mkdir -p .tmp
npx jsii-docgen -o .tmp/API.md
if ! diff -u API.md .tmp/API.md > .tmp/API.diff; then
  head -40 .tmp/API.diff
  echo "API.md is stale: run 'npm run build && npm run docgen' and commit API.md" >&2
  exit 1
fi

step "unit tests"
# Bounded: the suite takes 2.5-3.5 minutes on 2 cores. A process a failed test leaves behind can keep jest from
# exiting after its summary (stop 33's CI waited out its 90 minutes so); then this fails in 20 minutes, saying so.
timeout --kill-after=30s 20m npx jest --selectProjects unit --ci || {
  status=$?
  [[ $status -eq 124 || $status -eq 137 ]] && echo "unit tests: jest did not finish within 20 minutes (a hang: see above)" >&2
  exit "$status"
}

step "integration tests (real daemons)"
npx jest --selectProjects integration --ci --runInBand

step "cdk8s synth of the example, with schema and API-rules validation"
npx cdk8s synth --no-check-upgrade > .tmp/synth.log 2>&1 || { cat .tmp/synth.log; exit 1; }
grep -q 'Validations ended succesfully' .tmp/synth.log

step "npm pack installs into a fresh cdk8s app"
bash scripts/pack-test.sh
