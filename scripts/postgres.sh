#!/usr/bin/env bash
# Installs Debian's postgresql if missing and starts one throwaway cluster on
# loopback only (127.0.0.1:15432; its unix socket in the same directory) under
# $JOURNEY_PG_DIR (default /tmp/journey-postgres), trust auth, with the role
# `journey` and the database `journey_test`. The tests connect as `postgres`
# and create a database per test. Idempotent: a running server is kept.
#   scripts/postgres.sh start
#   scripts/postgres.sh stop
set -euo pipefail
dir=${JOURNEY_PG_DIR:-/tmp/journey-postgres}
port=15432
cmd=${1:-start}

# Debian installs the server binaries outside $PATH, one directory per major
# version; take the newest.
bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true; }

install() {
  local b
  b=$(bindir)
  if [ -n "$b" ] && [ -x "$b/initdb" ] && [ -x "$b/pg_ctl" ] && command -v psql >/dev/null; then return; fi
  echo "installing postgresql from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
}

# initdb and postgres refuse to run as root: as root, run them as the
# `postgres` user the Debian package creates; otherwise as ourselves.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# As postgres: pg_isready otherwise logs a failed login for the OS user.
up() { "$(bindir)/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres >/dev/null 2>&1; }

init() {
  local b
  b=$(bindir)
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
  chmod 700 "$dir"
  if [ -f "$dir/data/PG_VERSION" ]; then return; fi
  # -U postgres: the superuser the tests connect as, whoever runs this.
  # --locale=C: exists everywhere, and sorts bytewise like SQLite does.
  as_pg "$b/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
    { echo "initdb failed; see $dir/initdb.log" >&2; tail -20 "$dir/initdb.log" >&2; exit 1; }
  # A test server: loopback only, and durability traded for speed (a crash
  # loses nothing the tests need; each test creates its own database).
  cat >>"$dir/data/postgresql.conf" <<CONF

# scripts/postgres.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
}

# Runs one SQL statement as the superuser over TCP (trust auth, so no
# password and no need to switch user).
sql() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres -tA -c "$1"; }

case "$cmd" in
start)
  if up; then exit 0; fi
  install
  init
  as_pg "$(bindir)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
    { echo "postgres did not start; see $dir/server.log" >&2; tail -20 "$dir/server.log" >&2 || true; exit 1; }
  for _ in $(seq 1 100); do up && break; sleep 0.2; done
  up || { echo "postgres is not accepting connections; see $dir/server.log" >&2; tail -20 "$dir/server.log" >&2 || true; exit 1; }
  if [ -z "$(sql "SELECT 1 FROM pg_roles WHERE rolname = 'journey'")" ]; then
    sql "CREATE ROLE journey LOGIN CREATEDB"
  fi
  if [ -z "$(sql "SELECT 1 FROM pg_database WHERE datname = 'journey_test'")" ]; then
    sql "CREATE DATABASE journey_test OWNER journey"
  fi
  echo "postgres: 127.0.0.1:$port (postgres://postgres@127.0.0.1:$port/journey_test?sslmode=disable)" >&2
  ;;
stop)
  b=$(bindir)
  if [ -n "$b" ] && [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$b/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  fi
  ;;
*) echo "usage: $0 start | stop" >&2; exit 2 ;;
esac
