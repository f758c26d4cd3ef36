#!/usr/bin/env bash
# Property-based API fuzzing of the live relay from its OpenAPI document (docs/openapi.md).
#
# Builds and starts the real coffer-relay on 127.0.0.1 with a temporary data directory (rate
# limits raised, an admin token set), trusts it by its own certificate file (never "verify
# off"), registers and logs in v1 and v2 systems and friends with real data between them
# (relay/examples/api_fuzz_fixtures.rs), then runs Schemathesis over every operation of the
# document the binary prints (`coffer-relay openapi`), with scripts/api_fuzz_hooks.py choosing
# real tokens and ids. Fails on any 5xx, any response that breaks the documented schema, status
# code, content type or headers, or a network error. Then checks that the relay is still alive,
# stops it, and runs `PRAGMA integrity_check` on its database.
#
# Operations that end the fixtures' sessions or accounts (account deletion, expire-all,
# unpairing, revoking) run in a second, last pass so they cannot starve the first.
#
#   scripts/api-fuzz.sh                  # CI-sized: 25 examples per operation
#   COFFER_FUZZ_EXAMPLES=200 scripts/api-fuzz.sh
#   COFFER_FUZZ_SEED=7 COFFER_FUZZ_MAX_TIME=600 scripts/api-fuzz.sh
#
# Needs: cargo, python3 with venv. Installs Schemathesis and openapi-spec-validator (pinned) into
# target/api-fuzz/venv.
# Keeps the relay log, fixtures and Schemathesis reports in target/api-fuzz/last-run/.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
SPEC_VALIDATOR_VERSION=0.9.0
EXAMPLES="${COFFER_FUZZ_EXAMPLES:-25}"
SEED="${COFFER_FUZZ_SEED:-1}"
MAX_TIME="${COFFER_FUZZ_MAX_TIME:-}"
ADMIN_TOKEN="api-fuzz-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# What ends the fixtures' relationships, then what ends their sessions and accounts: each set
# runs after everything else, in its own pass.
UNPAIRING=(v1SharingDelete v2Unpair)
ENDING=(v1DeleteMe v2DeleteMe adminDeleteUser adminExpireAll v2Logout v2RevokeOtherSessions v2RevokeSession)

base="$PWD/target/api-fuzz"
venv="$base/venv"
run="$base/last-run"
scripts="$PWD/scripts"
started=$(date +%s)
relay_pid=""

stop_relay() {
  if [[ -n "$relay_pid" ]] && kill -0 "$relay_pid" 2>/dev/null; then
    kill -TERM "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
  fi
  relay_pid=""
}
trap stop_relay EXIT

packages="schemathesis==$SCHEMATHESIS_VERSION openapi-spec-validator==$SPEC_VALIDATOR_VERSION"
echo "== api-fuzz: $packages in $venv"
if [[ "$(cat "$venv/installed" 2>/dev/null)" != "$packages" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # two requirement specifiers
  "$venv/bin/pip" install --quiet --disable-pip-version-check $packages
  echo "$packages" >"$venv/installed"
fi

echo "== api-fuzz: build the relay and the fixture tool"
# CI sets COFFER_CARGO_SELECTION to the selection it built the workspace with (.ci/run): the
# same features, so this build finds everything up to date instead of recompiling dependencies.
# shellcheck disable=SC2086 # a list of flags
cargo build --locked -q ${COFFER_CARGO_SELECTION:--p coffer-relay --bin coffer-relay --example api_fuzz_fixtures}
relay_bin=target/debug/coffer-relay
fixtures_bin=target/debug/examples/api_fuzz_fixtures

rm -rf "$run"
mkdir -p "$run"
"$relay_bin" openapi >"$run/openapi.json"
echo "== api-fuzz: the document is valid OpenAPI 3.1"
"$venv/bin/python" -c 'import sys; from openapi_spec_validator import validate; from openapi_spec_validator.readers import read_from_filename; validate(read_from_filename(sys.argv[1])[0])' "$run/openapi.json"

echo "== api-fuzz: start the relay"
data="$run/data"
# A clean environment for the relay: nothing from the caller's COFFER_*/PLURALLOG_* settings.
env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
  COFFER_ADMIN_TOKEN="$ADMIN_TOKEN" \
  COFFER_RATE_REGISTER=1000000 COFFER_RATE_AUTH=1000000 COFFER_RATE_UPLOAD=1000000 \
  COFFER_RATE_GENERAL=1000000 COFFER_RATE_DISCOVERY=1000000 COFFER_RATE_ADMIN=1000000 \
  COFFER_LOG=info COFFER_REQUEST_LOG=each \
  "$relay_bin" --data-dir "$data" --listen 127.0.0.1:0 >"$run/relay.out" 2>"$run/relay.log" &
relay_pid=$!
url=""
for _ in $(seq 1 600); do
  url=$(awk '/^  url:/ {print $2; exit}' "$run/relay.out")
  [[ -n "$url" ]] && break
  if ! kill -0 "$relay_pid" 2>/dev/null; then
    echo "the relay exited during start-up:" >&2
    cat "$run/relay.log" >&2
    exit 1
  fi
  sleep 0.1
done
[[ -n "$url" ]] || { echo "the relay printed no URL within 60 s" >&2; exit 1; }
cert="$data/tls/cert.pem"
echo "   $url, trusted by $cert"

echo "== api-fuzz: accounts, sessions and data"
"$fixtures_bin" "$url" "$cert" >"$run/fixtures.json"

schemathesis() {
  local label=$1
  shift
  local extra=()
  [[ -n "$MAX_TIME" ]] && extra+=(--max-time "$MAX_TIME")
  echo "== api-fuzz: $label"
  # From the run directory: Schemathesis keeps its cache (.schemathesis/) in the working
  # directory, and each run starts without the last one's.
  (cd "$run" && PYTHONPATH="$scripts" SCHEMATHESIS_HOOKS=api_fuzz_hooks \
    COFFER_FUZZ_FIXTURES="$run/fixtures.json" COFFER_FUZZ_ADMIN_TOKEN="$ADMIN_TOKEN" \
    COFFER_FUZZ_SEED="$SEED" \
    "$venv/bin/schemathesis" run "$run/openapi.json" \
    --url "$url" \
    --tls-verify "$cert" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --request-timeout 30 \
    --no-color \
    --report junit --report-dir "$run/$label" \
    "${extra[@]}" "$@")
}

exclude=()
for id in "${UNPAIRING[@]}" "${ENDING[@]}"; do exclude+=(--exclude-operation-id "$id"); done
status=0
schemathesis pass-1-most "${exclude[@]}" || status=1
only=()
for id in "${UNPAIRING[@]}"; do only+=(--include-operation-id "$id"); done
schemathesis pass-2-unpairing "${only[@]}" || status=1
only=()
for id in "${ENDING[@]}"; do only+=(--include-operation-id "$id"); done
schemathesis pass-3-ending-sessions-and-accounts "${only[@]}" || status=1

echo "== api-fuzz: the relay survived and its database is intact"
if ! kill -0 "$relay_pid" 2>/dev/null; then
  echo "the relay died during the fuzz run:" >&2
  tail -n 50 "$run/relay.log" >&2
  exit 1
fi
"$venv/bin/python" - "$url" "$cert" <<'PY'
import sys, requests
r = requests.get(sys.argv[1] + "/api/v1/health", verify=sys.argv[2], timeout=10)
assert r.status_code == 200, (r.status_code, r.text)
print("   health:", r.json()["status"])
PY
kill -TERM "$relay_pid"
relay_rc=0
wait "$relay_pid" || relay_rc=$?
relay_pid=""
if [[ $relay_rc -ne 0 ]]; then
  echo "the relay exited with $relay_rc on SIGTERM" >&2
  exit 1
fi
"$venv/bin/python" - "$data/coffer.db" <<'PY'
import sqlite3, sys
result = sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchall()
assert result == [("ok",)], result
print("   integrity_check: ok")
PY
if grep -E 'panicked|storage failure' "$run/relay.log" >/dev/null; then
  echo "the relay panicked or failed in storage during the run:" >&2
  grep -E 'panicked|storage failure' "$run/relay.log" | head -n 20 >&2
  status=1
fi
# What the relay answered, per route and status (from its request log).
awk '/ request/ {
  r = ""; s = ""
  for (i = 1; i <= NF; i++) {
    if ($i ~ /^route=/) r = substr($i, 7)
    if ($i ~ /^status=/) s = substr($i, 8)
  }
  if (r != "") n[r " " s]++
} END { for (k in n) print k, n[k] }' "$run/relay.log" | sort >"$run/statuses.txt"
echo "   answers per route and status: $run/statuses.txt"

echo "== api-fuzz: $( [[ $status -eq 0 ]] && echo passed || echo FAILED ) in $(( $(date +%s) - started )) s (reports in $run)"
exit $status
