#!/usr/bin/env bash
# Runs deploy/coffer-relay.service under a real systemd, in a podman container whose root is
# assembled from THIS machine's systemd (no image pull): NOT run by CI (needs podman and root;
# docs/adr/0025). For machines whose PID 1 is not systemd, like the development VM.
#
#   deploy/check-unit.sh [--binary PATH]     (default target/release/coffer-relay, else target/debug)
#
# Installs the binary, the sysusers file, the env file and the unit as the README's systemd steps
# do (into the container's root), boots systemd, and checks: the unit is active; the relay runs as
# the coffer-relay user with no capabilities, no_new_privs and a seccomp filter, under a read-only
# root with its state directory writable; GET /api/v1/health answers over TLS verified against the
# generated certificate, and the admin API accepts the token whose Argon2id hash is in the env
# file (single-quoted: systemd keeps its $ signs); `systemctl reload` runs ExecReload (SIGHUP) and the relay keeps serving
# (a relay build without a SIGHUP handler dies of it: reported loudly); `systemctl stop` ends it
# cleanly; and `systemd-analyze security` rates the loaded unit.
#
# Machine quirks as in deploy/check-image.sh: $PODMAN_ARGS (e.g. "--runtime runc") and
# $CONTAINER_RUN_ARGS (e.g. "--ulimit nofile=4096:4096 --ulimit nproc=1024:1024").
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "$0: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$binary" ]; then
  for candidate in target/release/coffer-relay target/debug/coffer-relay; do
    [ -x "$candidate" ] && binary=$candidate && break
  done
fi
[ -n "$binary" ] || { echo "$0: no coffer-relay built (cargo build --release --locked -p coffer-relay)" >&2; exit 2; }
[ -x /usr/lib/systemd/systemd ] || { echo "$0: this machine has no systemd to assemble the root from" >&2; exit 2; }

# shellcheck disable=SC2086 # word splitting of the extra arguments is intended
podman() { command podman ${PODMAN_ARGS:-} "$@"; }
name="coffer-unit-check-$$"
root=$(mktemp -d)
chmod 0755 "$root" # the container's /, which mktemp made 0700
cleanup() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  rm -rf "$root"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  podman exec "$name" journalctl -u coffer-relay --no-pager >&2 2>&1 || true
  exit 1
}
# A command inside the container.
inside() { podman exec "$name" "$@"; }

# The shared objects a program loads, copied to the same paths (and symlinks to them).
copy_libs() {
  local lib real
  for lib in $(ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    real=$(readlink -f "$lib")
    mkdir -p "$root$(dirname "$real")" "$root$(dirname "$lib")"
    [ -e "$root$real" ] || cp "$real" "$root$real"
    [ "$lib" = "$real" ] || [ -e "$root$lib" ] || ln -s "$real" "$root$lib"
  done
}
# Programs, at the same paths, with their libraries.
copy_with_libs() {
  local f
  for f in "$@"; do
    mkdir -p "$root$(dirname "$f")"
    [ -e "$root$f" ] || cp -a "$f" "$root$f"
    copy_libs "$f"
  done
}

# A merged-/usr root with systemd, systemctl, journalctl, kill and their libraries; no units
# enabled but coffer-relay's.
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib/x86_64-linux-gnu,usr/local/bin,etc/systemd/system/multi-user.target.wants,var/lib,var/log,run,tmp,proc,sys,dev,home,root}
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$root/$d"; done
mkdir -p "$root/usr/lib64"
chmod 1777 "$root/tmp"
cp -a /usr/lib/systemd "$root/usr/lib/"
cp -a /usr/lib/x86_64-linux-gnu/systemd "$root/usr/lib/x86_64-linux-gnu/"
copy_with_libs /usr/bin/systemctl /usr/bin/journalctl /usr/bin/kill /usr/bin/systemd-sysusers \
  /usr/bin/systemd-analyze /usr/bin/cat /usr/sbin/nologin /usr/lib/x86_64-linux-gnu/systemd/*.so
while read -r program; do
  copy_libs "$program"
done < <(find /usr/lib/systemd -type f -perm -u+x)
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
printf 'passwd: files\ngroup: files\nshadow: files\n' > "$root/etc/nsswitch.conf"
cp /usr/lib/os-release "$root/usr/lib/os-release"
: > "$root/etc/machine-id"

# The README's steps, into the container's root.
install -m 0755 "$binary" "$root/usr/local/bin/coffer-relay"
copy_libs "$binary"
mkdir -p "$root/etc/sysusers.d"
install -m 0644 deploy/coffer-relay.sysusers "$root/etc/sysusers.d/coffer-relay.conf"
chroot "$root" /usr/bin/systemd-sysusers >/dev/null
gid=$(awk -F: '$1 == "coffer-relay" { print $3 }' "$root/etc/group")
[ -n "$gid" ] || fail "systemd-sysusers made no coffer-relay group"
install -d -m 0750 -g "$gid" "$root/etc/coffer-relay"
install -m 0640 -g "$gid" deploy/coffer-relay.env "$root/etc/coffer-relay/env"
# The admin token's hash, single-quoted as the env file says (it contains $, which systemd must
# keep): the admin API answering the token below proves the relay got the hash intact.
admin=${COFFER_ADMIN:-}
if [ -z "$admin" ]; then
  for candidate in target/release/coffer-admin target/debug/coffer-admin; do
    [ -x "$candidate" ] && admin=$candidate && break
  done
fi
[ -n "$admin" ] || { echo "$0: no coffer-admin built (cargo build --locked -p coffer-admin)" >&2; exit 2; }
"$admin" token generate --out "$root/admin-token" > "$root/token-out"
hash_line=$(grep "^  COFFER_ADMIN_TOKEN_HASH='" "$root/token-out" | sed 's/^  //')
[ -n "$hash_line" ] || fail "no hash from $admin token generate"
sed -i "s|^COFFER_ADMIN_TOKEN_HASH=.*|$hash_line|" "$root/etc/coffer-relay/env"
grep -qxF "$hash_line" "$root/etc/coffer-relay/env" || fail "could not put the hash into the env file"
install -m 0644 deploy/coffer-relay.service "$root/etc/systemd/system/"
ln -s /etc/systemd/system/coffer-relay.service "$root/etc/systemd/system/multi-user.target.wants/"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086 # word splitting of the extra arguments is intended
podman run -d --name "$name" ${CONTAINER_RUN_ARGS:-} --systemd=always -p "127.0.0.1:$port:8443" \
  --rootfs "$root" /usr/lib/systemd/systemd >/dev/null

pid=""
for _ in $(seq 1 100); do
  if inside journalctl -u coffer-relay --no-pager 2>/dev/null | grep -q ' pin: '; then
    pid=$(inside systemctl show -p MainPID --value coffer-relay)
    break
  fi
  sleep 0.2
done
if [ -z "$pid" ] || [ "$pid" = 0 ]; then
  fail "coffer-relay.service did not start"
fi
echo "coffer-relay.service: $(inside systemctl is-active coffer-relay), main PID $pid"

status=$(inside cat "/proc/$pid/status")
field() { awk -v k="$1:" '$1 == k { print $2 }' <<<"$status"; }
uid=$(awk -F: '$1 == "coffer-relay" { print $3 }' "$root/etc/passwd")
[ "$(field Uid)" = "$uid" ] || fail "runs as uid $(field Uid), expected coffer-relay ($uid)"
[ "$(field NoNewPrivs)" = 1 ] || fail "no_new_privs is not set"
[ "$(field Seccomp)" = 2 ] || fail "no seccomp filter"
if [ "$(field CapEff)" != 0000000000000000 ] || [ "$(field CapBnd)" != 0000000000000000 ]; then
  fail "capabilities: effective $(field CapEff), bounding $(field CapBnd)"
fi
echo "process: uid $uid (coffer-relay), NoNewPrivs 1, Seccomp 2 ($(field Seccomp_filters) filters), no capabilities"
mounts=$(inside cat "/proc/$pid/mountinfo" | awk '{ print $5, $6 }')
grep -q '^/ ro,' <<<"$mounts" || fail "the root is not read-only for the relay"
grep -q '^/var/lib/coffer-relay rw,' <<<"$mounts" || fail "the state directory is not a writable mount"
echo "mounts: / read-only, /var/lib/coffer-relay read-write"
mode=$(stat -c '%a %u' "$root/var/lib/coffer-relay")
[ "$mode" = "700 $uid" ] || fail "/var/lib/coffer-relay is '$mode', expected 700 owned by $uid"

health=$(curl -sS --fail --cacert "$root/var/lib/coffer-relay/tls/cert.pem" "https://127.0.0.1:$port/api/v1/health") ||
  fail "GET /api/v1/health over TLS with the generated certificate"
echo "health: $health"
stats=$(curl -sS --fail --cacert "$root/var/lib/coffer-relay/tls/cert.pem" -H "X-Admin-Token: $(cat "$root/admin-token")" \
  "https://127.0.0.1:$port/api/v1/admin/stats") || fail "the admin API refused the token whose hash is in /etc/coffer-relay/env"
echo "admin API with the token (hash from the env file): $stats"

inside systemctl reload coffer-relay || fail "systemctl reload failed (ExecReload)"
sleep 1
if [ "$(inside systemctl is-active coffer-relay || true)" = active ] &&
  [ "$(inside systemctl show -p MainPID --value coffer-relay)" = "$pid" ] &&
  curl -sS --fail --cacert "$root/var/lib/coffer-relay/tls/cert.pem" "https://127.0.0.1:$port/api/v1/health" >/dev/null; then
  echo "systemctl reload: ExecReload sent SIGHUP, the relay serves on (same PID)"
else
  echo "!! systemctl reload: ExecReload ran, and this coffer-relay DIED of the SIGHUP: it has no"
  echo "!! SIGHUP handler (issue 15's TLS part adds certificate reload on SIGHUP). Restarting it."
  inside systemctl restart coffer-relay
  sleep 1
  pid=$(inside systemctl show -p MainPID --value coffer-relay)
fi

inside systemctl stop coffer-relay
result=$(inside systemctl show -p Result --value coffer-relay)
code=$(inside systemctl show -p ExecMainStatus --value coffer-relay)
if [ "$result" != success ] || [ "$code" != 0 ]; then
  fail "systemctl stop: result $result, status $code"
fi
echo "systemctl stop: result success, exit status 0"
inside systemd-analyze security --no-pager coffer-relay | tail -1
echo "deploy/check-unit.sh: ok"
