#!/usr/bin/env node
// CI check of the prebuilt install path, as a new user meets it:
//   1. pack the platform package(s) and the main package (scripts/pack-platform-packages.mjs);
//   2. install the main tarball and the CPU platform tarball into an empty project, with a
//      PATH that holds only node, npm, npx and sh — no compiler, make, CMake or nvcc;
//   3. run `npx p2sam demo` there (it segments a synthetic sequence and checks the Dice).
// Fails when the install takes 30 s or more, prints an install-script warning, pulls in
// a build-only package (onnxruntime-node, cmake-js, node-addon-api), loads the addon from
// anywhere but the platform package, or when the demo fails. Prints a JSON summary.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(path.join(os.tmpdir(), 'p2sam-prebuilt-'));
const fail = (msg) => {
  console.error(`check-prebuilt-install: FAILED: ${msg}`);
  process.exit(1);
};

// 1. Tarballs. The CUDA variant is packed too when build/ was compiled with nvcc.
const cudaBuilt = (() => {
  const r = spawnSync(
    process.execPath,
    [
      '-e',
      `console.log(require(${JSON.stringify(path.join(root, 'build', 'Release', 'p2sam.node'))}).backends().cuda.compiled)`,
    ],
    { encoding: 'utf8' },
  );
  return r.status === 0 && r.stdout.trim() === 'true';
})();
const variants = process.env.P2SAM_PACK_VARIANTS || (cudaBuilt ? 'cpu,cuda' : 'cpu');
const packed = spawnSync(
  process.execPath,
  [
    path.join(root, 'scripts', 'pack-platform-packages.mjs'),
    '--out',
    path.join(work, 'tarballs'),
    '--variants',
    variants,
  ],
  {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
if (packed.status !== 0) fail('packing failed');
const { main, packages } = JSON.parse(packed.stdout.trim().split('\n').at(-1));
const cpu = packages.find((p) => p.variant === 'cpu');
const listing = spawnSync('tar', ['tzf', main], { encoding: 'utf8' }).stdout.split('\n');
for (const f of [
  'package/LICENSE',
  'package/README.md',
  'package/docs/electron.md',
  'package/examples/quickstart.mjs',
  'package/dist/lib/index.js',
])
  if (!listing.includes(f)) fail(`${path.basename(main)} lacks ${f}`);

const manifest = JSON.parse(
  spawnSync('tar', ['xzOf', main, 'package/package.json'], { encoding: 'utf8' }).stdout,
);
for (const hook of ['preinstall', 'install', 'postinstall', 'prepare'])
  if (manifest.scripts?.[hook]) fail(`the packed manifest has a '${hook}' script`);
if (manifest.optionalDependencies?.[cpu.name] !== manifest.version)
  fail(`the packed manifest does not declare ${cpu.name}@${manifest.version} as an optional dependency`);

// 2. A PATH with node, npm, npx, sh and nothing else.
const bin = path.join(work, 'bin');
mkdirSync(bin);
const which = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim();
for (const cmd of ['node', 'npm', 'npx', 'sh']) symlinkSync(which(cmd), path.join(bin, cmd));
const env = { ...process.env, PATH: bin };
delete env.P2SAM_NATIVE_PATH;
for (const tool of ['cc', 'gcc', 'g++', 'c++', 'clang', 'make', 'cmake', 'nvcc'])
  if (spawnSync('sh', ['-c', `command -v ${tool}`], { env }).status === 0)
    fail(`${tool} is on the stripped PATH`);

const project = path.join(work, 'project');
mkdirSync(project);
writeFileSync(
  path.join(project, 'package.json'),
  `${JSON.stringify({ name: 'empty-project', version: '1.0.0', private: true }, null, 2)}\n`,
);
const t0 = performance.now();
const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', main, cpu.tarball], {
  cwd: project,
  env,
  encoding: 'utf8',
});
const installSeconds = (performance.now() - t0) / 1000;
const installLog = `${install.stdout}\n${install.stderr}`;
if (install.status !== 0) fail(`npm install failed:\n${installLog}`);
if (/script/i.test(installLog)) fail(`npm install mentioned scripts:\n${installLog}`);
const installed = readdirSync(path.join(project, 'node_modules'));
for (const p of ['onnxruntime-node', 'cmake-js', 'node-addon-api'])
  if (installed.includes(p)) fail(`${p} was installed`);
if (installSeconds >= 30) fail(`npm install took ${installSeconds.toFixed(1)} s (limit 30 s)`);

// 3. The addon comes from the platform package, and the demo passes.
const probe = spawnSync('node', ['-e', "console.log(JSON.stringify(require('p2sam-native').backends()))"], {
  cwd: project,
  env,
  encoding: 'utf8',
});
if (probe.status !== 0) fail(`backends() failed:\n${probe.stderr}`);
const backends = JSON.parse(probe.stdout);
if (!backends.addon.includes(`${path.sep}node_modules${path.sep}p2sam-native-linux-x64-gnu${path.sep}`))
  fail(`addon loaded from ${backends.addon}`);
const t1 = performance.now();
const demo = spawnSync('npx', ['p2sam', 'demo', '--out', 'demo', '--json', '--quiet'], {
  cwd: project,
  env,
  encoding: 'utf8',
  timeout: 300_000,
});
if (demo.status !== 0) fail(`npx p2sam demo exited ${demo.status}:\n${demo.stdout}\n${demo.stderr}`);
const result = JSON.parse(demo.stdout);
if (!result.passed) fail(`demo did not pass: mean Dice ${result.meanDice}`);
// Measured before the CUDA variant is added.
const du = spawnSync('du', ['-sm', path.join(project, 'node_modules')], { encoding: 'utf8' }).stdout.split(
  '\t',
)[0];
// 4. The CUDA variant, added by hand as the README says, is preferred with P2SAM_VARIANT=cuda
// (on a machine with an NVIDIA driver without it) and carries the kernels.
let cudaVariant = 'not built';
const cuda = packages.find((p) => p.variant === 'cuda');
if (cuda) {
  const add = spawnSync('npm', ['install', '--no-audit', '--no-fund', cuda.tarball], {
    cwd: project,
    env,
    encoding: 'utf8',
  });
  if (add.status !== 0 || /script/i.test(`${add.stdout}${add.stderr}`))
    fail(`installing the CUDA variant:\n${add.stdout}\n${add.stderr}`);
  const js =
    "const b = require('p2sam-native').backends(); console.log(JSON.stringify({ addon: b.addon, compiled: b.cuda.kernelsCompiled }))";
  const r = spawnSync('node', ['-e', js], {
    cwd: project,
    env: { ...env, P2SAM_VARIANT: 'cuda' },
    encoding: 'utf8',
  });
  if (r.status !== 0) fail(`the CUDA variant did not load:\n${r.stderr}`);
  const got = JSON.parse(r.stdout);
  if (!got.addon.includes(`${path.sep}p2sam-native-linux-x64-gnu-cuda${path.sep}`) || !got.compiled)
    fail(`CUDA variant: ${r.stdout}`);
  cudaVariant = 'loaded with P2SAM_VARIANT=cuda, kernels compiled in';
}
console.log(
  JSON.stringify({
    installSeconds: Math.round(installSeconds * 10) / 10,
    nodeModulesMiB: Number(du),
    packages: installed.length,
    addon: backends.addon,
    demoSeconds: Math.round((performance.now() - t1) / 100) / 10,
    demoMeanDice: result.meanDice,
    cudaVariant,
    tarballs: [main, ...packages.map((p) => p.tarball)].map((t) => path.basename(t)),
  }),
);
