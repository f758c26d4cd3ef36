#!/usr/bin/env bash
# Compiles the generated Kotlin bindings of libcoffer_ffi with ffi/tests/kotlin/Flow.kt and runs
# the flow on the JVM (JNA) against the real relay — what an Android app does, minus Android.
#
# Needs: a JDK (17+), JNA (Debian: libjna-java) and a Kotlin compiler. Debian's `kotlin` package
# (1.3) is too old for UniFFI 0.32's output; the only modern Kotlin compiler in a package
# registry is the one bundled in PyPI's `kotlin-jupyter-kernel` wheel, which this script
# downloads (pinned) and uses — a workaround, not a toolchain. Set KOTLIN_COMPILER_JAR (a
# kotlin-compiler jar) plus KOTLIN_CLASSPATH (kotlin-stdlib and kotlinx-coroutines-core jars) to
# use a real installation instead.
#
# Skips (exit 0) when a tool is missing, unless COFFER_REQUIRE_KOTLIN=1.
#
#   scripts/ffi-kotlin-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

WHEEL_VERSION=0.19.0.944
tools=target/kotlin-toolchain
out=target/bindings/kotlin

skip() {
  echo "ffi kotlin flow: skipped ($1)"
  if [ "${COFFER_REQUIRE_KOTLIN:-0}" = 1 ]; then exit 1; fi
  exit 0
}

command -v java >/dev/null || skip "no JDK; apt-get install openjdk-17-jdk-headless"
jna=${JNA_JAR:-/usr/share/java/jna.jar}
[ -f "$jna" ] || skip "no JNA; apt-get install libjna-java"

if [ -z "${KOTLIN_COMPILER_JAR:-}" ]; then
  mkdir -p "$tools"
  if [ ! -f "$tools/kotlinc.jar" ]; then
    if ! ls "$tools"/kotlin_jupyter_kernel-"$WHEEL_VERSION"-*.whl >/dev/null 2>&1; then
      python3 -m pip download --quiet --no-deps -d "$tools" "kotlin-jupyter-kernel==$WHEEL_VERSION" \
        || skip "cannot download kotlin-jupyter-kernel $WHEEL_VERSION from PyPI"
    fi
    # The wheel's fat jar holds the compiler and kotlinx.coroutines; the stdlib comes separately.
    python3 - "$tools" <<'PY'
import glob, sys, zipfile
tools = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{tools}/kotlin_jupyter_kernel-*.whl")[0])
jars = {n.rsplit("/", 1)[1]: n for n in wheel.namelist() if n.endswith(".jar")}
fat = next(n for k, n in jars.items() if k.endswith("-all.jar"))
stdlib = next(n for k, n in jars.items() if k.startswith("kotlin-stdlib-"))
with open(f"{tools}/kotlin-stdlib.jar", "wb") as f:
    f.write(wheel.read(stdlib))
with open(f"{tools}/kotlinc.jar", "wb") as f:
    f.write(wheel.read(fat))
with zipfile.ZipFile(f"{tools}/kotlinc.jar") as src, \
        zipfile.ZipFile(f"{tools}/kotlinx-coroutines.jar", "w", zipfile.ZIP_DEFLATED) as dst:
    for name in src.namelist():
        if name.startswith("kotlinx/coroutines/") or name == "META-INF/kotlinx-coroutines-core.kotlin_module":
            dst.writestr(name, src.read(name))
PY
  fi
  KOTLIN_COMPILER_JAR="$tools/kotlinc.jar"
  KOTLIN_CLASSPATH="$tools/kotlin-stdlib.jar:$tools/kotlinx-coroutines.jar"
fi

case "$(uname -s)" in
  Darwin) lib=libcoffer_ffi.dylib ;;
  *) lib=libcoffer_ffi.so ;;
esac

echo "== ffi: build the library, the relay and uniffi-bindgen"
cargo build --locked -p coffer-ffi -p coffer-relay -p coffer-uniffi-bindgen

echo "== ffi: generate the Kotlin bindings from target/debug/$lib"
rm -rf "$out"
mkdir -p "$out/classes" "$out/lib"
cargo run --locked -q -p coffer-uniffi-bindgen -- generate --no-format \
  --library "target/debug/$lib" --language kotlin --out-dir "$out/src"
cp "target/debug/$lib" "$out/lib/"

echo "== ffi: compile the bindings and the Kotlin flow"
java -Xmx3g -cp "$KOTLIN_COMPILER_JAR" org.jetbrains.kotlin.cli.jvm.K2JVMCompiler \
  -no-stdlib -no-reflect -nowarn -jvm-target 17 \
  -classpath "$KOTLIN_CLASSPATH:$jna" -d "$out/classes" \
  "$out/src/uniffi/coffer_ffi/coffer_ffi.kt" ffi/tests/kotlin/Flow.kt 2>&1 \
  | grep -v "^warning: unable to find kotlin-" || true
[ -f "$out/classes/FlowKt.class" ] || { echo "Kotlin compilation failed" >&2; exit 1; }

echo "== ffi: Kotlin flow against a real relay"
COFFER_RELAY_BIN="target/debug/coffer-relay" timeout 600 \
  java -Djna.library.path="$out/lib" -cp "$out/classes:$KOTLIN_CLASSPATH:$jna" FlowKt
