/**
 * Turning command-line target arguments into a list of image files, naming each target's
 * outputs, and choosing output paths that cannot overwrite inputs or escape the output
 * folder.
 *
 * Rules for `expandTargets`:
 * - An argument naming an existing file is kept exactly as given, whatever its extension
 *   (the user asked for it explicitly; the decoder will say if it is not an image).
 * - An existing directory contributes the image files directly inside it (not
 *   recursively), selected by extension, case-insensitively.
 * - Otherwise an argument containing `*` or `?` is a glob: `*` and `?` match within one
 *   path segment, a `**` segment matches zero or more directories. Matches are files
 *   with an image extension. No braces, character classes or escapes.
 * - Names starting with '.' (hidden files, macOS `._name` resource forks) are skipped in
 *   directories and by wildcards, unless the pattern segment itself starts with '.'.
 * - Each argument's own matches are sorted naturally; arguments keep their order; a file
 *   reached twice is listed once, at its first position.
 * - An argument that yields nothing is an error naming it.
 */
import { promises as fsp, realpathSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { P2SamError } from '../errors';

export const DEFAULT_IMAGE_EXTENSIONS: readonly string[] = [
  '.png',
  '.jpg',
  '.jpeg',
  '.tif',
  '.tiff',
  '.webp',
];

export interface ExpandTargetsOptions {
  /** Extensions (with or without the dot, any case) that count as images. */
  extensions?: string[];
  /** Told about files of a directory left out because they look like masks (looksLikeMaskFile). */
  onSkipped?: (files: string[]) => void;
}

/**
 * Natural order: runs of digits compare by numeric value (`frame2` < `frame10`), the
 * rest case-insensitively. Ties are broken so the order is total and stable across
 * platforms: fewer leading zeros first (`1` < `01`), then plain code-unit order.
 */
export function naturalCompare(a: string, b: string): number {
  const ta = tokenize(a);
  const tb = tokenize(b);
  const n = Math.min(ta.length, tb.length);
  let zeroTie = 0;
  for (let i = 0; i < n; i++) {
    const x = ta[i]!;
    const y = tb[i]!;
    const xd = isDigit(x.charCodeAt(0));
    const yd = isDigit(y.charCodeAt(0));
    if (xd && yd) {
      // Compare as decimal strings so arbitrarily long digit runs (timestamps, hashes)
      // do not lose precision the way Number() would.
      const xs = x.replace(/^0+(?=\d)/, '');
      const ys = y.replace(/^0+(?=\d)/, '');
      if (xs.length !== ys.length) return xs.length - ys.length;
      if (xs !== ys) return xs < ys ? -1 : 1;
      if (zeroTie === 0 && x.length !== y.length) zeroTie = x.length - y.length;
    } else if (xd !== yd) {
      // Digits sort before letters, as in most file managers.
      return xd ? -1 : 1;
    } else {
      const xl = x.toLowerCase();
      const yl = y.toLowerCase();
      if (xl !== yl) return xl < yl ? -1 : 1;
    }
  }
  if (ta.length !== tb.length) return ta.length - tb.length;
  if (zeroTie !== 0) return zeroTie;
  return a < b ? -1 : a > b ? 1 : 0;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function tokenize(s: string): string[] {
  return s.match(/\d+|\D+/g) ?? [];
}

function normaliseExtensions(exts: unknown): Set<string> {
  if (exts === undefined) return new Set(DEFAULT_IMAGE_EXTENSIONS);
  if (
    !Array.isArray(exts) ||
    exts.length === 0 ||
    exts.some((e) => typeof e !== 'string' || e.replace(/^\./, '').length === 0)
  ) {
    throw new TypeError(
      `options.extensions: expected a non-empty array of extensions like ".png", received ${JSON.stringify(exts)}`,
    );
  }
  return new Set(exts.map((e: string) => (e.startsWith('.') ? e : `.${e}`).toLowerCase()));
}

const hasWildcard = (s: string): boolean => /[*?]/.test(s);

/** Converts one path segment pattern (`*`, `?`, literals) to an anchored RegExp. */
function segmentRegExp(seg: string): RegExp {
  let re = '^';
  for (const ch of seg) {
    if (ch === '*') re += '[^/\\\\]*';
    else if (ch === '?') re += '[^/\\\\]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`${re}$`, process.platform === 'win32' ? 'i' : '');
}

async function readDirSafe(dir: string): Promise<import('node:fs').Dirent[]> {
  try {
    return await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    // A directory that vanished or is unreadable just contributes nothing; the
    // "matches nothing" error then names the argument.
    return [];
  }
}

/** Follows symlinks: a link to a file is a file, a link to a folder is a folder. */
async function kindOf(p: string, d?: import('node:fs').Dirent): Promise<'file' | 'dir' | 'other'> {
  if (d && !d.isSymbolicLink()) return d.isFile() ? 'file' : d.isDirectory() ? 'dir' : 'other';
  try {
    const st = await fsp.stat(p);
    return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
  } catch {
    return 'other';
  }
}

function hasExtension(name: string, exts: Set<string>): boolean {
  return exts.has(path.extname(name).toLowerCase());
}

async function listDirectory(dir: string, exts: Set<string>): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readDirSafe(dir)) {
    if (d.name.startsWith('.') || !hasExtension(d.name, exts)) continue;
    const full = path.join(dir, d.name);
    if ((await kindOf(full, d)) === 'file') out.push(full);
  }
  return out.sort((a, b) => naturalCompare(path.basename(a), path.basename(b)));
}

async function expandGlob(pattern: string, exts: Set<string>): Promise<string[]> {
  const sepRe = process.platform === 'win32' ? /[\\/]+/ : /\/+/;
  const absolute = path.isAbsolute(pattern);
  const root = absolute ? path.parse(pattern).root : '';
  const segs = pattern
    .slice(root.length)
    .split(sepRe)
    .filter((s) => s.length > 0 && s !== '.');
  // The literal prefix is walked as-is; only segments from the first wildcard on are
  // matched against directory listings.
  let i = 0;
  let base = root;
  while (i < segs.length && !hasWildcard(segs[i]!)) {
    base = base === '' ? segs[i]! : path.join(base, segs[i]!);
    i++;
  }
  const rest = segs.slice(i);
  const results: string[] = [];
  // Guards `**` against symlink loops: a real directory is descended into once per
  // remaining-pattern position.
  const seen = new Set<string>();

  const walk = async (dir: string, k: number): Promise<void> => {
    const key = `${k}\0${safeRealpath(dir || '.')}`;
    if (seen.has(key)) return;
    seen.add(key);
    const seg = rest[k]!;
    const last = k === rest.length - 1;
    if (seg === '**') {
      // Zero directories: try the rest of the pattern right here.
      if (last) {
        // A trailing `**` means "every image file below".
        for (const d of await readDirSafe(dir || '.')) {
          if (d.name.startsWith('.')) continue;
          const full = dir === '' ? d.name : path.join(dir, d.name);
          const kind = await kindOf(full, d);
          if (kind === 'file' && hasExtension(d.name, exts)) results.push(full);
          else if (kind === 'dir') await walk(full, k);
        }
        return;
      }
      await walk(dir, k + 1);
      for (const d of await readDirSafe(dir || '.')) {
        if (d.name.startsWith('.')) continue;
        const full = dir === '' ? d.name : path.join(dir, d.name);
        if ((await kindOf(full, d)) === 'dir') await walk(full, k);
      }
      return;
    }
    if (!hasWildcard(seg)) {
      const full = dir === '' ? seg : path.join(dir, seg);
      const kind = await kindOf(full);
      if (last && kind === 'file' && hasExtension(seg, exts)) results.push(full);
      else if (!last && kind === 'dir') await walk(full, k + 1);
      return;
    }
    const re = segmentRegExp(seg);
    const showHidden = seg.startsWith('.');
    for (const d of await readDirSafe(dir || '.')) {
      if (d.name.startsWith('.') && !showHidden) continue;
      if (!re.test(d.name)) continue;
      const full = dir === '' ? d.name : path.join(dir, d.name);
      const kind = await kindOf(full, d);
      if (last) {
        if (kind === 'file' && hasExtension(d.name, exts)) results.push(full);
      } else if (kind === 'dir') {
        await walk(full, k + 1);
      }
    }
  };

  if ((await kindOf(base || '.')) === 'dir') await walk(base, 0);
  // Sort on the whole path, segment by segment, so `a/frame2` < `a/frame10` < `b/frame1`.
  return results.sort(comparePaths);
}

function comparePaths(a: string, b: string): number {
  const pa = a.split(/[\\/]/);
  const pb = b.split(/[\\/]/);
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const c = naturalCompare(pa[i]!, pb[i]!);
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

function safeRealpath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/**
 * Expands target arguments (files, directories, globs) into image file paths.
 * Paths are returned as the user spelled them (relative stays relative).
 *
 * @throws P2SamError `TARGET_NOT_FOUND` naming the first argument that yields no file.
 */
/** `<name>.mask.<ext>` and `<name>.overlay.<ext>`: what `p2sam segment` writes, and the usual ground-truth naming. */
export function looksLikeMaskFile(file: string): boolean {
  return /\.(mask|overlay)\.[^./\\]+$/i.test(path.basename(file));
}

export async function expandTargets(args: string[], opts: ExpandTargetsOptions = {}): Promise<string[]> {
  if (!Array.isArray(args)) throw new TypeError(`args: expected an array of paths, received ${typeof args}`);
  args.forEach((a, i) => {
    if (typeof a !== 'string' || a.length === 0) {
      throw new TypeError(`args[${i}]: expected a non-empty path string, received ${JSON.stringify(a)}`);
    }
  });
  const exts = normaliseExtensions(opts?.extensions);
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (p: string): void => {
    // Identity is the real file, so `./a.png`, `a.png` and a symlink to it are one target.
    const key = safeRealpath(p);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(p);
  };
  for (const arg of args) {
    // An existing path wins over glob interpretation, so a file literally named
    // `scan?.png` is still reachable.
    const kind = await kindOf(arg);
    let found: string[];
    if (kind === 'file') {
      found = [arg];
    } else if (kind === 'dir') {
      // A folder that holds masks next to its images (ground truth, or an earlier run's
      // output) must not have the masks segmented as targets.
      const listed = await listDirectory(arg, exts);
      found = listed.filter((f) => !looksLikeMaskFile(f));
      if (found.length < listed.length) opts.onSkipped?.(listed.filter(looksLikeMaskFile));
      if (found.length === 0) {
        throw new P2SamError(
          'TARGET_NOT_FOUND',
          `target ${JSON.stringify(arg)}: the directory contains no image files (${[...exts].join(', ')})`,
        );
      }
    } else if (hasWildcard(arg)) {
      found = await expandGlob(arg, exts);
      if (found.length === 0) {
        throw new P2SamError(
          'TARGET_NOT_FOUND',
          `target ${JSON.stringify(arg)}: the pattern matches no image files (${[...exts].join(', ')})`,
        );
      }
    } else {
      throw new P2SamError('TARGET_NOT_FOUND', `target ${JSON.stringify(arg)}: no such file or directory`);
    }
    for (const f of found) add(f);
  }
  return out;
}

/** Walks up to the nearest existing ancestor and re-attaches the missing tail. */
function realpathAllowMissing(p: string): string {
  const abs = path.resolve(p);
  const tail: string[] = [];
  let cur = abs;
  for (;;) {
    if (existsSync(cur)) {
      try {
        return path.join(realpathSync(cur), ...tail.reverse());
      } catch {
        return abs;
      }
    }
    const parent = path.dirname(cur);
    if (parent === cur) return abs;
    tail.push(path.basename(cur));
    cur = parent;
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel);
}

/**
 * Resolves `name` inside `outDir` and refuses results that would be written outside
 * it (`../x`, absolute names, or through a symlink inside `outDir` pointing elsewhere)
 * or onto one of the `inputs` (compared after resolving symlinks, so writing a mask
 * over its own source image is caught even when spelled differently).
 *
 * @returns the absolute output path.
 * @throws P2SamError `OUTPUT_PATH_REFUSED` naming the path and the reason.
 */
export function safeOutputPath(outDir: string, name: string, inputs: string[] = []): string {
  if (typeof outDir !== 'string' || outDir.length === 0) {
    throw new TypeError(`outDir: expected a non-empty path string, received ${JSON.stringify(outDir)}`);
  }
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError(`name: expected a non-empty file name, received ${JSON.stringify(name)}`);
  }
  if (!Array.isArray(inputs) || inputs.some((p) => typeof p !== 'string')) {
    throw new TypeError(`inputs: expected an array of path strings`);
  }
  if (name.includes('\0') || outDir.includes('\0')) {
    throw new P2SamError(
      'OUTPUT_PATH_REFUSED',
      `output name ${JSON.stringify(name)} contains a NUL character`,
    );
  }
  const dir = path.resolve(outDir);
  const target = path.resolve(dir, name);
  if (!isInside(target, dir)) {
    throw new P2SamError(
      'OUTPUT_PATH_REFUSED',
      `output ${JSON.stringify(name)} resolves to ${target}, which is outside the output directory ${dir}`,
    );
  }
  const realTarget = realpathAllowMissing(target);
  // Checked first: clobbering a source image is the more specific (and worse) mistake.
  for (const input of inputs) {
    if (realpathAllowMissing(input) === realTarget) {
      throw new P2SamError(
        'OUTPUT_PATH_REFUSED',
        `output ${target} would overwrite the input ${JSON.stringify(input)}`,
      );
    }
  }
  const realDir = realpathAllowMissing(dir);
  if (!isInside(realTarget, realDir)) {
    throw new P2SamError(
      'OUTPUT_PATH_REFUSED',
      `output ${JSON.stringify(name)} leads through a symbolic link to ${realTarget}, outside the output directory ${realDir}`,
    );
  }
  return target;
}

/**
 * Output base names for targets: the file name without its extension. Targets that share
 * one (compared case-insensitively, for case-insensitive file systems) are told apart
 * group by group: first by the fewest trailing folder names that make every label in the
 * group distinct (`a__frame1`, `b__frame1`), then, for files in the same folder, by their
 * extension too (`x_png`, `x_jpg`); whatever still collides (e.g. `X.png` and `x.png`)
 * gets the first counter in list order (`x-2`, `x-3`, …) that is no other target's name
 * — with `X.png`, `x.png` and `x-2.png` the second becomes `x-3`. Depends only on the
 * list, so reruns name files the same way. report.json maps each target to its files.
 */
export function outputNames(files: string[]): string[] {
  const abs = files.map((f) => path.resolve(f));
  const stems = abs.map((f) => path.basename(f, path.extname(f)) || path.basename(f));
  const exts = abs.map((f) => path.extname(f).slice(1) || 'noext');
  const dirs = abs.map((f) => path.dirname(f).split(path.sep).filter(Boolean));
  const key = (s: string) => s.toLowerCase();
  const out = [...stems];
  const groups = new Map<string, number[]>();
  stems.forEach((s, i) => {
    groups.set(key(s), [...(groups.get(key(s)) ?? []), i]);
  });
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    const deepest = Math.max(...group.map((i) => dirs[i]!.length));
    const label = (i: number, depth: number, withExt: boolean) =>
      [
        ...dirs[i]!.slice(Math.max(0, dirs[i]!.length - depth)),
        stems[i]! + (withExt ? `_${exts[i]}` : ''),
      ].join('__');
    search: for (const withExt of [false, true]) {
      for (let depth = withExt ? 0 : 1; depth <= deepest; depth++) {
        const labels = group.map((i) => label(i, depth, withExt));
        if (new Set(labels.map(key)).size === labels.length) {
          group.forEach((i, k) => {
            out[i] = labels[k]!;
          });
          break search;
        }
      }
    }
  }
  // Counters last, unique by construction: a generated `x-2` may not be any other
  // target's name (a real `x-2.png` keeps its own), nor a name already handed out.
  const wanted = new Set(out.map(key));
  const used = new Set<string>();
  return out.map((n) => {
    let name = n;
    for (let k = 2; used.has(key(name)); k++) {
      name = `${n}-${k}`;
      while (wanted.has(key(name)) && key(name) !== key(n)) name = `${n}-${++k}`;
    }
    used.add(key(name));
    return name;
  });
}
