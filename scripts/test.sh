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
npx jest --selectProjects unit --ci

step "integration tests (real daemons)"
npx jest --selectProjects integration --ci --runInBand

step "cdk8s synth of the example, with schema and API-rules validation"
npx cdk8s synth --no-check-upgrade > .tmp/synth.log 2>&1 || { cat .tmp/synth.log; exit 1; }
grep -q 'Validations ended succesfully' .tmp/synth.log

step "npm pack installs into a fresh cdk8s app"
bash scripts/pack-test.sh
