/**
 * Is the object on this target slice at all?
 *
 * P2SAM always prompts somewhere: on a slice without the tumour it still picks the most
 * tumour-like cells and returns a mask (with the testkit: the whole soft tissue). So each
 * slice's result is judged against what the *same* reference slice gives on itself:
 *
 *  - score: the retrieval's transport cost of the chosen mask against the reference
 *    features, relative to the reference slice's own score (the reference slice segmented
 *    with its own Reference). A present object costs about what the reference costs; a
 *    look-alike costs far more. Accepted when score ≤ referenceScore · maxScoreRatio +
 *    scoreSlack (the slack keeps a near-zero own score from making the test impossible).
 *  - area: the mask area (mm²) relative to the reference slice's annotated area; a
 *    "tumour" many times larger than the reference's is the look-alike above.
 *  - continuity: a slice in the margin beyond the reference ROI's extent (pairing.ts) is
 *    kept only when the slice next to it towards the extent was kept, so a present result
 *    far from the tumour cannot appear on its own.
 * The thresholds were chosen on the phantom studies (docs/volume.md gives the measured
 * score ratios of present and absent slices).
 */
import type { SliceZone } from './pairing';

export interface PresenceOptions {
  /** Largest accepted score / reference-slice own score (default 2.5). */
  maxScoreRatio?: number;
  /**
   * Added to the score bound, in score units (default 0.5). The score is a transport cost
   * of squared feature distances, so its scale is the encoder's: 0.5 was chosen on the
   * testkit phantoms (present slices scored ≤ 0.63, absent ones ≥ 2.4); re-check it on a
   * real encoder with a few annotated visits (the per-slice records carry both scores).
   */
  scoreSlack?: number;
  /** Largest accepted mask area / reference-slice annotated area (default 4). */
  maxAreaRatio?: number;
  /** Smallest accepted ratio (default 0: a shrinking tumour may be tiny). */
  minAreaRatio?: number;
}

export interface ResolvedPresence {
  maxScoreRatio: number;
  scoreSlack: number;
  maxAreaRatio: number;
  minAreaRatio: number;
}

export const DEFAULT_PRESENCE: ResolvedPresence = {
  maxScoreRatio: 2.5,
  scoreSlack: 0.5,
  maxAreaRatio: 4,
  minAreaRatio: 0,
};

export interface PresenceInput {
  empty: boolean;
  score: number | null;
  referenceScore: number | null;
  areaMm2: number;
  referenceAreaMm2: number;
}

export interface PresenceDecision {
  present: boolean;
  /** Why the slice is empty (absent only). */
  reason?: string;
  scoreRatio: number | null;
  areaRatio: number;
}

/** The per-slice test (without continuity, which needs the neighbours). */
export function decidePresence(x: PresenceInput, o: ResolvedPresence): PresenceDecision {
  const areaRatio = x.referenceAreaMm2 > 0 ? x.areaMm2 / x.referenceAreaMm2 : Infinity;
  const scoreRatio =
    x.score !== null && x.referenceScore !== null && x.referenceScore > 0 ? x.score / x.referenceScore : null;
  if (x.empty || x.areaMm2 === 0)
    return { present: false, reason: 'the model found nothing like the reference', scoreRatio, areaRatio };
  if (x.score !== null && x.referenceScore !== null) {
    const bound = x.referenceScore * o.maxScoreRatio + o.scoreSlack;
    if (x.score > bound)
      return {
        present: false,
        reason: `score ${x.score.toFixed(3)} above ${bound.toFixed(3)} (reference slice's own ${x.referenceScore.toFixed(3)} × ${o.maxScoreRatio} + ${o.scoreSlack})`,
        scoreRatio,
        areaRatio,
      };
  }
  if (areaRatio > o.maxAreaRatio)
    return {
      present: false,
      reason: `area ${areaRatio.toFixed(1)}× the reference slice's (limit ${o.maxAreaRatio}×)`,
      scoreRatio,
      areaRatio,
    };
  if (areaRatio < o.minAreaRatio)
    return {
      present: false,
      reason: `area ${areaRatio.toFixed(2)}× the reference slice's (minimum ${o.minAreaRatio}×)`,
      scoreRatio,
      areaRatio,
    };
  return { present: true, scoreRatio, areaRatio };
}

/**
 * Continuity over slices sorted by z: a 'margin' slice stays present only when its
 * neighbour towards the extent is present. Returns the indices (into `slices`) it cleared.
 */
export function enforceContinuity(slices: { zone: SliceZone; present: boolean }[]): number[] {
  const cleared: number[] = [];
  const firstExtent = slices.findIndex((s) => s.zone === 'extent');
  if (firstExtent < 0) {
    slices.forEach((s, i) => {
      if (s.present) {
        s.present = false;
        cleared.push(i);
      }
    });
    return cleared;
  }
  let lastExtent = firstExtent;
  for (let i = 0; i < slices.length; i++) if (slices[i]!.zone === 'extent') lastExtent = i;
  // Walk outwards from each end of the extent; the first absent slice cuts off the rest.
  for (let i = firstExtent - 1, open = slices[firstExtent]!.present; i >= 0; i--) {
    const s = slices[i]!;
    if (s.zone === 'outside') break;
    if (!open && s.present) {
      s.present = false;
      cleared.push(i);
    }
    if (!s.present) open = false;
  }
  for (let i = lastExtent + 1, open = slices[lastExtent]!.present; i < slices.length; i++) {
    const s = slices[i]!;
    if (s.zone === 'outside') break;
    if (!open && s.present) {
      s.present = false;
      cleared.push(i);
    }
    if (!s.present) open = false;
  }
  return cleared;
}
