#!/usr/bin/env bash
# Starts or stops samu's private PostgreSQL cluster: data under .local/pg, loopback only.
#   ops/database.sh start    initdb on first use (checksums, scram passwords), start, create the database
#   ops/database.sh stop     stop this cluster (pg_ctl on its own data folder), nothing else
#   ops/database.sh crash    stop it the hard way (pg_ctl -m immediate: no checkpoint; crash recovery on start)
# SAMU_PG_DIR (default .local/pg) and SAMU_PG_PORT let the fault tests run clusters of their own.
#   ops/database.sh destroy  stop it and delete its files
#   ops/database.sh status
#   ops/database.sh psql     open psql on the samu database
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/env.sh"
base="${SAMU_PG_DIR:-$SAMU_LOCAL/pg}"
[ -x "$PG_BIN/initdb" ] || { echo "database: PostgreSQL server binaries not found; run ops/setup.sh" >&2; exit 1; }

# PostgreSQL refuses to run as root: when we are root, the cluster belongs to the 'postgres' user.
as=()
if [ "$(id -u)" = 0 ]; then
  as=(runuser -u postgres --)
  mkdir -p "$(dirname "$base")"
  # A checkout in a private home directory (mode 0700) is out of the postgres user's reach: the
  # cluster then lives under /var/lib/samu (one folder per checkout and cluster), linked from here.
  if [ ! -e "$base" ] && ! runuser -u postgres -- test -x "$(dirname "$base")" 2>/dev/null; then
    real="/var/lib/samu/pg-$(printf '%s' "$base" | sha256sum | cut -c1-16)"
    mkdir -p "$real"; chmod 755 /var/lib/samu; chown postgres "$real"
    ln -sfn "$real" "$base"
  fi
fi
base="$(readlink -f "$base" 2>/dev/null || printf '%s' "$base")"
data="$base/data"; sock="$base/run"; log="$base/postgres.log"
# From / : the cluster's user may not be allowed into the caller's directory.
pgctl() { (cd / && "${as[@]}" "$PG_BIN/pg_ctl" -D "$data" "$@"); }
export PGPASSWORD="$SAMU_PG_PASSWORD"

init() {
  [ -f "$data/PG_VERSION" ] && return
  mkdir -p "$base" "$sock"
  local pw="$base/.pwfile"; printf '%s\n' "$SAMU_PG_PASSWORD" >"$pw"
  if [ ${#as[@]} -gt 0 ]; then chown -R postgres "$base"; chmod 755 "$SAMU_LOCAL" "$(dirname "$base")"; fi
  (cd / && "${as[@]}" "$PG_BIN/initdb" -D "$data" -U samu --pwfile="$pw" --auth-local=scram-sha-256 \
    --auth-host=scram-sha-256 --data-checksums -E UTF8 --locale=C.UTF-8) >"$base/initdb.log"
  rm -f "$pw"
  cat >>"$data/postgresql.conf" <<CONF
# samu's private cluster (ops/database.sh)
listen_addresses = '127.0.0.1'
port = $SAMU_PG_PORT
unix_socket_directories = '$sock'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 200
shared_buffers = 256MB
password_encryption = scram-sha-256
log_min_error_statement = error
CONF
}

start() {
  init
  if pgctl status >/dev/null 2>&1; then
    echo "database: already running on 127.0.0.1:$SAMU_PG_PORT"
  else
    pgctl start -w -t 60 -l "$log" >/dev/null || { echo "database: failed to start; see $log" >&2; tail -20 "$log" >&2; exit 1; }
    echo "database: started on 127.0.0.1:$SAMU_PG_PORT (data $data)"
  fi
  if ! "$PG_BIN/psql" -h 127.0.0.1 -p "$SAMU_PG_PORT" -U samu -d postgres -Atqc "select 1 from pg_database where datname='samu'" | grep -q 1; then
    "$PG_BIN/psql" -h 127.0.0.1 -p "$SAMU_PG_PORT" -U samu -d postgres -qc "create database samu" >/dev/null
    echo "database: created database samu"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) if [ -f "$data/PG_VERSION" ] && pgctl status >/dev/null 2>&1; then pgctl stop -m fast -w >/dev/null; echo "database: stopped"; else echo "database: not running"; fi ;;
  crash) if [ -f "$data/PG_VERSION" ] && pgctl status >/dev/null 2>&1; then pgctl stop -m immediate -w >/dev/null; echo "database: crashed (immediate stop)"; else echo "database: not running"; fi ;;
  destroy) # stop it and delete its files (a linked cluster's folder too)
    if [ -f "$data/PG_VERSION" ] && pgctl status >/dev/null 2>&1; then pgctl stop -m fast -w >/dev/null; fi
    link="${SAMU_PG_DIR:-$SAMU_LOCAL/pg}"
    rm -rf "$base"; [ -L "$link" ] && rm -f "$link"
    echo "database: destroyed" ;;
  status) pgctl status ;;
  psql) shift; exec "$PG_BIN/psql" -h 127.0.0.1 -p "$SAMU_PG_PORT" -U samu -d samu "$@" ;;
  *) echo "usage: ops/database.sh start|stop|crash|destroy|status|psql" >&2; exit 2 ;;
esac
