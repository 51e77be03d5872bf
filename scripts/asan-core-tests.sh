#!/usr/bin/env bash
# Builds the pure C++ core and its test executable with AddressSanitizer + UBSan into a
# separate build directory (build-asan/, so the normal build/ is left alone) and runs
# the tests. Any heap overflow, use-after-free, leak or undefined behaviour in the
# k-means / similarity / Wasserstein / mask code fails the run.
#
# Usage: scripts/asan-core-tests.sh [test-name-substring]
# Environment: P2SAM_ASAN_BUILD_DIR (default build-asan), P2SAM_BUILD_JOBS.
#
# Only the core tests are meant to run sanitised: the addon in build-asan links a
# sanitised core too but is not loadable by a plain `node` (the ASan runtime would have
# to be preloaded before libc), so nothing here tries to load it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${P2SAM_ASAN_BUILD_DIR:-build-asan}"

start=$(date +%s)
# The addon built in this directory links the sanitised core without the runtimes and
# is never loaded from here; only the test executable and benchmarks are sanitised.
P2SAM_SANITIZE=1 P2SAM_BUILD_DIR="$build_dir" P2SAM_CUDA=OFF P2SAM_BUILD_TESTS=ON \
  node scripts/build-native.mjs
built=$(date +%s)

exe="$build_dir/Release/p2sam_core_tests"
if [[ ! -x "$exe" ]]; then
  echo "asan-core-tests: $exe was not built" >&2
  exit 1
fi

# halt_on_error + exitcode make any report fatal; UBSan normally only prints, so it is
# told to abort too. detect_leaks is on by default on Linux x86-64; stated for clarity.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=23:strict_string_checks=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=24${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

set +e
"$exe" "$@"
rc=$?
set -e
done_at=$(date +%s)
echo "asan-core-tests: build $((built - start)) s, tests $((done_at - built)) s, exit code $rc"
exit $rc
