/**
 * The in-plane region both visits are encoded at: a square around the reference ROI.
 *
 * Why: SAM-style encoders see an image on a fixed 64×64 grid of 16-px cells at 1024 px.
 * A whole 410 mm CT slice makes each cell 6.4 mm wide, so a tumour edge is only resolved
 * to ≈ 6 mm and a 3 cm tumour is five cells across. Encoding a square around the ROI
 * (its bounding box over all annotated slices, widened by `marginMm` on every side) gives
 * the encoder the same 64×64 grid over, typically, 150–200 mm: cells of 2–3 mm. The mask
 * is pasted back into the full slice afterwards.
 *
 * The target's square is the reference's, moved by the in-plane shift between the visits:
 * 0 with a shared frame of reference, otherwise the mean difference of the body's centroid
 * (voxels above −500 HU) over slices the visits share after z alignment. The margin must
 * cover how far the tumour itself moves between visits (default 40 mm).
 */
import type { MaskVolume, Vec3, Volume } from '../clinical/volume';
import { dot, patientToPixel, voxelToPatient } from '../clinical/volume';
import { positionsAlong } from './align';

export interface CropRect {
  /** First column and row (inclusive) and size in pixels. */
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Centroid (patient mm) of the body on slice k: voxels above −500 HU (any non-CT: above the slice mean). */
function bodyCentroid(v: Volume, k: number): Vec3 | undefined {
  const plane = v.columns * v.rows;
  const base = k * plane;
  let threshold = -500;
  if (v.modality !== 'CT') {
    let s = 0;
    for (let i = 0; i < plane; i++) s += v.voxels[base + i]!;
    threshold = s / plane;
  }
  let n = 0;
  let sc = 0;
  let sr = 0;
  for (let r = 0; r < v.rows; r++)
    for (let c = 0; c < v.columns; c++)
      if (v.voxels[base + r * v.columns + c]! > threshold) {
        n++;
        sc += c;
        sr += r;
      }
  if (n < 16) return undefined;
  return voxelToPatient(v, sc / n, sr / n, k);
}

/**
 * Target − reference in-plane shift (patient mm) of the body, over the slices that the z
 * alignment pairs (each reference slice with the target slice nearest to z + offset).
 */
export function estimateInPlaneShift(reference: Volume, target: Volume, offsetMm: number): Vec3 {
  const n = reference.normal;
  const zr = positionsAlong(reference, n);
  const zt = positionsAlong(target, n);
  const sum: Vec3 = [0, 0, 0];
  let count = 0;
  const step = Math.max(1, Math.floor(reference.slices / 12));
  for (let k = 0; k < reference.slices; k += step) {
    const want = zr[k]! + offsetMm;
    let best = -1;
    for (let t = 0; t < zt.length; t++)
      if (best < 0 || Math.abs(zt[t]! - want) < Math.abs(zt[best]! - want)) best = t;
    if (best < 0 || Math.abs(zt[best]! - want) > 5) continue;
    const a = bodyCentroid(reference, k);
    const b = bodyCentroid(target, best);
    if (!a || !b) continue;
    for (let i = 0; i < 3; i++) sum[i] += b[i]! - a[i]!;
    count++;
  }
  if (count === 0) return [0, 0, 0];
  const mean: Vec3 = [sum[0] / count, sum[1] / count, sum[2] / count];
  // Only the in-plane part: remove the component along the normal (z is the alignment's job).
  const along = dot(mean, n);
  return [mean[0] - along * n[0], mean[1] - along * n[1], mean[2] - along * n[2]];
}

function clampRect(x0: number, y0: number, x1: number, y1: number, columns: number, rows: number): CropRect {
  const x = Math.max(0, Math.floor(x0));
  const y = Math.max(0, Math.floor(y0));
  const xe = Math.min(columns, Math.ceil(x1));
  const ye = Math.min(rows, Math.ceil(y1));
  return { x, y, width: Math.max(1, xe - x), height: Math.max(1, ye - y) };
}

/**
 * The reference's and the target's crop rectangles (see the file comment), or undefined
 * when the square would cover most of the slice anyway.
 */
export function roiCrops(
  reference: Volume,
  referenceMask: MaskVolume,
  target: Volume,
  shift: Vec3,
  marginMm: number,
): { reference: CropRect; target: CropRect } | undefined {
  let c0 = Infinity;
  let c1 = -Infinity;
  let r0 = Infinity;
  let r1 = -Infinity;
  const w = referenceMask.columns;
  const plane = w * referenceMask.rows;
  let k0 = -1;
  for (let k = 0; k < referenceMask.slices; k++)
    for (let i = 0; i < plane; i++) {
      if (!referenceMask.data[k * plane + i]) continue;
      const c = i % w;
      const r = (i - c) / w;
      if (k0 < 0) k0 = k;
      c0 = Math.min(c0, c);
      c1 = Math.max(c1, c);
      r0 = Math.min(r0, r);
      r1 = Math.max(r1, r);
    }
  if (k0 < 0) return undefined;
  // A square in mm centred on the ROI's box.
  const [dr, dc] = reference.pixelSpacing;
  const centreC = (c0 + c1) / 2;
  const centreR = (r0 + r1) / 2;
  const half = Math.max(((c1 - c0 + 1) * dc) / 2, ((r1 - r0 + 1) * dr) / 2) + marginMm;
  const ref = clampRect(
    centreC - half / dc,
    centreR - half / dr,
    centreC + half / dc + 1,
    centreR + half / dr + 1,
    reference.columns,
    reference.rows,
  );
  if (ref.width * ref.height > 0.7 * reference.columns * reference.rows) return undefined;
  // The same square in the target, through patient coordinates plus the in-plane shift.
  const centre = voxelToPatient(reference, centreC, centreR, k0);
  const moved: Vec3 = [centre[0] + shift[0], centre[1] + shift[1], centre[2] + shift[2]];
  const [tc, tr] = patientToPixel(target, moved, 0);
  const [tdr, tdc] = target.pixelSpacing;
  const tgt = clampRect(
    tc - half / tdc,
    tr - half / tdr,
    tc + half / tdc + 1,
    tr + half / tdr + 1,
    target.columns,
    target.rows,
  );
  return { reference: ref, target: tgt };
}
