#!/usr/bin/env bash
# Installs and starts what the tests need, idempotently, on loopback only:
# the real SDKs from npm (pinned by test/sdk/package-lock.json), two
# ClickHouse servers (Debian's clickhouse-server) for the differential and
# scale-out store tests, PostgreSQL for the metadata store tests and NATS
# (nats-server with JetStream) for the scale-out event log, and Debian's
# Chromium with playwright-core (pinned by test/ui/package-lock.json) for
# the web UI tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_node() {
  if command -v node >/dev/null && command -v npm >/dev/null; then return; fi
  echo "installing Node.js and npm from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
}

need_node
if [ ! -d test/sdk/node_modules/posthog-node ] || [ test/sdk/package-lock.json -nt test/sdk/node_modules/.package-lock.json ]; then
  (cd test/sdk && npm ci --no-audit --no-fund --loglevel=error)
fi

# The UI tests drive Debian's Chromium with playwright-core (no browser download).
if [ ! -x /usr/bin/chromium ]; then
  echo "installing Chromium from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d test/ui/node_modules/playwright-core ] || [ test/ui/package-lock.json -nt test/ui/node_modules/.package-lock.json ]; then
  (cd test/ui && npm ci --no-audit --no-fund --loglevel=error)
fi
# The analytics-next browser test (e2e/segment_test.go): the npm module,
# esbuild to bundle it as an app would, playwright-core; all pinned.
if [ ! -d test/segment/node_modules/@segment/analytics-next ] || [ test/segment/package-lock.json -nt test/segment/node_modules/.package-lock.json ]; then
  (cd test/segment && npm ci --no-audit --no-fund --loglevel=error)
fi

scripts/clickhouse.sh start 2
scripts/postgres.sh start
scripts/nats.sh start
