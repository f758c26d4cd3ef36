#!/usr/bin/env bash
# Assembles the root filesystem of the relay's container image from a built coffer-relay:
#
#   OUT/base/   owned by root:  the binary, the shared libraries it loads (as `ldd` lists them,
#               with the dynamic loader), /etc/passwd and /etc/group naming the relay's user,
#               an empty /tmp (1777, for SQLite's temporary files)
#   OUT/owned/  owned by the relay's user at COPY time (--chown): /data (0700) and /data/tls
#               (0755, so a dashboard given only that directory can read cert.pem; key.pem
#               is written 0600 by the relay)
#
# Nothing else: no shell, no package manager, no CA bundle (the relay makes no outgoing TLS
# connections). Used by deploy/Containerfile's build stage and by deploy/build-image.sh, so
# both images hold the same files.
#
# Usage: deploy/rootfs.sh BINARY OUT     (OUT must not exist, or be empty)
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BINARY OUT" >&2
  exit 2
fi
bin=$1
out=$2
# The relay's user and group id: not root, not a host user's id (65532 is distroless's
# "nonroot"; docs/adr/0025-container-image-and-systemd-unit.md).
uid=65532

if [ ! -x "$bin" ]; then
  echo "$0: $bin is not an executable (build it: cargo build --release --locked -p coffer-relay)" >&2
  exit 2
fi
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  echo "$0: $out is not empty" >&2
  exit 2
fi

base=$out/base
mkdir -p "$base/usr/local/bin" "$base/etc" "$base/tmp" "$out/owned/data/tls"
chmod 1777 "$base/tmp"
chmod 0700 "$out/owned/data"
chmod 0755 "$out/owned/data/tls"
install -m 0755 "$bin" "$base/usr/local/bin/coffer-relay"

# Every shared object the binary loads, at the path the loader looks for it. `ldd` prints
# "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" for a library and
# "/lib64/ld-linux-x86-64.so.2 (0x…)" for the loader; "linux-vdso.so.1 (0x…)" is the kernel's.
libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
if [ -z "$libs" ]; then
  echo "$0: ldd lists no libraries for $bin (a static binary needs none; check that this is intended)" >&2
fi
for lib in $libs; do
  mkdir -p "$base$(dirname "$lib")"
  # -L: the file a symlink (e.g. /lib64/ld-linux-x86-64.so.2) points to, under the link's name.
  cp -L "$lib" "$base$lib"
  chmod 0755 "$base$lib"
done

printf 'root:x:0:0:root:/:/nonexistent\ncoffer:x:%d:%d:coffer-relay:/data:/nonexistent\n' "$uid" "$uid" > "$base/etc/passwd"
printf 'root:x:0:\ncoffer:x:%d:\n' "$uid" > "$base/etc/group"
chmod 0644 "$base/etc/passwd" "$base/etc/group"
echo "$out: coffer-relay and $(echo "$libs" | grep -c .) shared objects"
