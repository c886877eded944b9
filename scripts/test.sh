#!/usr/bin/env bash
# One command: set up, build, and run the whole test suite. With KILN_SANITIZE=1 the suite is
# also built and run under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/), and the
# concurrency test under ThreadSanitizer (build-tsan/), and each libFuzzer target runs for
# KILN_FUZZ_SECONDS (60) on seeds from ../shared (build-fuzz/, scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check_format.sh
bash scripts/build.sh
(cd "${KILN_BUILD_DIR:-build}" && ctest --output-on-failure -j "${KILN_JOBS:-$(nproc)}" "$@")
if [ "${KILN_SANITIZE:-0}" = "1" ]; then
  echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  # -O1 with line tables only (-g1): readable sanitizer stacks and a much quicker build than
  # RelWithDebInfo's -O2 -g, which matters on CI's two cores.
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_SANITIZE=ON -DKILN_CUDA=OFF \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
    -DPython3_EXECUTABLE="$(command -v python3)" >/dev/null
  cmake --build build-asan -j "${KILN_JOBS:-$(nproc)}"
  # allocator_may_return_null: an allocation too large for the machine returns null (which kiln
  # reports as OutOfMemory, and tests check) instead of ASan stopping the process.
  # The per-case conformance tests are left out here: ConformanceSuite.WholeSuite runs every
  # case under the sanitizers too, each in its own child process, in a fifth of the time.
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j "${KILN_JOBS:-$(nproc)}" -E '^Onnx/Conformance\.' "$@")
  echo "== concurrency test under ThreadSanitizer"
  # Only the library and the one test binary are built (build-tsan/).
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_TSAN=ON -DKILN_CUDA=OFF \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
    -DPython3_EXECUTABLE="$(command -v python3)" >/dev/null
  cmake --build build-tsan -j "${KILN_JOBS:-$(nproc)}" --target kiln_tsan_tests
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build-tsan/tests/kiln_tsan_tests
  # 30 s per target here; docs/fuzzing.md gives the long runs.
  export KILN_FUZZ_SECONDS=${KILN_FUZZ_SECONDS:-30}
  echo "== libFuzzer targets, ${KILN_FUZZ_SECONDS}s each"
  bash scripts/fuzz.sh
fi
