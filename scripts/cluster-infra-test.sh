#!/usr/bin/env bash
# Checks the cluster's shared servers (issue 14; docs/adr/0031-cluster-infrastructure.md):
# `scripts/cluster.sh up --infra-only`, then
#   - PostgreSQL answers `select 1` as the coffer role, and refuses a wrong password;
#   - Garage: an object put through node 1 is read back through nodes 2 and 3; with node 3
#     stopped, puts and gets through nodes 1 and 2 still work (replication factor 3, quorum 2),
#     and once node 3 is back it serves what was written while it was away;
#   - HAProxy: with a stand-in HTTP server on each relay port, new connections through the
#     front door alternate between them;
# then `scripts/cluster.sh down --purge`, and checks that every port is closed again.
# Prints one line: "cluster-infra-test: PASS|FAIL (...)". State in a fresh temporary
# COFFER_CLUSTER_DIR; ports from the scripts' defaults (override them with their variables).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts="$PWD/scripts"

started=$(date +%s)
COFFER_CLUSTER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/coffer-cluster-test-XXXXXX")"
export COFFER_CLUSTER_DIR
# PostgreSQL runs as another user (postgres, when this runs as root) and must enter it.
chmod 755 "$COFFER_CLUSTER_DIR"
export COFFER_CLUSTER_INSTANCES=2
relay_port_base="${COFFER_RELAY_PORT_BASE:-28501}"
work="$COFFER_CLUSTER_DIR/test"
mkdir -p "$work"
stand_in_pids=()
up_done=0
up_secs=- down_secs=-

say() { echo "cluster-infra-test: $*" >&2; }

finish() {
  local status=$?
  local pid
  for pid in "${stand_in_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  if ((up_done)); then
    # After a failure: everything stopped, the logs kept.
    "$scripts/cluster.sh" down >&2 || status=1
  fi
  local total=$(($(date +%s) - started))
  if ((status == 0)); then
    echo "cluster-infra-test: PASS (${total} s; up ${up_secs} s, down ${down_secs} s)"
  else
    echo "cluster-infra-test: FAIL (${total} s; see the messages above; logs in $COFFER_CLUSTER_DIR)"
  fi
  exit "$status"
}
trap finish EXIT

fail() {
  say "FAILED: $*"
  exit 1
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---- up ------------------------------------------------------------------------------------
t=$(date +%s)
up_done=1
"$scripts/cluster.sh" up --infra-only >"$work/up.out"
up_secs=$(($(date +%s) - t))
# shellcheck disable=SC1091 # export lines written by cluster.sh
source "$work/up.out"
for v in COFFER_POSTGRES_URL COFFER_S3_ENDPOINT COFFER_S3_REGION COFFER_S3_BUCKET \
  COFFER_S3_CREDENTIALS_FILE COFFER_CLUSTER_FRONT; do
  [[ -n "${!v:-}" ]] || fail "cluster.sh up --infra-only printed no $v"
done
say "up in ${up_secs} s"

# A second `up` is idempotent and prints the same environment.
"$scripts/cluster.sh" up --infra-only >"$work/up2.out"
cmp -s "$work/up.out" "$work/up2.out" || fail "a second 'up' printed another environment"

# ---- PostgreSQL ----------------------------------------------------------------------------
[[ "$(psql -X -tA -c 'select 1' "$COFFER_POSTGRES_URL")" == 1 ]] || fail "select 1 as coffer failed"
wrong="postgres://coffer:wrong@${COFFER_POSTGRES_URL#*@}"
if PGCONNECT_TIMEOUT=5 psql -X -tA -c 'select 1' "$wrong" >/dev/null 2>&1; then
  fail "PostgreSQL accepted a wrong password"
fi
[[ "$(stat -c %a "$COFFER_CLUSTER_DIR/postgres/password")" == 600 ]] || fail "the password file is not mode 600"
say "PostgreSQL: select 1 as coffer, wrong password refused"

# ---- Garage --------------------------------------------------------------------------------
[[ "$(stat -c %a "$COFFER_S3_CREDENTIALS_FILE")" == 600 ]] || fail "the credentials file is not mode 600"
key_id="$(sed -n 's/^aws_access_key_id = //p' "$COFFER_S3_CREDENTIALS_FILE")"
secret="$(sed -n 's/^aws_secret_access_key = //p' "$COFFER_S3_CREDENTIALS_FILE")"
[[ -n "$key_id" && -n "$secret" ]] || fail "no key in $COFFER_S3_CREDENTIALS_FILE"
if grep -qF "$secret" "$work/up.out"; then
  fail "cluster.sh up printed the secret key"
fi

# s3 put|get NODE OBJECT FILE: a SigV4-signed request through NODE's S3 endpoint (credentials
# go to curl through a config on stdin, never on a command line).
s3() {
  local op="$1" node="$2" object="$3" file="$4" url
  url="$("$scripts/garage.sh" endpoint "$node")/$COFFER_S3_BUCKET/$object"
  local args=(-sS -f --max-time 20 --aws-sigv4 "aws:amz:$COFFER_S3_REGION:s3"
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -K -)
  if [[ "$op" == put ]]; then
    args+=(-T "$file")
  else
    args+=(-o "$file")
  fi
  printf 'user = "%s:%s"\n' "$key_id" "$secret" | curl "${args[@]}" "$url" >/dev/null
}

head -c 300000 /dev/urandom >"$work/one"
head -c 1000 /dev/urandom >"$work/two"
s3 put 1 one "$work/one" || fail "put through node 1"
for node in 2 3; do
  rm -f "$work/got"
  s3 get "$node" one "$work/got" || fail "get through node $node"
  cmp -s "$work/one" "$work/got" || fail "node $node returned other bytes"
done
say "Garage: put through node 1, the same bytes from nodes 2 and 3"

"$scripts/garage.sh" stop-node 3 >&2
endpoint3="$("$scripts/garage.sh" endpoint 3)"
port_in_use "${endpoint3##*:}" && fail "node 3 still listens after stop-node"
s3 put 1 two "$work/two" || fail "put through node 1 with node 3 stopped"
for node in 1 2; do
  s3 get "$node" two "$work/got" || fail "get through node $node with node 3 stopped"
  cmp -s "$work/two" "$work/got" || fail "node $node returned other bytes with node 3 stopped"
  s3 get "$node" one "$work/got" || fail "get of the first object through node $node with node 3 stopped"
  cmp -s "$work/one" "$work/got" || fail "node $node returned other bytes for the first object"
done
"$scripts/garage.sh" start-node 3 >&2
s3 get 3 two "$work/got" || fail "get through node 3 after start-node"
cmp -s "$work/two" "$work/got" || fail "node 3 returned other bytes after start-node"
say "Garage: node 3 stopped, puts and gets through nodes 1 and 2 work; node 3 back, it serves them"

# ---- HAProxy -------------------------------------------------------------------------------
for i in 1 2; do
  mkdir -p "$work/www$i"
  echo "instance$i" >"$work/www$i/who"
  python3 -m http.server --bind 127.0.0.1 --directory "$work/www$i" "$((relay_port_base + i - 1))" \
    >/dev/null 2>&1 &
  stand_in_pids+=($!)
done
front="$COFFER_CLUSTER_FRONT"
# HAProxy marks a backend up after 2 successful checks, 1 s apart.
seen=""
for _ in $(seq 1 100); do
  seen="$(for _ in 1 2 3 4; do curl -sf --max-time 2 "http://$front/who" || echo none; done | tr '\n' ' ')"
  [[ "$seen" == "instance1 instance2 instance1 instance2 " || "$seen" == "instance2 instance1 instance2 instance1 " ]] && break
  sleep 0.1
done
[[ "$seen" == "instance1 instance2 instance1 instance2 " || "$seen" == "instance2 instance1 instance2 instance1 " ]] ||
  fail "requests through $front did not alternate: $seen"
say "HAProxy: requests through $front alternate: $seen"
kill "${stand_in_pids[1]}"
wait "${stand_in_pids[1]}" 2>/dev/null || true
# With instance 2 down, its check fails within ~2 s and every request goes to instance 1.
for _ in $(seq 1 100); do
  seen="$(for _ in 1 2 3 4; do curl -sf --max-time 2 "http://$front/who" || echo none; done | tr '\n' ' ')"
  [[ "$seen" == "instance1 instance1 instance1 instance1 " ]] && break
  sleep 0.1
done
[[ "$seen" == "instance1 instance1 instance1 instance1 " ]] || fail "HAProxy still sends to a stopped backend: $seen"
say "HAProxy: a stopped backend is taken out"

# ---- down ----------------------------------------------------------------------------------
ports=("${front##*:}" "${COFFER_PG_PORT:-25432}")
for node in 1 2 3; do
  endpoint="$("$scripts/garage.sh" endpoint "$node")"
  ports+=("${endpoint##*:}")
done
t=$(date +%s)
up_done=0
"$scripts/cluster.sh" down --purge >&2
down_secs=$(($(date +%s) - t))
for p in "${ports[@]}"; do
  port_in_use "$p" && fail "127.0.0.1:$p still open after down"
done
[[ ! -e "$COFFER_CLUSTER_DIR" ]] || fail "down --purge left $COFFER_CLUSTER_DIR"
say "down in ${down_secs} s; every port closed"
