#!/usr/bin/env node
// Builds the prebuilt platform packages and packs them, with the main package, into
// tarballs ready to publish or to install offline.
//
//   node scripts/pack-platform-packages.mjs [--out DIR] [--variants cpu,cuda] [--stage-only]
//                                          [--cpu-build DIR]
//
// Each platform package holds p2sam.node and the exact libonnxruntime.so.1 it was linked
// against, side by side (the addon's RUNPATH starts with $ORIGIN, so the runtime is found
// next to it and nowhere else first), tagged os/cpu/libc so npm installs only the one
// that fits. Nothing is downloaded or compiled at install time.
//   cpu:  P2SAM_CUDA=OFF build in build-cpu/ (built here when missing), or the folder
//         given by --cpu-build (the tests stage the build they already have);
//   cuda: the default build in build/ when it was compiled with the CUDA kernels.
// Prints one JSON line: { main, packages: [{ name, variant, tarball, dir }] }.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const out = path.resolve(arg('out', path.join(root, 'dist-packages')));
const variants = arg('variants', 'cpu,cuda').split(',');
const stageOnly = process.argv.includes('--stage-only');

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    ...opts,
  });
  if (r.status !== 0) throw new Error(`'${cmd} ${args.join(' ')}' failed (${r.status})`);
  return r.stdout;
}

/** Whether an addon file was compiled with the CUDA kernels (asked of the addon itself). */
function cudaCompiled(file) {
  const js = `console.log(require(${JSON.stringify(file)}).backends().cuda.compiled)`;
  return run(process.execPath, ['-e', js]).trim() === 'true';
}

function buildDirFor(variant) {
  if (variant === 'cuda') {
    const dir = path.join(root, 'build', 'Release');
    if (!existsSync(path.join(dir, 'p2sam.node')))
      throw new Error(
        'cuda variant: build/Release/p2sam.node is missing; run npm run build:native with nvcc on the PATH',
      );
    if (!cudaCompiled(path.join(dir, 'p2sam.node')))
      throw new Error('cuda variant: build/Release/p2sam.node was compiled without CUDA (no nvcc?)');
    return dir;
  }
  const given = arg('cpu-build', undefined);
  if (given) return path.resolve(given);
  const dir = path.join(root, 'build-cpu', 'Release');
  if (!existsSync(path.join(dir, 'p2sam.node'))) {
    const env = { ...process.env, P2SAM_CUDA: 'OFF', P2SAM_BUILD_DIR: 'build-cpu', P2SAM_BUILD_TESTS: 'OFF' };
    run(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')], { env, stdio: 'inherit' });
  }
  return dir;
}

const platformName = (variant) => `p2sam-native-linux-x64-gnu${variant === 'cuda' ? '-cuda' : ''}`;

function stage(variant) {
  const name = platformName(variant);
  const from = buildDirFor(variant);
  const dir = path.join(out, 'stage', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of ['p2sam.node', 'libonnxruntime.so.1']) copyFileSync(path.join(from, f), path.join(dir, f));
  copyFileSync(path.join(root, 'LICENSE'), path.join(dir, 'LICENSE'));
  const ortVersion = pkg.devDependencies['onnxruntime-node'];
  writeFileSync(
    path.join(dir, 'README.md'),
    `# ${name}\n\nThe prebuilt native addon of [p2sam-native](https://www.npmjs.com/package/p2sam-native) ${pkg.version} ` +
      `for Linux x64 with glibc${variant === 'cuda' ? ', with the CUDA kernels of the P2SAM maths (sm_90 + compute_90 PTX; ONNX Runtime itself runs on the CPU)' : ', CPU only'}.\n\n` +
      `Installed automatically as an optional dependency of p2sam-native; do not depend on it directly.\n\n` +
      `Contents: \`p2sam.node\` and the ONNX Runtime ${ortVersion} shared library it links against ` +
      `(\`libonnxruntime.so.1\`, MIT License, Copyright (c) Microsoft Corporation), taken from onnxruntime-node ${ortVersion}.\n`,
  );
  const manifest = {
    name,
    version: pkg.version,
    description: `p2sam-native ${pkg.version} prebuilt addon, linux-x64-gnu${variant === 'cuda' ? ' with CUDA kernels' : ' (CPU)'}`,
    license: pkg.license,
    os: ['linux'],
    cpu: ['x64'],
    libc: ['glibc'],
    files: ['p2sam.node', 'libonnxruntime.so.1', 'LICENSE', 'README.md'],
    // No main: the addon is loaded by path (lib/native-loader.ts), never require()d by name.
    p2sam: { variant, ortVersion, napiVersion: pkg.binary.napi_versions[0] },
  };
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return { name, variant, dir };
}

function pack(dir) {
  const res = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out, dir]));
  return path.join(out, res[0].filename);
}

mkdirSync(out, { recursive: true });
const packages = variants.map(stage);
if (!stageOnly) {
  for (const p of packages) p.tarball = pack(p.dir);
  // The main package: compiled TypeScript must be current; prepare is not run by pack here.
  run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  run(process.execPath, [path.join(root, 'scripts', 'write-esm-entry.mjs')]);
}
/**
 * The main package is packed from a staged copy whose manifest has no lifecycle scripts:
 * `prepare` builds the addon in a checkout (npm ci), but a tarball carrying it makes npm
 * list the package as having install scripts. The files are exactly what `npm pack`
 * would take from the checkout (package.json `files`).
 */
// binding.gyp is not in the package's files: npm treats a binding.gyp at a package's root
// as an implicit `install: node-gyp rebuild` whenever it re-reads the installed tree (npm
// 11 ignores "gypfile": false there), which would bring back the install-script warning on
// the user's next `npm install`. The node-gyp variant is a checkout tool (npm run build:gyp).
function stageMain() {
  const dir = path.join(out, 'stage', pkg.name);
  rmSync(dir, { recursive: true, force: true });
  const [{ files }] = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts']));
  for (const { path: rel } of files) {
    if (rel === 'package.json') continue;
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    copyFileSync(path.join(root, rel), path.join(dir, rel));
  }
  const { scripts, devDependencies: _dev, allowScripts: _allow, ...manifest } = pkg;
  // Only the from-source fallback (docs: 'npm run build:native' inside node_modules/p2sam-native).
  const kept = { 'build:native': scripts['build:native'] };
  // The CPU platform package is declared here, in the published manifest only: in the
  // checkout's package.json an unpublished optional dependency would make `npm ci` fail
  // (it is not in package-lock.json), and the checkout builds its own addon anyway. The
  // CUDA variant is not declared: npm cannot tell a GPU machine, so it would be
  // installed everywhere beside the CPU one; users add it explicitly (README).
  const optionalDependencies = { [platformName('cpu')]: pkg.version };
  writeFileSync(
    path.join(dir, 'package.json'),
    `${JSON.stringify({ ...manifest, scripts: kept, optionalDependencies }, null, 2)}\n`,
  );
  return dir;
}

const main = stageOnly ? undefined : pack(stageMain());
console.log(JSON.stringify({ main, packages }));
