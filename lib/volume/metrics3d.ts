/**
 * Volume metrics between two masks on one grid, in physical units from the grid's own
 * geometry (per-slice positions, pixel spacing): 3-D Dice, per-slice Dice, the 95th
 * percentile Hausdorff distance and the mean surface distance in mm, volumes in ml.
 *
 * Surfaces are the boundary voxels of each mask (a foreground voxel with a background or
 * out-of-volume 6-neighbour), placed at their voxel centres in patient coordinates, so
 * uneven slice spacing and anisotropic voxels are measured as they are. Distances are
 * from every boundary voxel of one mask to the nearest boundary voxel of the other
 * (found through a uniform hash grid). HD95 is the larger of the two directed 95th
 * percentiles (as MONAI and the Medical Segmentation Decathlon compute it); the mean
 * surface distance averages both directions' distances together. Either mask empty →
 * the distances are null (undefined, not 0 or ∞). Volume = Σ voxels × pixel area × the
 * slice's thickness (mean gap to its neighbours).
 */
import { P2SamError } from '../errors';
import { voxelToPatient, type MaskVolume, type VolumeGeometry } from '../clinical/volume';
import { sliceThicknesses } from './align';

export interface SliceDice {
  slice: number;
  dice: number;
  predictedVoxels: number;
  truthVoxels: number;
}

export interface VolumeMetrics {
  /** 2|A∩B| / (|A|+|B|); 1 when both are empty. */
  dice: number;
  /** Slices where either mask is non-empty. */
  perSlice: SliceDice[];
  hd95Mm: number | null;
  meanSurfaceDistanceMm: number | null;
  predictedMl: number;
  truthMl: number;
  /** Slices non-empty in the prediction but empty in the truth, and the reverse. */
  falsePositiveSlices: number[];
  falseNegativeSlices: number[];
}

function requireSameGrid(a: MaskVolume, b: MaskVolume, g: VolumeGeometry): void {
  for (const [m, name] of [
    [a, 'predicted'],
    [b, 'truth'],
  ] as const)
    if (
      m.columns !== g.columns ||
      m.rows !== g.rows ||
      m.slices !== g.slices ||
      m.data.length !== g.columns * g.rows * g.slices
    )
      throw new P2SamError(
        'MASK_SIZE_MISMATCH',
        `${name} mask is ${m.columns}×${m.rows}×${m.slices} but the volume is ${g.columns}×${g.rows}×${g.slices} (columns×rows×slices)`,
      );
}

/** Patient coordinates of every boundary voxel (x, y, z interleaved). */
export function surfacePoints(m: MaskVolume, g: VolumeGeometry): Float64Array {
  const { columns: w, rows: h, slices: s } = m;
  const plane = w * h;
  const pts: number[] = [];
  const on = (c: number, r: number, k: number) =>
    c >= 0 && r >= 0 && k >= 0 && c < w && r < h && k < s && m.data[k * plane + r * w + c] !== 0;
  for (let k = 0; k < s; k++)
    for (let r = 0; r < h; r++)
      for (let c = 0; c < w; c++) {
        if (!m.data[k * plane + r * w + c]) continue;
        if (
          on(c - 1, r, k) &&
          on(c + 1, r, k) &&
          on(c, r - 1, k) &&
          on(c, r + 1, k) &&
          on(c, r, k - 1) &&
          on(c, r, k + 1)
        )
          continue;
        const p = voxelToPatient(g, c, r, k);
        pts.push(p[0], p[1], p[2]);
      }
  return Float64Array.from(pts);
}

/** For each point of `from`, the distance to the nearest point of `to` (mm). */
export function nearestDistances(from: Float64Array, to: Float64Array, cell = 4): Float64Array {
  const n = from.length / 3;
  const out = new Float64Array(n);
  const grid = new Map<string, number[]>();
  const key = (i: number, j: number, k: number) => `${i},${j},${k}`;
  for (let p = 0; p < to.length; p += 3) {
    const k = key(Math.floor(to[p]! / cell), Math.floor(to[p + 1]! / cell), Math.floor(to[p + 2]! / cell));
    let b = grid.get(k);
    if (!b) {
      b = [];
      grid.set(k, b);
    }
    b.push(p);
  }
  // The largest ring worth searching: the bounding box of everything.
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (const arr of [from, to])
    for (let p = 0; p < arr.length; p += 3)
      for (let d = 0; d < 3; d++) {
        lo[d] = Math.min(lo[d]!, arr[p + d]!);
        hi[d] = Math.max(hi[d]!, arr[p + d]!);
      }
  const maxRing = Math.ceil(Math.max(hi[0]! - lo[0]!, hi[1]! - lo[1]!, hi[2]! - lo[2]!) / cell) + 1;
  for (let q = 0; q < n; q++) {
    const x = from[3 * q]!;
    const y = from[3 * q + 1]!;
    const z = from[3 * q + 2]!;
    const ci = Math.floor(x / cell);
    const cj = Math.floor(y / cell);
    const ck = Math.floor(z / cell);
    let best = Infinity;
    for (let ring = 0; ring <= maxRing; ring++) {
      // Every point in ring r is at least (r − 1)·cell away: stop once that beats the best.
      if ((ring - 1) * cell > Math.sqrt(best)) break;
      for (let di = -ring; di <= ring; di++)
        for (let dj = -ring; dj <= ring; dj++)
          for (let dk = -ring; dk <= ring; dk++) {
            if (Math.max(Math.abs(di), Math.abs(dj), Math.abs(dk)) !== ring) continue;
            const b = grid.get(key(ci + di, cj + dj, ck + dk));
            if (!b) continue;
            for (const p of b) {
              const dx = to[p]! - x;
              const dy = to[p + 1]! - y;
              const dz = to[p + 2]! - z;
              const d2 = dx * dx + dy * dy + dz * dz;
              if (d2 < best) best = d2;
            }
          }
    }
    out[q] = Math.sqrt(best);
  }
  return out;
}

function percentile(values: Float64Array, p: number): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) return 0;
  // Linear interpolation between closest ranks (numpy's default).
  const pos = (p / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (pos - lo) * (s[hi]! - s[lo]!);
}

/** Volume of a mask in ml from the grid's pixel spacing and per-slice thickness. */
export function maskVolumeMl(m: MaskVolume, g: VolumeGeometry): number {
  const thickness = sliceThicknesses(g);
  const plane = m.columns * m.rows;
  const px = g.pixelSpacing[0] * g.pixelSpacing[1];
  let mm3 = 0;
  for (let k = 0; k < m.slices; k++) {
    let n = 0;
    for (let i = 0; i < plane; i++) n += m.data[k * plane + i] ? 1 : 0;
    mm3 += n * px * thickness[k]!;
  }
  return mm3 / 1000;
}

/**
 * All the metrics above for a predicted mask against the truth on the grid `g`.
 *
 * @example
 *   const m = volumeMetrics(result.mask, truthMask, followUpCt);
 *   console.log(m.dice, m.hd95Mm, m.predictedMl, m.truthMl);
 */
export function volumeMetrics(predicted: MaskVolume, truth: MaskVolume, g: VolumeGeometry): VolumeMetrics {
  requireSameGrid(predicted, truth, g);
  const plane = g.columns * g.rows;
  let inter = 0;
  let na = 0;
  let nb = 0;
  const perSlice: SliceDice[] = [];
  const fp: number[] = [];
  const fn: number[] = [];
  for (let k = 0; k < g.slices; k++) {
    let i2 = 0;
    let a = 0;
    let b = 0;
    for (let i = k * plane; i < (k + 1) * plane; i++) {
      const pa = predicted.data[i] !== 0;
      const pb = truth.data[i] !== 0;
      if (pa) a++;
      if (pb) b++;
      if (pa && pb) i2++;
    }
    inter += i2;
    na += a;
    nb += b;
    if (a > 0 || b > 0)
      perSlice.push({ slice: k, dice: (2 * i2) / (a + b), predictedVoxels: a, truthVoxels: b });
    if (a > 0 && b === 0) fp.push(k);
    if (a === 0 && b > 0) fn.push(k);
  }
  let hd95: number | null = null;
  let msd: number | null = null;
  if (na > 0 && nb > 0) {
    const sa = surfacePoints(predicted, g);
    const sb = surfacePoints(truth, g);
    const dab = nearestDistances(sa, sb);
    const dba = nearestDistances(sb, sa);
    hd95 = Math.max(percentile(dab, 95), percentile(dba, 95));
    let sum = 0;
    for (const d of dab) sum += d;
    for (const d of dba) sum += d;
    msd = sum / (dab.length + dba.length);
  }
  return {
    dice: na + nb === 0 ? 1 : (2 * inter) / (na + nb),
    perSlice,
    hd95Mm: hd95,
    meanSurfaceDistanceMm: msd,
    predictedMl: maskVolumeMl(predicted, g),
    truthMl: maskVolumeMl(truth, g),
    falsePositiveSlices: fp,
    falseNegativeSlices: fn,
  };
}
