#!/usr/bin/env node
// Builds the native addon with cmake-js. Runs from `prepare` in a checkout, so `npm ci`
// alone produces a working build; an installed package normally uses a prebuilt
// platform package instead, and runs this by hand (`npm run build:native`) only on a
// platform without one, after installing the build-only tools it needs (below).
//
// Steps: (1) ONNX Runtime headers into deps/ (scripts/fetch-ort-headers.sh),
// (2) locate libonnxruntime.so.1 inside the pinned onnxruntime-node package,
// (3) cmake-js compile into build/ (CUDA kernels when nvcc is found, unless
//     P2SAM_CUDA=OFF).
// Environment: P2SAM_CUDA=AUTO|ON|OFF, P2SAM_CUDA_ARCHS (CMAKE_CUDA_ARCHITECTURES),
//              P2SAM_TORCH=AUTO|ON|OFF (p2sam_torch.node; Torch_DIR picks a libtorch),
//              P2SAM_SANITIZE=1 / P2SAM_SANITIZE_ADDON=1 (ASan + UBSan builds),
//              P2SAM_ORT_INCLUDE_DIR, P2SAM_BUILD_TESTS=OFF,
// P2SAM_BUILD_DIR (default build), P2SAM_SKIP_NATIVE_BUILD=1 (skip entirely).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    console.error(`p2sam-native: '${cmd} ${args.join(' ')}' failed with exit code ${r.status}`);
    process.exit(r.status ?? 1);
  }
}

if (process.env.P2SAM_SKIP_NATIVE_BUILD === '1') {
  console.log('p2sam-native: P2SAM_SKIP_NATIVE_BUILD=1, not building the addon');
  process.exit(0);
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(
    `p2sam-native: native build supports linux-x64 only (this is ${process.platform}-${process.arch})`,
  );
  process.exit(1);
}

// Build-only tools: devDependencies of the checkout, absent from an installed package.
const missing = ['cmake-js', 'node-addon-api', 'onnxruntime-node'].filter((m) => {
  try {
    require.resolve(`${m}/package.json`);
    return false;
  } catch {
    return true;
  }
});
if (missing.length > 0) {
  console.error(
    `p2sam-native: building from source needs ${missing.join(', ')} (not installed with the package). Run:\n` +
      `  npm install --no-save cmake-js@8.0.0 node-addon-api@8.9.2 onnxruntime-node@1.30.0 && npm run build:native\n` +
      `in ${root} (a C++17 compiler and CMake >= 3.18 are needed too; see CONTRIBUTING.md).`,
  );
  process.exit(1);
}

run('bash', [path.join(root, 'scripts/fetch-ort-headers.sh')]);

export function findOrtLibrary() {
  const ortPkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  const lib = path.join(ortPkg, 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime.so.1');
  if (!existsSync(lib)) throw new Error(`libonnxruntime.so.1 not found in ${ortPkg}`);
  return lib;
}

const ortLib = findOrtLibrary();
const buildDir = process.env.P2SAM_BUILD_DIR || 'build';
const cmakeJs = path.join(path.dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
// cmake-js keeps its CMake cache, so changed -D options only take effect on a fresh
// configure: remember the options and rebuild from scratch when they change.
const defines = {
  P2SAM_CUDA: process.env.P2SAM_CUDA || 'AUTO',
  // The C++ tests and native benchmarks only matter in a checkout (which has test/);
  // an installed copy of the package builds just the addon.
  P2SAM_BUILD_TESTS: process.env.P2SAM_BUILD_TESTS || (existsSync(path.join(root, 'test')) ? 'ON' : 'OFF'),
  P2SAM_SANITIZE: process.env.P2SAM_SANITIZE === '1' ? 'ON' : 'OFF',
  // p2sam_torch.node (TorchScript models): AUTO builds it when CMake finds libtorch.
  P2SAM_TORCH: process.env.P2SAM_TORCH || 'AUTO',
  // scripts/asan-addon-tests.sh: the loadable addon itself sanitised.
  P2SAM_SANITIZE_ADDON: process.env.P2SAM_SANITIZE_ADDON === '1' ? 'ON' : 'OFF',
  // GPUs other than Hopper (e.g. "86-real;89-real;90-real;90-virtual"); the default is
  // CMakeLists.txt's sm_90 + compute_90 PTX.
  ...(process.env.P2SAM_CUDA_ARCHS ? { CMAKE_CUDA_ARCHITECTURES: process.env.P2SAM_CUDA_ARCHS } : {}),
};
const stampFile = path.resolve(root, buildDir, 'p2sam-options.json');
const stamp = JSON.stringify(defines);
const fresh = !existsSync(stampFile) || readFileSync(stampFile, 'utf8') !== stamp;
const args = [
  cmakeJs,
  fresh ? 'rebuild' : 'compile',
  '--out',
  buildDir,
  '--parallel',
  String(Math.max(2, Number(process.env.P2SAM_BUILD_JOBS) || 2)),
  `--CDORT_INCLUDE_DIR=${path.join(root, 'deps/onnxruntime/include')}`,
  `--CDORT_LIBRARY=${ortLib}`,
  ...Object.entries(defines).map(([k, v]) => `--CD${k}=${v}`),
];
run(process.execPath, args);
writeFileSync(stampFile, stamp);
