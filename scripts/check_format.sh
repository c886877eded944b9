#!/usr/bin/env bash
# Fails when a C++ file differs from .clang-format's style (clang-format from Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.h' '*.cc' '*.cu' 2>/dev/null || find include src tools tests examples -name '*.h' -o -name '*.cc' -o -name '*.cu')
clang-format --dry-run --Werror "${files[@]}"
echo "format: ${#files[@]} files ok"
