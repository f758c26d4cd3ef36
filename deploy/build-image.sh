#!/usr/bin/env bash
# Builds the relay's container image without a registry: the final stage of deploy/Containerfile
# (FROM scratch) around a coffer-relay built on this machine, with no pull.
#
#   deploy/build-image.sh                      build the release binary, then the image
#   deploy/build-image.sh --binary PATH        use this binary (built for this machine's glibc)
#   deploy/build-image.sh --tag NAME           image name (default localhost/coffer-relay:latest)
#
# The image gets the same files (deploy/rootfs.sh), user, environment, volume, port and entry
# point as `docker build -f deploy/Containerfile .`: the script takes the Containerfile's last
# stage and only points its two COPY lines at a local directory instead of the build stage.
# The engine: $CONTAINER_ENGINE, else podman, else docker (with a running daemon), else buildah.
# docs/adr/0025-container-image-and-systemd-unit.md; deploy/check-image.sh runs the image.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
tag="localhost/coffer-relay:latest"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "$0: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$binary" ]; then
  cargo build --release --locked -p coffer-relay
  binary=target/release/coffer-relay
fi

engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  if command -v podman >/dev/null; then
    engine=podman
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    engine=docker
  elif command -v buildah >/dev/null; then
    engine=buildah
  else
    echo "$0: no container engine: install podman (apt-get install podman) or start docker" >&2
    exit 1
  fi
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
deploy/rootfs.sh "$binary" "$context/rootfs"

# The last stage of the Containerfile, from its `FROM scratch`, with `COPY --from=build /rootfs/…`
# turned into `COPY rootfs/…`. Both COPY lines must be found, or the two images would differ.
awk '/^FROM scratch$/ { last = NR } { line[NR] = $0 } END { for (i = last; i <= NR; i++) print line[i] }' \
  deploy/Containerfile |
  sed 's#^COPY --from=build \(--chown=[0-9:]* \)\{0,1\}/rootfs/#COPY \1rootfs/#' > "$context/Containerfile"
if ! head -1 "$context/Containerfile" | grep -qx 'FROM scratch' ||
  [ "$(grep -c '^COPY \(--chown=[0-9:]* \)\{0,1\}rootfs/' "$context/Containerfile")" -ne 2 ] ||
  grep -q -- '--from=' "$context/Containerfile"; then
  echo "$0: deploy/Containerfile's last stage is not FROM scratch with two COPY --from=build /rootfs/… lines" >&2
  cat "$context/Containerfile" >&2
  exit 1
fi

case "$engine" in
  # --pull=never: FROM scratch needs nothing, and nothing must be fetched.
  podman) podman build --pull=never -t "$tag" -f "$context/Containerfile" "$context" ;;
  buildah) buildah bud --pull-never -t "$tag" -f "$context/Containerfile" "$context" ;;
  docker) docker build --pull=false -t "$tag" -f "$context/Containerfile" "$context" ;;
  *) echo "$0: unknown CONTAINER_ENGINE $engine (podman, docker or buildah)" >&2; exit 2 ;;
esac
echo "built $tag with $engine from $binary"
