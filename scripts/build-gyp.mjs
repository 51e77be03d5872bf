#!/usr/bin/env node
// Builds the node-gyp (CPU-only) variant in isolation, in build-gyp/, so it can sit next
// to the cmake-js build and both can be tested: node-gyp always writes to ./build, so we
// build from a staging copy of the sources. The product is build-gyp/Release/p2sam.node.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'build-gyp');
const stage = path.join(out, 'stage');
const run = (cmd, args, cwd) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

run('bash', [path.join(root, 'scripts/fetch-ort-headers.sh')], root);
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
for (const p of ['binding.gyp', 'native', 'scripts', 'deps', 'package.json'])
  cpSync(path.join(root, p), path.join(stage, p), { recursive: true });
symlinkSync(path.join(root, 'node_modules'), path.join(stage, 'node_modules'));
const gyp = path.join(
  path.dirname(process.execPath),
  '..',
  'lib',
  'node_modules',
  'npm',
  'node_modules',
  'node-gyp',
  'bin',
  'node-gyp.js',
);
// --nodedir=/usr: use the installed Node headers instead of downloading them (offline).
run(
  process.execPath,
  [gyp, 'rebuild', `--nodedir=${process.env.npm_config_nodedir || '/usr'}`, '-j', '2'],
  stage,
);
rmSync(path.join(out, 'Release'), { recursive: true, force: true });
cpSync(path.join(stage, 'build', 'Release'), path.join(out, 'Release'), { recursive: true });
console.log(`node-gyp variant built: ${path.join(out, 'Release', 'p2sam.node')}`);
