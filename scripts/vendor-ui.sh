#!/usr/bin/env bash
# Vendors the front end's only third-party file: Apache ECharts from npm.
# The Go binary embeds web/static, so building or running Journey never
# needs npm; run this only to (re)fetch or upgrade the chart library.
# Idempotent: running it again rewrites the same files.
set -euo pipefail

VERSION="${ECHARTS_VERSION:-6.1.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/web/static/vendor"

command -v npm >/dev/null || { echo "vendor-ui: npm is needed (apt-get install npm)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# npm pack downloads the published tarball only: no install scripts run.
(cd "$tmp" && npm pack --silent "echarts@$VERSION" >/dev/null)
tar -xzf "$tmp/echarts-$VERSION.tgz" -C "$tmp"

src="$tmp/package/dist/echarts.min.js"
[ -s "$src" ] || { echo "vendor-ui: $src missing from the echarts $VERSION package" >&2; exit 1; }

mkdir -p "$DEST"
# Drop older vendored versions so only one copy gets embedded.
find "$DEST" -maxdepth 1 -name 'echarts-*.min.js' ! -name "echarts-$VERSION.min.js" -delete
cp "$src" "$DEST/echarts-$VERSION.min.js"
cp "$tmp/package/LICENSE" "$DEST/ECHARTS-LICENSE"
[ -f "$tmp/package/NOTICE" ] && cp "$tmp/package/NOTICE" "$DEST/ECHARTS-NOTICE"

(cd "$DEST" && sha256sum "echarts-$VERSION.min.js" ECHARTS-LICENSE)
