#!/usr/bin/env bash
# Checks that the C++/CUDA sources under native/ and bench/native/ follow .clang-format.
# Usage: scripts/format-check.sh          report files that would change (exit 1 if any)
#        scripts/format-check.sh --fix    reformat them in place
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null 2>&1; then
  echo "clang-format is not installed (apt-get install clang-format)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files 'native/*.cpp' 'native/*.hpp' 'native/*.cu' 'native/*.cuh' 'bench/native/*.cpp')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
clang-format --dry-run --Werror "${files[@]}"
