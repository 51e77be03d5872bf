/**
 * Which annotated reference slice guides which target slice — without any annotation
 * of the target.
 *
 * After alignment (align.ts) every target slice has a position in the reference's z.
 * The reference ROI occupies the slabs of its annotated slices: from the lowest annotated
 * slice minus half its slice gap to the highest plus half its gap (the *extent*). A target
 * slice inside the extent is paired with the nearest annotated reference slice; one within
 * `marginMm` beyond it (the *margin*, where a growing tumour may have spread) is paired
 * with the nearest end slice and must prove the object is there (presence.ts); any other
 * target slice is *outside* and comes out empty without running the model.
 *
 * With `referenceSpacingMm`, only annotated slices at least that far apart (greedily from
 * the lowest) guide target slices, trading reference encoder passes for how closely the
 * reference slice matches the target slice in z.
 *
 * Each pair lists the annotated slices nearest first, so that when the nearest one cannot
 * make a reference (a mask too small to cover a 16-px feature cell at SAM's scale) the
 * next one is used instead of losing the target slice.
 */
import { P2SamError } from '../errors';
import type { MaskVolume, Volume } from '../clinical/volume';
import { positionsAlong, type ZAlignment } from './align';
import { sliceAreas } from './slice-image';

export type SliceZone = 'extent' | 'margin' | 'outside';

export interface SlicePair {
  targetSlice: number;
  /** The target slice's position in reference coordinates: z_target − offsetMm (mm). */
  zInReferenceMm: number;
  zone: SliceZone;
  /** Annotated reference slices, nearest first (empty for 'outside'). */
  referenceCandidates: number[];
}

export interface SlicePairing {
  pairs: SlicePair[];
  /** Reference slices with a non-empty mask, in slice order. */
  annotatedSlices: number[];
  /** [low, high] of the ROI's extent in reference z (mm), slabs included. */
  extentMm: [number, number];
  marginMm: number;
}

/**
 * Pairs every target slice with reference slices (see the file comment).
 *
 * @example
 *   const p = pairSlices(planning, gtvMask, followUp, alignVolumes(planning, followUp), { marginMm: 10 });
 *   p.pairs.filter((s) => s.zone !== 'outside').length; // slices the model will run on
 */
export function pairSlices(
  reference: Volume,
  referenceMask: MaskVolume,
  target: Volume,
  alignment: ZAlignment,
  options: { marginMm: number; referenceSpacingMm?: number },
): SlicePairing {
  const n = reference.normal;
  const zr = positionsAlong(reference, n);
  const zt = positionsAlong(target, n);
  const areas = sliceAreas(referenceMask);
  const annotated = areas.map((a, k) => (a > 0 ? k : -1)).filter((k) => k >= 0);
  if (annotated.length === 0)
    throw new P2SamError(
      'EMPTY_REFERENCE',
      'the reference ROI mask is empty on every slice: there is nothing to propagate to the target',
    );
  // Half the gap to the neighbouring slice on each side: the slab an annotated slice stands for.
  const sortedZ = [...zr].sort((a, b) => a - b);
  const halfGap = (z: number, side: -1 | 1): number => {
    const i = sortedZ.indexOf(z);
    const j = i + side;
    if (j >= 0 && j < sortedZ.length) return Math.abs(sortedZ[j]! - z) / 2;
    const k = i - side;
    return k >= 0 && k < sortedZ.length ? Math.abs(sortedZ[k]! - z) / 2 : 0.5;
  };
  const annotatedZ = annotated.map((k) => zr[k]!);
  const lowZ = Math.min(...annotatedZ);
  const highZ = Math.max(...annotatedZ);
  const extent: [number, number] = [lowZ - halfGap(lowZ, -1), highZ + halfGap(highZ, 1)];
  const margin = options.marginMm;
  // With a reference spacing, only annotated slices at least that far apart guide target
  // slices (fewer reference encoder passes); the others stay as fallbacks.
  const spacing = options.referenceSpacingMm ?? 0;
  const byZ = [...annotated].sort((a, b) => zr[a]! - zr[b]!);
  const guides = new Set<number>();
  let lastZ = -Infinity;
  for (const k of byZ)
    if (spacing <= 0 || zr[k]! >= lastZ + spacing - 1e-6) {
      guides.add(k);
      lastZ = zr[k]!;
    }
  const pairs: SlicePair[] = zt.map((z, t) => {
    const zRef = z - alignment.offsetMm;
    const zone: SliceZone =
      zRef >= extent[0] - 1e-6 && zRef <= extent[1] + 1e-6
        ? 'extent'
        : zRef >= extent[0] - margin - 1e-6 && zRef <= extent[1] + margin + 1e-6
          ? 'margin'
          : 'outside';
    const referenceCandidates =
      zone === 'outside'
        ? []
        : [...annotated].sort(
            (a, b) =>
              Number(guides.has(b)) - Number(guides.has(a)) ||
              Math.abs(zr[a]! - zRef) - Math.abs(zr[b]! - zRef) ||
              a - b,
          );
    return { targetSlice: t, zInReferenceMm: zRef, zone, referenceCandidates };
  });
  pairs.sort((a, b) => a.zInReferenceMm - b.zInReferenceMm);
  if (!pairs.some((p) => p.zone !== 'outside')) {
    const tz = pairs.map((p) => p.zInReferenceMm);
    throw new P2SamError(
      'VOLUME_NO_OVERLAP',
      `no target slice lies within the reference ROI's extent ± ${margin} mm: the ROI spans ${extent[0].toFixed(1)}..${extent[1].toFixed(1)} mm in reference z, the target covers ${Math.min(...tz).toFixed(1)}..${Math.max(...tz).toFixed(1)} mm after alignment (offset ${alignment.offsetMm.toFixed(1)} mm, ${alignment.method}); check the series, or give zOffsetMm (--z-offset-mm) / a larger margin`,
    );
  }
  return { pairs, annotatedSlices: annotated, extentMm: extent, marginMm: margin };
}
