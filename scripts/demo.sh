#!/usr/bin/env bash
# One command for a new user: set up, build, and run the bundled digits demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec "${KILN_BUILD_DIR:-build}/kiln_digits_demo" "$@"
