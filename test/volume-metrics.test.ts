/**
 * 3-D metrics against answers computed by hand on boxes: Dice from voxel counts, surface
 * distances in mm with anisotropic voxels and uneven slice spacing, volumes in ml.
 */
import { describe, expect, it } from 'vitest';
import { maskVolumeMl, volumeMetrics } from '../lib/volume/metrics3d';
import type { MaskVolume, VolumeGeometry } from '../lib/clinical/volume';

function grid(columns: number, rows: number, zs: number[], spacing: [number, number]): VolumeGeometry {
  return {
    columns,
    rows,
    slices: zs.length,
    rowDirection: [1, 0, 0],
    columnDirection: [0, 1, 0],
    normal: [0, 0, 1],
    pixelSpacing: spacing,
    positions: zs.map((z) => [0, 0, z]),
  };
}

function box(
  g: VolumeGeometry,
  c0: number,
  c1: number,
  r0: number,
  r1: number,
  k0: number,
  k1: number,
): MaskVolume {
  const m: MaskVolume = {
    columns: g.columns,
    rows: g.rows,
    slices: g.slices,
    data: new Uint8Array(g.columns * g.rows * g.slices),
  };
  for (let k = k0; k <= k1; k++)
    for (let r = r0; r <= r1; r++)
      for (let c = c0; c <= c1; c++) m.data[(k * g.rows + r) * g.columns + c] = 1;
  return m;
}

describe('volumeMetrics', () => {
  it('gives Dice, per-slice Dice, false-positive/negative slices and volumes from voxel counts', () => {
    const g = grid(20, 20, [0, 2, 4, 6, 8, 10], [0.5, 1]);
    const truth = box(g, 5, 9, 5, 9, 1, 3); // 5×5×3 = 75 voxels
    const pred = box(g, 6, 10, 5, 9, 2, 4); // shifted one column and one slice
    const m = volumeMetrics(pred, truth, g);
    // Overlap: columns 6..9 (4) × rows 5 × slices 2..3 (2) = 40.
    expect(m.dice).toBeCloseTo((2 * 40) / 150, 12);
    expect(m.perSlice.map((s) => s.slice)).toEqual([1, 2, 3, 4]);
    expect(m.perSlice[1]!.dice).toBeCloseTo((2 * 20) / 50, 12);
    expect(m.falsePositiveSlices).toEqual([4]);
    expect(m.falseNegativeSlices).toEqual([1]);
    // Voxel = 0.5 × 1 mm² × 2 mm slices = 1 mm³.
    expect(m.truthMl).toBeCloseTo(75 / 1000, 12);
    expect(m.predictedMl).toBeCloseTo(75 / 1000, 12);
  });

  it('measures surface distances in mm along the true spacing', () => {
    const g = grid(30, 30, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2]); // rows 1 mm apart, columns 2 mm
    const truth = box(g, 10, 14, 10, 14, 2, 6);
    const same = volumeMetrics(truth, truth, g);
    expect(same.dice).toBe(1);
    expect(same.hd95Mm).toBe(0);
    expect(same.meanSurfaceDistanceMm).toBe(0);
    // Shifted by 3 columns = 6 mm: every surface point of the moved faces is ≤ 6 mm away,
    // and the faces perpendicular to the shift are exactly 6 mm apart.
    const shifted = box(g, 13, 17, 10, 14, 2, 6);
    const m = volumeMetrics(shifted, truth, g);
    expect(m.hd95Mm).toBeCloseTo(6, 9);
    expect(m.meanSurfaceDistanceMm!).toBeGreaterThan(0);
    expect(m.meanSurfaceDistanceMm!).toBeLessThan(6);
  });

  it('returns null distances when a mask is empty, and Dice 1 for two empty masks', () => {
    const g = grid(8, 8, [0, 1, 2], [1, 1]);
    const empty = box(g, 1, 0, 1, 0, 1, 0);
    const one = box(g, 2, 3, 2, 3, 1, 1);
    expect(volumeMetrics(empty, empty, g)).toMatchObject({
      dice: 1,
      hd95Mm: null,
      meanSurfaceDistanceMm: null,
    });
    expect(volumeMetrics(empty, one, g)).toMatchObject({ dice: 0, hd95Mm: null, falseNegativeSlices: [1] });
  });

  it('uses each slice its own thickness for the volume (uneven spacing)', () => {
    const g = grid(4, 4, [0, 1, 4], [1, 1]); // thicknesses 1, 2, 3
    const all = box(g, 0, 3, 0, 3, 0, 2);
    expect(maskVolumeMl(all, g)).toBeCloseTo((16 * 1 + 16 * 2 + 16 * 3) / 1000, 12);
  });

  it('refuses masks that are not on the grid', () => {
    const g = grid(8, 8, [0, 1, 2], [1, 1]);
    const wrong: MaskVolume = { columns: 8, rows: 8, slices: 2, data: new Uint8Array(128) };
    expect(() => volumeMetrics(wrong, box(g, 0, 1, 0, 1, 0, 0), g)).toThrow(
      expect.objectContaining({ code: 'MASK_SIZE_MISMATCH' }),
    );
  });
});
