#!/usr/bin/env bash
# The whole cluster on one machine (issue 14; README "Running a cluster";
# docs/adr/0031-cluster-infrastructure.md): PostgreSQL, a three-node Garage, N coffer-relay
# instances sharing one certificate, and HAProxy in TCP mode in front of them.
#
#   scripts/cluster.sh up [--infra-only]   # full mode: prints "URL PIN" of the front door last
#   scripts/cluster.sh down [--purge]      # stops everything it started, in reverse order
#
# Everything listens on 127.0.0.1 and keeps its state under COFFER_CLUSTER_DIR (default
# /tmp/coffer-cluster); scripts/postgres.sh, scripts/garage.sh and scripts/haproxy.sh install
# what is missing and are idempotent, so is this script.
#
# Relays: COFFER_CLUSTER_INSTANCES (default 2) instances of COFFER_RELAY_BIN (default
# target/release/coffer-relay), instance I on 127.0.0.1:(COFFER_RELAY_PORT_BASE + I - 1)
# (default base 28501) with its own data directory, all with the same certificate and key
# (generated once by coffer-admin, COFFER_ADMIN_BIN, default beside the relay), so the pin is
# the same whichever instance HAProxy picks. Each instance gets the caller's environment
# (admin token, COFFER_*/PLURALLOG_* limits) plus COFFER_STORAGE_BACKEND=postgres,
# COFFER_POSTGRES_URL, COFFER_BLOBS_BACKEND=s3 and the COFFER_S3_* variables (Garage). Instances that share a database
# must share their blobs too, so full mode refuses to start relays unless `coffer-relay --help`
# names COFFER_BLOBS_BACKEND (the S3 blob store). `--infra-only` starts PostgreSQL, Garage and
# HAProxy (pointed at the instances' ports) and prints the environment for relays started by
# hand, ending with COFFER_CLUSTER_FRONT=127.0.0.1:PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts="$PWD/scripts"

cluster_dir="${COFFER_CLUSTER_DIR:-/tmp/coffer-cluster}"
export COFFER_CLUSTER_DIR="$cluster_dir"
relay_bin="${COFFER_RELAY_BIN:-target/release/coffer-relay}"
admin_bin="${COFFER_ADMIN_BIN:-$(dirname "$relay_bin")/coffer-admin}"
instances="${COFFER_CLUSTER_INSTANCES:-2}"
relay_port_base="${COFFER_RELAY_PORT_BASE:-28501}"
tls_dir="$cluster_dir/tls"
wait_secs="${COFFER_CLUSTER_WAIT:-60}"

say() { echo "cluster: $*" >&2; }
die() {
  say "$*"
  exit 1
}

usage() {
  echo "usage: $0 up [--infra-only] | down [--purge]" >&2
  exit 2
}

[[ "$instances" =~ ^[1-9][0-9]*$ ]] || die "COFFER_CLUSTER_INSTANCES must be a positive number, not '$instances'"
[[ "$relay_port_base" =~ ^[0-9]+$ ]] || die "COFFER_RELAY_PORT_BASE must be a port number, not '$relay_port_base'"

relay_port() { echo $((relay_port_base + $1 - 1)); }
relay_dir() { echo "$cluster_dir/relay$1"; }
relay_pid_file() { echo "$cluster_dir/relay$1/coffer-relay.pid"; }

backends() {
  local i
  for i in $(seq 1 "$instances"); do
    echo "127.0.0.1:$(relay_port "$i")"
  done
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Instance I's PID when it runs (checked against its command line).
relay_pid() {
  local pid
  pid="$(cat "$(relay_pid_file "$1")" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--data-dir $(relay_dir "$1")"; then
    echo "$pid"
  fi
}

# Why this relay binary cannot run on the shared back ends (empty when it can).
relay_refusal() {
  if [[ ! -x "$relay_bin" ]]; then
    echo "$relay_bin is not built (cargo build --release --locked -p coffer-relay -p coffer-admin, or set COFFER_RELAY_BIN)"
  elif ! "$relay_bin" --help 2>&1 | grep -q COFFER_BLOBS_BACKEND; then
    echo "$relay_bin cannot keep its blobs in S3 yet ('coffer-relay --help' has no COFFER_BLOBS_BACKEND): instances on one PostgreSQL database would each keep their blob files in their own directory, so one could not serve what another stored, which is not a cluster. Start the shared servers with '$0 up --infra-only'; one relay may run on PostgreSQL with COFFER_STORAGE_BACKEND=postgres"
  elif [[ ! -x "$admin_bin" ]]; then
    echo "$admin_bin (used to generate the shared certificate) is not built; set COFFER_ADMIN_BIN"
  fi
}

shared_certificate() {
  if [[ ! -f "$tls_dir/cert.pem" ]]; then
    "$admin_bin" cert generate --dir "$tls_dir" >&2 ||
      die "coffer-admin cert generate --dir $tls_dir failed"
  fi
  local pin
  pin="$("$admin_bin" cert pin "$tls_dir/cert.pem" | grep -o 'sha256/[A-Za-z0-9+/=]*' | head -n 1)"
  [[ -n "$pin" ]] || die "coffer-admin cert pin $tls_dir/cert.pem printed no sha256/ pin"
  echo "$pin"
}

start_relay() {
  local i="$1" pin="$2" port dir
  port="$(relay_port "$i")"
  dir="$(relay_dir "$i")"
  if [[ -n "$(relay_pid "$i")" ]]; then
    say "relay $i: already running (PID $(relay_pid "$i")) on 127.0.0.1:$port"
    return 0
  fi
  port_in_use "$port" && die "127.0.0.1:$port (relay $i) is in use by another program: set COFFER_RELAY_PORT_BASE"
  mkdir -p "$dir"
  # The caller's environment (admin token, COFFER_*/PLURALLOG_* limits) is inherited; the
  # shared back ends and the shared certificate are added. setsid: the relay outlives this shell.
  COFFER_TLS_CERT="$tls_dir/cert.pem" COFFER_TLS_KEY="$tls_dir/key.pem" \
    setsid "$relay_bin" --listen "127.0.0.1:$port" --data-dir "$dir" \
    </dev/null >>"$dir/coffer-relay.log" 2>&1 &
  local spawned=$!
  echo "$spawned" >"$(relay_pid_file "$i")"
  local _ pin_b64="${pin#sha256/}"
  for _ in $(seq 1 $((wait_secs * 10))); do
    # Liveness by the PID just spawned: until the child has exec'd, its command line is still
    # this script's, and relay_pid would call it gone.
    if ! kill -0 "$spawned" 2>/dev/null; then
      local status=0
      wait "$spawned" || status=$?
      say "relay $i exited while starting, exit status $status"
      if [[ -s "$dir/coffer-relay.log" ]]; then
        tail -n 20 "$dir/coffer-relay.log" >&2
      else
        say "$dir/coffer-relay.log is empty"
      fi
      die "relay $i exited at start (log: $dir/coffer-relay.log)"
    fi
    if curl -sf -o /dev/null --max-time 2 -k --pinnedpubkey "sha256//$pin_b64" \
      "https://127.0.0.1:$port/api/v1/health"; then
      say "relay $i: PID $(relay_pid "$i"), https://127.0.0.1:$port, data $dir"
      return 0
    fi
    sleep 0.1
  done
  die "relay $i (PID $(relay_pid "$i")) does not answer /api/v1/health within $wait_secs s (log: $dir/coffer-relay.log)"
}

stop_relay() {
  local i="$1" pid
  pid="$(relay_pid "$i")"
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local _
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "relay $i: PID $pid still running after 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(relay_pid_file "$i")"
  say "relay $i: stopped PID $pid"
}

up() {
  local infra_only=0
  case "${1:-}" in
  --infra-only) infra_only=1 ;;
  "") ;;
  *) usage ;;
  esac
  if ((!infra_only)); then
    local why
    why="$(relay_refusal)"
    [[ -z "$why" ]] || die "not starting relays: $why"
  fi
  mkdir -p "$cluster_dir"
  local storage_url s3_env front
  storage_url="$("$scripts/postgres.sh" up | tail -n 1)"
  s3_env="$("$scripts/garage.sh" up | tail -n 4)"
  eval "$s3_env" # the four export lines garage.sh printed
  export COFFER_STORAGE_BACKEND=postgres COFFER_POSTGRES_URL="$storage_url" COFFER_BLOBS_BACKEND=s3
  export COFFER_S3_ENDPOINT COFFER_S3_REGION COFFER_S3_BUCKET COFFER_S3_CREDENTIALS_FILE
  if ((infra_only)); then
    # shellcheck disable=SC2046 # one HOST:PORT per instance
    front="$("$scripts/haproxy.sh" up $(backends) | tail -n 1)"
    say "infrastructure up; start relays with this environment behind $front"
    echo "export COFFER_STORAGE_BACKEND=postgres"
    echo "export COFFER_POSTGRES_URL=$storage_url"
    echo "export COFFER_BLOBS_BACKEND=s3"
    echo "$s3_env"
    echo "export COFFER_CLUSTER_FRONT=$front"
    return 0
  fi
  local pin i
  pin="$(shared_certificate)"
  for i in $(seq 1 "$instances"); do
    start_relay "$i" "$pin"
  done
  # shellcheck disable=SC2046 # one HOST:PORT per instance
  front="$("$scripts/haproxy.sh" up $(backends) | tail -n 1)"
  say "$instances relays behind https://$front (pin $pin)"
  echo "https://$front $pin"
}

down() {
  case "${1:-}" in
  --purge | "") ;;
  *) usage ;;
  esac
  local i status=0
  "$scripts/haproxy.sh" down || status=1
  # Every instance that has a PID file, whatever COFFER_CLUSTER_INSTANCES says now.
  for i in $(find "$cluster_dir" -maxdepth 2 -path "$cluster_dir/relay*/coffer-relay.pid" 2>/dev/null |
    sed 's|.*/relay\([0-9]*\)/coffer-relay.pid|\1|' | sort -rn); do
    stop_relay "$i" || status=1
  done
  "$scripts/garage.sh" down "$@" || status=1
  "$scripts/postgres.sh" down "$@" || status=1
  if [[ "${1:-}" == --purge ]] && ((status == 0)) && [[ -d "$cluster_dir" ]]; then
    rm -rf "$cluster_dir"
    say "removed $cluster_dir"
  fi
  return "$status"
}

case "${1:-}" in
up)
  shift
  [[ $# -le 1 ]] || usage
  up "$@"
  ;;
down)
  shift
  [[ $# -le 1 ]] || usage
  down "$@"
  ;;
*) usage ;;
esac
