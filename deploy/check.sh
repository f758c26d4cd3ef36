#!/usr/bin/env bash
# Static checks of the deployment artefacts, in a few seconds, with no container engine, no
# release build and no registry (CI runs it; docs/adr/0025):
#
# - the systemd unit: `systemd-analyze verify` (no warning allowed) and `systemd-analyze
#   security --offline` (exposure at most 2.0, "OK");
# - compose.yaml: parsed and its promises checked (deploy/check-compose.py), and
#   `docker compose config` when a compose plugin is installed;
# - the Containerfile: its last stage is what deploy/build-image.sh expects (FROM scratch, a
#   numeric non-root USER, the /data volume, port 8443, no HEALTHCHECK), and it sets no COFFER_*
#   variable that would override a deployment's PLURALLOG_* one;
# - every COFFER_*/PLURALLOG_* name in deploy/ is one the relay reads;
# - the shell scripts parse (and pass shellcheck when it is installed).
#
# Running the image is deploy/check-image.sh (needs podman and a release build: not in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "-- systemd unit"
# verify checks that ExecStart's program exists: point it at an executable that does (the
# installed path is /usr/local/bin/coffer-relay, which this machine need not have).
sed 's#^ExecStart=/usr/local/bin/coffer-relay #ExecStart=/bin/true #' deploy/coffer-relay.service > "$tmp/coffer-relay.service"
grep -q '^ExecStart=/bin/true ' "$tmp/coffer-relay.service" || { echo "ExecStart is not /usr/local/bin/coffer-relay" >&2; exit 1; }
out=$(systemd-analyze verify --man=no --generators=no "$tmp/coffer-relay.service" 2>&1) || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
  echo "systemd-analyze verify warns:" >&2
  echo "$out" >&2
  exit 1
fi
echo "systemd-analyze verify: no findings"
# --threshold is the exposure x 10: fail above 2.0.
systemd-analyze security --offline=yes --threshold=20 --no-pager "$tmp/coffer-relay.service" | tail -1

echo "-- compose.yaml"
if ! python3 -c 'import yaml' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check 'PyYAML==6.0.3'
fi
python3 deploy/check-compose.py
if docker compose version >/dev/null 2>&1; then
  docker compose -f deploy/compose.yaml --env-file deploy/env.example config --quiet
  echo "docker compose config: ok"
else
  echo "(no docker compose plugin: the compose file was checked by deploy/check-compose.py only)"
fi

echo "-- Containerfile"
last_stage=$(awk '/^FROM /{ s = "" } { s = s $0 "\n" } END { printf "%s", s }' deploy/Containerfile)
expect() {
  if ! grep -qE "$1" <<<"$last_stage"; then
    echo "deploy/Containerfile's last stage lacks $2" >&2
    exit 1
  fi
}
expect '^FROM scratch$' 'FROM scratch'
expect '^USER [1-9][0-9]*:[1-9][0-9]*$' 'a numeric non-root USER uid:gid'
expect '^VOLUME \["/data"\]$' 'VOLUME ["/data"]'
expect '^EXPOSE 8443$' 'EXPOSE 8443'
expect '^ENTRYPOINT \["/usr/local/bin/coffer-relay"\]$' 'the coffer-relay ENTRYPOINT'
if grep -qE '^HEALTHCHECK' <<<"$last_stage"; then
  echo "deploy/Containerfile: HEALTHCHECK needs a program in the image that can probe; there is none" >&2
  exit 1
fi
# ENV COFFER_X would beat a deployment's PLURALLOG_X (COFFER_* wins): only COFFER_ names
# without a PLURALLOG_ alias may be set by the image.
for name in $(grep -oE '\bCOFFER_[A-Z0-9_]+=' <<<"$last_stage" | tr -d =); do
  if grep -qE "\"$name\", \"PLURALLOG_" relay/src/config/env.rs; then
    echo "deploy/Containerfile sets $name, which would override a deployment's PLURALLOG_ alias of it" >&2
    exit 1
  fi
done
echo "Containerfile: ok"

echo "-- variable names"
known=$(grep -ohE '"(COFFER|PLURALLOG|POLYLOG)_[A-Z0-9_]+"' relay/src/config/env.rs relay/src/cli.rs | tr -d '"' | sort -u)
bad=0
while read -r name; do
  case "$name" in PLURALLOG_RATE_) continue ;; esac # "PLURALLOG_RATE_*" in a comment
  if ! grep -qx "$name" <<<"$known"; then
    echo "deploy/ names $name, which coffer-relay does not read" >&2
    bad=1
  fi
done < <(grep -ohE '\b(COFFER|PLURALLOG|POLYLOG)_[A-Z0-9_]+\b' deploy/Containerfile deploy/compose.yaml \
  deploy/env.example deploy/coffer-relay.service deploy/coffer-relay.env | sort -u)
[ "$bad" -eq 0 ] || exit 1
echo "variable names: ok"

echo "-- scripts"
for script in deploy/*.sh; do
  bash -n "$script"
done
if command -v shellcheck >/dev/null; then
  shellcheck deploy/*.sh
fi
echo "scripts: ok"
