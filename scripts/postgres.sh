#!/usr/bin/env bash
# A throw-away PostgreSQL cluster on a loopback port, for the relay's PostgreSQL back end and the
# cluster test (issue 14; docs/adr/0031-cluster-infrastructure.md).
#
#   scripts/postgres.sh up            # prints the connection URL as its last line
#   scripts/postgres.sh url           # prints it again
#   scripts/postgres.sh down [--purge]  # stops it; --purge also removes its data
#
# State lives in "$COFFER_CLUSTER_DIR/postgres" (default /tmp/coffer-cluster/postgres): the data
# directory and socket directory (owned by the unprivileged user the server runs as), the log,
# the port, and the `coffer` role's random password (mode 600). `up` installs Debian's
# `postgresql` package when no initdb is found (as root), runs initdb once as an unprivileged
# user (when run as root: the system user `postgres`, created if missing; otherwise the caller),
# and starts the server listening on 127.0.0.1:PORT only (PORT: COFFER_PG_PORT, default 25432),
# with password (SCRAM) authentication over TCP for the role `coffer`, owner of the database
# `coffer`, which may create databases (this cluster is for tests: the relay's PostgreSQL tests
# each work in a database of their own; a production role needs no CREATEDB). The superuser is
# reachable only over the private Unix socket. `up` on a running cluster only prints the URL. `down` stops the server by its postmaster PID (pg_ctl stop -m fast).
set -euo pipefail

cluster_dir="${COFFER_CLUSTER_DIR:-/tmp/coffer-cluster}"
state="$cluster_dir/postgres"
data="$state/data"
run_dir="$state/run"
log="$state/run/postgres.log"
password_file="$state/password"
port_file="$state/port"
start_timeout="${COFFER_PG_START_TIMEOUT:-60}"

say() { echo "postgres: $*" >&2; }
die() {
  say "$*"
  exit 1
}

usage() {
  echo "usage: $0 up | url | down [--purge]" >&2
  exit 2
}

# The newest installed PostgreSQL's bin directory (Debian keeps them versioned, off PATH).
pg_bin() {
  local dir
  dir="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
    sort -V | tail -n 1)"
  if [[ -n "$dir" ]]; then
    dirname "$dir"
  fi
}

ensure_installed() {
  if [[ -z "$(pg_bin)" ]]; then
    [[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed and this is not root: run 'apt-get install -y postgresql' first"
    say "installing Debian's postgresql package"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 ||
      die "apt-get install postgresql failed (try 'apt-get update' first)"
    [[ -n "$(pg_bin)" ]] || die "postgresql installed, but no /usr/lib/postgresql/*/bin/initdb found"
  fi
}

# The user the server runs as: never root.
server_user() {
  if [[ "$(id -u)" == 0 ]]; then
    echo postgres
  else
    id -un
  fi
}

ensure_server_user() {
  if [[ "$(id -u)" == 0 ]] && ! id postgres >/dev/null 2>&1; then
    say "creating the system user postgres"
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
}

# Runs a PostgreSQL tool as the server's user.
as_server() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port() {
  if [[ -f "$port_file" ]]; then
    cat "$port_file"
  else
    echo "${COFFER_PG_PORT:-25432}"
  fi
}

url() {
  [[ -f "$password_file" ]] || die "no cluster in $state (run '$0 up')"
  echo "postgres://coffer:$(cat "$password_file")@127.0.0.1:$(port)/coffer"
}

# The postmaster's PID when it runs on our data directory.
running_pid() {
  local pid
  pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    echo "$pid"
  fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

init_cluster() {
  local bin="$1" user="$2"
  say "initdb in $data as $user (PostgreSQL $(basename "$(dirname "$bin")"))"
  mkdir -p "$state"
  chmod 755 "$state"
  # The server's user must reach the state directory.
  if ! as_server test -x "$state"; then
    die "user $user cannot enter $state: choose a COFFER_CLUSTER_DIR every user may traverse (e.g. under /tmp)"
  fi
  install -d -m 700 -o "$user" "$data" "$run_dir"
  # Local (socket) connections: trust, the socket directory is private to the server's user.
  # TCP: SCRAM passwords only.
  as_server "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$state/initdb.log" 2>&1 ||
    {
      tail -n 20 "$state/initdb.log" >&2
      die "initdb failed (log: $state/initdb.log)"
    }
  # Settings the script owns live in their own file, rewritten at every start.
  echo "include_if_exists = 'coffer-cluster.conf'" | as_server tee -a "$data/postgresql.conf" >/dev/null
}

write_settings() {
  local p="$1"
  as_server tee "$data/coffer-cluster.conf" >/dev/null <<EOF
# Written by scripts/postgres.sh at every 'up'.
listen_addresses = '127.0.0.1'
port = $p
unix_socket_directories = '$run_dir'
password_encryption = 'scram-sha-256'
max_connections = 200
EOF
}

create_role_and_database() {
  local bin="$1" p="$2" password
  password="$(openssl rand -hex 24)"
  # The password goes through stdin, never on a command line.
  as_server "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$run_dir" -p "$p" -U postgres -d postgres >/dev/null <<EOF
CREATE ROLE coffer LOGIN CREATEDB PASSWORD '$password';
CREATE DATABASE coffer OWNER coffer;
EOF
  (
    umask 077
    echo "$password" >"$password_file.tmp"
  )
  mv "$password_file.tmp" "$password_file"
}

up() {
  ensure_installed
  ensure_server_user
  local bin user p
  bin="$(pg_bin)"
  user="$(server_user)"
  if [[ -n "$(running_pid)" ]]; then
    say "already running (PID $(running_pid)) on 127.0.0.1:$(port)"
    url
    return 0
  fi
  p="${COFFER_PG_PORT:-25432}"
  [[ "$p" =~ ^[0-9]+$ ]] || die "COFFER_PG_PORT must be a port number, not '$p'"
  if port_in_use "$p"; then
    die "127.0.0.1:$p is in use by another program: set COFFER_PG_PORT to a free port"
  fi
  [[ -f "$data/PG_VERSION" ]] || init_cluster "$bin" "$user"
  write_settings "$p"
  echo "$p" >"$port_file"
  say "starting on 127.0.0.1:$p (log $log)"
  if ! as_server "$bin/pg_ctl" -D "$data" -l "$log" -w -t "$start_timeout" start >/dev/null; then
    tail -n 20 "$log" >&2 || true
    die "the server did not start within ${start_timeout} s (log: $log)"
  fi
  if [[ ! -f "$password_file" ]]; then
    create_role_and_database "$bin" "$p"
  fi
  local u
  u="$(url)"
  "$bin/psql" -X -q -t -c 'select 1' "$u" >/dev/null ||
    die "the server runs (PID $(running_pid)) but 'select 1' as coffer failed"
  say "running: PID $(running_pid), data $data, password in $password_file"
  echo "$u"
}

down() {
  local purge=0
  case "${1:-}" in
  --purge) purge=1 ;;
  "") ;;
  *) usage ;;
  esac
  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    as_server "$(pg_bin)/pg_ctl" -D "$data" -m fast -w -t "$start_timeout" stop >/dev/null ||
      die "pg_ctl stop of PID $pid did not finish within ${start_timeout} s"
    say "stopped PID $pid"
  else
    say "not running"
  fi
  if ((purge)) && [[ -d "$state" ]]; then
    rm -rf "$state"
    say "removed $state"
  fi
}

case "${1:-}" in
up)
  [[ $# == 1 ]] || usage
  up
  ;;
url)
  [[ $# == 1 ]] || usage
  url
  ;;
down)
  shift
  [[ $# -le 1 ]] || usage
  down "$@"
  ;;
*) usage ;;
esac
