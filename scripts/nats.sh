#!/usr/bin/env bash
# Installs Debian's nats-server if missing and starts one JetStream server on
# loopback (127.0.0.1:14222) with file storage under $JOURNEY_NATS_DIR
# (default /tmp/journey-nats). Idempotent: a server already answering on the
# port is kept.
#   scripts/nats.sh start
#   scripts/nats.sh stop
#
# max_payload is raised from NATS's 1 MB default to 8 MB: capture accepts
# events of up to 1 MB (SPEC §3), and an event that size no longer fits in a
# 1 MB message once wrapped in its batch. The JetStream log splits larger
# batches into several messages, so 8 MB bounds one event, not one batch.
set -euo pipefail
dir=${JOURNEY_NATS_DIR:-/tmp/journey-nats}
port=14222
cmd=${1:-start}

install() {
  if command -v nats-server >/dev/null; then return; fi
  echo "installing nats-server from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nats-server >/dev/null
}

config() {
  mkdir -p "$dir/store"
  # Debian's nats-server (2.9.x) has no flag for max_payload, hence the file.
  cat > "$dir/nats.conf" <<CONF
listen: 127.0.0.1:$port
max_payload: 8MB
pid_file: "$dir/pid"
jetstream {
  store_dir: "$dir/store"
}
CONF
}

# up is true when something speaking NATS answers on the port (the server
# greets every connection with an INFO line).
up() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && head -c 4 <&3" 2>/dev/null | grep -q INFO; }

case "$cmd" in
start)
  if up; then exit 0; fi
  install
  config
  nats-server -c "$dir/nats.conf" -l "$dir/server.log" >"$dir/stdout" 2>&1 &
  for _ in $(seq 1 100); do up && break; sleep 0.1; done
  up || { echo "nats-server did not start; see $dir/server.log" >&2; tail -20 "$dir/server.log" >&2 || true; exit 1; }
  echo "nats: JetStream on 127.0.0.1:$port, store $dir/store" >&2
  ;;
stop)
  if [ -f "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    if kill "$pid" 2>/dev/null; then
      # Let JetStream flush its store before returning.
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$dir/pid"
  fi
  ;;
*) echo "usage: $0 start | stop" >&2; exit 2 ;;
esac
