/**
 * segmentVolume end to end on a two-visit phantom with the testkit model: the tumour of
 * the follow-up visit is found from the planning visit's annotation alone (no target
 * annotation, images-only z alignment), slices without tumour come out empty, each used
 * reference slice is encoded once, progress/abort/errors behave like `segment`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { P2SAM } from '../lib/model';
import { P2SamError } from '../lib/errors';
import { phantomStudy, type PhantomStudy } from '../lib/volume/phantom-study';
import { segmentVolume, type VolumeProgress, type VolumeSegmentation } from '../lib/volume/segment-volume';
import { volumeMetrics } from '../lib/volume/metrics3d';
import { keepConsistentComponents } from '../lib/volume/consistency';
import { ReferenceSliceCache } from '../lib/volume/reference-cache';
import { testkitModel } from './helpers';

let model: P2SAM;
let study: PhantomStudy;
let result: VolumeSegmentation;
const progress: VolumeProgress[] = [];

beforeAll(async () => {
  model = await P2SAM.load(await testkitModel());
  study = phantomStudy({ size: 256, seed: 1 });
  const before = model.stats().encoderRuns;
  result = await segmentVolume(
    model,
    study.target.volume,
    { volume: study.reference.volume, mask: study.reference.truth },
    { onProgress: (p) => progress.push(p) },
  );
  expect(model.stats().encoderRuns - before).toBe(result.summary.encoderRuns);
}, 240_000);

afterAll(async () => {
  await model?.dispose();
});

describe('segmentVolume on a two-visit phantom', () => {
  it('aligns the visits from the images within one slice', () => {
    expect(result.alignment.method).toBe('image-profile');
    expect(Math.abs(result.alignment.offsetMm - study.zOffsetMm)).toBeLessThanOrEqual(
      study.target.spec.sliceMm,
    );
  });

  it('contours the tumour with 3-D Dice ≥ 0.85 and no false-positive slice', () => {
    const m = volumeMetrics(result.mask, study.target.truth, study.target.volume);
    console.log(
      `phantom seed 1 (256²): Dice ${m.dice.toFixed(3)}, HD95 ${m.hd95Mm?.toFixed(2)} mm, MSD ${m.meanSurfaceDistanceMm?.toFixed(2)} mm, ` +
        `${m.predictedMl.toFixed(1)} ml vs ${m.truthMl.toFixed(1)} ml, FP slices [${m.falsePositiveSlices}], FN slices [${m.falseNegativeSlices}]`,
    );
    expect(m.dice).toBeGreaterThanOrEqual(0.85);
    expect(m.falseNegativeSlices.length).toBeLessThanOrEqual(3);
    expect(m.falsePositiveSlices).toEqual([]);
    // The false negatives are tumour tips: cross-sections well under a sixth of the largest one.
    const plane = 256 * 256;
    for (const k of m.falseNegativeSlices) {
      const area = study.target.truth.data.subarray(k * plane, (k + 1) * plane).reduce((a, b) => a + b, 0);
      expect(area).toBeLessThan(0.15 * Math.max(...m.perSlice.map((s) => s.truthVoxels)));
    }
    expect(m.hd95Mm!).toBeLessThan(10);
    // The mask volume and the per-slice records agree.
    const plane2 = study.target.volume.columns * study.target.volume.rows;
    for (const r of result.slices) {
      const n = result.mask.data
        .subarray(r.targetSlice * plane2, (r.targetSlice + 1) * plane2)
        .reduce((a, b) => a + b, 0);
      expect(n).toBe(r.areaPixels);
      expect(r.present).toBe(n > 0);
      if (!r.present) expect(r.reason).toBeTruthy();
    }
  });

  it('runs the model only inside the reference extent ± margin, and encodes each used reference slice once', () => {
    const s = result.summary;
    for (const r of result.slices) if (r.zone === 'outside') expect(r.ran).toBe(false);
    expect(s.ranSlices).toBe(result.slices.filter((r) => r.zone !== 'outside').length);
    const used = new Set(result.slices.filter((r) => r.referenceSlice !== null).map((r) => r.referenceSlice));
    expect(s.referenceSlicesEncoded).toBeGreaterThanOrEqual(used.size);
    expect(s.referenceSlicesEncoded).toBeLessThanOrEqual(s.annotatedReferenceSlices);
    expect(s.encoderRuns).toBe(s.ranSlices + s.referenceSlicesEncoded);
    expect(s.ranSlices).toBeLessThan(s.targetSlices);
  });

  it('reports progress per slice up to the total', () => {
    const total = result.summary.ranSlices;
    expect(progress.every((p) => p.total === total)).toBe(true);
    const done = progress.map((p) => p.done);
    for (let i = 1; i < done.length; i++) expect(done[i]!).toBeGreaterThanOrEqual(done[i - 1]!);
    expect(done[done.length - 1]).toBe(total);
  });

  it('with a shared ReferenceSliceCache, a second visit from the same reference encodes no reference slice and gives the same mask', async () => {
    const cache = new ReferenceSliceCache();
    try {
      const ref = { volume: study.reference.volume, mask: study.reference.truth };
      const a = await segmentVolume(model, study.target.volume, ref, { referenceCache: cache });
      const before = model.stats().encoderRuns;
      const b = await segmentVolume(model, study.target.volume, ref, { referenceCache: cache });
      expect(a.summary.referenceSlicesEncoded).toBe(result.summary.referenceSlicesEncoded);
      expect(b.summary.referenceSlicesEncoded).toBe(0);
      expect(model.stats().encoderRuns - before).toBe(b.summary.ranSlices);
      expect(Buffer.compare(Buffer.from(a.mask.data), Buffer.from(result.mask.data))).toBe(0);
      expect(Buffer.compare(Buffer.from(b.mask.data), Buffer.from(a.mask.data))).toBe(0);
      // Another window is another reference: the cache misses instead of answering wrongly.
      const c = await segmentVolume(model, study.target.volume, ref, {
        referenceCache: cache,
        window: [-150, 250],
      });
      expect(c.summary.referenceSlicesEncoded).toBeGreaterThan(0);
    } finally {
      cache.dispose();
    }
  }, 300_000);

  it("stops on abort with ABORTED, the signal's reason as its cause (as segment does), and leaves the model usable", async () => {
    const c = new AbortController();
    const run = segmentVolume(
      model,
      study.target.volume,
      { volume: study.reference.volume, mask: study.reference.truth },
      {
        signal: c.signal,
        onProgress: (p) => {
          if (p.done === 2) c.abort();
        },
      },
    );
    const err = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ABORTED' });
    expect((err as Error).cause).toMatchObject({ name: 'AbortError' });
    const e = await model.encode({ data: new Uint8Array(64 * 64 * 3), width: 64, height: 64, channels: 3 });
    e.dispose();
  }, 120_000);

  it('refuses visits of another patient, and bad options, before any model work', async () => {
    const before = model.stats().encoderRuns;
    const other = {
      ...study.target.volume,
      patient: { ...study.target.volume.patient, PatientID: 'SOMEONE-ELSE' },
    };
    await expect(
      segmentVolume(model, other, { volume: study.reference.volume, mask: study.reference.truth }),
    ).rejects.toMatchObject({ code: 'VOLUME_PATIENT_MISMATCH' });
    await expect(
      segmentVolume(
        model,
        study.target.volume,
        { volume: study.reference.volume, mask: study.reference.truth },
        { zOffsetMm: 5000 },
      ),
    ).rejects.toMatchObject({
      code: 'VOLUME_NO_OVERLAP',
    });
    await expect(
      segmentVolume(
        model,
        study.target.volume,
        { volume: study.reference.volume, mask: study.reference.truth },
        { window: 'bone' as never },
      ),
    ).rejects.toBeInstanceOf(P2SamError);
    await expect(
      segmentVolume(model, study.target.volume, {
        volume: study.reference.volume,
        mask: { ...study.reference.truth, slices: 3 },
      }),
    ).rejects.toMatchObject({
      code: 'MASK_SIZE_MISMATCH',
    });
    await expect(
      segmentVolume(model, {} as never, { volume: study.reference.volume, mask: study.reference.truth }),
    ).rejects.toThrow(TypeError);
    expect(model.stats().encoderRuns).toBe(before);
  });
});

describe('keepConsistentComponents', () => {
  it('drops a part with no support on the neighbouring slices and keeps the continuing one', () => {
    const w = 32;
    const m = { columns: w, rows: w, slices: 3, data: new Uint8Array(w * w * 3) };
    const paint = (k: number, x0: number, y0: number, s: number) => {
      for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) m.data[k * w * w + y * w + x] = 1;
    };
    for (const k of [0, 1, 2]) paint(k, 4, 4, 6); // a structure through all slices
    paint(1, 24, 24, 4); // a stray blob on the middle slice only
    const removed = keepConsistentComponents(m, [0, 1, 2]);
    expect(removed).toBe(16);
    expect(m.data[1 * w * w + 25 * w + 25]).toBe(0);
    expect(m.data[1 * w * w + 5 * w + 5]).toBe(1);
  });
});
