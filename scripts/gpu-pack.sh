#!/usr/bin/env bash
# Packs what a bare GPU machine needs to run scripts/gpu-check.sh against the CUDA build
# made here, into .gpu-pack/ (git-ignored via .git/info/exclude):
#   node.xz        this machine's Node binary (GPU images often have no Node)
#   modules.tar.xz node_modules without TypeScript, type packages and onnxruntime-node's
#                  runtime libraries (the addon's copy in build/Release serves)
#   build.tar.xz   build/Release (CUDA addon, core tests, bench_gpu) and dist/
# About 55 MB in all, under the device tool's 64 MiB working-tree limit.
# Then on the GPU machine: bash scripts/gpu-remote.sh (see there).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu-pack/' .git/info/exclude 2>/dev/null || echo '/.gpu-pack/' >> .git/info/exclude
grep -q '^CMAKE_CUDA_FLAGS:STRING=' build/CMakeCache.txt || { echo "build/ is not a CUDA build: run P2SAM_CUDA=ON npm run build:native" >&2; exit 1; }
npx tsc -p tsconfig.json
mkdir -p .gpu-pack
# Node and node_modules change rarely: repack them only when the binary or the lock file did.
stamp="$(command -v node) $(node --version) $(sha256sum package-lock.json | cut -c1-16)"
if [ "$(cat .gpu-pack/stamp 2>/dev/null)" != "$stamp" ]; then
  xz -T0 -6 -c "$(command -v node)" > .gpu-pack/node.xz
  # onnxruntime-node (used by a few tests) travels without its runtime libraries: its
  # linux/x64 libonnxruntime.so.1 is byte-identical to the addon's copy in build/Release,
  # which gpu-remote.sh puts back; the other platforms' binaries are not needed.
  tar -cf - --exclude='node_modules/onnxruntime-node/bin/napi-v6/darwin' --exclude='node_modules/onnxruntime-node/bin/napi-v6/win32' \
    --exclude='node_modules/onnxruntime-node/bin/napi-v6/linux/arm64' --exclude='node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1' \
    --exclude=node_modules/typescript --exclude=node_modules/@types \
    --exclude='node_modules/.cache' node_modules | xz -T0 -6 > .gpu-pack/modules.tar.xz
  echo "$stamp" > .gpu-pack/stamp
fi
# A second CUDA build for sm_80 only (no PTX), which a Hopper GPU cannot run: the GPU
# check verifies that the probe reports it and 'auto' stays on the CPU.
[ -f build-foreign-arch/Release/p2sam.node ] ||
  P2SAM_CUDA=ON P2SAM_CUDA_ARCHS=80-real P2SAM_BUILD_DIR=build-foreign-arch P2SAM_BUILD_TESTS=OFF node scripts/build-native.mjs >/dev/null
tar -cf - build/Release/p2sam.node build/Release/libonnxruntime.so.1 build/Release/p2sam_core_tests \
  build/Release/bench_gpu build/CMakeCache.txt build-foreign-arch/Release/p2sam.node dist | xz -T0 -6 > .gpu-pack/build.tar.xz
du -ch .gpu-pack/* | tail -4
