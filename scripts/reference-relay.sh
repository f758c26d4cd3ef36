#!/usr/bin/env bash
# Starts and stops the stand-in for the PluralLog reference relay (bench/reference-relay/), the
# target of `coffer-bench --compare-url` (docs/BENCHMARKS.md, "Against the PluralLog reference
# relay").
#
#   scripts/reference-relay.sh up [PORT]   # prints the URL as its last line
#   scripts/reference-relay.sh down
#
# `up` creates a virtual environment under target/reference-relay/venv with pinned Flask,
# gunicorn and PyNaCl (once; again only when the pins change), then starts gunicorn with 2 sync
# workers on 127.0.0.1:PORT (default: a free port) over plain HTTP, as the reference relay's
# image runs, with a new temporary data directory (SQLite database and volume files) and rate
# limits raised out of the benchmark's way. It waits until /api/v1/health answers. `down` stops
# that gunicorn by the PID it recorded and removes the data directory. With
# COFFER_REFERENCE_RELAY_STATE=DIR, the PID file, log and data directory's name are kept in DIR
# instead of target/reference-relay (the venv is shared).
#
# Needs: python3 with venv, and PyPI for the first `up`.
set -euo pipefail
cd "$(dirname "$0")/.."

FLASK_VERSION=3.1.3
GUNICORN_VERSION=27.0.1
PYNACL_VERSION=1.6.2

venv="$PWD/target/reference-relay/venv"
# Where the PID, the data directory's name and the log go: one running stand-in per state
# directory (tests give their own).
state="${COFFER_REFERENCE_RELAY_STATE:-$PWD/target/reference-relay}"
app_dir="$PWD/bench/reference-relay"
pid_file="$state/gunicorn.pid"
data_file="$state/data-dir"
log="$state/gunicorn.log"

usage() {
  echo "usage: $0 up [PORT] | down" >&2
  exit 2
}

ensure_venv() {
  local packages="flask==$FLASK_VERSION gunicorn==$GUNICORN_VERSION pynacl==$PYNACL_VERSION"
  if [[ "$(cat "$venv/installed" 2>/dev/null)" != "$packages" ]]; then
    echo "reference-relay: installing $packages into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086 # three requirement specifiers
    "$venv/bin/pip" install --quiet --disable-pip-version-check $packages >&2
    echo "$packages" >"$venv/installed"
  fi
}

running_pid() {
  local pid
  pid="$(cat "$pid_file" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    echo "$pid"
  fi
}

free_port() {
  "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

up() {
  local port="${1:-}"
  if [[ -n "$(running_pid)" ]]; then
    echo "reference-relay: already running (PID $(running_pid)); run '$0 down' first" >&2
    exit 1
  fi
  ensure_venv
  mkdir -p "$state"
  [[ -n "$port" ]] || port="$(free_port)"
  [[ "$port" =~ ^[0-9]+$ ]] || usage
  local data
  data="$(mktemp -d "${TMPDIR:-/tmp}/reference-relay-XXXXXX")"
  echo "$data" >"$data_file"
  export PLURALLOG_DB_PATH="$data/plurallog_relay.db"
  export PLURALLOG_VOLUME_PATH="$data/volume_storage"
  # The benchmark registers, logs in and uploads far beyond the per-minute defaults (6 logins
  # per address, 12 uploads per user); the counters are still kept and checked per request.
  export PLURALLOG_RATE_UNAUTH=100000000 PLURALLOG_RATE_AUTH=100000000
  export PLURALLOG_RATE_UPLOAD=100000000 PLURALLOG_RATE_GENERAL=100000000
  export PLURALLOG_RATE_DISCOVERY=100000000
  (cd "$app_dir" && "$venv/bin/python" -c 'import app; app.init_db()')
  "$venv/bin/gunicorn" --chdir "$app_dir" --workers 2 --worker-class sync \
    --bind "127.0.0.1:$port" --pid "$pid_file" --daemon --no-control-socket \
    --error-logfile "$log" --capture-output app:app
  local url="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if "$venv/bin/python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
      "$url/api/v1/health" 2>/dev/null; then
      echo "reference-relay: gunicorn (2 sync workers) PID $(running_pid), data in $data, log $log" >&2
      echo "$url"
      return 0
    fi
    sleep 0.1
  done
  echo "reference-relay: no answer from $url/api/v1/health within 10 s; log:" >&2
  tail -n 30 "$log" >&2 || true
  down
  exit 1
}

down() {
  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "reference-relay: PID $pid still running after 10 s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "reference-relay: stopped PID $pid" >&2
  else
    echo "reference-relay: not running" >&2
  fi
  rm -f "$pid_file"
  local data
  data="$(cat "$data_file" 2>/dev/null || true)"
  if [[ -n "$data" && -d "$data" && "$(basename "$data")" == reference-relay-* ]]; then
    rm -rf "$data"
  fi
  rm -f "$data_file"
}

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down ;;
  *) usage ;;
esac
