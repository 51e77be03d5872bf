/**
 * Finds the compiled addon (`p2sam.node`) and loads it, in this order:
 *
 * 1. `P2SAM_NATIVE_PATH`: exactly that file. When it is set but missing or unloadable
 *    the loader fails right there, naming it, instead of quietly falling back to
 *    another build (which would hide the mistake in the variable).
 * 2. A local build of this checkout or installed copy: `build/Release` (cmake-js,
 *    `npm run build:native`), then `build-gyp/Release` (node-gyp).
 * 3. A prebuilt platform package installed beside this one (npm's optional
 *    dependencies, picked by npm from their os/cpu/libc fields):
 *    `p2sam-native-<platform>-<arch>-<libc>[-cuda]`, holding `p2sam.node` with the exact
 *    ONNX Runtime library next to it. The CUDA variant is tried first when this
 *    machine shows an NVIDIA driver (or `P2SAM_VARIANT=cuda`); `P2SAM_VARIANT=cpu`
 *    skips it. A package whose version differs from this package's is refused: the
 *    JS ↔ addon interface is only guaranteed within one version.
 *
 * Inside an Electron app packed with asar, `__dirname` points into `app.asar`, which
 * dlopen() cannot read; native files are unpacked by the packager into
 * `app.asar.unpacked` (see docs/electron.md), so every path is rewritten there first.
 *
 * When nothing loads, the error lists what was tried and why each failed, followed by
 * the possible solutions.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { P2SamError } from './errors';

export const PLATFORM_PACKAGE_PREFIX = 'p2sam-native-';

/**
 * What an Electron packager must leave outside app.asar (docs/electron.md): the platform
 * packages (p2sam.node + libonnxruntime.so.1 + their package.json, which the version
 * check reads) and a local build. As electron-builder `asarUnpack` file globs:
 */
export const ELECTRON_ASAR_UNPACK: readonly string[] = [
  '**/node_modules/p2sam-native-*/**',
  '**/node_modules/p2sam-native/build/Release/**',
];
/** The same as one folder glob, for @electron/asar's `unpackDir` (and Electron Forge's `asar.unpackDir`). */
export const ELECTRON_UNPACK_DIR_GLOB =
  '{**/node_modules/p2sam-native-*,**/node_modules/p2sam-native/build/Release}';

/** `app.asar/…` → `app.asar.unpacked/…` (either separator); other paths unchanged. */
export function unpackedPath(file: string): string {
  return file.replace(/([\\/])app\.asar([\\/])/g, '$1app.asar.unpacked$2');
}

/** 'gnu' or 'musl' on Linux (glibc reports its version in process.report), '' elsewhere. */
export function libcFamily(): '' | 'gnu' | 'musl' {
  if (process.platform !== 'linux') return '';
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
    ?.header;
  return header?.glibcVersionRuntime ? 'gnu' : 'musl';
}

/** Whether this machine looks able to run the CUDA variant (an NVIDIA kernel driver is loaded). */
function nvidiaDriverPresent(): boolean {
  return existsSync('/proc/driver/nvidia/version') || existsSync('/dev/nvidiactl');
}

/** Platform package names for this machine, the preferred one first. */
export function platformPackageNames(env: NodeJS.ProcessEnv = process.env): string[] {
  const libc = libcFamily();
  const base = `${PLATFORM_PACKAGE_PREFIX}${process.platform}-${process.arch}${libc ? `-${libc}` : ''}`;
  const variant = env.P2SAM_VARIANT;
  if (variant === 'cpu') return [base];
  if (variant === 'cuda' || nvidiaDriverPresent()) return [`${base}-cuda`, base];
  return [base];
}

/** The folders Node would search for a package required from `dir` (dir/node_modules, then upwards). */
function nodeModulesDirs(dir: string): string[] {
  const out: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (path.basename(d) !== 'node_modules') out.push(path.join(d, 'node_modules'));
    if (path.dirname(d) === d) return out;
  }
}

export interface AddonCandidate {
  file: string;
  /** 'P2SAM_NATIVE_PATH', 'local build', or the platform package's name. */
  source: string;
  /** Set when the candidate is known unusable before loading (missing, wrong version). */
  problem?: string;
}

/**
 * Every place the addon may be, in load order, with the reason a place is unusable.
 * `packageRoot` is this package's folder (the one holding its package.json).
 */
export function addonCandidates(
  packageRoot: string,
  env: NodeJS.ProcessEnv = process.env,
  version: string = packageVersionAt(packageRoot),
): AddonCandidate[] {
  if (env.P2SAM_NATIVE_PATH) {
    const file = unpackedPath(path.resolve(env.P2SAM_NATIVE_PATH));
    return [{ file, source: 'P2SAM_NATIVE_PATH', ...(existsSync(file) ? {} : { problem: 'no such file' }) }];
  }
  const list: AddonCandidate[] = [];
  for (const sub of ['build', 'build-gyp']) {
    const file = unpackedPath(path.join(packageRoot, sub, 'Release', 'p2sam.node'));
    list.push({ file, source: 'local build', ...(existsSync(file) ? {} : { problem: 'not built' }) });
  }
  for (const name of platformPackageNames(env)) {
    const dir = nodeModulesDirs(packageRoot)
      .map((nm) => unpackedPath(path.join(nm, name)))
      .find((d) => existsSync(path.join(d, 'package.json')));
    if (!dir) {
      list.push({ file: name, source: name, problem: 'not installed' });
      continue;
    }
    const file = path.join(dir, 'p2sam.node');
    const found = packageVersionAt(dir);
    const problem = !existsSync(file)
      ? 'installed without p2sam.node'
      : found !== version
        ? `version ${found}, but p2sam-native is ${version}`
        : undefined;
    list.push({ file, source: name, ...(problem ? { problem } : {}) });
  }
  return list;
}

function packageVersionAt(dir: string): string {
  try {
    return (
      (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string }).version ??
      'unknown'
    );
  } catch {
    return 'unknown';
  }
}

/**
 * Loads the first usable candidate. `version` is this package's (read from its
 * package.json, inside app.asar under Electron, whose fs can read the archive).
 *
 * @throws P2SamError INTERNAL with every candidate tried and the possible solutions.
 * @example
 *   const { addon, file } = loadAddonFrom('/app/node_modules/p2sam-native');
 */
export function loadAddonFrom<T>(
  packageRoot: string,
  env: NodeJS.ProcessEnv = process.env,
  version: string = packageVersionAt(packageRoot),
): { addon: T; file: string; source: string } {
  const tried: string[] = [];
  for (const c of addonCandidates(packageRoot, env, version)) {
    if (c.problem) {
      tried.push(`${c.source}: ${c.file === c.source ? '' : `${c.file} `}(${c.problem})`);
      if (c.source === 'P2SAM_NATIVE_PATH') break;
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return { addon: require(c.file) as T, file: c.file, source: c.source };
    } catch (err) {
      tried.push(`${c.source}: ${c.file} (${(err as Error).message.split('\n')[0]})`);
      if (c.source === 'P2SAM_NATIVE_PATH') break;
    }
  }
  const explicit = Boolean(env.P2SAM_NATIVE_PATH);
  const solutions = explicit
    ? [`point P2SAM_NATIVE_PATH at an existing p2sam.node, or unset it to use the installed build`]
    : [
        `reinstall without omitting optional dependencies (npm install --include=optional): the prebuilt ` +
          `package ${platformPackageNames(env).at(-1)} carries the addon for ${process.platform}-${process.arch}`,
        `prebuilt packages exist for linux-x64 (glibc) only; elsewhere build from source: ` +
          `'npm install --no-save cmake-js@8.0.0 node-addon-api@8.9.2 onnxruntime-node@1.30.0 && npm run build:native' ` +
          `inside node_modules/p2sam-native (needs a C++17 compiler and CMake ≥ 3.18; CONTRIBUTING.md)`,
        `in an Electron app, unpack the native files from the asar archive (docs/electron.md)`,
        `or set P2SAM_NATIVE_PATH to a p2sam.node you built`,
      ];
  throw new P2SamError(
    'INTERNAL',
    `the p2sam native addon could not be loaded for ${process.platform}-${process.arch}${libcFamily() ? `-${libcFamily()}` : ''}, Node ${process.versions.node}.\n` +
      `Tried:\n${tried.map((t) => `  - ${t}`).join('\n')}\nPossible solutions:\n${solutions.map((s) => `  - ${s}`).join('\n')}`,
  );
}
