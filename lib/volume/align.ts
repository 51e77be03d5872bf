/**
 * Z alignment of two visits of one patient: where along the patient axis each target
 * slice lies relative to the reference.
 *
 * Convention: `offsetMm` is (target coordinate − reference coordinate) of the same
 * anatomy, both measured along the *reference's* slice normal, so a reference slice at
 * z_r shows the anatomy that the target has at z_r + offsetMm.
 *
 * Three sources, in order of trust:
 *  1. an explicit `zOffsetMm` from the caller (e.g. from a registration);
 *  2. a shared FrameOfReferenceUID: the scanner (or a registration) put both series in
 *     one patient coordinate system, so the offset is 0 by definition;
 *  3. otherwise the images: two body profiles per slice — the cross-section of the body
 *     (mm² above −500 HU) and of the lungs (mm² between −950 and −500 HU) — are compared
 *     at every candidate offset (a quarter of the finer slice spacing apart) by Pearson
 *     correlation over the overlap, the target's profile linearly interpolated at the
 *     reference's slice positions. Areas in mm², not pixels, so a different pixel spacing
 *     does not bias them; correlation, not difference, so a patient who lost weight or
 *     breathed in deeper still aligns. Only offsets where the scans overlap by at least
 *     half the shorter scan are considered (a short overlap can correlate by chance).
 *     The best offset is refined by a parabola through its neighbours.
 *  For non-CT modalities (no Hounsfield scale) the profiles are the slice mean and the
 *  area above the volume's median.
 */
import { P2SamError } from '../errors';
import { dot, type Vec3, type Volume, type VolumeGeometry } from '../clinical/volume';

export interface ZAlignment {
  /** Target z − reference z of the same anatomy, along the reference's slice normal (mm). */
  offsetMm: number;
  method: 'override' | 'frame-of-reference' | 'image-profile';
  /** image-profile: mean Pearson correlation of the profiles at the chosen offset (−1..1). */
  correlation?: number;
  /** Length (mm) along the normal where the two scans overlap at this offset. */
  overlapMm: number;
}

export interface AlignOptions {
  /** Use this offset instead of estimating one (mm, the convention above). */
  zOffsetMm?: number;
  /** Estimate from the images even when the frames of reference match (default false). */
  ignoreFrameOfReference?: boolean;
}

/** Slice positions of `v` along `normal` (mm), in slice order. */
export function positionsAlong(v: VolumeGeometry, normal: readonly number[]): number[] {
  return v.positions.map((p) => dot(p, normal));
}

/** Slice thickness of each slice: the mean of its gaps to its neighbours along the normal. */
export function sliceThicknesses(volume: VolumeGeometry): number[] {
  const z = positionsAlong(volume, volume.normal);
  return z.map((zk, k) => {
    const gaps: number[] = [];
    if (k > 0) gaps.push(Math.abs(zk - z[k - 1]!));
    if (k < z.length - 1) gaps.push(Math.abs(z[k + 1]! - zk));
    return gaps.length ? gaps.reduce((a, b) => a + b, 0) / gaps.length : 1;
  });
}

/** Throws VOLUME_GEOMETRY_MISMATCH unless the two series' slices are parallel. */
export function requireParallelSlices(reference: Volume, target: Volume): void {
  const c = Math.abs(dot(reference.normal, target.normal));
  if (!(c >= 0.999)) {
    const deg = (Math.acos(Math.min(1, c)) * 180) / Math.PI;
    throw new P2SamError(
      'VOLUME_GEOMETRY_MISMATCH',
      `the target series' slices are not parallel to the reference series' (normals ${fmtVec(reference.normal)} and ${fmtVec(target.normal)}, ${deg.toFixed(1)}° apart): slice-to-slice pairing needs the same slice orientation; resample one series first`,
    );
  }
}

function fmtVec(v: Vec3): string {
  return `[${v.map((x) => x.toFixed(3)).join(', ')}]`;
}

/** Per-slice profiles (one array per channel) used to align the visits. */
export function bodyProfiles(v: Volume): number[][] {
  const plane = v.columns * v.rows;
  const pixelMm2 = v.pixelSpacing[0] * v.pixelSpacing[1];
  const ct = v.modality === 'CT';
  let median = 0;
  if (!ct) {
    const sample: number[] = [];
    const step = Math.max(1, Math.floor(v.voxels.length / 20000));
    for (let i = 0; i < v.voxels.length; i += step) sample.push(v.voxels[i]!);
    sample.sort((a, b) => a - b);
    median = sample[Math.floor(sample.length / 2)] ?? 0;
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let k = 0; k < v.slices; k++) {
    let n1 = 0;
    let n2 = 0;
    let sum = 0;
    const base = k * plane;
    for (let i = 0; i < plane; i++) {
      const x = v.voxels[base + i]!;
      if (ct) {
        if (x > -500) n1++;
        else if (x > -950) n2++;
      } else {
        sum += x;
        if (x > median) n1++;
      }
    }
    if (ct) {
      a.push(n1 * pixelMm2);
      b.push(n2 * pixelMm2);
    } else {
      a.push(n1 * pixelMm2);
      b.push(sum / plane);
    }
  }
  return [a, b];
}

/** Linear interpolation of (xs ascending, ys) at x; undefined outside [xs0, xsN]. */
function interpolate(xs: number[], ys: number[], x: number): number | undefined {
  if (x < xs[0]! - 1e-6 || x > xs[xs.length - 1]! + 1e-6) return undefined;
  let lo = 0;
  let hi = xs.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! <= x) lo = mid;
    else hi = mid;
  }
  if (hi === lo) return ys[lo];
  const t = Math.min(1, Math.max(0, (x - xs[lo]!) / (xs[hi]! - xs[lo]! || 1)));
  return ys[lo]! + t * (ys[hi]! - ys[lo]!);
}

function pearson(x: number[], y: number[]): number | undefined {
  const n = x.length;
  if (n < 3) return undefined;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  // A flat profile over the overlap carries no information about the offset.
  if (sxx <= 1e-9 * n || syy <= 1e-9 * n) return undefined;
  return sxy / Math.sqrt(sxx * syy);
}

/** Sorted (z, index) of a volume's slices along `normal`. */
function sortedAlong(v: Volume, normal: readonly number[]): { z: number[]; order: number[] } {
  const z = positionsAlong(v, normal);
  const order = z.map((_, i) => i).sort((i, j) => z[i]! - z[j]!);
  return { z: order.map((i) => z[i]!), order };
}

function overlapOf(zr: number[], zt: number[], d: number): number {
  return Math.min(zr[zr.length - 1]! + d, zt[zt.length - 1]!) - Math.max(zr[0]! + d, zt[0]!);
}

/**
 * The image-based estimate alone (method 3 above), whatever the frames of reference.
 *
 * @example
 *   const { offsetMm, correlation } = estimateZOffset(planningCt, followUpCt);
 */
export function estimateZOffset(
  reference: Volume,
  target: Volume,
): { offsetMm: number; correlation: number; overlapMm: number } {
  requireParallelSlices(reference, target);
  const n = reference.normal;
  const r = sortedAlong(reference, n);
  const t = sortedAlong(target, n);
  if (reference.slices < 3 || target.slices < 3)
    throw new P2SamError(
      'VOLUME_ALIGNMENT_FAILED',
      `cannot estimate the z offset from images with ${reference.slices} reference and ${target.slices} target slices (at least 3 each are needed); give zOffsetMm (--z-offset-mm)`,
    );
  const rp = bodyProfiles(reference).map((p) => r.order.map((i) => p[i]!));
  const tp = bodyProfiles(target).map((p) => t.order.map((i) => p[i]!));
  const spacing = (z: number[]) => (z[z.length - 1]! - z[0]!) / (z.length - 1);
  const step = Math.max(0.05, Math.min(spacing(r.z), spacing(t.z)) / 4);
  const extentR = r.z[r.z.length - 1]! - r.z[0]!;
  const extentT = t.z[t.z.length - 1]! - t.z[0]!;
  const minOverlap = 0.5 * Math.min(extentR, extentT);
  const dMin = t.z[0]! - r.z[r.z.length - 1]!;
  const dMax = t.z[t.z.length - 1]! - r.z[0]!;
  const scores: { d: number; s: number }[] = [];
  for (let d = dMin; d <= dMax + 1e-9; d += step) {
    if (overlapOf(r.z, t.z, d) < minOverlap - 1e-6) {
      scores.push({ d, s: -Infinity });
      continue;
    }
    let sum = 0;
    let channels = 0;
    for (let c = 0; c < rp.length; c++) {
      const xs: number[] = [];
      const ys: number[] = [];
      for (let i = 0; i < r.z.length; i++) {
        const y = interpolate(t.z, tp[c]!, r.z[i]! + d);
        if (y === undefined) continue;
        xs.push(rp[c]![i]!);
        ys.push(y);
      }
      const p = pearson(xs, ys);
      if (p !== undefined) {
        sum += p;
        channels++;
      }
    }
    scores.push({ d, s: channels ? sum / channels : -Infinity });
  }
  let best = -1;
  for (let i = 0; i < scores.length; i++) if (best < 0 || scores[i]!.s > scores[best]!.s) best = i;
  if (best < 0 || !Number.isFinite(scores[best]!.s))
    throw new P2SamError(
      'VOLUME_ALIGNMENT_FAILED',
      'the two series show no body profile to align (flat intensity over every overlap of at least half the shorter scan): give zOffsetMm (--z-offset-mm)',
    );
  let d = scores[best]!.d;
  if (
    best > 0 &&
    best < scores.length - 1 &&
    Number.isFinite(scores[best - 1]!.s) &&
    Number.isFinite(scores[best + 1]!.s)
  ) {
    const a = scores[best - 1]!.s;
    const b = scores[best]!.s;
    const c = scores[best + 1]!.s;
    const denom = a - 2 * b + c;
    if (denom < 0) d += (0.5 * (a - c) * step) / denom;
  }
  return { offsetMm: d, correlation: scores[best]!.s, overlapMm: overlapOf(r.z, t.z, d) };
}

/**
 * Aligns the target visit to the reference along the slice normal.
 *
 * @example
 *   const a = alignVolumes(planningCt, followUpCt);            // estimated or from the frame of reference
 *   const b = alignVolumes(planningCt, followUpCt, { zOffsetMm: 12.5 }); // caller's registration
 */
export function alignVolumes(reference: Volume, target: Volume, options: AlignOptions = {}): ZAlignment {
  requireParallelSlices(reference, target);
  const n = reference.normal;
  const zr = positionsAlong(reference, n).sort((a, b) => a - b);
  const zt = positionsAlong(target, n).sort((a, b) => a - b);
  if (options.zOffsetMm !== undefined) {
    if (typeof options.zOffsetMm !== 'number' || !Number.isFinite(options.zOffsetMm))
      throw new P2SamError(
        'INVALID_ARGUMENT',
        `zOffsetMm: expected a finite number of millimetres, received ${String(options.zOffsetMm)}`,
      );
    return {
      offsetMm: options.zOffsetMm,
      method: 'override',
      overlapMm: overlapOf(zr, zt, options.zOffsetMm),
    };
  }
  const sameFrame =
    options.ignoreFrameOfReference !== true &&
    reference.uids.frameOfReferenceUid !== '' &&
    reference.uids.frameOfReferenceUid === target.uids.frameOfReferenceUid;
  if (sameFrame) return { offsetMm: 0, method: 'frame-of-reference', overlapMm: overlapOf(zr, zt, 0) };
  const e = estimateZOffset(reference, target);
  return {
    offsetMm: e.offsetMm,
    method: 'image-profile',
    correlation: e.correlation,
    overlapMm: e.overlapMm,
  };
}
