#!/usr/bin/env bash
# Beyond one machine (issue 14; docs/BENCHMARKS.md "Beyond one machine"): coffer-bench against
# three configurations back to back, in one session:
#
#   sqlite     one relay on embedded SQLite and blob files, spawned by coffer-bench (--spawn)
#   cluster-1  scripts/cluster.sh with COFFER_CLUSTER_INSTANCES=1: PostgreSQL, a three-node
#              Garage, one relay, HAProxy in front
#   cluster-2  the same with two relays
#
# The cluster runs go through the HAProxy front door ("URL PIN", cluster.sh up's last line) and
# sample every process the cluster scripts started (coffer-bench --cluster-dir: relay, postgres
# with its backends, garage, haproxy). Each cluster is stopped and purged after its run.
#
#   scripts/bench-cluster.sh [OUT_DIR]      # default target/bench-cluster
#
# Writes OUT_DIR/{sqlite,cluster-1,cluster-2}.{txt,json} (the table and the JSON report) and
# OUT_DIR/session.txt (date, commit, load). Needs the release binaries:
#   cargo build --release --locked -p coffer-relay -p coffer-admin -p coffer-tests \
#     --bin coffer-relay --bin coffer-admin --bin coffer-bench
# and what cluster.sh needs (it installs PostgreSQL and HAProxy, and builds Garage once).
#
# Settings (environment):
#   COFFER_BENCH_WORKLOADS  default login,fetch:4k,publish:64k,mixed
#   COFFER_BENCH_ARGS       more coffer-bench options for every run, e.g. "--duration 10 --no-baseline"
#   COFFER_BENCH_CONFIGS    default "sqlite cluster-1 cluster-2"
#   COFFER_CLUSTER_DIR      default /tmp/coffer-bench-cluster
#   COFFER_PG_PORT, COFFER_GARAGE_PORT_BASE, COFFER_RELAY_PORT_BASE, COFFER_LB_PORT: default
#     26432, 26900, 26501, 26443, apart from cluster.sh's defaults so that this can run beside a
#     development cluster.
# Every relay instance gets rate limits far above what one machine sends (as coffer-bench
# --spawn gives its relay, tests/src/bench/spawn.rs RELAY_ENV, but 10^6 a minute, not 10^8:
# relays before ad4ae25 rounded the shared bucket's interval on PostgreSQL to 0 µs above 6*10^7
# a minute, and then refused concurrent requests from one address; 10^6 measures those too)
# and open registration: the benchmark registers its own accounts and every simulated client
# comes from one address.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-target/bench-cluster}"
bin_dir="${COFFER_BIN_DIR:-target/release}"
workloads="${COFFER_BENCH_WORKLOADS:-login,fetch:4k,publish:64k,mixed}"
configs="${COFFER_BENCH_CONFIGS:-sqlite cluster-1 cluster-2}"
read -r -a extra <<<"${COFFER_BENCH_ARGS:-}"

export COFFER_CLUSTER_DIR="${COFFER_CLUSTER_DIR:-/tmp/coffer-bench-cluster}"
export COFFER_PG_PORT="${COFFER_PG_PORT:-26432}"
export COFFER_GARAGE_PORT_BASE="${COFFER_GARAGE_PORT_BASE:-26900}"
export COFFER_RELAY_PORT_BASE="${COFFER_RELAY_PORT_BASE:-26501}"
export COFFER_LB_PORT="${COFFER_LB_PORT:-26443}"
export COFFER_RELAY_BIN="$bin_dir/coffer-relay" COFFER_ADMIN_BIN="$bin_dir/coffer-admin"
# Far above anything one machine can send (see above for why not spawn.rs's 10^8).
rate="${COFFER_BENCH_RATE:-1000000}"
export COFFER_MAX_CONNECTIONS_PER_IP=0 COFFER_RATE_REGISTER="$rate" COFFER_RATE_AUTH="$rate" \
  COFFER_RATE_UPLOAD="$rate" COFFER_RATE_GENERAL="$rate" COFFER_RATE_DISCOVERY="$rate" \
  COFFER_RATE_ADMIN="$rate" COFFER_REGISTRATION=open

say() { echo "bench-cluster: $*" >&2; }
die() {
  say "$*"
  exit 1
}

for bin in coffer-relay coffer-admin coffer-bench; do
  [[ -x "$bin_dir/$bin" ]] || die "$bin_dir/$bin is not built (see the header of $0)"
done
mkdir -p "$out"

cluster_up=0
cleanup() {
  if ((cluster_up)); then
    scripts/cluster.sh down --purge || say "cluster.sh down --purge failed; state in $COFFER_CLUSTER_DIR"
    cluster_up=0
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r)"
  echo "workloads: $workloads; extra options: ${extra[*]:-none}"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/session.txt"
cat "$out/session.txt" >&2

bench() {
  local name="$1"
  shift
  say "$name: coffer-bench $*"
  "$bin_dir/coffer-bench" "$@" --workloads "$workloads" "${extra[@]}" \
    --json "$out/$name.json" | tee "$out/$name.txt"
  echo "$name: load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/session.txt"
}

for config in $configs; do
  case "$config" in
  sqlite)
    bench sqlite --spawn --relay-bin "$bin_dir/coffer-relay"
    ;;
  cluster-[1-9]*)
    instances="${config#cluster-}"
    [[ "$instances" =~ ^[1-9][0-9]*$ ]] || die "config $config: cluster-N with N instances"
    [[ ! -e "$COFFER_CLUSTER_DIR" ]] || die "$COFFER_CLUSTER_DIR exists: stop and purge that cluster first (COFFER_CLUSTER_DIR=$COFFER_CLUSTER_DIR scripts/cluster.sh down --purge)"
    cluster_up=1
    front="$(COFFER_CLUSTER_INSTANCES="$instances" scripts/cluster.sh up | tail -n 1)"
    read -r url pin <<<"$front"
    [[ "$url" == https://127.0.0.1:* && "$pin" == sha256/* ]] || die "cluster.sh up printed '$front', not 'URL PIN'"
    bench "$config" --url "$url" --pin "$pin" --cluster-dir "$COFFER_CLUSTER_DIR"
    cleanup
    ;;
  *) die "unknown configuration '$config' (sqlite, cluster-N)" ;;
  esac
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/session.txt"
say "done: $out"
