#!/usr/bin/env bash
# Configures and builds kiln into build/ (or $KILN_BUILD_DIR) with Ninja.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${KILN_BUILD_DIR:-build}
# The python3 that setup.sh installed onnx into provides onnx.proto.
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=${KILN_BUILD_TYPE:-Release} \
  -DPython3_EXECUTABLE="$(command -v python3)" ${KILN_CMAKE_ARGS:-} >/dev/null
cmake --build "$dir" -j "${KILN_JOBS:-$(nproc)}"
