#!/usr/bin/env bash
# Runs the ONNX conformance suite on the reference backend, adds the newly passing cases to
# tests/conformance_passing.txt (the list only grows) and regenerates docs/operators.md from the
# report. Run it after a change that makes more cases pass; CI (tests/conformance_test.cc)
# fails when a listed case stops passing or docs/operators.md is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${KILN_BUILD_DIR:-build}
suite=${KILN_CONFORMANCE_DIR:-../shared/onnx-conformance}
report="$dir/conformance.json"
"$dir/kiln" conformance "$suite" --jobs "${KILN_JOBS:-$(nproc)}" --json "$report" \
  --expected tests/conformance_passing.txt --update-expected
"$dir/kiln" operators --report "$report" -o docs/operators.md
