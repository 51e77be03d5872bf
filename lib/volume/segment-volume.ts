/**
 * `segmentVolume`: a new visit of a patient, contoured from an annotated earlier visit.
 *
 *   align the visits along z (align.ts) → pair target slices with annotated reference
 *   slices (pairing.ts) → for each target slice in the ROI's extent ± margin, in z order:
 *   segment it with the cached Reference of its reference slice → decide whether the
 *   object is there (presence.ts) → the mask volume + one record per slice.
 *
 * Encoder passes, the cost that dominates: each annotated reference slice that is used is
 * encoded once for the whole visit (its Embedding gives the Reference and the reference's
 * own score, then is freed), and each target slice once. With `pipeline` the next target
 * slice's encoder pass is started before the current slice's decoder cascade, so with the
 * model's default concurrency (2) the two overlap. At most two target embeddings and one reference
 * embedding are alive at any time (≈ 4 MB each): memory does not grow with the number of
 * slices beyond the output mask itself. References (JS arrays of the ROI's feature cells,
 * tens of KB each) are kept until the end because a later slice may pair with them again.
 */
import { P2SamError } from '../errors';
import type { Embedding } from '../embedding';
import type { P2SAM } from '../model';
import * as opt from '../options';
import type { PromptPoint } from '../types';
import * as v from '../validate';
import { emptyMask, requireMaskOnGrid, type MaskVolume, type Volume } from '../clinical/volume';
import { huWindowBounds, type HuWindow } from '../clinical/window';
import { alignVolumes, positionsAlong, sliceThicknesses, type ZAlignment } from './align';
import { pairSlices, type SliceZone } from './pairing';
import {
  DEFAULT_PRESENCE,
  decidePresence,
  enforceContinuity,
  type PresenceOptions,
  type ResolvedPresence,
} from './presence';
import { keepConsistentComponents } from './consistency';
import { cropMask, maskSlice, sliceAreas, sliceImage } from './slice-image';
import { estimateInPlaneShift, roiCrops, type CropRect } from './crop';
import { hashBytes, ReferenceSliceCache, type CachedReference } from './reference-cache';
import type { Reference } from '../reference';

/** The default HU window: mediastinal (L40/W400), where a soft-tissue mass stands out against lung. */
export const DEFAULT_VOLUME_WINDOW: [number, number] = [-160, 240];

export interface VolumeProgress {
  /** Slices the model runs on (extent + margin) and how many are finished. */
  total: number;
  done: number;
  /** The target slice in flight (index into the target volume). */
  targetSlice: number;
  /** 0..1 of the slice in flight. */
  fraction: number;
}

export interface SegmentVolumeOptions {
  /** HU window for the encoder input: a preset ('mediastinum', 'lung', …) or [low, high] (default 'mediastinum', [−160, 240]). */
  window?: HuWindow;
  /** How far beyond the reference ROI's extent target slices are tried (mm, default 10). */
  marginMm?: number;
  /** Target z − reference z of the same anatomy (mm); skips alignment (align.ts). */
  zOffsetMm?: number;
  /** Estimate the offset from the images even when the frames of reference match. */
  ignoreFrameOfReference?: boolean;
  /** createReference options for every reference slice (default mode 'medical'). */
  reference?: Omit<opt.ReferenceOptions, 'signal'>;
  retrieval?: opt.RetrievalOptions;
  parallelCandidates?: number;
  presence?: PresenceOptions;
  /**
   * 3-D consistency (consistency.ts): 'components' keeps, on each slice, the connected
   * parts that touch the neighbouring slices' result (default 'components': on the
   * phantoms it lowered the mean surface distance by 0.2–0.35 mm and never removed a
   * tumour slice; docs/volume.md has the measurements). 'none' keeps every part.
   */
  consistency?: 'none' | 'components';
  /**
   * Encode a square around the reference ROI instead of the whole slice (default 'roi';
   * crop.ts says why): finer feature cells for the same encoder cost.
   */
  crop?: 'roi' | 'none';
  /** Margin of that square around the ROI's bounding box (mm, default 40). */
  cropMarginMm?: number;
  /**
   * Overlap the next slice's encoder pass with this slice's decoder cascade. Default: on
   * when the models run on CUDA (the encoder then runs on the GPU while the cascade's maths
   * runs on the CPU); off on the CPU, where both already use every core and running them
   * at once was measured slower (bench/results, docs/volume.md).
   */
  pipeline?: boolean;
  /**
   * Use only annotated reference slices at least this far apart (mm) as references
   * (default 0: every annotated slice); fewer reference encoder passes, each target slice
   * guided by a reference slice up to half this distance away.
   */
  referenceSpacingMm?: number;
  /**
   * Keep prepared reference slices across calls (reference-cache.ts): give the same
   * cache to every visit contoured from one planning visit and each of its slices is
   * encoded once for all of them. The caller disposes it. Default: one cache per call.
   */
  referenceCache?: ReferenceSliceCache;
  /** Allow visits with different PatientIDs (default false: refused). */
  allowOtherPatient?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: VolumeProgress) => void;
}

export interface VolumeSliceRecord {
  targetSlice: number;
  /** Position along the reference normal in the target's coordinates (mm). */
  zMm: number;
  zInReferenceMm: number;
  zone: SliceZone;
  /** The annotated reference slice used, or null (outside, or no usable reference). */
  referenceSlice: number | null;
  referenceZMm: number | null;
  /** Whether the model ran on this slice. */
  ran: boolean;
  present: boolean;
  /** Why the slice is empty, when it is. */
  reason?: string;
  parts: number;
  negatives: number;
  points: PromptPoint[];
  score: number | null;
  /** The reference slice's own score (segmented with its own Reference). */
  referenceScore: number | null;
  scoreRatio: number | null;
  /** Final mask area (0 when absent). */
  areaPixels: number;
  areaMm2: number;
  /** The model's mask area before the presence decision. */
  rawAreaMm2: number;
  referenceAreaMm2: number;
  ms: number;
}

export interface VolumeSegmentation {
  /** On the target's grid. */
  mask: MaskVolume;
  /** One per target slice, in target slice order. */
  slices: VolumeSliceRecord[];
  alignment: ZAlignment;
  summary: {
    targetSlices: number;
    ranSlices: number;
    presentSlices: number;
    annotatedReferenceSlices: number;
    referenceSlicesEncoded: number;
    encoderRuns: number;
    /** Summed encoder time (ms) of every pass, reference slices included; overlaps other work when pipelined. */
    encoderMs: number;
    extentMm: [number, number];
    marginMm: number;
    referenceSpacingMm: number;
    pipelined: boolean;
    window: [number, number];
    /** The encoded rectangles (pixels), or null when whole slices were encoded. */
    crop: { reference: CropRect; target: CropRect; inPlaneShiftMm: [number, number, number] } | null;
    consistency: 'none' | 'components';
    volumeMl: number;
    totalMs: number;
    slicesPerSecond: number;
  };
}

function isVolume(x: unknown): x is Volume {
  if (!v.isPlainObject(x)) return false;
  const o = x as Record<string, unknown>;
  return (
    o.voxels instanceof Float32Array &&
    Number.isInteger(o.columns) &&
    Number.isInteger(o.rows) &&
    Number.isInteger(o.slices) &&
    Array.isArray(o.positions) &&
    (o.voxels as Float32Array).length === (o.columns as number) * (o.rows as number) * (o.slices as number)
  );
}

/**
 * Segments every slice of `target` that the reference ROI may reach, from the annotated
 * `reference` visit (see the file comment).
 *
 * @example
 *   const planning = await readDicomSeries('visit1/ct');
 *   const gtv = readRtstruct('visit1/rtstruct.dcm', planning, { roi: 'GTV' });
 *   const followUp = await readDicomSeries('visit2/ct');
 *   const r = await segmentVolume(model, followUp, { volume: planning, mask: gtv }, { marginMm: 10 });
 *   r.mask;                                  // MaskVolume on the follow-up grid
 *   r.slices.filter((s) => s.present).length // slices with tumour
 */
export async function segmentVolume(
  model: P2SAM,
  target: Volume,
  reference: { volume: Volume; mask: MaskVolume },
  options: SegmentVolumeOptions = {},
): Promise<VolumeSegmentation> {
  const t0 = performance.now();
  if (!isVolume(target)) v.fail('type', 'target', 'a Volume (readDicomSeries/readNifti)', target);
  if (!v.isPlainObject(reference)) v.fail('type', 'reference', '{ volume, mask }', reference);
  if (!isVolume(reference.volume))
    v.fail('type', 'reference.volume', 'a Volume (readDicomSeries/readNifti)', reference.volume);
  const refVol = reference.volume;
  const refMask = reference.mask;
  if (!v.isPlainObject(refMask) || !(refMask.data instanceof Uint8Array))
    v.fail('type', 'reference.mask', 'a MaskVolume { columns, rows, slices, data: Uint8Array }', refMask);
  requireMaskOnGrid(refMask, refVol, 'reference.mask');
  const o = v.optionsObject('options', options) as SegmentVolumeOptions;
  const window = resolveWindow(o.window);
  const marginMm = v.optionalNumber('options.marginMm', o.marginMm, 0, 1000, 10);
  const consistency = v.oneOf(
    'options.consistency',
    o.consistency,
    ['none', 'components'] as const,
    'components',
  );
  const pipeline = v.boolean('options.pipeline', o.pipeline, model.info.modelDevice === 'cuda');
  const referenceSpacingMm = v.optionalNumber('options.referenceSpacingMm', o.referenceSpacingMm, 0, 1000, 0);
  const cropMode = v.oneOf('options.crop', o.crop, ['roi', 'none'] as const, 'roi');
  const cropMarginMm = v.optionalNumber('options.cropMarginMm', o.cropMarginMm, 0, 1000, 40);
  const signal = v.abortSignal('options.signal', o.signal);
  const onProgress = v.func<(p: VolumeProgress) => void>('options.onProgress', o.onProgress);
  const presence = resolvePresence(o.presence);
  const refOptions = {
    mode: 'medical' as const,
    ...v.optionsObject('options.reference', o.reference),
    signal,
  };
  if (o.allowOtherPatient !== true && refVol.patient.PatientID !== target.patient.PatientID)
    throw new P2SamError(
      'VOLUME_PATIENT_MISMATCH',
      `the reference visit is of patient '${refVol.patient.PatientID}' and the target of '${target.patient.PatientID}': a reference annotation only transfers within one patient (allowOtherPatient / --allow-other-patient to override)`,
    );
  if (o.zOffsetMm !== undefined) v.finiteNumber('options.zOffsetMm', o.zOffsetMm, -1e5, 1e5);
  opt.throwIfAborted(signal);

  const alignment = alignVolumes(refVol, target, {
    zOffsetMm: o.zOffsetMm,
    ignoreFrameOfReference: o.ignoreFrameOfReference === true,
  });
  const pairing = pairSlices(refVol, refMask, target, alignment, { marginMm, referenceSpacingMm });
  const sameFrame = alignment.method === 'frame-of-reference';
  const inPlaneShift =
    cropMode === 'none'
      ? undefined
      : sameFrame
        ? ([0, 0, 0] as [number, number, number])
        : estimateInPlaneShift(refVol, target, alignment.offsetMm);
  const crops = inPlaneShift ? roiCrops(refVol, refMask, target, inPlaneShift, cropMarginMm) : undefined;
  const refZ = positionsAlong(refVol, refVol.normal);
  const tgtZ = positionsAlong(target, refVol.normal);
  const refAreas = sliceAreas(refMask);
  const refPixelMm2 = refVol.pixelSpacing[0] * refVol.pixelSpacing[1];
  const tgtPixelMm2 = target.pixelSpacing[0] * target.pixelSpacing[1];
  const plane = target.columns * target.rows;
  const out = emptyMask(target);
  const encoderRunsBefore = model.stats().encoderRuns;

  const records: VolumeSliceRecord[] = pairing.pairs.map((p) => ({
    targetSlice: p.targetSlice,
    zMm: tgtZ[p.targetSlice]!,
    zInReferenceMm: p.zInReferenceMm,
    zone: p.zone,
    referenceSlice: null,
    referenceZMm: null,
    ran: false,
    present: false,
    ...(p.zone === 'outside' ? { reason: `outside the reference ROI's extent ± ${marginMm} mm` } : {}),
    parts: 0,
    negatives: 0,
    points: [],
    score: null,
    referenceScore: null,
    scoreRatio: null,
    areaPixels: 0,
    areaMm2: 0,
    rawAreaMm2: 0,
    referenceAreaMm2: 0,
    ms: 0,
  }));
  const jobs = records
    .map((r, i) => ({ r, i, pair: pairing.pairs[i]! }))
    .filter((j) => j.r.zone !== 'outside');
  if (o.referenceCache !== undefined && !(o.referenceCache instanceof ReferenceSliceCache))
    v.fail('type', 'options.referenceCache', 'a ReferenceSliceCache', o.referenceCache);
  const cache = o.referenceCache ?? new ReferenceSliceCache();
  const ownCache = o.referenceCache === undefined;
  const { signal: _signal, ...refOptionsKey } = refOptions;
  void _signal;
  const keyBase = JSON.stringify([
    model.id,
    refVol.uids.seriesInstanceUid,
    crops?.reference ?? null,
    window,
    refOptionsKey,
    o.retrieval ?? null,
    o.parallelCandidates ?? null,
  ]);
  const keyOf = (k: number) => `${keyBase}|${k}|${hashBytes(maskSlice(refMask, k).data)}`;
  let referenceSlicesEncoded = 0;
  let encoderMs = 0;

  const referenceFor = async (
    candidates: number[],
  ): Promise<{ slice: number; entry: CachedReference; reference: Reference } | undefined> => {
    for (const k of candidates) {
      const key = keyOf(k);
      let entry = cache.get(key);
      if (!entry) {
        entry = { selfScore: null, areaMm2: refAreas[k]! * refPixelMm2 };
        const created = entry;
        const emb = await model.encode(sliceImage(refVol, k, window, crops?.reference), { signal });
        referenceSlicesEncoded++;
        encoderMs += emb.encodeMs;
        try {
          const m = maskSlice(refMask, k);
          entry.reference = await model.createReference(
            { image: emb, mask: crops ? cropMask(m, crops.reference) : m },
            refOptions,
          );
          const self = await model.segment(emb, {
            reference: entry.reference,
            retrieval: o.retrieval,
            signal,
            parallelCandidates: o.parallelCandidates,
          });
          entry.selfScore = self.score;
        } catch (err) {
          if (!(err instanceof P2SamError && err.code === 'EMPTY_REFERENCE')) {
            created.reference?.dispose();
            throw err;
          }
          entry.unusable = err.message;
        } finally {
          emb.dispose();
        }
        // Cached only once complete, so an abort mid-way leaves nothing half-made behind.
        cache.set(key, created);
      }
      if (entry.reference) return { slice: k, entry, reference: entry.reference };
    }
    return undefined;
  };

  const encodeTarget = (j: number): Promise<Embedding> =>
    model.encode(sliceImage(target, jobs[j]!.r.targetSlice, window, crops?.target), { signal });
  const tc = crops?.target ?? { x: 0, y: 0, width: target.columns, height: target.rows };
  // A prefetched embedding nobody will consume (error, abort) is freed when it arrives.
  let pending: Promise<Embedding> | undefined;
  const dropPending = () => {
    pending?.then(
      (e) => e.dispose(),
      () => undefined,
    );
    pending = undefined;
  };
  try {
    if (jobs.length > 0) pending = encodeTarget(0);
    for (let j = 0; j < jobs.length; j++) {
      const { r, pair } = jobs[j]!;
      const ts = performance.now();
      onProgress?.({ total: jobs.length, done: j, targetSlice: r.targetSlice, fraction: 0 });
      const ref = await referenceFor(pair.referenceCandidates);
      const embPromise = pending ?? encodeTarget(j);
      pending = undefined;
      const emb = await embPromise;
      encoderMs += emb.encodeMs;
      try {
        if (pipeline && j + 1 < jobs.length) pending = encodeTarget(j + 1);
        if (!ref) {
          r.reason =
            'no annotated reference slice covers a 16-px feature cell at SAM scale (every candidate reference mask too small)';
        } else {
          r.referenceSlice = ref.slice;
          r.referenceZMm = refZ[ref.slice]!;
          r.referenceScore = ref.entry.selfScore;
          r.referenceAreaMm2 = ref.entry.areaMm2;
          const seg = await model.segment(emb, {
            reference: ref.reference,
            retrieval: o.retrieval,
            signal,
            parallelCandidates: o.parallelCandidates,
            onProgress: (p) =>
              onProgress?.({ total: jobs.length, done: j, targetSlice: r.targetSlice, fraction: p.fraction }),
          });
          r.ran = true;
          r.parts = seg.parts;
          r.negatives = seg.negatives;
          r.points = seg.points.map((p) => ({ x: p.x + tc.x, y: p.y + tc.y, label: p.label }));
          r.score = seg.score;
          let area = 0;
          for (let i = 0; i < seg.mask.length; i++) if (seg.mask[i] !== 0) area++;
          r.rawAreaMm2 = area * tgtPixelMm2;
          const d = decidePresence(
            {
              empty: seg.empty,
              score: seg.score,
              referenceScore: ref.entry.selfScore,
              areaMm2: r.rawAreaMm2,
              referenceAreaMm2: ref.entry.areaMm2,
            },
            presence,
          );
          r.scoreRatio = d.scoreRatio;
          r.present = d.present;
          if (d.reason) r.reason = d.reason;
          if (d.present) {
            // Paste the (cropped) mask back into the full slice.
            const base = r.targetSlice * plane;
            for (let y = 0; y < tc.height; y++)
              for (let x = 0; x < tc.width; x++)
                out.data[base + (tc.y + y) * target.columns + tc.x + x] = seg.mask[y * tc.width + x] ? 1 : 0;
          }
        }
      } finally {
        emb.dispose();
      }
      r.ms = performance.now() - ts;
      onProgress?.({ total: jobs.length, done: j + 1, targetSlice: r.targetSlice, fraction: 0 });
    }
  } finally {
    dropPending();
    if (ownCache) cache.dispose();
  }

  // Continuity along z (records are in z order), then clear what it rejected.
  for (const i of enforceContinuity(records)) {
    const r = records[i]!;
    r.reason = 'margin slice not connected to the reference extent through present slices';
    out.data.fill(0, r.targetSlice * plane, (r.targetSlice + 1) * plane);
  }
  if (consistency === 'components')
    keepConsistentComponents(
      out,
      records.map((r) => r.targetSlice),
    );
  let voxels = 0;
  const thickness = sliceThicknesses(target);
  let volumeMm3 = 0;
  for (const r of records) {
    let n = 0;
    const base = r.targetSlice * plane;
    for (let i = 0; i < plane; i++) n += out.data[base + i]!;
    r.areaPixels = n;
    r.areaMm2 = n * tgtPixelMm2;
    if (n === 0 && r.present) {
      r.present = false;
      r.reason = '3-D consistency removed every part of this slice';
    }
    voxels += n;
    volumeMm3 += r.areaMm2 * thickness[r.targetSlice]!;
  }
  records.sort((a, b) => a.targetSlice - b.targetSlice);
  const totalMs = performance.now() - t0;
  const ran = records.filter((r) => r.ran).length;
  return {
    mask: out,
    slices: records,
    alignment,
    summary: {
      targetSlices: target.slices,
      ranSlices: ran,
      presentSlices: records.filter((r) => r.present).length,
      annotatedReferenceSlices: pairing.annotatedSlices.length,
      referenceSlicesEncoded,
      encoderRuns: model.stats().encoderRuns - encoderRunsBefore,
      encoderMs,
      extentMm: pairing.extentMm,
      marginMm,
      referenceSpacingMm,
      pipelined: pipeline,
      window,
      crop: crops && inPlaneShift ? { ...crops, inPlaneShiftMm: inPlaneShift } : null,
      consistency,
      volumeMl: voxels > 0 ? volumeMm3 / 1000 : 0,
      totalMs,
      slicesPerSecond: ran > 0 ? ran / (totalMs / 1000) : 0,
    },
  };
}

function resolveWindow(w: unknown): [number, number] {
  return w === undefined ? [...DEFAULT_VOLUME_WINDOW] : huWindowBounds(w as HuWindow);
}

function resolvePresence(p: unknown): ResolvedPresence {
  const o = v.optionsObject('options.presence', p);
  return {
    maxScoreRatio: v.optionalNumber(
      'options.presence.maxScoreRatio',
      o.maxScoreRatio,
      1,
      1e6,
      DEFAULT_PRESENCE.maxScoreRatio,
    ),
    scoreSlack: v.optionalNumber(
      'options.presence.scoreSlack',
      o.scoreSlack,
      0,
      1e6,
      DEFAULT_PRESENCE.scoreSlack,
    ),
    maxAreaRatio: v.optionalNumber(
      'options.presence.maxAreaRatio',
      o.maxAreaRatio,
      0,
      1e6,
      DEFAULT_PRESENCE.maxAreaRatio,
      true,
    ),
    minAreaRatio: v.optionalNumber(
      'options.presence.minAreaRatio',
      o.minAreaRatio,
      0,
      1e6,
      DEFAULT_PRESENCE.minAreaRatio,
    ),
  };
}
