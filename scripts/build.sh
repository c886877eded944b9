#!/usr/bin/env bash
# Configures and builds kiln into build/ (or $KILN_BUILD_DIR) with Ninja.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${KILN_BUILD_DIR:-build}
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=${KILN_BUILD_TYPE:-Release} ${KILN_CMAKE_ARGS:-} >/dev/null
cmake --build "$dir" -j "${KILN_JOBS:-$(nproc)}"
