#!/usr/bin/env bash
# The PluralLog operator dashboard, unchanged, in a real browser against Coffer (issue 15).
#
#   scripts/dashboard-e2e.sh DASHBOARD_DIR
#   COFFER_DASHBOARD_DIR=DASHBOARD_DIR scripts/dashboard-e2e.sh
#
# DASHBOARD_DIR is a checkout of the dashboard (PluralLog's `relay-admin-dsb`), installed and
# built the way its own README says (`npm ci`, then `npm run build`). This repository neither
# carries nor builds it: the operator brings it. Without one the check cannot run: it says
# SKIPPED on stderr and exits 77 (the conventional "skipped" code), never 0.
#
# What it does:
#   1. builds coffer-relay, coffer-admin and the fixture tool (relay/examples/api_fuzz_fixtures.rs);
#   2. starts the relay on 127.0.0.1 with a fresh data directory and an admin token, and seeds it
#      with v1 AND v2 data: a v1 System and Friend with volumes and an active share, a v2 System
#      and Friend with volumes, a pairing and a grant;
#   3. starts the dashboard with `next start` from DASHBOARD_DIR (RELAY_URL = the relay,
#      ADMIN_TOKEN = the token, NODE_EXTRA_CA_CERTS = the relay's self-signed certificate);
#   4. drives it in headless Chromium (Debian's package, installed if missing) with playwright-core
#      (npm, pinned, installed into target/dashboard-e2e/): logs in, opens every page, checks no
#      page shows a relay error, and that every total a page shows equals what `coffer-admin
#      --json` and `/metrics` say; runs the Repair page's two actions and deletes a user from the
#      Users page, and checks each took effect with coffer-admin;
#   5. keeps screenshots, the relay's and the dashboard's logs in target/dashboard-e2e/last-run/.
set -euo pipefail
cd "$(dirname "$0")/.."

PLAYWRIGHT_CORE_VERSION=1.64.1
dash="${1:-${COFFER_DASHBOARD_DIR:-}}"
if [[ -z "$dash" || ! -f "$dash/package.json" || ! -f "$dash/.next/BUILD_ID" ]]; then
  {
    echo "SKIPPED: dashboard-e2e needs a built checkout of the PluralLog operator dashboard"
    echo "         (got '${dash:-nothing}': want DASHBOARD_DIR with package.json and .next/BUILD_ID;"
    echo "         build it as its README says: npm ci && npm run build)"
  } >&2
  exit 77
fi
dash="$(cd "$dash" && pwd)"

base="$PWD/target/dashboard-e2e"
run="$base/last-run"
rm -rf "$run"
mkdir -p "$run"
relay_pid=""
dash_pid=""
cleanup() {
  for pid in "$dash_pid" "$relay_pid"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT

echo "== dashboard-e2e: Chromium and playwright-core"
chromium=/usr/bin/chromium
if [[ ! -x "$chromium" ]]; then
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "Chromium is missing: apt-get install chromium (as root)" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
if [[ "$(cat "$base/node/installed" 2>/dev/null)" != "$PLAYWRIGHT_CORE_VERSION" ]]; then
  rm -rf "$base/node"
  mkdir -p "$base/node"
  (cd "$base/node" && npm init -y >/dev/null &&
    npm install --no-audit --no-fund --silent "playwright-core@$PLAYWRIGHT_CORE_VERSION")
  echo "$PLAYWRIGHT_CORE_VERSION" >"$base/node/installed"
fi

echo "== dashboard-e2e: build the relay, coffer-admin and the fixture tool"
# shellcheck disable=SC2086 # a list of flags
cargo build --locked -q ${COFFER_CARGO_SELECTION:--p coffer-relay --bin coffer-relay --example api_fuzz_fixtures -p coffer-admin}
relay_bin="$PWD/target/debug/coffer-relay"
admin_bin="$PWD/target/debug/coffer-admin"
fixtures_bin="$PWD/target/debug/examples/api_fuzz_fixtures"

echo "== dashboard-e2e: start the relay"
token="dash-e2e-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
data="$run/data"
env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
  COFFER_ADMIN_TOKEN="$token" \
  COFFER_RATE_REGISTER=1000000 COFFER_RATE_AUTH=1000000 COFFER_RATE_UPLOAD=1000000 \
  COFFER_RATE_GENERAL=1000000 COFFER_RATE_DISCOVERY=1000000 COFFER_RATE_ADMIN=1000000 \
  COFFER_LOG=info \
  "$relay_bin" --data-dir "$data" --listen 127.0.0.1:0 >"$run/relay.out" 2>"$run/relay.log" &
relay_pid=$!
url=""
for _ in $(seq 1 600); do
  url=$(awk '/^  url:/ {print $2; exit}' "$run/relay.out")
  [[ -n "$url" ]] && break
  kill -0 "$relay_pid" 2>/dev/null || { echo "the relay exited:" >&2; cat "$run/relay.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$url" ]] || { echo "the relay printed no URL within 60 s" >&2; exit 1; }
pin=$(awk '/^  pin:/ {print $2; exit}' "$run/relay.out")
cert="$data/tls/cert.pem"
echo "   $url ($pin)"

echo "== dashboard-e2e: seed v1 and v2 accounts, volumes, sharing and grants"
"$fixtures_bin" "$url" "$cert" >"$run/fixtures.json"

echo "== dashboard-e2e: start the dashboard from $dash"
dash_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$dash" && exec env -i PATH="$PATH" HOME="${HOME:-/tmp}" NODE_ENV=production \
  RELAY_URL="$url" ADMIN_TOKEN="$token" NODE_EXTRA_CA_CERTS="$cert" \
  JWT_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" \
  node node_modules/next/dist/bin/next start -H 127.0.0.1 -p "$dash_port") \
  >"$run/dashboard.log" 2>&1 &
dash_pid=$!
dash_url="http://127.0.0.1:$dash_port"
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "$dash_url/login" 2>/dev/null && break
  kill -0 "$dash_pid" 2>/dev/null || { echo "the dashboard exited:" >&2; cat "$run/dashboard.log" >&2; exit 1; }
  sleep 0.2
done
echo "   $dash_url"

echo "== dashboard-e2e: drive it in headless Chromium"
# The browser script asks coffer-admin and /metrics for the truth (through this helper) before
# and after each action, so the comparison is between figures read at the same moment.
cat >"$run/truth.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
export COFFER_ADMIN_URL="$url" COFFER_ADMIN_PIN="$pin" COFFER_ADMIN_TOKEN="$token"
what="\$1"
case "\$what" in
  metrics) curl -fsS --cacert "$cert" -H "X-Admin-Token: $token" "$url/metrics" ;;
  users) "$admin_bin" --json users list ;;
  *) "$admin_bin" --json "\$what" ;;
esac
EOF
chmod 700 "$run/truth.sh"
PLAYWRIGHT_DIR="$base/node" DASH_URL="$dash_url" DASH_PASSWORD="$token" \
  CHROMIUM="$chromium" TRUTH="$run/truth.sh" OUT="$run" \
  node scripts/dashboard-e2e.mjs
