#!/usr/bin/env bash
# Builds the addon itself — N-API glue, ONNX Runtime runners and the core they link —
# with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan-addon/, the normal
# build/ is left alone) and runs the reliability and hardening test files against it.
#
# How a sanitised addon runs in a plain node: the ASan runtime must be the first library
# in the process, so it is preloaded (LD_PRELOAD=libasan.so), and P2SAM_NATIVE_PATH
# points lib/native.ts at the sanitised p2sam.node. node, V8 and ONNX Runtime are not
# instrumented: what is checked is every access our C++ makes (heap/stack overflows,
# use-after-free, UB), not theirs. Leak detection is off: V8 and ORT keep allocations
# until exit by design, which would bury real reports.
#
# Every test file runs in forked children (vitest.config.mts), which inherit the
# preload; a sanitiser report aborts the child (exitcode 23 / 24) and fails its file.
#
# Usage: scripts/asan-addon-tests.sh [test files...]   (default: the reliability and
#        hardening tests)
# Environment: P2SAM_ASAN_ADDON_BUILD_DIR (default build-asan-addon), P2SAM_BUILD_JOBS.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${P2SAM_ASAN_ADDON_BUILD_DIR:-build-asan-addon}"

start=$(date +%s)
P2SAM_SANITIZE_ADDON=1 P2SAM_BUILD_DIR="$build_dir" P2SAM_CUDA=OFF P2SAM_BUILD_TESTS=ON \
  node scripts/build-native.mjs
built=$(date +%s)

addon="$root/$build_dir/Release/p2sam.node"
[[ -f "$addon" ]] || { echo "asan-addon-tests: $addon was not built" >&2; exit 1; }
libasan="$(g++ -print-file-name=libasan.so)"
[[ -f "$libasan" ]] || { echo "asan-addon-tests: libasan.so not found (g++ -print-file-name)" >&2; exit 1; }

if [[ $# -eq 0 ]]; then
  set -- test/reliability-validation.test.ts test/reliability-lifetime.test.ts test/reliability-eventloop.test.ts \
    test/hardening-*.test.ts
fi

# The TypeScript must be compiled: child scripts of the tests require dist/.
npx tsc -p tsconfig.json

# halt_on_error/exitcode make any report fatal. allocator_may_return_null lets a failed
# allocation throw std::bad_alloc as it does without ASan (a test provokes one).
# new_delete_type_mismatch is off: ORT's
# allocator pairs are not visible to the runtime across the uninstrumented library.
# detect_stack_use_after_return costs too much under a JIT; protect_shadow_gap=0 lets
# V8/ORT reserve the address ranges they expect.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:exitcode=23:allocator_may_return_null=1:new_delete_type_mismatch=0:protect_shadow_gap=0:allow_user_segv_handler=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=24${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export P2SAM_NATIVE_PATH="$addon"

set +e
LD_PRELOAD="$libasan" npx vitest run "$@"
rc=$?
set -e
done_at=$(date +%s)
echo "asan-addon-tests: build $((built - start)) s, tests $((done_at - built)) s, exit code $rc"
exit $rc
