#!/usr/bin/env bash
# Installs what the tests need, idempotently: Node.js packages of the real
# SDKs (pinned by test/sdk/package-lock.json). Servers needed by later test
# suites (ClickHouse, PostgreSQL, NATS, Chromium) are added here too.
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
