#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine: the npm packages (npm install) and the
# Debian packages of the daemons the integration tests run. Idempotent. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

# The real daemons whose configs we render and whose behaviour the integration tests show.
DEBIAN_PACKAGES=(
  iproute2            # ip netns, ss: network namespaces for HA tests, socket checks
  memcached           # MemcachedPool
  mariadb-server galera-4 mariadb-backup socat  # GaleraPetSet: 3 real members, recovery scenarios
  rclone              # GaleraBackup: the object-store client its job runs (the stock rclone image's), local and S3
  nftables            # Galera chaos suite: partitions between members' 127.0.1.x loopback addresses
  openssl            # preflight CLI test: a throwaway TLS certificate for the fake API server
  haproxy             # HaproxyLoadBalancer: haproxy -c and health-check behaviour (2.6 LTS, as the image)
  keepalived          # KeepalivedVip: keepalived -t and VIP failover in network namespaces
  util-linux mount bash curl  # unshare/setpriv for private /etc/hosts; curl is the HTTP track check
  rabbitmq-server     # RabbitDaemonSet: a 3-broker cluster in network namespaces
  python3-pika        # RabbitMQ throughput benchmark (AMQP client)
  prometheus prometheus-mysqld-exporter prometheus-node-exporter  # Monitoring: promtool, a real Prometheus scraping real exporters
  dash wget           # Galera's assets/galera/exporter.sh (the exporter image's busybox sh and wget) runs under them in its proof
  gcc libconfig-dev   # ProxySqlLayer: proxysql.cnf is read by the real libconfig parser (ProxySQL is not packaged)
  # Connection outputs: the OpenStack client libraries read the rendered service configs and talk to the daemons.
  python3-oslo.config python3-oslo.messaging python3-oslo.db python3-oslo.cache python3-keystonemiddleware python3-pymysql
  python3-pymemcache  # oslo.cache's TLS backend (dogpile.cache.pymemcache): the memcached TLS test reads [cache] with it
  python3-amqp        # py-amqp, oslo.messaging's client under kombu: the TLS benchmark publishes with it
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # Daemons must not start as system services: the tests start their own instances.
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d > /dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  $sudo rm -f /usr/sbin/policy-rc.d
fi

# `npm ci`: exactly the lock file, as users' CI runs it. The lock lists every platform's optional packages
# (jest's resolver ships one per OS/CPU), so it installs on any platform.
npm ci --no-audit --no-fund
