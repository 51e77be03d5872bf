/**
 * Segmentation metrics as the field reports them (docs/algorithm.md §4).
 *
 * Empty/empty convention: when prediction and ground truth are both empty there is
 * nothing to disagree about, so Dice and IoU are defined as 1 (perfect agreement).
 * The authors' evaluation code computes 2·0/(0+0) with a zero guard and reports 0
 * instead; pass `{ emptyEmpty: 0 }` to reproduce their numbers. Every function here
 * returns a finite number — never NaN — for valid input.
 */
import type { MaskData } from './types';

export interface Confusion {
  /** Foreground in both prediction and ground truth. */
  tp: number;
  /** Foreground in the prediction only. */
  fp: number;
  /** Foreground in the ground truth only. */
  fn: number;
  /** Background in both. */
  tn: number;
}

export interface EmptyRule {
  /** Value of Dice/IoU when both masks are empty: 1 (default) or 0 (authors' code). */
  emptyEmpty?: 0 | 1;
}

function checkMask(m: unknown, param: string): asserts m is MaskData {
  if (m === null || typeof m !== 'object')
    throw new TypeError(`${param}: expected a MaskData object, received ${m === null ? 'null' : typeof m}`);
  const { data, width, height } = m as Partial<MaskData>;
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    (width as number) <= 0 ||
    (height as number) <= 0
  ) {
    throw new RangeError(
      `${param}: expected positive integer width and height, received ${String(width)}×${String(height)}`,
    );
  }
  if (!(data instanceof Uint8Array)) throw new TypeError(`${param}.data: expected a Uint8Array`);
  if (data.length !== (width as number) * (height as number)) {
    throw new RangeError(
      `${param}.data: expected ${width}×${height} = ${(width as number) * (height as number)} bytes, received ${data.length}`,
    );
  }
}

function emptyValue(opts: EmptyRule | undefined): 0 | 1 {
  const v = opts?.emptyEmpty ?? 1;
  if (v !== 0 && v !== 1) throw new RangeError(`options.emptyEmpty: expected 0 or 1, received ${String(v)}`);
  return v;
}

/** Pixel counts of agreement between a predicted and a ground-truth mask (any non-zero byte is foreground). */
export function confusion(pred: MaskData, gt: MaskData): Confusion {
  checkMask(pred, 'pred');
  checkMask(gt, 'gt');
  if (pred.width !== gt.width || pred.height !== gt.height) {
    throw new RangeError(
      `pred is ${pred.width}×${pred.height} but gt is ${gt.width}×${gt.height}; masks must have the same size`,
    );
  }
  const a = pred.data;
  const b = gt.data;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < a.length; i++) {
    const p = a[i] !== 0;
    const g = b[i] !== 0;
    if (p) {
      if (g) tp++;
      else fp++;
    } else if (g) fn++;
  }
  return { tp, fp, fn, tn: a.length - tp - fp - fn };
}

function checkCounts(c: unknown): asserts c is Confusion {
  const o = c as Partial<Confusion> | null;
  for (const k of ['tp', 'fp', 'fn'] as const) {
    const v = o?.[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new RangeError(`counts.${k}: expected a non-negative finite number, received ${String(v)}`);
    }
  }
}

/** Dice = 2TP / (2TP + FP + FN) from counts. */
export function diceFromCounts(c: Pick<Confusion, 'tp' | 'fp' | 'fn'>, opts?: EmptyRule): number {
  checkCounts(c);
  const den = 2 * c.tp + c.fp + c.fn;
  return den === 0 ? emptyValue(opts) : (2 * c.tp) / den;
}

/** IoU = TP / (TP + FP + FN) from counts. */
export function iouFromCounts(c: Pick<Confusion, 'tp' | 'fp' | 'fn'>, opts?: EmptyRule): number {
  checkCounts(c);
  const den = c.tp + c.fp + c.fn;
  return den === 0 ? emptyValue(opts) : c.tp / den;
}

/** Dice coefficient of two equal-size masks, in [0, 1]. Both empty → `emptyEmpty` (default 1). */
export function dice(pred: MaskData, gt: MaskData, opts?: EmptyRule): number {
  emptyValue(opts);
  return diceFromCounts(confusion(pred, gt), opts);
}

/** Intersection over union of two equal-size masks, in [0, 1]. Both empty → `emptyEmpty` (default 1). */
export function iou(pred: MaskData, gt: MaskData, opts?: EmptyRule): number {
  emptyValue(opts);
  return iouFromCounts(confusion(pred, gt), opts);
}

export interface PersegEntry {
  /** Object class (PerSeg folder name). */
  cls: string;
  /** Foreground pixels shared by prediction and ground truth (TP). */
  intersection: number;
  /** Foreground pixels in either (TP + FP + FN). */
  union: number;
}

export interface PersegResult {
  /** Mean over classes of the pooled class IoU, ×100. */
  miou: number;
  /** Pooled IoU (ΣI/ΣU, 0..1) per class. */
  perClass: Map<string, number>;
}

/**
 * PerSeg protocol: per class, IoU = ΣI / ΣU pooled over that class's target images
 * (the caller leaves the reference image out), then the mean over classes, ×100.
 * Pooling weights large objects more than a per-image mean would; that is the
 * benchmark's definition, kept as is. A class whose union is 0 (every target empty in
 * both masks) scores `emptyEmpty`.
 */
export function persegMiouDetailed(entries: PersegEntry[], opts?: EmptyRule): PersegResult {
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new RangeError(
      `entries: expected a non-empty array of {cls, intersection, union}, received ${Array.isArray(entries) ? 'an empty array' : typeof entries}`,
    );
  }
  const empty = emptyValue(opts);
  const sums = new Map<string, { i: number; u: number }>();
  entries.forEach((e, k) => {
    if (e === null || typeof e !== 'object' || typeof e.cls !== 'string') {
      throw new TypeError(
        `entries[${k}].cls: expected a string, received ${e === null ? 'null' : typeof e?.cls}`,
      );
    }
    const { intersection: i, union: u } = e;
    if (
      typeof i !== 'number' ||
      typeof u !== 'number' ||
      !Number.isFinite(i) ||
      !Number.isFinite(u) ||
      i < 0 ||
      u < 0
    ) {
      throw new RangeError(
        `entries[${k}]: expected non-negative finite intersection and union, received ${String(i)} and ${String(u)}`,
      );
    }
    if (i > u) {
      throw new RangeError(`entries[${k}]: intersection ${i} exceeds union ${u}`);
    }
    const s = sums.get(e.cls) ?? { i: 0, u: 0 };
    s.i += i;
    s.u += u;
    sums.set(e.cls, s);
  });
  const perClass = new Map<string, number>();
  let total = 0;
  for (const [cls, s] of sums) {
    const v = s.u === 0 ? empty : s.i / s.u;
    perClass.set(cls, v);
    total += v;
  }
  return { miou: (total / perClass.size) * 100, perClass };
}

/** PerSeg mIoU ×100; see `persegMiouDetailed`. */
export function persegMiou(entries: PersegEntry[], opts?: EmptyRule): number {
  return persegMiouDetailed(entries, opts).miou;
}

/** Builds a PerSeg entry from a prediction and its ground truth. */
export function persegEntry(cls: string, pred: MaskData, gt: MaskData): PersegEntry {
  const c = confusion(pred, gt);
  return { cls, intersection: c.tp, union: c.tp + c.fp + c.fn };
}

export interface SequenceScore {
  /** Video / volume / patient identifier. */
  sequence: string;
  /** Per-frame (per-slice) score, e.g. Dice in [0, 1]. */
  value: number;
}

export interface SequenceSummary {
  /** Mean per sequence, in first-seen order. */
  perSequence: Map<string, number>;
  /** Unweighted mean of the per-sequence means: every video counts once, however long. */
  mean: number;
}

/**
 * Sequence protocol (CVC-ClinicDB videos, 4D-Lung visits): per-frame scores are
 * averaged per sequence, then the sequence means are averaged. For volumes, call it
 * twice: slices → visits (sequence = visit id), then visits → patients.
 */
export function sequenceMeans(scores: SequenceScore[]): SequenceSummary {
  if (!Array.isArray(scores) || scores.length === 0) {
    throw new RangeError(
      `scores: expected a non-empty array of {sequence, value}, received ${Array.isArray(scores) ? 'an empty array' : typeof scores}`,
    );
  }
  const acc = new Map<string, { sum: number; n: number }>();
  scores.forEach((s, k) => {
    if (s === null || typeof s !== 'object' || typeof s.sequence !== 'string') {
      throw new TypeError(`scores[${k}].sequence: expected a string`);
    }
    if (typeof s.value !== 'number' || !Number.isFinite(s.value)) {
      throw new RangeError(`scores[${k}].value: expected a finite number, received ${String(s.value)}`);
    }
    const a = acc.get(s.sequence) ?? { sum: 0, n: 0 };
    a.sum += s.value;
    a.n += 1;
    acc.set(s.sequence, a);
  });
  const perSequence = new Map<string, number>();
  let total = 0;
  for (const [seq, a] of acc) {
    const m = a.sum / a.n;
    perSequence.set(seq, m);
    total += m;
  }
  return { perSequence, mean: total / perSequence.size };
}
