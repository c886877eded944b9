#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, build-fuzz/) and runs each one for a bounded time
# on seeds from ../shared. docs/fuzzing.md describes the targets and the long runs.
#
#   bash scripts/fuzz.sh                       # every target, KILN_FUZZ_SECONDS (60) each
#   KILN_FUZZ_SECONDS=3600 bash scripts/fuzz.sh plan_fuzzer
#
# Needs a normal build's kiln CLI (build/kiln, or $KILN_CLI) to build the plan seeds. Each
# target's corpus grows in build-fuzz/corpus/<target>; a crash, leak, timeout or sanitizer report
# stops the run with the input saved as build-fuzz/artifacts/<target>-crash-* (or leak-,
# timeout-, oom-) and a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-fuzz
seconds=${KILN_FUZZ_SECONDS:-60}
targets=("$@")
((${#targets[@]})) || targets=(onnx_import_fuzzer plan_fuzzer tensor_fuzzer)

# -O1 with line tables: fast enough to fuzz, readable stacks, and a quicker build than -O2 -g.
CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" -DKILN_FUZZ=ON -DKILN_BUILD_TESTS=OFF -DPython3_EXECUTABLE="$(command -v python3)" >/dev/null
cmake --build "$dir" -j "${KILN_JOBS:-$(nproc)}" --target kiln_fuzzers
[ -z "${KILN_FUZZ_BUILD_ONLY:-}" ] || exit 0

if [ ! -d "$dir/seeds/plan" ] || [ -n "${KILN_FUZZ_RESEED:-}" ]; then
  rm -rf "$dir/seeds"
  python3 scripts/fuzz_seeds.py --kiln "${KILN_CLI:-build/kiln}" --out "$dir/seeds" \
    --cases "${KILN_FUZZ_CASES:-150}"
fi

# Leaks are findings; an allocation the machine cannot serve returns null (kiln reports it as
# OutOfMemory) — but libFuzzer's -malloc_limit_mb (= -rss_limit_mb) reports any single
# allocation above 2 GiB as a finding first: kiln's limits must refuse such inputs earlier.
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$dir/artifacts"
for t in "${targets[@]}"; do
  case $t in
    onnx_import_fuzzer) seeds=$dir/seeds/onnx ;;
    plan_fuzzer) seeds=$dir/seeds/plan ;;
    tensor_fuzzer) seeds=$dir/seeds/tensor ;;
    *) echo "fuzz: unknown target $t" >&2; exit 2 ;;
  esac
  mkdir -p "$dir/corpus/$t"
  echo "== fuzz: $t for ${seconds}s (seeds: $seeds)"
  # -max_len: the largest seed a target can use whole (plans of the small model, models up
  # to 1 MiB); -timeout: a hang (inputs take milliseconds; the margin is for a loaded machine).
  rc=0
  "$dir/fuzz/$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -max_len=1048576 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/$t-" ${KILN_FUZZ_ARGS:-} \
    "$dir/corpus/$t" "$seeds" >"$dir/$t.log" 2>&1 || rc=$?
  # The log's end: the last coverage line, the final stats, or the report of a failure.
  grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$dir/$t.log" | tail -n 40
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: $t found a failure (exit $rc); the input is in $dir/artifacts/" >&2
    exit 1
  fi
done
