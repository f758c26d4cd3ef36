#!/usr/bin/env bash
# Runs the relay image and checks it from outside, as an operator would: NOT run by CI (it needs
# podman and a release build, minutes on a 2-core machine; docs/adr/0025).
#
#   deploy/check-image.sh                 build it (deploy/build-image.sh), then run the checks
#   deploy/check-image.sh --no-build      check the image already tagged
#   deploy/check-image.sh --tag NAME      another image name (default localhost/coffer-relay:latest)
#
# Checks, part 1: the container starts read-only, with no capabilities, as user 65532, on a fresh
# named volume; it generates its certificate in /data/tls (cert.pem readable, key.pem 0600 and
# the relay's); GET /api/v1/health over TLS verified against that certificate answers "ok" on the
# published port; the served key has the pin the banner printed; SIGTERM stops it with status 0;
# a second container on the same volume serves the same pin.
#
# Part 2, compose.yaml's topology with podman commands (podman-compose 1.0.3, Debian 12's, cannot
# read service networks with addresses and aliases): an internal network with the relay at a
# fixed address and an alias, the tls/ directory as a volume of its own; a probe container in the
# dashboard's place (curl, another user, only on the internal network, tls/ read-only) verifies
# the relay's certificate for the alias, reads the admin API on the admin listener with the token,
# is refused it on the public listener (so is the host), and cannot read key.pem; then, with Node
# on this machine, Node (what the dashboard runs on) makes the admin request trusting only
# NODE_EXTRA_CA_CERTS=/relay-tls/cert.pem, and is refused without it. A relay build that refuses
# a non-loopback admin listener is reported and checked without it.
#
# Extra `podman run` arguments for the machine come from $CONTAINER_RUN_ARGS; on a host with
# hybrid cgroups and a low RLIMIT_NPROC (the development VM) that is
#   CONTAINER_RUN_ARGS="--ulimit nofile=4096:4096 --ulimit nproc=1024:1024"  and  --runtime runc
# as a global podman option in $PODMAN_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="localhost/coffer-relay:latest"
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0; shift ;;
    --tag) tag=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "$0: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$build" -eq 1 ]; then
  CONTAINER_ENGINE=podman deploy/build-image.sh --tag "$tag"
fi

# shellcheck disable=SC2086 # word splitting of the extra arguments is intended
podman() { command podman ${PODMAN_ARGS:-} "$@"; }
name="coffer-check-$$"
volume="coffer-check-$$"
tmp=$(mktemp -d)
cleanup() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  podman volume rm -f "$volume" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  podman logs "$name" >&2 2>&1 || true
  exit 1
}

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

start() {
  # shellcheck disable=SC2086 # word splitting of the extra arguments is intended
  podman run -d --name "$name" ${CONTAINER_RUN_ARGS:-} \
    --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    -v "$volume:/data" -p "127.0.0.1:$port:8443" "$tag" >/dev/null
  # The banner's pin: line, printed once the relay listens.
  for _ in $(seq 1 100); do
    pin=$(podman logs "$name" 2>&1 | sed -n 's/^ *pin: *//p' | head -1)
    [ -n "$pin" ] && return 0
    [ "$(podman inspect -f '{{.State.Running}}' "$name")" = true ] || fail "the relay exited at start"
    sleep 0.2
  done
  fail "no banner after 20 s"
}

start
echo "started $tag as $name, https://127.0.0.1:$port, $pin"

user=$(podman top "$name" huser user | tail -1 | tr -s ' ')
[ "$user" = "65532 coffer" ] || fail "runs as '$user', expected uid 65532 (coffer)"
echo "runs as: $user"

podman cp "$name:/data/tls/cert.pem" "$tmp/cert.pem" || fail "no /data/tls/cert.pem"
# key.pem: the relay's, 0600 (the listing below comes from the volume on the host).
mountpoint=$(podman volume inspect -f '{{.Mountpoint}}' "$volume")
key_mode=$(stat -c '%a %u' "$mountpoint/tls/key.pem")
[ "$key_mode" = "600 65532" ] || fail "key.pem is '$key_mode', expected mode 600 owned by 65532"
data_mode=$(stat -c '%a %u' "$mountpoint")
[ "$data_mode" = "700 65532" ] || fail "/data is '$data_mode', expected mode 700 owned by 65532"
echo "volume: /data $data_mode, tls/key.pem $key_mode"

health=""
for _ in $(seq 1 50); do
  health=$(curl -sS --fail --cacert "$tmp/cert.pem" "https://127.0.0.1:$port/api/v1/health" 2>/dev/null) && break
  sleep 0.2
done
[ -n "$health" ] || fail "GET /api/v1/health did not answer over TLS with the generated certificate"
python3 -c 'import json, sys; h = json.loads(sys.argv[1]); assert h["status"] == "ok", h; print("health:", h)' "$health" ||
  fail "health answer: $health"

served_pin() {
  echo | openssl s_client -connect "127.0.0.1:$port" -servername localhost 2>/dev/null |
    openssl x509 -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64 | sed 's#^#sha256/#'
}
served=$(served_pin)
[ "$served" = "$pin" ] || fail "served key $served, banner printed $pin"
echo "served pin = banner pin"

podman stop -t 45 "$name" >/dev/null
status=$(podman inspect -f '{{.State.ExitCode}}' "$name")
[ "$status" = 0 ] || fail "exit status $status after SIGTERM, expected 0"
echo "SIGTERM: stopped with status 0"
podman rm "$name" >/dev/null

first_pin=$pin
start
[ "$pin" = "$first_pin" ] || fail "second start on the same volume printed $pin, expected $first_pin"
echo "restart on the same volume: same pin"
podman rm -f -t 45 "$name" >/dev/null

echo "-- compose topology (part 2)"
admin=${COFFER_ADMIN:-}
if [ -z "$admin" ]; then
  for candidate in target/release/coffer-admin target/debug/coffer-admin; do
    [ -x "$candidate" ] && admin=$candidate && break
  done
fi
if [ -z "$admin" ]; then
  cargo build --locked -p coffer-admin
  admin=target/debug/coffer-admin
fi
"$admin" token generate --out "$tmp/admin-token" > "$tmp/token-out"
hash=$(sed -n "s/^  COFFER_ADMIN_TOKEN_HASH='\(.*\)'$/\1/p" "$tmp/token-out")
[ -n "$hash" ] || fail "no hash from $admin token generate"
token=$(cat "$tmp/admin-token")

# The probe: curl and its libraries, FROM scratch, run as 1000:1000 (not the relay's user).
mkdir "$tmp/probe"
deploy/rootfs.sh "$(command -v curl)" "$tmp/probe/rootfs" >/dev/null
printf 'FROM scratch\nCOPY rootfs/base/ /\nUSER 1000:1000\nENTRYPOINT ["/usr/local/bin/coffer-relay"]\n' > "$tmp/probe/Containerfile"
probe_image="localhost/coffer-check-probe-$$"
podman build -q --pull=never -t "$probe_image" "$tmp/probe" >/dev/null
subnet=${ADMIN_SUBNET:-172.30.244.0/29}
address=${ADMIN_ADDRESS:-172.30.244.2}
relay_name=relay.example.test
admin_net="coffer-check-admin-$$"
public_net="coffer-check-public-$$"
tls_volume="coffer-check-tls-$$"
cleanup2() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  podman network rm -f "$admin_net" "$public_net" >/dev/null 2>&1 || true
  podman volume rm -f "$tls_volume" >/dev/null 2>&1 || true
  podman rmi -f "$probe_image" >/dev/null 2>&1 || true
  cleanup
}
trap cleanup2 EXIT
podman volume rm -f "$volume" >/dev/null
podman network create --internal --subnet "$subnet" "$admin_net" >/dev/null
podman network create "$public_net" >/dev/null
run_relay() {
  # shellcheck disable=SC2086 # word splitting of the extra arguments is intended
  podman run -d --name "$name" ${CONTAINER_RUN_ARGS:-} \
    --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    --network "$public_net" --network "$admin_net:ip=$address,alias=$relay_name" \
    -v "$volume:/data" -v "$tls_volume:/data/tls" -p "127.0.0.1:$port:8443" \
    -e COFFER_TLS_HOSTNAMES="$relay_name" -e COFFER_ADMIN_TOKEN_HASH="$hash" "$@" "$tag" >/dev/null
  for _ in $(seq 1 100); do
    podman logs "$name" 2>&1 | grep -q '^ *pin: ' && return 0
    [ "$(podman inspect -f '{{.State.Running}}' "$name")" = true ] || return 1
    sleep 0.2
  done
  fail "no banner after 20 s"
}
admin_port=""
if run_relay -e COFFER_ADMIN_LISTEN="$address:8444"; then
  admin_port=8444
elif podman logs "$name" 2>&1 | grep -q 'must be a loopback address'; then
  echo "NOT CHECKED: this coffer-relay refuses a non-loopback admin listener (issue 15's access part"
  echo "allows one with a hashed token); the admin API is checked on the public listener instead."
  podman rm -f -t 0 "$name" >/dev/null
  run_relay || fail "the relay exited at start"
else
  fail "the relay exited at start"
fi
probe() {
  # shellcheck disable=SC2086 # word splitting of the extra arguments is intended
  podman run --rm ${CONTAINER_RUN_ARGS:-} --network "$admin_net" -v "$tls_volume:/relay-tls:ro" \
    "$probe_image" -sS --cacert /relay-tls/cert.pem "$@"
}
health=$(probe "https://$relay_name:8443/api/v1/health") ||
  fail "the probe on the admin network could not verify https://$relay_name:8443 with /relay-tls/cert.pem"
echo "probe -> https://$relay_name:8443/api/v1/health (certificate from the tls volume): $health"
if [ -n "$admin_port" ]; then
  stats=$(probe -H "X-Admin-Token: $token" --fail "https://$relay_name:$admin_port/api/v1/admin/stats") ||
    fail "the probe could not read the admin API on the admin listener"
  echo "probe -> admin listener https://$relay_name:$admin_port/api/v1/admin/stats: $stats"
  status=$(probe -o /dev/null -w '%{http_code}' -H "X-Admin-Token: $token" "https://$relay_name:8443/api/v1/admin/stats")
  [ "$status" = 403 ] || fail "the public listener answered the admin API $status, expected 403"
  podman cp "$name:/data/tls/cert.pem" "$tmp/cert2.pem" # this relay's (a new volume, a new certificate)
  status=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$tmp/cert2.pem" --resolve "$relay_name:$port:127.0.0.1" \
    -H "X-Admin-Token: $token" "https://$relay_name:$port/api/v1/admin/stats")
  [ "$status" = 403 ] || fail "the published port answered the admin API $status to the host, expected 403"
  echo "the public listener and the published port refuse the admin API (403)"
else
  stats=$(probe -H "X-Admin-Token: $token" --fail "https://$relay_name:8443/api/v1/admin/stats") ||
    fail "the probe could not read the admin API"
  echo "probe -> https://$relay_name:8443/api/v1/admin/stats: $stats"
fi
if probe -o /dev/null "file:///relay-tls/key.pem" 2>/dev/null; then
  fail "the probe (another user) could read key.pem"
fi
echo "the probe cannot read /relay-tls/key.pem"

# The dashboard is a Node application: with Node on this machine, the same requests from Node
# with only NODE_EXTRA_CA_CERTS (as compose.yaml gives the dashboard), and refused without it.
if command -v node >/dev/null; then
  mkdir "$tmp/node"
  deploy/rootfs.sh "$(command -v node)" "$tmp/node/rootfs" >/dev/null
  printf 'FROM scratch\nCOPY rootfs/base/ /\nUSER 1000:1000\nENTRYPOINT ["/usr/local/bin/coffer-relay"]\n' > "$tmp/node/Containerfile"
  node_image="localhost/coffer-check-node-$$"
  podman build -q --pull=never -t "$node_image" "$tmp/node" >/dev/null
  cleanup3() {
    podman rmi -f "$node_image" >/dev/null 2>&1 || true
    cleanup2
  }
  trap cleanup3 EXIT
  get='const https = require("https");
    const headers = { "Content-Type": "application/json" };
    if (process.env.ADMIN_TOKEN) headers["X-Admin-Token"] = process.env.ADMIN_TOKEN;
    https.get(process.argv[1], { headers }, (r) => {
      let body = ""; r.on("data", (d) => (body += d));
      r.on("end", () => { console.log(r.statusCode + " " + body); process.exit(r.statusCode === 200 ? 0 : 1); });
    }).on("error", (e) => { console.log("error: " + e.code); process.exit(2); });'
  node_get() { # URL [NODE_EXTRA_CA_CERTS]
    # shellcheck disable=SC2086 # word splitting of the extra arguments is intended
    podman run --rm ${CONTAINER_RUN_ARGS:-} --network "$admin_net" -v "$tls_volume:/relay-tls:ro" \
      -e ADMIN_TOKEN="$token" ${2:+-e NODE_EXTRA_CA_CERTS="$2"} "$node_image" -e "$get" "$1"
  }
  relay_url="https://$relay_name:${admin_port:-8443}"
  answer=$(node_get "$relay_url/api/v1/admin/stats" /relay-tls/cert.pem) ||
    fail "Node with NODE_EXTRA_CA_CERTS=/relay-tls/cert.pem: $answer"
  echo "node $(node --version), NODE_EXTRA_CA_CERTS=/relay-tls/cert.pem -> $relay_url/api/v1/admin/stats: $answer"
  if answer=$(node_get "$relay_url/api/v1/health"); then
    fail "Node without NODE_EXTRA_CA_CERTS accepted the relay's certificate: $answer"
  fi
  echo "node without NODE_EXTRA_CA_CERTS: $answer (refused, as it must be)"
else
  echo "NOT CHECKED: no node on this machine to stand in for the dashboard's NODE_EXTRA_CA_CERTS"
fi
echo "deploy/check-image.sh: ok"
