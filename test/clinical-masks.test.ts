/**
 * Masks out and back: RTSTRUCT, SEG and NIfTI round trips on random masks (holes, islands
 * in holes, single pixels, diagonal contacts, border contacts, empty slices) on axial,
 * oblique and real (rt-utils oriented_data) geometry; every written object checked by
 * dciodvfy and read back by pydicom; real RTSTRUCTs from other software; bad inputs.
 */
import { mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clinical, P2SamError, type Volume } from '../lib';
import { clinicalTemp, dciodvfy, DICOM_DATA, pydicom, randomMask, sameVoxels } from './clinical-helpers';

let work: string;
beforeAll(() => {
  work = clinicalTemp('masks');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function errorOf(fn: () => unknown): P2SamError {
  try {
    fn();
  } catch (err) {
    if (err instanceof P2SamError) return err;
    throw err;
  }
  throw new Error('expected a P2SamError, nothing was thrown');
}

const PYDICOM_RTSTRUCT = `
ds = pydicom.dcmread(sys.argv[1])
print(json.dumps({
  "modality": ds.Modality, "approval": ds.ApprovalStatus,
  "rois": [r.ROIName for r in ds.StructureSetROISequence],
  "algorithms": [r.ROIGenerationAlgorithm for r in ds.StructureSetROISequence],
  "contours": [len(getattr(c, "ContourSequence", [])) for c in ds.ROIContourSequence],
  "points": [sum(int(x.NumberOfContourPoints) for x in getattr(c, "ContourSequence", [])) for c in ds.ROIContourSequence],
  "images": len(ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0].ContourImageSequence),
}))`;

const PYDICOM_SEG = `
ds = pydicom.dcmread(sys.argv[1])
import numpy as np
bits = np.unpackbits(np.frombuffer(ds.PixelData, dtype=np.uint8), bitorder="little")
n = int(ds.NumberOfFrames) * int(ds.Rows) * int(ds.Columns)
print(json.dumps({"frames": int(ds.NumberOfFrames), "segments": [s.SegmentLabel for s in ds.SegmentSequence], "ones": int(bits[:n].sum()), "type": ds.SegmentationType}))`;

async function geometries(): Promise<Array<{ name: string; volume: Volume }>> {
  const axial = clinical.writePhantomSeries(path.join(work, 'axial'), {
    columns: 37,
    rows: 29,
    slices: 10,
    pixelSpacing: [0.7, 0.9],
    seed: 'axial',
  }).volume;
  const c = Math.cos(0.35);
  const s = Math.sin(0.35);
  const oblique = clinical.writePhantomSeries(path.join(work, 'oblique'), {
    columns: 31,
    rows: 33,
    slices: 10,
    pixelSpacing: [1.1, 0.6],
    sliceSpacing: 1.7,
    orientation: [c, s * 0.6, s * 0.8, -s, c * 0.6, c * 0.8],
    centre: [12.5, -40.25, 101],
    seed: 'oblique',
  }).volume;
  const real = await clinical.readDicomSeries(path.join(DICOM_DATA, 'rt-utils', 'oriented_data'));
  return [
    { name: 'axial', volume: await clinical.readDicomSeries(path.join(work, 'axial')) },
    { name: 'oblique', volume: await clinical.readDicomSeries(path.join(work, 'oblique')) },
    { name: 'rt-utils oriented', volume: real },
    { name: 'axial (as written)', volume: axial },
    { name: 'oblique (as written)', volume: oblique },
  ];
}

describe('exact round trips', () => {
  it('RTSTRUCT, SEG and NIfTI give back identical voxels on axial and oblique grids', async () => {
    for (const { name, volume } of await geometries()) {
      const masks = [0, 1].map((i) =>
        randomMask(volume.columns, volume.rows, volume.slices, 17 + i + volume.slices),
      );
      const tag = name.replace(/\W+/g, '-');
      for (const convention of ['pixel-centres', 'voxel-edges'] as const) {
        const rs = path.join(work, `${tag}-${convention}-rs.dcm`);
        const written = clinical.writeRtstruct(
          rs,
          volume,
          [
            { name: 'first', mask: masks[0]! },
            { name: 'second', mask: masks[1]! },
          ],
          { convention },
        );
        expect(written.contours.every((n) => n > 0)).toBe(true);
        for (const [i, roi] of ['first', 'second'].entries()) {
          const back = clinical.readRtstruct(rs, volume, { roi });
          expect({ name, convention, roi, ...sameVoxels(back, masks[i]!) }).toEqual({
            name,
            convention,
            roi,
            equal: true,
            differing: 0,
          });
        }
        const v = dciodvfy(rs);
        expect({ rs, errors: v.errors }).toEqual({ rs, errors: [] });
        const py = pydicom(PYDICOM_RTSTRUCT, [rs]) as Record<string, unknown>;
        expect(py).toMatchObject({
          modality: 'RTSTRUCT',
          approval: 'UNAPPROVED',
          rois: ['first', 'second'],
          algorithms: ['AUTOMATIC', 'AUTOMATIC'],
          contours: written.contours,
          images: volume.slices,
        });
      }
      const seg = path.join(work, `${tag}-seg.dcm`);
      clinical.writeDicomSeg(seg, volume, [
        { label: 'first', mask: masks[0]! },
        { label: 'second', mask: masks[1]! },
      ]);
      for (const [i, segment] of ['first', 'second'].entries()) {
        expect({
          name,
          segment,
          ...sameVoxels(clinical.readDicomSeg(seg, volume, { segment }), masks[i]!),
        }).toEqual({ name, segment, equal: true, differing: 0 });
      }
      expect({ seg, errors: dciodvfy(seg).errors }).toEqual({ seg, errors: [] });
      const ones = masks.reduce((s, m) => s + m.data.reduce((a, b) => a + b, 0), 0);
      expect(pydicom(PYDICOM_SEG, [seg])).toEqual({
        frames: 2 * volume.slices,
        segments: ['first', 'second'],
        ones,
        type: 'BINARY',
      });
      for (const ext of ['.nii', '.nii.gz']) {
        const nii = path.join(work, `${tag}${ext}`);
        clinical.writeNifti(nii, masks[0]!, volume, { label: 3 });
        expect({
          name,
          ext,
          ...sameVoxels(clinical.readNiftiLabelmap(nii, volume, { label: 3 }), masks[0]!),
        }).toEqual({ name, ext, equal: true, differing: 0 });
        const asVolume = clinical.readNifti(nii);
        for (let k = 0; k < volume.slices; k++) {
          for (let i = 0; i < 3; i++)
            expect(Math.abs(asVolume.positions[k]![i]! - volume.positions[k]![i]!)).toBeLessThan(1e-3);
        }
      }
    }
  });

  it('traces a 512×512×100 mask (pixel-centre loops per slice) and rasterises it back', () => {
    const mask = randomMask(512, 512, 100, 5);
    const plane = 512 * 512;
    const back = new Uint8Array(plane);
    let loops = 0;
    for (let k = 0; k < 100; k++) {
      const slice = mask.data.subarray(k * plane, (k + 1) * plane);
      const contours = clinical.traceContours(slice, 512, 512);
      loops += contours.length;
      clinical.rasterizeContours(contours, 512, 512, back);
      expect(Buffer.from(back).equals(Buffer.from(slice))).toBe(true);
    }
    expect(loops).toBeGreaterThan(1000);
  });
});

describe('RTSTRUCTs from other software', () => {
  it("rt-utils' rt.dcm on ct_1/ct_2: masks agree with the stored contour points", async () => {
    const dir = path.join(DICOM_DATA, 'rt-utils', 'mock_data');
    const ct = await clinical.readDicomSeries(dir);
    expect(ct.slices).toBe(2);
    const mask = clinical.readRtstruct(path.join(dir, 'rt.dcm'), ct, { roi: 'ROI-1' });
    const info = clinical.readRtstructInfo(path.join(dir, 'rt.dcm'));
    const contours = (
      info.dataset.ROIContourSequence as Array<{ ContourSequence: Array<{ ContourData: number[] }> }>
    )[0]!.ContourSequence;
    expect(contours.length).toBe(2);
    const plane = ct.columns * ct.rows;
    // How this is checked without trusting the reader's own rasteriser: per slice, every
    // pixel centre is tested against all stored polygons by ray casting (PNPOLY, a
    // different algorithm from the reader's scanline fill) with the even-odd rule, and the
    // voxel count must match the polygons' nested shoelace area (outer minus holes) to
    // within the half-perimeter band a pixel-centre sampling can differ by.
    const bySlice = new Map<number, Array<Array<[number, number]>>>();
    for (const c of contours) {
      const pts = c.ContourData.map(Number);
      const k = ct.positions.findIndex((p) => Math.abs(p[2] - pts[2]!) < 0.01);
      expect(k).toBeGreaterThanOrEqual(0);
      const px: Array<[number, number]> = [];
      for (let i = 0; i < pts.length; i += 3)
        px.push(clinical.patientToPixel(ct, [pts[i]!, pts[i + 1]!, pts[i + 2]!], k));
      bySlice.set(k, [...(bySlice.get(k) ?? []), px]);
    }
    const inside = (poly: Array<[number, number]>, x: number, y: number) => {
      let odd = false;
      for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
        const [xi, yi] = poly[i]!;
        const [xj, yj] = poly[j]!;
        if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) odd = !odd;
      }
      return odd;
    };
    for (let k = 0; k < ct.slices; k++) {
      const polys = bySlice.get(k) ?? [];
      const slice = mask.data.subarray(k * plane, (k + 1) * plane);
      let mismatches = 0;
      for (let r = 0; r < ct.rows; r++)
        for (let col = 0; col < ct.columns; col++) {
          const expected = polys.filter((p) => inside(p, col, r)).length % 2 === 1 ? 1 : 0;
          if (expected !== slice[r * ct.columns + col]) mismatches++;
        }
      expect({ k, mismatches }).toEqual({ k, mismatches: 0 });
      let area = 0;
      let band = 2;
      for (const p of polys) {
        let a = 0;
        for (let i = 0; i < p.length; i++) {
          const [x0, y0] = p[i]!;
          const [x1, y1] = p[(i + 1) % p.length]!;
          a += x0 * y1 - x1 * y0;
          band += Math.hypot(x1 - x0, y1 - y0) / 2;
        }
        const depth = polys.filter((q) => q !== p && inside(q, p[0]![0], p[0]![1])).length;
        area += (depth % 2 === 0 ? 1 : -1) * Math.abs(a / 2);
      }
      const count = slice.reduce((a, b) => a + b, 0);
      expect(Math.abs(count - area)).toBeLessThanOrEqual(band);
    }
    expect(bySlice.get(0)?.length).toBe(2); // both contours of ROI-1 lie on ct_1 (z = 60)
    expect(mask.data.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it("pydicom's rtstruct.dcm: three ROIs, missing ROI lists them", () => {
    const file = path.join(DICOM_DATA, 'pydicom', 'rtstruct.dcm');
    const info = clinical.readRtstructInfo(file);
    expect(info.rois.map((r) => [r.number, r.name, r.contours])).toEqual([
      [1, 'patient', 3],
      [2, 'Isocenter 1', 1],
      [3, 'Isocenter 2', 1],
    ]);
    const e = errorOf(() => clinical.findRoi(info, 'GTV'));
    expect(e.code).toBe('RTSTRUCT_ROI_NOT_FOUND');
    expect(e.message).toContain('rtstruct.dcm');
    expect(e.message).toContain('2 "Isocenter 1"');
  });
});

describe('bad input', () => {
  it('RTSTRUCT for another series, SEG of another size, labelmap of another grid', () => {
    const a = clinical.writePhantomSeries(path.join(work, 'bad-a'), {
      columns: 20,
      rows: 20,
      slices: 4,
      seed: 'bad-a',
    });
    const b = clinical.writePhantomSeries(path.join(work, 'bad-b'), {
      columns: 20,
      rows: 20,
      slices: 4,
      seed: 'bad-b',
      centre: [0, 0, 300],
    });
    const c = clinical.writePhantomSeries(path.join(work, 'bad-c'), {
      columns: 24,
      rows: 20,
      slices: 4,
      seed: 'bad-c',
    });
    const rs = path.join(work, 'bad-a-rs.dcm');
    clinical.writeRtstruct(rs, a.volume, [{ name: 'body', mask: a.masks.body }]);
    let e = errorOf(() => clinical.readRtstruct(rs, b.volume, { roi: 'body' }));
    expect(e.code).toBe('RTSTRUCT_SERIES_MISMATCH');
    expect(e.message).toContain(rs);
    const seg = path.join(work, 'bad-a-seg.dcm');
    clinical.writeDicomSeg(seg, a.volume, [{ label: 'body', mask: a.masks.body }]);
    e = errorOf(() => clinical.readDicomSeg(seg, c.volume, { segment: 'body' }));
    expect(e.code).toBe('SEG_SIZE_MISMATCH');
    expect(e.message).toContain(seg);
    e = errorOf(() => clinical.readDicomSeg(seg, a.volume, { segment: 'lungs' }));
    expect(e.code).toBe('SEG_SEGMENT_NOT_FOUND');
    const nii = path.join(work, 'bad-a.nii.gz');
    clinical.writeNifti(nii, a.masks.body, a.volume);
    e = errorOf(() => clinical.readNiftiLabelmap(nii, c.volume));
    expect(e.code).toBe('MASK_GEOMETRY_MISMATCH');
    e = errorOf(() => clinical.readNiftiLabelmap(nii, a.volume, { label: 7 }));
    expect(e.code).toBe('NIFTI_LABEL_NOT_FOUND');
    e = errorOf(() =>
      clinical.writeRtstruct(path.join(work, 'x.dcm'), a.volume, [{ name: 'body', mask: c.masks.body }]),
    );
    expect(e.code).toBe('MASK_SIZE_MISMATCH');
    e = errorOf(() => clinical.readRtstruct(seg, a.volume, { roi: 1 }));
    expect(e.code).toBe('RTSTRUCT_INVALID');
    e = errorOf(() => clinical.readNifti(rs));
    expect(e.code).toBe('NIFTI_READ_FAILED');
    expect(e.message).toContain(rs);
  });

  it('refuses NIfTI for unevenly spaced slices rather than misplace them', async () => {
    const ct2 = await clinical.readDicomSeries(path.join(DICOM_DATA, 'pydicom', 'CT2'));
    const dir = path.join(work, 'uneven');
    mkdirSync(dir, { recursive: true });
    const e = errorOf(() => clinical.writeNifti(path.join(dir, 'm.nii'), clinical.emptyMask(ct2), ct2));
    expect(e.code).toBe('NIFTI_UNSUPPORTED');
    // RTSTRUCT and SEG keep per-slice positions, so they round-trip on CT2 exactly.
    const mask = randomMask(ct2.columns, ct2.rows, ct2.slices, 3);
    const rs = path.join(dir, 'rs.dcm');
    clinical.writeRtstruct(rs, ct2, [{ name: 'm', mask }]);
    expect(sameVoxels(clinical.readRtstruct(rs, ct2, { roi: 'm' }), mask).equal).toBe(true);
    expect(dciodvfy(rs).errors).toEqual([]);
  });
});
