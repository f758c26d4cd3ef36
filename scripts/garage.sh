#!/usr/bin/env bash
# A three-node Garage cluster (S3-compatible object store) on loopback ports, for the relay's S3
# blob back end and the cluster test (issue 14; docs/adr/0031-cluster-infrastructure.md). Garage
# runs as separate server processes; it is never linked into Coffer (AGPL-3.0).
#
#   scripts/garage.sh up                 # prints export-able COFFER_S3_* lines last
#   scripts/garage.sh env                # prints them again
#   scripts/garage.sh endpoint N         # node N's S3 endpoint (N = 1, 2, 3)
#   scripts/garage.sh stop-node N        # stops one node (for the fault test)
#   scripts/garage.sh start-node N       # starts it again and waits for it
#   scripts/garage.sh down [--purge]     # stops all nodes; --purge also removes their data
#
# The binary: "$COFFER_TOOLS_DIR/garage-$GARAGE_VERSION/bin/garage" (default tools dir
# ~/.cache/coffer-tools), built with `cargo install garage --locked` the first time (a release
# build of several minutes) and reused afterwards; COFFER_GARAGE_BIN names another binary.
#
# State lives in "$COFFER_CLUSTER_DIR/garage" (default /tmp/coffer-cluster/garage): per node a
# configuration (mode 600), metadata and data directories, a log and a PID file; the shared
# random rpc_secret and admin token (mode 600); the S3 credentials file (mode 600, AWS shared
# credentials format, profile `default`). Ports (COFFER_GARAGE_PORT_BASE, default 23900): node N
# has S3 on BASE+10(N-1), RPC on +1, admin API on +3, all on 127.0.0.1. Replication factor 3
# (consistency mode "consistent": reads and writes need 2 of 3 nodes), one zone per node (z1, z2,
# z3), 1 GB capacity each. The first `up` connects the nodes, assigns and applies the layout,
# creates the bucket (COFFER_S3_BUCKET, default "coffer") and an access key allowed to read and
# write it; later `up`s only start the stopped nodes and wait until the cluster is healthy.
set -euo pipefail

GARAGE_VERSION=2.5.0
NODES=(1 2 3)

cluster_dir="${COFFER_CLUSTER_DIR:-/tmp/coffer-cluster}"
state="$cluster_dir/garage"
tools_dir="${COFFER_TOOLS_DIR:-$HOME/.cache/coffer-tools}"
garage="${COFFER_GARAGE_BIN:-$tools_dir/garage-$GARAGE_VERSION/bin/garage}"
port_base="${COFFER_GARAGE_PORT_BASE:-23900}"
bucket="${COFFER_S3_BUCKET:-coffer}"
region=garage
credentials="$state/credentials"
ready_marker="$state/configured"
wait_secs="${COFFER_GARAGE_WAIT:-60}"

say() { echo "garage: $*" >&2; }
die() {
  say "$*"
  exit 1
}

usage() {
  echo "usage: $0 up | env | endpoint N | stop-node N | start-node N | down [--purge]" >&2
  exit 2
}

[[ "$port_base" =~ ^[0-9]+$ ]] || die "COFFER_GARAGE_PORT_BASE must be a port number, not '$port_base'"

s3_port() { echo $((port_base + 10 * ($1 - 1))); }
rpc_port() { echo $((port_base + 10 * ($1 - 1) + 1)); }
admin_port() { echo $((port_base + 10 * ($1 - 1) + 3)); }
node_dir() { echo "$state/node$1"; }
node_cfg() { echo "$state/node$1/garage.toml"; }
node_pid_file() { echo "$state/node$1/garage.pid"; }

check_node() {
  [[ "${1:-}" =~ ^[123]$ ]] || die "no node '${1:-}': nodes are 1, 2 and 3"
}

ensure_installed() {
  if [[ -x "$garage" ]]; then
    return 0
  fi
  [[ -z "${COFFER_GARAGE_BIN:-}" ]] || die "COFFER_GARAGE_BIN=$garage is not an executable"
  command -v cargo >/dev/null 2>&1 || die "cargo is needed to build Garage $GARAGE_VERSION"
  mkdir -p "$tools_dir"
  # One build at a time per tools directory.
  exec 9>"$tools_dir/garage-$GARAGE_VERSION.lock"
  flock -w 3600 9 || die "another Garage build holds $tools_dir/garage-$GARAGE_VERSION.lock"
  if [[ ! -x "$garage" ]]; then
    local start log="$tools_dir/garage-$GARAGE_VERSION-install.log"
    start=$(date +%s)
    say "building Garage $GARAGE_VERSION (cargo install --locked, release: several minutes; log $log)"
    # Only what this cluster uses: the SQLite metadata engine (db_engine below), C libraries
    # bundled. Without the default lmdb, k2v and metrics: 553 s instead of 655 s on an idle
    # 2-core machine (ADR 0031).
    if ! cargo install garage --version "$GARAGE_VERSION" --locked \
      --no-default-features --features bundled-libs,sqlite \
      --root "$tools_dir/garage-$GARAGE_VERSION" >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      die "cargo install garage $GARAGE_VERSION failed (log: $log)"
    fi
    say "built Garage $GARAGE_VERSION in $(($(date +%s) - start)) s"
  fi
  exec 9>&-
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The PID of node N's server when it runs (checked against its command line, so a reused PID
# is never taken for it).
running_pid() {
  local pid
  pid="$(cat "$(node_pid_file "$1")" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(node_cfg "$1") server"; then
    echo "$pid"
  fi
}

# Says all this script knows about a server that exited while starting, then exits: its exit
# status (and signal), the binary and its version, the log's tail (or that it is empty).
start_failed() {
  local what="$1" status="$2" log="$3" signal=""
  if ((status > 128)); then
    signal=" (signal $(kill -l $((status - 128)) 2>/dev/null || echo $((status - 128))))"
  fi
  say "$what exited while starting, exit status $status$signal; binary $garage: $("$garage" --version 2>&1 | head -n 1 || true)"
  if [[ -s "$log" ]]; then
    say "last lines of $log:"
    tail -n 20 "$log" >&2
  else
    say "$log is empty"
  fi
  die "$what exited at start (log: $log)"
}

# Garage's CLI through node N (it talks to that node over RPC).
cli() {
  local n="$1"
  shift
  "$garage" -c "$(node_cfg "$n")" "$@"
}

random_hex() {
  openssl rand -hex "$1"
}

write_secret() {
  local file="$1" value="$2"
  (
    umask 077
    printf '%s\n' "$value" >"$file.tmp"
  )
  mv "$file.tmp" "$file"
}

write_config() {
  local n="$1" dir
  dir="$(node_dir "$n")"
  mkdir -p "$dir/meta" "$dir/data"
  (
    umask 077
    cat >"$(node_cfg "$n").tmp" <<EOF
# Written by scripts/garage.sh: node $n of 3.
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 3
consistency_mode = "consistent"

rpc_bind_addr = "127.0.0.1:$(rpc_port "$n")"
rpc_public_addr = "127.0.0.1:$(rpc_port "$n")"
rpc_secret_file = "$state/rpc_secret"

[s3_api]
s3_region = "$region"
api_bind_addr = "127.0.0.1:$(s3_port "$n")"

[admin]
api_bind_addr = "127.0.0.1:$(admin_port "$n")"
admin_token_file = "$state/admin_token"
EOF
  )
  mv "$(node_cfg "$n").tmp" "$(node_cfg "$n")"
}

start_node() {
  local n="$1" p
  if [[ -n "$(running_pid "$n")" ]]; then
    return 0
  fi
  for p in "$(s3_port "$n")" "$(rpc_port "$n")" "$(admin_port "$n")"; do
    port_in_use "$p" && die "127.0.0.1:$p (node $n) is in use by another program: set COFFER_GARAGE_PORT_BASE"
  done
  # setsid: the server outlives the shell that started it and its terminal. (This script has no
  # job control, so the child is no process-group leader and setsid execs in place: $! is the
  # server's PID.)
  RUST_LOG="${COFFER_GARAGE_LOG:-garage=info}" setsid "$garage" -c "$(node_cfg "$n")" server \
    </dev/null >>"$(node_dir "$n")/garage.log" 2>&1 &
  local spawned=$!
  echo "$spawned" >"$(node_pid_file "$n")"
  local _
  for _ in $(seq 1 $((wait_secs * 10))); do
    # Liveness by the PID just spawned, not by running_pid: until the child has exec'd, its
    # command line is still this script's, and running_pid would call it gone.
    if ! kill -0 "$spawned" 2>/dev/null; then
      local status=0
      wait "$spawned" || status=$?
      start_failed "node $n" "$status" "$(node_dir "$n")/garage.log"
    fi
    port_in_use "$(rpc_port "$n")" && port_in_use "$(s3_port "$n")" && break
    sleep 0.1
  done
  port_in_use "$(s3_port "$n")" ||
    die "node $n (PID $(running_pid "$n")) does not listen on its ports within $wait_secs s (log: $(node_dir "$n")/garage.log)"
  say "node $n: PID $(running_pid "$n"), S3 127.0.0.1:$(s3_port "$n"), RPC :$(rpc_port "$n"), admin :$(admin_port "$n")"
}

# Waits until node N's server PID has exited (SIGKILL after 15 s: it is ours, it ignored SIGTERM).
wait_stopped() {
  local n="$1" pid="$2" _
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "node $n: PID $pid still running after 15 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(node_pid_file "$n")"
  say "node $n: stopped PID $pid"
}

stop_node() {
  local n="$1" pid
  pid="$(running_pid "$n")"
  if [[ -z "$pid" ]]; then
    say "node $n: not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait_stopped "$n" "$pid"
}

# The cluster's health status (GetClusterHealth) as node N sees it.
health_status() {
  cli "$1" json-api GetClusterHealth 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])' 2>/dev/null || true
}

# Waits until every running node sees the cluster healthy (connected to all storage nodes):
# a node just started serves requests only once it reaches a quorum of its peers.
wait_health() {
  local _ n status="" all
  for _ in $(seq 1 $((wait_secs * 4))); do
    all=1
    for n in "${NODES[@]}"; do
      [[ -n "$(running_pid "$n")" ]] || continue
      status="$(health_status "$n")"
      if [[ "$status" != healthy ]]; then
        all=0
        break
      fi
    done
    ((all)) && return 0
    sleep 0.25
  done
  die "node $n sees the cluster '${status:-without answer}' after $wait_secs s, not healthy"
}

node_id() {
  cli "$1" node id -q 2>/dev/null
}

# Node N dials the other running nodes now, instead of waiting for their reconnection backoff
# (tens of seconds after a restart).
connect_peers() {
  local n="$1" m
  for m in "${NODES[@]}"; do
    [[ "$m" != "$n" && -n "$(running_pid "$m")" ]] || continue
    cli "$n" node connect "$(node_id "$m")" >/dev/null 2>&1 ||
      say "node $n: could not connect to node $m yet; waiting for Garage to retry"
  done
}

# First `up`: connect the nodes, lay out, create the bucket and the key.
configure() {
  local n version
  for n in 2 3; do
    local id
    id="$(node_id "$n")" || die "cannot read node $n's id"
    cli 1 node connect "$id" >/dev/null || die "node 1 cannot connect to node $n ($id)"
  done
  version="$(cli 1 json-api GetClusterLayout |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')"
  if [[ "$version" == 0 ]]; then
    for n in "${NODES[@]}"; do
      local id
      id="$(node_id "$n")"
      cli 1 layout assign -z "z$n" -c 1G "${id%%@*}" >/dev/null ||
        die "layout assign of node $n failed"
    done
    cli 1 layout apply --version 1 >/dev/null || die "layout apply failed"
    say "layout version 1 applied: 3 nodes in zones z1, z2, z3, replication factor 3"
  fi
  wait_health
  if ! cli 1 json-api GetBucketInfo "{\"globalAlias\": \"$bucket\"}" >/dev/null 2>&1; then
    cli 1 bucket create "$bucket" >/dev/null || die "bucket create $bucket failed"
  fi
  if [[ ! -f "$credentials" ]]; then
    local created key_id secret
    created="$(cli 1 json-api CreateKey '{"name": "coffer"}')" || die "key creation failed"
    # Through stdin: the secret never appears on a command line.
    key_id="$(python3 -c 'import json, sys; print(json.load(sys.stdin)["accessKeyId"])' <<<"$created")"
    secret="$(python3 -c 'import json, sys; print(json.load(sys.stdin)["secretAccessKey"])' <<<"$created")"
    [[ -n "$key_id" && -n "$secret" ]] || die "key creation answered without a key"
    cli 1 bucket allow --read --write --owner "$bucket" --key "$key_id" >/dev/null ||
      die "bucket allow for $bucket failed"
    write_secret "$credentials" "[default]
aws_access_key_id = $key_id
aws_secret_access_key = $secret"
    say "bucket $bucket, key $key_id (read, write, owner); credentials in $credentials"
  fi
  touch "$ready_marker"
}

print_env() {
  [[ -f "$credentials" ]] || die "no cluster configured in $state (run '$0 up')"
  echo "export COFFER_S3_ENDPOINT=http://127.0.0.1:$(s3_port 1)"
  echo "export COFFER_S3_REGION=$region"
  echo "export COFFER_S3_BUCKET=$bucket"
  echo "export COFFER_S3_CREDENTIALS_FILE=$credentials"
}

up() {
  ensure_installed
  mkdir -p "$state"
  chmod 700 "$state"
  [[ -f "$state/rpc_secret" ]] || write_secret "$state/rpc_secret" "$(random_hex 32)"
  [[ -f "$state/admin_token" ]] || write_secret "$state/admin_token" "$(random_hex 32)"
  local n
  for n in "${NODES[@]}"; do
    write_config "$n"
    start_node "$n"
  done
  if [[ -f "$ready_marker" ]]; then
    for n in "${NODES[@]}"; do
      connect_peers "$n"
    done
    wait_health
  else
    configure
  fi
  say "healthy: 3 nodes, replication factor 3"
  print_env
}

down() {
  local purge=0
  case "${1:-}" in
  --purge) purge=1 ;;
  "") ;;
  *) usage ;;
  esac
  local n pids=()
  # All three shut down at once (each takes a second or two), then each is waited for.
  for n in 3 2 1; do
    pids[n]="$(running_pid "$n")"
    if [[ -n "${pids[n]}" ]]; then
      kill -TERM "${pids[n]}" 2>/dev/null || true
    else
      say "node $n: not running"
    fi
  done
  for n in 3 2 1; do
    [[ -z "${pids[n]}" ]] || wait_stopped "$n" "${pids[n]}"
  done
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
env)
  [[ $# == 1 ]] || usage
  print_env
  ;;
endpoint)
  [[ $# == 2 ]] || usage
  check_node "$2"
  echo "http://127.0.0.1:$(s3_port "$2")"
  ;;
stop-node)
  [[ $# == 2 ]] || usage
  check_node "$2"
  stop_node "$2"
  ;;
start-node)
  [[ $# == 2 ]] || usage
  check_node "$2"
  [[ -f "$(node_cfg "$2")" ]] || die "no configuration for node $2 (run '$0 up')"
  ensure_installed
  start_node "$2"
  connect_peers "$2"
  wait_health
  ;;
down)
  shift
  [[ $# -le 1 ]] || usage
  down "$@"
  ;;
*) usage ;;
esac
