#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (see fuzz/README.md), each for a fixed time.
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [--parallel P] [--sanitizer address|none] [--dev] [target...]
#
# Defaults: 60 s per target, every target, one job, AddressSanitizer, one target at a time;
# `--parallel P` fuzzes P targets at once (each still for N seconds: on P cores, the same
# coverage in 1/P of the wall time). `--sanitizer none` builds
# faster and runs about twice as fast (the crates are `unsafe`-free; ASan mostly watches the C
# in SQLite and ring). `--dev` builds the targets without optimisation (cargo-fuzz's dev
# profile, still instrumented, still with debug assertions): the build takes about half the time
# and each input runs several times slower, the right trade for a short smoke run (CI) and the
# wrong one for a long campaign.
#
# Installs cargo-fuzz if missing. Uses a nightly toolchain if rustup has one, else the pinned
# stable toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags for the sanitizer and the
# coverage instrumentation). Builds every target once, then runs each from its committed seeds
# (fuzz/corpus/<target>, read-only) plus a scratch corpus under fuzz/target/corpus/<target>,
# with a per-input timeout and a memory limit. Fails if any target crashes, times out or runs
# out of memory; the input is then in fuzz/artifacts/<target>/ (replay:
# `cargo fuzz run <target> <file>`). Prints executions per second and coverage per target.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
jobs=1
parallel=1
sanitizer=address
profile=()
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --parallel) parallel="$2"; shift 2 ;;
    --sanitizer) sanitizer="$2"; shift 2 ;;
    --dev) profile=(--dev); shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

nightly="$(rustup toolchain list 2>/dev/null | awk '/^nightly/ {print $1; exit}')"
if [[ -n "$nightly" ]]; then
  toolchain=(+"$nightly")
  echo "== toolchain: $nightly"
else
  toolchain=()
  export RUSTC_BOOTSTRAP=1
  echo "== toolchain: $(rustc --version) with RUSTC_BOOTSTRAP=1 (no nightly installed)"
fi

# Leaks at exit are not findings (the relay harness keeps its app alive on purpose); SQLite's
# amalgamation defines a few identical globals twice, which ASan would call an ODR violation.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0:detect_odr_violation=0"

cd fuzz
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi

echo "== build (${profile[*]:-release}, debug assertions, sanitizer: $sanitizer)"
build_start=$SECONDS
cargo "${toolchain[@]}" fuzz build "${profile[@]}" --debug-assertions --sanitizer "$sanitizer"
echo "built in $((SECONDS - build_start)) s"

# Fuzzes one target; its result line goes to target/fuzz-<target>.result, with FAILED in it
# when the run found something (the end of its log is printed then).
fuzz_one() {
  local target="$1"
  local work="target/corpus/$target"
  mkdir -p "$work" "corpus/$target" "artifacts/$target"
  local log="target/fuzz-$target.log"
  local args=(
    -max_total_time="$seconds"
    -timeout=10
    -rss_limit_mb=2048
    -malloc_limit_mb=2048
    -detect_leaks=0
    -print_final_stats=1
  )
  [[ -f "dicts/$target.dict" ]] && args+=(-dict="dicts/$target.dict")
  [[ "$jobs" -gt 1 ]] && args+=(-fork="$jobs")
  # The relay harness keeps its data directory for the whole run; TMPDIR puts it where it is
  # removed afterwards.
  local tmp="target/tmp/$target"
  rm -rf "$tmp" && mkdir -p "$tmp"
  local status=0
  TMPDIR="$PWD/$tmp" cargo "${toolchain[@]}" fuzz run "${profile[@]}" --debug-assertions --sanitizer "$sanitizer" \
    "$target" "$work" "corpus/$target" \
    -- "${args[@]}" >"$log" 2>&1 || status=$?
  final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  rm -rf "$tmp"
  local execs rate rss cov line
  execs="$(final_stat number_of_executed_units)"
  rate="$(final_stat average_exec_per_sec)"
  rss="$(final_stat peak_rss_mb)"
  cov="$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)"
  line="$(printf '%-20s %10s execs %8s exec/s  %-22s rss %5s MB' "$target" "${execs:-?}" "${rate:-?}" "${cov:-cov: ?}" "${rss:-?}")"
  if [[ $status -ne 0 ]]; then
    line+="  FAILED (exit $status)"
    echo "---- $target failed; the end of its log ($log):" >&2
    tail -n 60 "$log" >&2
  fi
  echo "$line" >"target/fuzz-$target.result"
  echo "$line"
}

echo "== fuzzing ${#targets[@]} targets, ${seconds} s each, ${parallel} at a time"
running=0
for target in "${targets[@]}"; do
  rm -f "target/fuzz-$target.result"
  if [[ $running -ge $parallel ]]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$target" &
  running=$((running + 1))
done
wait

failed=()
summary=()
for target in "${targets[@]}"; do
  line="$(cat "target/fuzz-$target.result" 2>/dev/null || echo "$target: no result (the run died)  FAILED")"
  [[ "$line" == *FAILED* ]] && failed+=("$target")
  summary+=("$line")
done

echo "== summary (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzzing found problems in: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
  exit 1
fi
echo "${#targets[@]} passed, 0 failed"
