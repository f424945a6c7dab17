#!/usr/bin/env bash
# Proves the published package works: `npm pack`, install the tarball into a fresh TypeScript cdk8s app with
# the peer dependencies, type-check the app against the shipped .d.ts, synthesize, and check the output.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tarball=$(npm pack --silent --pack-destination "$work" | tail -1)
# The peers at exactly the versions the library is tested with.
read -r cdk8s_v plus_v constructs_v < <(node -p "const d = require('./package.json').devDependencies;
  [d.cdk8s, d['cdk8s-plus-25'], d.constructs].join(' ')")

cd "$work"
cat > package.json <<JSON
{ "name": "fresh-cdk8s-app", "version": "0.0.0", "private": true,
  "dependencies": { "cdk8s-openstack-ha": "file:./$tarball", "cdk8s": "$cdk8s_v",
                    "cdk8s-plus-25": "$plus_v", "constructs": "$constructs_v" } }
JSON
npm install --prefer-offline --no-audit --no-fund --loglevel=error > install.log 2>&1 || { cat install.log; exit 1; }

cat > main.ts <<'TS'
import { App, Chart } from 'cdk8s';
import { MemcachedPool, Placement, ServiceConfigRenderer } from 'cdk8s-openstack-ha';

const app = new App({ outdir: 'out' });
const chart = new Chart(app, 'fresh', { namespace: 'openstack' });
const pool = new MemcachedPool(chart, 'memcached', {
  placement: Placement.onNodes([{ name: 'n1', ip: '192.0.2.1' }, { name: 'n2', ip: '192.0.2.2' }, { name: 'n3', ip: '192.0.2.3' }]),
});
// The renderer ships its script as a package asset: it must be found from the installed package.
new ServiceConfigRenderer(chart, 'nova-ha-config', { connection: {
  service: 'nova', databaseConnections: {}, databaseReadOnlyConnections: {}, memcacheServers: pool.memcacheServers,
  osloConfig: `[keystone_authtoken]\nmemcached_servers = ${pool.memcacheServers}\nmemcache_secret_key = @@MEMCACHE_SECRET_KEY@@\n`,
  secretReferences: { MEMCACHE_SECRET_KEY: 'memcache-secret-key/key' },
} });
app.synth();
console.log(pool.memcacheServers);
TS
cat > tsconfig.json <<'JSON'
{ "compilerOptions": { "target": "ES2022", "module": "commonjs", "strict": true, "outDir": "build", "skipLibCheck": false,
  "types": [] }, "files": ["main.ts"] }
JSON
"$root/node_modules/.bin/tsc" -p .
servers=$(node build/main.js)
test "$servers" = "192.0.2.1:11211,192.0.2.2:11211,192.0.2.3:11211" || { echo "unexpected output: $servers" >&2; exit 1; }
grep -q 'kind: DaemonSet' out/fresh.k8s.yaml
grep -q 'render.js: |' out/fresh.k8s.yaml
# The preflight CLI is one bundled file: it must run from the package with @kubernetes/client-node not installed.
test ! -e node_modules/@kubernetes/client-node
./node_modules/.bin/openstack-ha-preflight --help > preflight-help.txt
grep -q -- '--manifests' preflight-help.txt
echo "pack test: $tarball installed into a fresh cdk8s app, type-checked and synthesized ($(grep -c '^kind:' out/fresh.k8s.yaml) objects)"
