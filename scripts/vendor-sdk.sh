#!/usr/bin/env bash
# Vendors the posthog-js browser bundles that Journey serves under /static/
# (the loader snippet, the lazily loaded extensions) from the published npm
# package. The Go binary embeds internal/websdk/static, so building or
# running Journey never needs npm; run this only to (re)fetch or upgrade.
# Idempotent: running it again rewrites the same files. After an upgrade,
# change websdk.PostHogJSVersion to match and rerun the websdk tests.
set -euo pipefail

VERSION="${POSTHOG_JS_VERSION:-1.449.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/internal/websdk/static/posthog-js"

# What posthog-js loads from its api host: the loader and the two full
# bundles, then the extensions array.js asks for lazily (dead clicks,
# exceptions, web vitals in each flavour, surveys, tracing headers, logs).
# Session recording, product tours and conversations stay off in Journey's
# remote config, so their bundles are left out to keep the binary small.
FILES=(
  loader.js
  array.js
  array.full.js
  dead-clicks-autocapture.js
  exception-autocapture.js
  web-vitals.js
  web-vitals-with-attribution.js
  web-vitals-soft-navs.js
  web-vitals-with-attribution-soft-navs.js
  surveys.js
  tracing-headers.js
  logs.js
)

command -v npm >/dev/null || { echo "vendor-sdk: npm is needed (apt-get install npm)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# npm pack downloads the published tarball only: no install scripts run.
(cd "$tmp" && npm pack --silent "posthog-js@$VERSION" >/dev/null)
tar -xzf "$tmp/posthog-js-$VERSION.tgz" -C "$tmp"

rm -rf "$DEST"
mkdir -p "$DEST"
for f in "${FILES[@]}"; do
  src="$tmp/package/dist/$f"
  [ -s "$src" ] || { echo "vendor-sdk: $f missing from posthog-js $VERSION" >&2; exit 1; }
  # Byte for byte, so the package's SRI hashes (integrity.json) still hold;
  # the source maps they name are not vendored.
  cp "$src" "$DEST/$f"
done
cp "$tmp/package/LICENSE" "$DEST/LICENSE"
cp "$tmp/package/dist/integrity.json" "$DEST/integrity.json"
echo "$VERSION" >"$DEST/VERSION"

(cd "$DEST" && sha256sum "${FILES[@]}" LICENSE)
