/**
 * The retrieval loop of P2SAM (docs/algorithm.md §2.5–2.8) for one target: prompts for every
 * candidate (k parts × kb negatives), the cascaded decoder passes, the Wasserstein
 * score of each candidate against the reference distribution, and the argmin.
 */
import { cancellable } from './cancellable';
import { P2SamError } from './errors';
import type { Embedding } from './embedding';
import {
  call,
  native,
  type MathsDevice,
  type NativeCandidateInput,
  type NativeModel,
  type NativeReference,
} from './native';
import { throwIfAborted, type ResolvedSegment, type Warning } from './options';
import type { Reference } from './reference';
import type { DecoderPass, PromptPoint } from './types';

/** One prompt set (k parts × kb negatives) taken through the cascade and scored. */
export interface CandidateResult {
  parts: number;
  negatives: number;
  points: PromptPoint[];
  /** Optimal-transport cost to the reference features; null when not scored (empty mask, or the only candidate). */
  score: number | null;
  maskArea: number;
  empty: boolean;
  /** Feature cells under the mask (N_tgt of the transport problem). */
  targetCells: number;
  /** Box prompt of pass 3 (inclusive pixel bounds), null when pass 2 was empty. */
  box: [number, number, number, number] | null;
  passes: DecoderPass[];
  /** Sinkhorn only: whether it met its tolerance. */
  converged: boolean;
  note?: string;
}

/** Milliseconds per stage of one segment() call. */
export interface SegmentTimings {
  encodeMs: number;
  pointsMs: number;
  /** Summed over candidates, per cascade pass. */
  decoderMs: [number, number, number];
  retrievalMs: number;
  /** Wall time of the candidate stage (passes + scoring, possibly overlapped). */
  candidatesMs: number;
  totalMs: number;
}

/**
 * What {@link P2SAM.segment} returns: the best candidate's mask and prompt, and every
 * candidate with its score, so a caller can see why it won.
 */
export interface SegmentResult {
  /** width×height, 1 = object. */
  mask: Uint8Array;
  width: number;
  height: number;
  parts: number;
  negatives: number;
  points: PromptPoint[];
  score: number | null;
  /** True when every candidate produced an empty mask; `reason` says why. */
  empty: boolean;
  reason?: string;
  candidates: CandidateResult[];
  timings: SegmentTimings;
  warnings: Warning[];
}

function toPoints(xy: Int32Array, label: 0 | 1, out: PromptPoint[]): void {
  for (let i = 0; i + 1 < xy.length; i += 2) out.push({ x: xy[i], y: xy[i + 1], label });
}

/** docs/algorithm.md §2.8.5: smallest score wins; ties keep the earlier candidate; unscored/empty are worst. */
export function pickCandidate(candidates: { score: number | null; empty: boolean }[]): number {
  let best = -1;
  let bestScore = Infinity;
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i];
    if (c.empty) continue;
    const s = c.score ?? Infinity;
    if (best < 0 || s < bestScore) {
      best = i;
      bestScore = s;
    }
  }
  return best;
}

export async function runRetrieval(
  handle: NativeModel,
  embedding: Embedding,
  ref: Reference,
  refHandle: NativeReference,
  o: ResolvedSegment,
  maths: { threads: number; points: MathsDevice; scoring: MathsDevice },
  encodeMs: number,
): Promise<SegmentResult> {
  const { threads } = maths;
  const natural = ref.mode === 'natural';
  const tPoints = performance.now();
  o.onProgress?.({ stage: 'points', fraction: 0.3 });
  // Points for the reference's part sets, then its background sets (medical mode),
  // in the order of ref.parts / the sorted background counts.
  const selected = await call(
    native().selectReferencePoints(embedding.handle, refHandle, threads, maths.points),
  );
  const pointsMs = performance.now() - tPoints;
  throwIfAborted(o.signal);

  const candidates: NativeCandidateInput[] = [];
  const promptPoints: PromptPoint[][] = [];
  const backgroundCounts = ref.negativeCounts.filter((kb) => kb > 0);
  ref.parts.forEach((k, pi) => {
    for (const kb of ref.negativeCounts) {
      const pts: PromptPoint[] = [];
      toPoints(selected[pi].argmax, 1, pts);
      if (kb > 0) {
        if (natural) toPoints(selected[pi].meanArgmin as Int32Array, 0, pts);
        else toPoints(selected[ref.parts.length + backgroundCounts.indexOf(kb)].argmax, 0, pts);
      }
      promptPoints.push(pts);
      candidates.push({
        parts: k,
        negatives: kb,
        xy: Float32Array.from(pts.flatMap((p) => [p.x, p.y])),
        labels: Float32Array.from(pts.map((p) => p.label)),
      });
    }
  });

  o.onProgress?.({ stage: 'decode', fraction: 0.4 });
  const tCand = performance.now();
  // Cancellable (lib/cancellable.ts): an abort stops the cascade between candidates and
  // decoder passes, inside each pass's ONNX Runtime Run, between Sinkhorn sweeps and
  // inside the exact simplex; the call then rejects with the signal's ABORTED error.
  const outcomes = await cancellable(o.signal, () =>
    handle.runCandidates(embedding.handle, {
      candidates,
      reference: refHandle,
      score: candidates.length > 1,
      solver: o.solver,
      weights: o.weights,
      epsilon: o.epsilon,
      maxIterations: o.maxIterations,
      tolerance: o.tolerance,
      threads,
      parallelCandidates: o.parallelCandidates,
      device: maths.scoring,
    }),
  );
  const candidatesMs = performance.now() - tCand;
  throwIfAborted(o.signal);
  o.onProgress?.({ stage: 'retrieval', fraction: 0.95 });

  const results: CandidateResult[] = outcomes.map((c, i) => ({
    parts: candidates[i].parts,
    negatives: candidates[i].negatives,
    points: promptPoints[i],
    score: c.scored ? c.score : null,
    maskArea: c.area,
    empty: c.empty,
    targetCells: c.targetCells,
    box: c.box,
    passes: c.passes,
    converged: c.converged,
    ...(c.note ? { note: c.note } : {}),
  }));
  const warnings: Warning[] = [];
  if (o.solver === 'sinkhorn' && results.some((r) => r.score !== null && !r.converged))
    warnings.push({
      code: 'SINKHORN_NOT_CONVERGED',
      message: `Sinkhorn did not reach its tolerance within ${o.maxIterations} iterations for some candidates; scores are approximate (raise retrieval.maxIterations or epsilon, or use the exact solver)`,
      params: ['retrieval.maxIterations', 'retrieval.epsilon', 'retrieval.solver'],
    });
  const decoderMs: [number, number, number] = [0, 0, 0];
  let retrievalMs = 0;
  for (const c of outcomes) {
    for (let p = 0; p < 3; p++) decoderMs[p] += c.passes[p].ms;
    retrievalMs += c.scoreMs;
  }
  const timings: SegmentTimings = { encodeMs, pointsMs, decoderMs, retrievalMs, candidatesMs, totalMs: 0 };
  const meta = embedding;
  const best = pickCandidate(results);
  if (best < 0) {
    return {
      mask: new Uint8Array(meta.width * meta.height),
      width: meta.width,
      height: meta.height,
      parts: 0,
      negatives: 0,
      points: [],
      score: null,
      empty: true,
      reason:
        'every candidate prompt set produced an empty mask: the target shows nothing similar to the reference',
      candidates: results,
      timings,
      warnings,
    };
  }
  // Native code keeps only the winner's full-size mask, chosen by this same rule.
  const mask = outcomes[best].mask;
  if (mask.length !== meta.width * meta.height)
    throw new P2SamError(
      'INTERNAL',
      `the native cascade kept no mask for candidate ${best}, which lib/segment.ts picked`,
    );
  return {
    mask,
    width: meta.width,
    height: meta.height,
    parts: results[best].parts,
    negatives: results[best].negatives,
    points: results[best].points,
    score: results[best].score,
    empty: false,
    candidates: results,
    timings,
    warnings,
  };
}
