#!/usr/bin/env bash
# One command: set up, build, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd "${KILN_BUILD_DIR:-build}"
ctest --output-on-failure -j "${KILN_JOBS:-$(nproc)}" "$@"
