/**
 * Shared pieces of the clinical tests: where the real DICOM files are, the independent
 * validators (dciodvfy from dicom3tools, pydicom under /usr/bin/python3, DCMTK's codecs)
 * — each fails the test loudly when missing, since .ci/run installs them — and random
 * masks with the shapes that break contour writers (holes, islands, single pixels,
 * empty slices).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { MaskVolume } from '../lib/clinical';
import { mulberry32 } from '../lib/testkit/prng';

const ROOT = path.resolve(__dirname, '..');

/** shared/data/dicom beside the checkout (CI, main) or one level up (a worktree). */
export const DICOM_DATA =
  [path.resolve(ROOT, '../shared/data/dicom'), path.resolve(ROOT, '../../shared/data/dicom')].find((p) =>
    existsSync(p),
  ) ?? path.resolve(ROOT, '../shared/data/dicom');

export function clinicalTemp(tag: string): string {
  return mkdtempSync(path.join(tmpdir(), `p2sam-clinical-${tag}-`));
}

function requireTool(cmd: string, hint: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`]);
  if (r.status !== 0) throw new Error(`${cmd} is not installed: install ${hint} (.ci/run does)`);
}

/** dciodvfy's findings: lines starting "Error" and "Warning". */
export function dciodvfy(file: string): { errors: string[]; warnings: string[] } {
  requireTool('dciodvfy', 'the Debian package dicom3tools');
  const r = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
  const lines = `${r.stdout}\n${r.stderr}`.split('\n');
  return { errors: lines.filter((l) => /^Error/.test(l)), warnings: lines.filter((l) => /^Warning/.test(l)) };
}

/** Runs a Python snippet with pydicom (Debian python3-pydicom) and parses its JSON output. */
export function pydicom(script: string, args: string[]): unknown {
  if (!existsSync('/usr/bin/python3'))
    throw new Error('/usr/bin/python3 is missing: install python3-pydicom (.ci/run does)');
  const out = execFileSync(
    '/usr/bin/python3',
    ['-c', `import json, sys\nimport pydicom\n${script}`, ...args],
    { encoding: 'utf8' },
  );
  return JSON.parse(out);
}

/** Runs a DCMTK tool (dcmcrle, dcmcjpls, dcmcjpeg, dcmdjpeg). */
export function dcmtk(tool: string, args: string[]): void {
  requireTool(tool, 'the Debian package dcmtk');
  execFileSync(tool, args, { stdio: 'pipe' });
}

/**
 * A random mask: per slice either empty, blobs with holes (a ring), islands inside holes,
 * single pixels, diagonal-touching pixels, shapes touching the border, or noise.
 */
export function randomMask(columns: number, rows: number, slices: number, seed: number): MaskVolume {
  const rnd = mulberry32(seed);
  const data = new Uint8Array(columns * rows * slices);
  for (let k = 0; k < slices; k++) {
    const base = k * columns * rows;
    const set = (c: number, r: number, v = 1) => {
      if (c >= 0 && r >= 0 && c < columns && r < rows) data[base + r * columns + c] = v;
    };
    const kind = k % 5;
    if (kind === 0) continue; // empty slice
    if (kind === 1 || kind === 4) {
      // ring with an island inside its hole, plus one-pixel dots
      const cx = columns * (0.3 + 0.4 * rnd());
      const cy = rows * (0.3 + 0.4 * rnd());
      const R = Math.min(columns, rows) * (0.2 + 0.1 * rnd());
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < columns; c++) {
          const d = Math.hypot(c - cx, r - cy);
          if ((d <= R && d > R * 0.6) || d < R * 0.25) set(c, r);
        }
      for (let i = 0; i < 4; i++) set(Math.floor(rnd() * columns), Math.floor(rnd() * rows));
      set(0, 0);
      set(columns - 1, rows - 1);
    }
    if (kind === 2) {
      // checkerboard patch: every pixel touches its neighbours only diagonally
      const c0 = Math.floor(rnd() * (columns - 8));
      const r0 = Math.floor(rnd() * (rows - 8));
      for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) if ((r + c) % 2 === 0) set(c0 + c, r0 + r);
    }
    if (kind === 3 || kind === 4) {
      for (let i = 0; i < columns * rows; i++) if (rnd() < 0.15) data[base + i] = 1;
    }
  }
  return { columns, rows, slices, data };
}

export function sameVoxels(a: MaskVolume, b: MaskVolume): { equal: boolean; differing: number } {
  let differing = 0;
  for (let i = 0; i < a.data.length; i++) if ((a.data[i] !== 0) !== (b.data[i] !== 0)) differing++;
  return { equal: differing === 0 && a.data.length === b.data.length, differing };
}
