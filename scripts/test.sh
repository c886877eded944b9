#!/usr/bin/env bash
# One command: set up, build, and run the whole test suite. With KILN_SANITIZE=1 the suite is
# also built and run under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check_format.sh
bash scripts/build.sh
(cd "${KILN_BUILD_DIR:-build}" && ctest --output-on-failure -j "${KILN_JOBS:-$(nproc)}" "$@")
if [ "${KILN_SANITIZE:-0}" = "1" ]; then
  echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  KILN_BUILD_DIR=build-asan KILN_BUILD_TYPE=RelWithDebInfo KILN_CMAKE_ARGS="-DKILN_SANITIZE=ON" \
    bash scripts/build.sh
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j "${KILN_JOBS:-$(nproc)}" "$@")
fi
