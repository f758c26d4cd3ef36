#!/usr/bin/env bash
# Drives the whole client flow through the generated Python bindings of libcoffer_ffi against
# the real relay (ffi/tests/python/test_flow.py). What it needs: cargo, python3 (standard
# library only). Starts no relay itself: the Python test starts target/debug/coffer-relay.
#
#   scripts/ffi-python-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

case "$(uname -s)" in
  Darwin) lib=libcoffer_ffi.dylib ;;
  *) lib=libcoffer_ffi.so ;;
esac
out=target/bindings/python

echo "== ffi: build the library, the relay and uniffi-bindgen"
# CI sets COFFER_CARGO_SELECTION to the selection it built the workspace with (.ci/run): the
# same features, so this build finds everything up to date instead of recompiling dependencies.
# shellcheck disable=SC2086 # a list of flags
cargo build --locked ${COFFER_CARGO_SELECTION:--p coffer-ffi -p coffer-relay -p coffer-uniffi-bindgen}

echo "== ffi: generate the Python bindings from target/debug/$lib"
rm -rf "$out"
mkdir -p "$out"
target/debug/uniffi-bindgen generate \
  --library "target/debug/$lib" --language python --out-dir "$out"
# The generated module loads the library from its own directory.
cp "target/debug/$lib" "$out/"

echo "== ffi: Python tests against a real relay (ffi/tests/python/test_*.py, two at a time)"
# Each file starts its own relays; a failing file fails the script after all have run, and
# its whole output is printed.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
export COFFER_FFI_BINDINGS="$out" COFFER_RELAY_BIN="target/debug/coffer-relay"
# shellcheck disable=SC2016 # expanded by the inner shell
printf '%s\n' ffi/tests/python/test_*.py |
  xargs -P 2 -I{} sh -c 'timeout 900 python3 "$1" >"$2/$(basename "$1").log" 2>&1; echo $? >"$2/$(basename "$1").rc"' _ {} "$logs"
failed=0
for file in ffi/tests/python/test_*.py; do
  name=$(basename "$file")
  rc=$(cat "$logs/$name.rc")
  if [ "$rc" != 0 ]; then
    failed=1
    echo "---- $name failed (exit $rc):"
    cat "$logs/$name.log"
  fi
  grep '^ffi-python ' "$logs/$name.log" || echo "ffi-python $name: no summary (exit $rc)"
done
exit "$failed"
