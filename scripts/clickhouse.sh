#!/usr/bin/env bash
# Installs Debian's clickhouse-server if missing and starts N local
# instances on loopback (tcp ports 19000, 19001, …) under $JOURNEY_CH_DIR
# (default /tmp/journey-clickhouse). Idempotent: running instances are kept.
#   scripts/clickhouse.sh start [N]   (default N=2: the two-shard setup)
#   scripts/clickhouse.sh stop
set -euo pipefail
dir=${JOURNEY_CH_DIR:-/tmp/journey-clickhouse}
cmd=${1:-start}
n=${2:-2}

install() {
  if command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null; then return; fi
  echo "installing clickhouse-server from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
}

config() { # $1 = index
  local d="$dir/$1" port=$((19000 + $1)) http=$((18123 + $1))
  mkdir -p "$d/data" "$d/tmp" "$d/user_files"
  cat > "$d/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>$d/server.log</log><errorlog>$d/error.log</errorlog><console>0</console></logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$port</tcp_port>
    <http_port>$http</http_port>
    <interserver_http_port>$((19100 + $1))</interserver_http_port>
    <path>$d/data/</path>
    <tmp_path>$d/tmp/</tmp_path>
    <user_files_path>$d/user_files/</user_files_path>
    <users_config>/etc/clickhouse-server/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <remote_servers>
        <journey_two_shards>
            <shard><replica><host>127.0.0.1</host><port>19000</port></replica></shard>
            <shard><replica><host>127.0.0.1</host><port>19001</port></replica></shard>
        </journey_two_shards>
    </remote_servers>
</yandex>
XML
}

up() { clickhouse-client --port $((19000 + $1)) -q "SELECT 1" >/dev/null 2>&1; }

case "$cmd" in
start)
  install
  for i in $(seq 0 $((n - 1))); do
    if up "$i"; then continue; fi
    config "$i"
    clickhouse-server --config-file="$dir/$i/config.xml" --pid-file="$dir/$i/pid" >"$dir/$i/stdout" 2>&1 &
  done
  for i in $(seq 0 $((n - 1))); do
    for _ in $(seq 1 100); do up "$i" && break; sleep 0.2; done
    up "$i" || { echo "clickhouse $i did not start; see $dir/$i/error.log" >&2; tail -20 "$dir/$i/error.log" >&2 || true; exit 1; }
  done
  echo "clickhouse: $n instance(s) on 127.0.0.1:19000.." >&2
  ;;
stop)
  for p in "$dir"/*/pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true; done
  # Also by command line: a pid file may be missing (or its directory removed).
  pkill -f "clickhouse-server --config-file=$dir/" 2>/dev/null || true
  for _ in $(seq 1 50); do pgrep -f "clickhouse-server --config-file=$dir/" >/dev/null || break; sleep 0.2; done
  ;;
*) echo "usage: $0 start [N] | stop" >&2; exit 2 ;;
esac
