/**
 * `p2sam inspect` on clinical files and `p2sam convert` around the format circle
 * RTSTRUCT → SEG → NIfTI → PNG slices → RTSTRUCT, checked voxel for voxel against the
 * phantom's ground truth, plus the exit codes of bad conversions.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clinical } from '../lib';
import { ensureBuilt, runCli } from './cli-helpers';
import { clinicalTemp, dciodvfy, DICOM_DATA, sameVoxels } from './clinical-helpers';

let work: string;
let phantom: clinical.Phantom;

beforeAll(() => {
  ensureBuilt();
  work = clinicalTemp('cli');
  phantom = clinical.writePhantomSeries(path.join(work, 'ct'), {
    columns: 30,
    rows: 26,
    slices: 6,
    seed: 'cli',
  });
  clinical.writeRtstruct(path.join(work, 'rs.dcm'), phantom.volume, [
    { name: 'Lungs', mask: phantom.masks.lungs },
    { name: 'Tumour', mask: phantom.masks.tumour, interpretedType: 'GTV' },
  ]);
  clinical.writeDicomSeg(path.join(work, 'body-seg.dcm'), phantom.volume, [
    { label: 'Body', mask: phantom.masks.body },
  ]);
  clinical.writeNifti(path.join(work, 'body.nii.gz'), phantom.masks.body, phantom.volume);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('p2sam inspect (clinical)', () => {
  it('reports series geometry, ROIs, segments and NIfTI grids', async () => {
    const pyd = path.join(DICOM_DATA, 'pydicom');
    const r = await runCli([
      'inspect',
      path.join(pyd, 'CT5N'),
      path.join(pyd, 'rtstruct.dcm'),
      path.join(work, 'rs.dcm'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('grid 16×16×5');
    expect(r.stdout).toContain('slice gaps 2.500–2.500 mm');
    expect(r.stdout).toMatch(/ROI 2 "Isocenter 1": 1 contour\(s\) POINT/);
    expect(r.stdout).toMatch(/ROI 2 "Tumour": \d+ contour\(s\) CLOSED_PLANAR, GTV, AUTOMATIC/);
    const more = await runCli(['inspect', path.join(work, 'body-seg.dcm'), path.join(work, 'body.nii.gz')]);
    expect(more.code).toBe(0);
    expect(more.stdout).toContain('SEG BINARY, 30×26, 6 frame(s)');
    expect(more.stdout).toContain('segment 1 "Body": 6 frame(s), AUTOMATIC');
    expect(more.stdout).toMatch(/body.nii.gz: NIfTI\n {2}grid 30×26×6/);
    const j = await runCli(['inspect', '--json', path.join(pyd, 'CT2')]);
    const entry = JSON.parse(j.stdout.trim().split('\n')[0]!) as { slices: number; warnings: string[] };
    expect(entry.slices).toBe(4);
    expect(entry.warnings[0]).toMatch(/slices may be missing/);
    const bad = await runCli(['inspect', path.join(pyd, 'MR_truncated.dcm')]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/MR_truncated.dcm.*truncated.*\[DICOM_READ_FAILED\]/);
  });
});

describe('p2sam convert', () => {
  it('goes RTSTRUCT → SEG → NIfTI → PNG → RTSTRUCT without changing a voxel', async () => {
    const ct = path.join(work, 'ct');
    const steps: string[][] = [
      [path.join(work, 'rs.dcm'), '--roi', 'Tumour', '--to', path.join(work, 'seg.dcm'), '--format', 'seg'],
      [path.join(work, 'seg.dcm'), '--to', path.join(work, 'tumour.nii.gz')],
      [path.join(work, 'tumour.nii.gz'), '--label', '1', '--to', path.join(work, 'png'), '--format', 'png'],
      [
        path.join(work, 'png'),
        '--name',
        'Tumour',
        '--to',
        path.join(work, 'rs2.dcm'),
        '--format',
        'rtstruct',
        '--convention',
        'voxel-edges',
      ],
    ];
    for (const args of steps) {
      const r = await runCli(['convert', ...args, '--reference', ct]);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
    }
    expect(readdirSync(path.join(work, 'png')).length).toBe(6);
    for (const f of ['seg.dcm', 'rs2.dcm']) expect(dciodvfy(path.join(work, f)).errors).toEqual([]);
    const back = clinical.readRtstruct(path.join(work, 'rs2.dcm'), phantom.volume, { roi: 'Tumour' });
    expect(sameVoxels(back, phantom.masks.tumour)).toEqual({ equal: true, differing: 0 });
  });

  it('exits 2 for a missing or unknown ROI and a missing output format, and writes nothing', async () => {
    const noRoi = await runCli([
      'convert',
      path.join(work, 'rs.dcm'),
      '--reference',
      path.join(work, 'ct'),
      '--to',
      path.join(work, 'x.nii'),
    ]);
    expect(noRoi.code).toBe(2);
    expect(noRoi.stderr).toMatch(/choose the ROI with --roi/);
    const wrongRoi = await runCli([
      'convert',
      path.join(work, 'rs.dcm'),
      '--roi',
      'GTV',
      '--reference',
      path.join(work, 'ct'),
      '--to',
      path.join(work, 'x.nii'),
    ]);
    expect(wrongRoi.code).toBe(2); // the ROI name typed is not in the file: fix the command line
    expect(wrongRoi.stderr).toMatch(/ROIs present: 1 "Lungs", 2 "Tumour" \[RTSTRUCT_ROI_NOT_FOUND\]/);
    expect(existsSync(path.join(work, 'x.nii'))).toBe(false);
    const noFormat = await runCli([
      'convert',
      path.join(work, 'rs.dcm'),
      '--roi',
      '1',
      '--reference',
      path.join(work, 'ct'),
      '--to',
      path.join(work, 'out.dcm'),
    ]);
    expect(noFormat.code).toBe(2);
  });
});
