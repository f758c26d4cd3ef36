#!/usr/bin/env bash
# HAProxy in TCP mode in front of several relay instances (issue 14;
# docs/adr/0031-cluster-infrastructure.md): TLS and pins end at the relays, the proxy only
# spreads connections.
#
#   scripts/haproxy.sh up HOST:PORT [HOST:PORT ...]   # prints the front door HOST:PORT last
#   scripts/haproxy.sh down
#
# State lives in "$COFFER_CLUSTER_DIR/haproxy" (default /tmp/coffer-cluster/haproxy): the
# configuration and the PID file. The front door listens on 127.0.0.1:PORT (COFFER_LB_PORT,
# default 28443) and hands each new connection to the next healthy backend (balance roundrobin;
# health: a TCP connect every second, down after 2 failures, up after 2 successes). `up`
# installs Debian's `haproxy` package when missing (as root), checks the configuration, and
# starts HAProxy as a daemon; on a running one with the same backends it only prints the front
# door, with other backends it restarts it. `down` stops it by the PID in its PID file.
set -euo pipefail

cluster_dir="${COFFER_CLUSTER_DIR:-/tmp/coffer-cluster}"
state="$cluster_dir/haproxy"
cfg="$state/haproxy.cfg"
pid_file="$state/haproxy.pid"
port="${COFFER_LB_PORT:-28443}"

say() { echo "haproxy: $*" >&2; }
die() {
  say "$*"
  exit 1
}

usage() {
  echo "usage: $0 up HOST:PORT [HOST:PORT ...] | down" >&2
  exit 2
}

ensure_installed() {
  if ! command -v haproxy >/dev/null 2>&1 && [[ ! -x /usr/sbin/haproxy ]]; then
    [[ "$(id -u)" == 0 ]] || die "HAProxy is not installed and this is not root: run 'apt-get install -y haproxy' first"
    say "installing Debian's haproxy package"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >&2 ||
      die "apt-get install haproxy failed (try 'apt-get update' first)"
  fi
}

haproxy_bin() {
  command -v haproxy 2>/dev/null || echo /usr/sbin/haproxy
}

running_pid() {
  local pid
  pid="$(head -n 1 "$pid_file" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-f $cfg"; then
    echo "$pid"
  fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_config() {
  local out="$1"
  shift
  {
    cat <<EOF
# Written by scripts/haproxy.sh: TCP mode, TLS ends at the relays.
global
    daemon
    pidfile $pid_file
    maxconn 4096

defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout check 2s

frontend coffer
    bind 127.0.0.1:$port
    default_backend relays

backend relays
    balance roundrobin
    option tcp-check
    tcp-check connect
    default-server inter 1s fall 2 rise 2
EOF
    local i=0 backend
    for backend in "$@"; do
      i=$((i + 1))
      echo "    server relay$i $backend check"
    done
  } >"$out"
}

up() {
  [[ $# -ge 1 ]] || usage
  local backend
  for backend in "$@"; do
    [[ "$backend" =~ ^[A-Za-z0-9.:-]+:[0-9]+$ ]] || die "backend '$backend' is not HOST:PORT"
  done
  [[ "$port" =~ ^[0-9]+$ ]] || die "COFFER_LB_PORT must be a port number, not '$port'"
  ensure_installed
  mkdir -p "$state"
  write_config "$cfg.new" "$@"
  if [[ -n "$(running_pid)" ]]; then
    if cmp -s "$cfg.new" "$cfg"; then
      rm -f "$cfg.new"
      say "already running (PID $(running_pid)) with these backends"
      echo "127.0.0.1:$port"
      return 0
    fi
    say "running with other backends: restarting"
    down
  fi
  if port_in_use "$port"; then
    die "127.0.0.1:$port is in use by another program: set COFFER_LB_PORT to a free port"
  fi
  mv "$cfg.new" "$cfg"
  "$(haproxy_bin)" -c -q -f "$cfg" || die "HAProxy refused its configuration $cfg"
  rm -f "$pid_file"
  # Its standard streams go to a log, so a caller reading this script's output through a pipe
  # is not held open by the daemon.
  if ! "$(haproxy_bin)" -f "$cfg" </dev/null >>"$state/haproxy.log" 2>&1; then
    tail -n 20 "$state/haproxy.log" >&2
    die "HAProxy did not start (configuration $cfg, log $state/haproxy.log)"
  fi
  local _
  for _ in $(seq 1 50); do
    [[ -n "$(running_pid)" ]] && port_in_use "$port" && break
    sleep 0.1
  done
  [[ -n "$(running_pid)" ]] || die "HAProxy did not write its PID file $pid_file within 5 s"
  port_in_use "$port" || die "HAProxy (PID $(running_pid)) does not accept on 127.0.0.1:$port within 5 s"
  say "running: PID $(running_pid), front door 127.0.0.1:$port, backends $*"
  echo "127.0.0.1:$port"
}

down() {
  local pid
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    say "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local _
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "PID $pid still running after 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
  say "stopped PID $pid"
}

case "${1:-}" in
up)
  shift
  up "$@"
  ;;
down)
  [[ $# == 1 ]] || usage
  down
  ;;
*) usage ;;
esac
