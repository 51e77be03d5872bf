/**
 * An Electron-style package, checked as far as a machine without Electron allows: a tiny
 * app (examples/electron-app's layout) is packed with @electron/asar 3.4.0 using the
 * asarUnpack globs docs/electron.md gives, and
 * - the native files land in app.asar.unpacked while the JavaScript stays in the archive;
 * - the loader, handed paths inside app.asar (as __dirname is under Electron), finds the
 *   addon in app.asar.unpacked, both through the platform package and through an
 *   app.asar path in P2SAM_NATIVE_PATH — and that addon runs a real inference.
 * Reading files out of the archive (the JavaScript, the main package.json the version
 * check compares with) is Electron's own fs patch and is not tested: the test hands the
 * loader the version Electron's fs would read there.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createPackageWithOptions, listPackage } from '@electron/asar';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeFile } from '../lib/native';
import { ELECTRON_UNPACK_DIR_GLOB } from '../lib/native-loader';
import { ensureBuilt, ROOT, tempDir } from './cli-helpers';

const PLATFORM = 'p2sam-native-linux-x64-gnu';
let out: string;
const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

beforeAll(async () => {
  ensureBuilt();
  const work = tempDir('asar');
  const app = path.join(work, 'app');
  // The app: its own main.js, the package's compiled JS, and the platform package
  // (p2sam.node + libonnxruntime.so.1 + package.json) as npm would lay them out.
  mkdirSync(path.join(app, 'node_modules', 'p2sam-native'), { recursive: true });
  cpSync(path.join(ROOT, 'examples', 'electron-app', 'main.js'), path.join(app, 'main.js'));
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'tiny', version: '1.0.0', main: 'main.js' }),
  );
  cpSync(path.join(ROOT, 'dist', 'lib'), path.join(app, 'node_modules', 'p2sam-native', 'dist', 'lib'), {
    recursive: true,
  });
  cpSync(path.join(ROOT, 'package.json'), path.join(app, 'node_modules', 'p2sam-native', 'package.json'));
  const staged = spawnSync(
    process.execPath,
    [
      path.join(ROOT, 'scripts', 'pack-platform-packages.mjs'),
      '--out',
      path.join(work, 'pk'),
      '--variants',
      'cpu',
      '--stage-only',
      '--cpu-build',
      path.dirname(nativeFile()),
    ],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  if (staged.status !== 0) throw new Error(`staging the platform package failed:\n${staged.stderr}`);
  cpSync(path.join(work, 'pk', 'stage', PLATFORM), path.join(app, 'node_modules', PLATFORM), {
    recursive: true,
  });
  out = path.join(work, 'dist');
  mkdirSync(out);
  await createPackageWithOptions(app, path.join(out, 'app.asar'), { unpackDir: ELECTRON_UNPACK_DIR_GLOB });
}, 300_000);

describe('an app packed with @electron/asar and the documented unpack globs', () => {
  it('unpacks the platform package and keeps the JavaScript in the archive', () => {
    const inArchive = listPackage(path.join(out, 'app.asar'), { isPack: false }).map((p) =>
      p.split(path.sep).join('/'),
    );
    expect(inArchive).toContain('/node_modules/p2sam-native/dist/lib/index.js');
    expect(inArchive).toContain('/main.js');
    const unpacked = path.join(out, 'app.asar.unpacked', 'node_modules');
    for (const f of ['p2sam.node', 'libonnxruntime.so.1', 'package.json'])
      expect(existsSync(path.join(unpacked, PLATFORM, f)), f).toBe(true);
    expect(existsSync(path.join(unpacked, 'p2sam-native', 'dist'))).toBe(false);
  });

  it('the loader, given app.asar paths, loads the addon from app.asar.unpacked', () => {
    const asarRoot = path.join(out, 'app.asar', 'node_modules', 'p2sam-native');
    const js = `
      const { loadAddonFrom } = require(${JSON.stringify(path.join(ROOT, 'dist', 'lib', 'native-loader.js'))});
      const r = loadAddonFrom(${JSON.stringify(asarRoot)}, process.env, ${JSON.stringify(version)});
      console.log(JSON.stringify({ file: r.file, source: r.source, ort: r.addon.backends().ortVersion }));`;
    const env: NodeJS.ProcessEnv = { ...process.env, P2SAM_VARIANT: 'cpu' };
    delete env.P2SAM_NATIVE_PATH;
    const r = spawnSync(process.execPath, ['-e', js], { encoding: 'utf8', env });
    expect(r.stderr).toBe('');
    const got = JSON.parse(r.stdout) as { file: string; source: string; ort: string };
    expect(got.file).toBe(path.join(out, 'app.asar.unpacked', 'node_modules', PLATFORM, 'p2sam.node'));
    expect(got.source).toBe(PLATFORM);
    expect(got.ort).toMatch(/^1\.30\./);
  });

  it('an app.asar path in P2SAM_NATIVE_PATH is rewritten too, and that addon segments', () => {
    const env = {
      ...process.env,
      P2SAM_NATIVE_PATH: path.join(out, 'app.asar', 'node_modules', PLATFORM, 'p2sam.node'),
    };
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'smoke.mjs')], {
      encoding: 'utf8',
      env,
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `addon ${path.join(out, 'app.asar.unpacked', 'node_modules', PLATFORM, 'p2sam.node')}`,
    );
    expect(r.stdout).toContain('smoke test passed');
  });

  it('a platform package of another version is refused, with the reason and the possible solutions', () => {
    const fake = tempDir('asar-version');
    const nm = path.join(fake, 'node_modules');
    mkdirSync(path.join(nm, 'p2sam-native'), { recursive: true });
    writeFileSync(
      path.join(nm, 'p2sam-native', 'package.json'),
      JSON.stringify({ name: 'p2sam-native', version }),
    );
    cpSync(path.join(out, 'app.asar.unpacked', 'node_modules', PLATFORM), path.join(nm, PLATFORM), {
      recursive: true,
    });
    const manifest = path.join(nm, PLATFORM, 'package.json');
    writeFileSync(
      manifest,
      JSON.stringify({ ...JSON.parse(readFileSync(manifest, 'utf8')), version: '0.0.1' }),
    );
    const js = `
      const { loadAddonFrom } = require(${JSON.stringify(path.join(ROOT, 'dist', 'lib', 'native-loader.js'))});
      try { loadAddonFrom(${JSON.stringify(path.join(nm, 'p2sam-native'))}); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
    const env: NodeJS.ProcessEnv = { ...process.env, P2SAM_VARIANT: 'cpu' };
    delete env.P2SAM_NATIVE_PATH;
    const r = spawnSync(process.execPath, ['-e', js], { encoding: 'utf8', env });
    const e = JSON.parse(r.stdout) as { code: string; message: string };
    expect(e.code).toBe('INTERNAL');
    expect(e.message).toContain(
      `${PLATFORM}: ${path.join(nm, PLATFORM, 'p2sam.node')} (version 0.0.1, but p2sam-native is ${version})`,
    );
    expect(e.message).toContain('Possible solutions:');
    expect(e.message).toContain('npm run build:native');
  });

  it('a missing P2SAM_NATIVE_PATH fails loudly instead of falling back', () => {
    const missing = path.join(tempDir('asar-missing'), 'nowhere', 'p2sam.node');
    const js = `const { native } = require(${JSON.stringify(path.join(ROOT, 'dist', 'lib', 'native.js'))});
      try { native(); console.log('ADDON-LOADED'); } catch (e) { console.log(e.message); }`;
    const r = spawnSync(process.execPath, ['-e', js], {
      encoding: 'utf8',
      env: { ...process.env, P2SAM_NATIVE_PATH: missing },
    });
    expect(r.stdout).toContain(`P2SAM_NATIVE_PATH: ${missing} (no such file)`);
    expect(r.stdout).toContain('point P2SAM_NATIVE_PATH at an existing p2sam.node');
    expect(r.stdout).not.toContain('ADDON-LOADED');
  });
});
