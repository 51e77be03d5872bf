#!/usr/bin/env bash
# Runs on the GPU machine, in a copy of this repository that carries .gpu-pack/ (made
# by scripts/gpu-pack.sh): unpacks Node, node_modules and the CUDA build, then runs
# scripts/gpu-check.sh against that build. Results and logs go to $OUT when it is set
# (the device tool's return folder), else bench/results.
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=${OUT:-$PWD/bench/results}
mkdir -p "$RESULTS" /tmp/p2sam-node/bin
t0=$(date +%s)
if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" != 20 ]; then
  xz -dc .gpu-pack/node.xz > /tmp/p2sam-node/bin/node && chmod +x /tmp/p2sam-node/bin/node
  export PATH=/tmp/p2sam-node/bin:$PATH
fi
xz -dc .gpu-pack/modules.tar.xz | tar -xf -
xz -dc .gpu-pack/build.tar.xz | tar -xf -
ORT_NODE=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
[ -d "$ORT_NODE" ] && [ ! -f "$ORT_NODE/libonnxruntime.so.1" ] && cp build/Release/libonnxruntime.so.1 "$ORT_NODE/"
[ -f build-foreign-arch/Release/p2sam.node ] && cp build/Release/libonnxruntime.so.1 build-foreign-arch/Release/
echo "unpacked in $(( $(date +%s) - t0 )) s; node $(node --version); $(nvidia-smi -L 2>/dev/null | head -1)"
# The device tool returns at most 8 files: the JSON results, plus the logs as one archive.
P2SAM_GPU_PREBUILT=build/Release P2SAM_GPU_RESULTS="$RESULTS" P2SAM_GPU_LOGS=/tmp/p2sam-gpu-logs bash scripts/gpu-check.sh
status=$?
tar -czf "$RESULTS/gpu-logs.tgz" -C /tmp/p2sam-gpu-logs .
exit $status
