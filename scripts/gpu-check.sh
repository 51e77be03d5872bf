#!/usr/bin/env bash
# One-shot GPU verification for issue 5, meant for an H100/H200 machine (run from the
# repository root; no network needed once node_modules and deps/ are present):
#   1. builds the CUDA variant into build-gpu/ (nvcc from PATH, /usr/local/cuda, or the
#      CUDA toolkit a PyTorch/conda install carries),
#   2. copies ONNX Runtime's CUDA provider (libonnxruntime_providers_cuda.so and
#      libonnxruntime_providers_shared.so) beside the addon if a Python onnxruntime-gpu
#      install provides them, and puts PyTorch's CUDA libraries (cuBLAS, cuDNN, …) on
#      LD_LIBRARY_PATH so the provider can load; otherwise it reports the provider
#      missing and the ORT-on-CUDA checks skip,
#   3. runs the C++ core tests (hd_math parity included) against the CUDA build,
#   4. runs the GPU vitest suites (test/gpu, test/backends.test.ts) with that addon,
#   5. runs the per-stage GPU benchmarks: the kernels alone (bench_gpu) and whole
#      segment() calls with the maths on the CPU vs the GPU (dist/bench/gpu.js),
#   6. runs compute-sanitizer's memcheck over bench_gpu where the tool works.
# Results go to bench/results/gpu-<host>-<date>.json (kernels), gpu-e2e-<host>-<date>.json
# (segment stages) and gpu-check-<host>-<date>.json (summary of every step).
#
# When build-foreign-arch/Release/p2sam.node exists (a CUDA build for an architecture
# this GPU cannot run; scripts/gpu-pack.sh makes one for sm_80), step 4 also checks that
# the probe reports it unusable and 'auto' stays on the CPU (test/gpu/foreign-arch).
# P2SAM_GPU_QUICK=1 stops after step 4.
#
# P2SAM_GPU_PREBUILT=DIR skips step 1 and uses DIR/p2sam.node (with its test and bench
# executables beside it) — e.g. a CUDA build made on another machine
# (scripts/gpu-pack.sh). P2SAM_GPU_RESULTS=DIR writes the JSON files there instead.
# Exit status: 0 when every step that could run passed; 1 otherwise.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
HOST=$(hostname -s 2>/dev/null || echo host)
OUT_DIR="${P2SAM_GPU_RESULTS:-$ROOT/bench/results}"
BUILD_DIR=${P2SAM_GPU_BUILD_DIR:-build-gpu}
mkdir -p "$OUT_DIR"
SUMMARY="$OUT_DIR/gpu-check-$HOST-$STAMP.json"
BENCH_JSON="$OUT_DIR/gpu-$HOST-$STAMP.json"
E2E_JSON="$OUT_DIR/gpu-e2e-$HOST-$STAMP.json"
VITEST="node $ROOT/node_modules/vitest/vitest.mjs"
LOG_DIR=${P2SAM_GPU_LOGS:-$(mktemp -d)}; mkdir -p "$LOG_DIR"
declare -A STEP
status=0

note() { printf '\n== %s\n' "$*"; }
plain() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }  # vitest's log without colour codes
record() { STEP[$1]=$2; [ "$2" = pass ] || [ "$2" = skipped ] || status=1; }

note "device"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$LOG_DIR/gpu.txt"
else
  echo "nvidia-smi not found" | tee "$LOG_DIR/gpu.txt"
fi

note "CUDA toolkit"
NVCC=$(command -v nvcc || true)
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
if [ -z "$NVCC" ]; then
  # pip's nvidia-cuda-nvcc-cu12 wheel (often next to PyTorch) ships a usable nvcc.
  NVCC=$(python3 - <<'PY' 2>/dev/null
import glob, os, site
for base in site.getsitepackages() + [site.getusersitepackages()]:
    for p in glob.glob(os.path.join(base, "nvidia", "cuda_nvcc", "bin", "nvcc")):
        print(p); raise SystemExit
PY
)
fi
if [ -n "${P2SAM_GPU_PREBUILT:-}" ]; then
  echo "using the prebuilt addon in $P2SAM_GPU_PREBUILT"; NVCC=""; record build skipped
elif [ -z "$NVCC" ]; then echo "no nvcc found: cannot build the CUDA variant"; record build fail; fi
echo "nvcc: ${NVCC:-none}"

# PyTorch's bundled CUDA libraries (nvidia/*/lib in site-packages) for ORT's provider.
TORCH_LIBS=$(python3 - <<'PY' 2>/dev/null
import glob, os, site
dirs = []
for base in site.getsitepackages() + [site.getusersitepackages()]:
    dirs += glob.glob(os.path.join(base, "nvidia", "*", "lib"))
    dirs += glob.glob(os.path.join(base, "torch", "lib"))
print(":".join(d for d in dirs if os.path.isdir(d)))
PY
)
[ -n "$TORCH_LIBS" ] && export LD_LIBRARY_PATH="$TORCH_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

if [ -n "$NVCC" ]; then
  note "build (CUDA ON) into $BUILD_DIR"
  export PATH="$(dirname "$NVCC"):$PATH"
  start=$(date +%s)
  if P2SAM_CUDA=ON P2SAM_BUILD_DIR="$BUILD_DIR" node scripts/build-native.mjs >"$LOG_DIR/build.log" 2>&1 &&
     [ -f "$BUILD_DIR/Release/p2sam.node" ]; then
    record build pass
  else
    tail -40 "$LOG_DIR/build.log"; record build fail
  fi
  echo "build took $(( $(date +%s) - start )) s"
fi
BIN_DIR="$ROOT/$BUILD_DIR/Release"
[ -n "${P2SAM_GPU_PREBUILT:-}" ] && BIN_DIR=$(cd "$P2SAM_GPU_PREBUILT" && pwd)
ADDON="$BIN_DIR/p2sam.node"

note "ONNX Runtime CUDA provider"
PROVIDER=$(python3 - <<'PY' 2>/dev/null
import glob, os, site
for base in site.getsitepackages() + [site.getusersitepackages()]:
    for p in glob.glob(os.path.join(base, "onnxruntime", "capi", "libonnxruntime_providers_cuda.so")):
        print(p); raise SystemExit
PY
)
if [ -n "$PROVIDER" ] && [ -f "$ADDON" ]; then
  PYORT_VERSION=$(python3 -c 'import onnxruntime; print(onnxruntime.__version__)' 2>/dev/null || echo unknown)
  echo "found $PROVIDER (Python onnxruntime $PYORT_VERSION; the addon uses ORT 1.30.0 — the provider must match)"
  cp "$PROVIDER" "$(dirname "$PROVIDER")/libonnxruntime_providers_shared.so" "$(dirname "$ADDON")/"
  record ort_provider pass
else
  echo "libonnxruntime_providers_cuda.so not found (pip install onnxruntime-gpu==1.30.0 provides it): ORT stays on the CPU, the end-to-end cuda test skips"
  record ort_provider skipped
fi

extended_checks() {
  note "the whole test suite with a GPU present (device 'auto' now puts point selection on it)"
  if P2SAM_NATIVE_PATH="$ADDON" $VITEST run >"$LOG_DIR/vitest-all.log" 2>&1; then record full_suite pass; else record full_suite fail; fi
  plain "$LOG_DIR/vitest-all.log" | grep -E "FAIL|Tests |Test Files" | tail -12

  note "GPU benchmark"
  if "$BIN_DIR/bench_gpu" --json "$BENCH_JSON" --reps 5 | tee "$LOG_DIR/bench.txt"; then
    record bench pass
  else
    record bench fail
  fi
  grep -q "^no GPU" "$LOG_DIR/bench.txt" && record bench skipped

  note "segment() stages: maths on the CPU vs the GPU"
  if [ -f "$ROOT/dist/bench/gpu.js" ] &&
     P2SAM_NATIVE_PATH="$ADDON" node "$ROOT/dist/bench/gpu.js" --out "$E2E_JSON" --targets 8 | tee "$LOG_DIR/e2e.txt"; then
    record e2e_bench pass
  else
    echo "(dist/bench/gpu.js missing or failed: run npm run build first)"; record e2e_bench fail
  fi

  note "CLI demo with the default device ('auto': maths on the GPU where usable)"
  if node "$ROOT/dist/lib/cli/main.js" demo --out "$LOG_DIR/demo" --json -q >"$LOG_DIR/demo.json" 2>"$LOG_DIR/demo.err"; then
    record cli_demo pass
  else
    record cli_demo fail
  fi
  node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); const m=JSON.parse(require("fs").readFileSync(r.report,"utf8")).model||{}; console.log(`mean Dice ${r.meanDice.toFixed(4)}, parts ${r.perFrame.map(f=>f.parts).join(",")}, device ${m.device}, modelDevice ${m.modelDevice}, gpuStages ${JSON.stringify(m.gpuStages)}`)' "$LOG_DIR/demo.json" 2>&1 | tee "$LOG_DIR/demo.txt"
  rm -rf "$LOG_DIR/demo"

  note "compute-sanitizer memcheck over the kernels (bench_gpu, 1 rep)"
  SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
  if [ -n "$SANITIZER" ]; then
    if timeout 180 "$SANITIZER" --tool memcheck --leak-check full --error-exitcode 3 "$BIN_DIR/bench_gpu" --reps 1 >"$LOG_DIR/memcheck.log" 2>&1; then
      record memcheck pass
    else
      rc=$?
      # 124: timed out; anything else with "not supported" is the tool refusing this VM.
      if grep -q -i "not supported\|LibraryNotLoaded" "$LOG_DIR/memcheck.log" || [ $rc = 124 ]; then record memcheck skipped; else record memcheck fail; fi
    fi
    tail -4 "$LOG_DIR/memcheck.log"
  else
    echo "compute-sanitizer not found"; record memcheck skipped
  fi
}

if [ -f "$ADDON" ]; then
  note "C++ core tests (CUDA build)"
  if "$BIN_DIR/p2sam_core_tests" >"$LOG_DIR/core.log" 2>&1; then record core_tests pass; else record core_tests fail; fi
  tail -3 "$LOG_DIR/core.log"; grep FAIL "$LOG_DIR/core.log" || true

  note "GPU vitest suites"
  FOREIGN="$ROOT/build-foreign-arch/Release/p2sam.node"
  [ -f "$FOREIGN" ] && export P2SAM_FOREIGN_ARCH_ADDON="$FOREIGN"
  if P2SAM_NATIVE_PATH="$ADDON" $VITEST run test/gpu test/backends.test.ts test/runtime.test.ts >"$LOG_DIR/vitest.log" 2>&1; then
    record gpu_tests pass
  else
    record gpu_tests fail
  fi
  plain "$LOG_DIR/vitest.log" | grep -E "skipped\]|✓|×|FAIL|Tests |Error|expected" | tail -30

  if [ "${P2SAM_GPU_QUICK:-0}" = 1 ]; then
    echo "(P2SAM_GPU_QUICK=1: stopping after the GPU suites)"
  else
    extended_checks
  fi
fi

node -e '
const fs = require("fs");
const [file, stepLines, gpu, logDir] = process.argv.slice(1);
const steps = Object.fromEntries(stepLines.split("\n").filter(Boolean).map((l) => l.split("=")));
const read = (f) => { try { return fs.readFileSync(f, "utf8"); } catch { return ""; } };
const out = { date: new Date().toISOString(), gpu: read(gpu).trim(), steps,
  coreTests: read(logDir + "/core.log").trim().split("\n").pop(),
  vitest: read(logDir + "/vitest.log").split("\n").filter((l) => /Tests |skipped\]/.test(l)).map((l) => l.replace(/\x1b\[[0-9;]*m/g, "").trim()),
  bench: read(logDir + "/bench.txt").trim().split("\n"),
  e2e: read(logDir + "/e2e.txt").trim().split("\n"),
  demo: read(logDir + "/demo.txt").trim(),
  fullSuite: read(logDir + "/vitest-all.log").split("\n").filter((l) => /Tests |Test Files/.test(l)).map((l) => l.replace(/\x1b\[[0-9;]*m/g, "").trim()),
  memcheck: read(logDir + "/memcheck.log").trim().split("\n").slice(-4) };
fs.writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
' "$SUMMARY" "$(for k in "${!STEP[@]}"; do printf '%s\n' "$k=${STEP[$k]}"; done)" "$LOG_DIR/gpu.txt" "$LOG_DIR"

note "summary ($SUMMARY)"
cat "$SUMMARY"
echo "logs: $LOG_DIR"
exit $status
