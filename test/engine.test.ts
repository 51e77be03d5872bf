/**
 * Issue 3: P2SAM end to end with the testkit model on generated scenes (reference and
 * targets differ in position and scale) — part-aware retrieval, both modes, reuse of
 * the reference, and the defined behaviour on degenerate inputs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Embedding, P2SAM, P2SamError, type Warning } from '../lib';
import { testkitFixtureBytes } from '../lib/testkit';
import { area, maskIou, paintImage, partScenes, rectMask, testkitModel } from './helpers';

const { width: W, height: H, reference, targets } = partScenes();

let model: P2SAM;
let paths: { encoder: string; decoder: string };

beforeAll(async () => {
  paths = await testkitModel();
  model = await P2SAM.load({ ...paths, threads: 2 });
});

describe('part-aware retrieval (natural mode)', () => {
  it('one prototype gives an incomplete mask; retrieval picks ≥ 2 parts with IoU ≥ 0.9', async () => {
    const ref = await model.createReference({ image: reference.image, mask: reference.mask });
    expect(ref.summary().parts).toEqual([1, 2, 3, 4, 5]);
    for (const t of targets) {
      const r = await model.segment(t.image, { reference: ref });
      const truth = t.mask.data;
      const single = r.candidates.find((c) => c.parts === 1)!;
      // k = 1: one positive point covers one colour part only.
      expect(single.maskArea).toBeLessThan(0.6 * area(truth));
      expect(r.parts).toBeGreaterThanOrEqual(2);
      expect(maskIou(r.mask, truth)).toBeGreaterThanOrEqual(0.9);
      // The chosen candidate has the smallest score; the scores are real numbers.
      for (const c of r.candidates) {
        expect(c.score === null || Number.isFinite(c.score)).toBe(true);
        if (c.score !== null) expect(r.score!).toBeLessThanOrEqual(c.score);
      }
      expect(r.candidates.map((c) => c.parts)).toEqual([1, 2, 3, 4, 5]);
    }
  });

  it("places natural mode's one negative point in the background", async () => {
    const ref = await model.createReference({ image: reference.image, mask: reference.mask });
    const t = targets[0];
    const r = await model.segment(t.image, { reference: ref });
    const negatives = r.points.filter((p) => p.label === 0);
    expect(negatives).toHaveLength(1);
    expect(t.mask.data[negatives[0].y * W + negatives[0].x]).toBe(0);
    const positives = r.points.filter((p) => p.label === 1);
    expect(positives).toHaveLength(r.parts);
    for (const p of positives) expect(t.mask.data[p.y * W + p.x]).toBe(1);
  });

  it('encodes the reference once for many targets, and an Embedding target skips the encoder', async () => {
    const m = await P2SAM.load({ ...paths, threads: 2 });
    const ref = await m.createReference(
      { image: reference.image, mask: reference.mask },
      { parts: { min: 1, max: 3 } },
    );
    expect(m.stats().encoderRuns).toBe(1);
    const results = [];
    for (const t of targets) results.push(await m.segment(t.image, { reference: ref }));
    expect(m.stats().encoderRuns).toBe(1 + targets.length);
    const emb = await m.encode(targets[0].image);
    const again = await m.segment(emb, { reference: ref });
    expect(m.stats().encoderRuns).toBe(2 + targets.length);
    expect(Buffer.from(again.mask).equals(Buffer.from(results[0].mask))).toBe(true);
    expect(again.candidates.map((c) => c.score)).toEqual(results[0].candidates.map((c) => c.score));
    // A reference can also be built from a stored embedding.
    const stored = Embedding.fromData(emb.toFloat32Array(), {
      origWidth: emb.width,
      origHeight: emb.height,
      inputWidth: emb.inputWidth,
      inputHeight: emb.inputHeight,
    });
    const r2 = await m.segment(stored, { reference: ref });
    expect(Buffer.from(r2.mask).equals(Buffer.from(results[0].mask))).toBe(true);
    await m.dispose();
  });

  it('is deterministic, and the Sinkhorn solver ranks candidates like the exact one here', async () => {
    const ref = await model.createReference({ image: reference.image, mask: reference.mask }, { seed: 7 });
    const a = await model.segment(targets[1].image, { reference: ref });
    const b = await model.segment(targets[1].image, { reference: ref });
    expect(Buffer.from(a.mask).equals(Buffer.from(b.mask))).toBe(true);
    expect(a.candidates.map((c) => c.score)).toEqual(b.candidates.map((c) => c.score));
    const s = await model.segment(targets[1].image, { reference: ref, retrieval: { solver: 'sinkhorn' } });
    expect(s.parts).toBeGreaterThanOrEqual(2);
    expect(maskIou(s.mask, targets[1].mask.data)).toBeGreaterThanOrEqual(0.9);
    // At the default ε the entropic cost stays close to the exact one.
    for (let i = 0; i < a.candidates.length; i++) {
      const e = a.candidates[i].score!;
      const k = s.candidates[i].score!;
      expect(Math.abs(k - e)).toBeLessThan(0.15 * e);
    }
  });

  it('reports progress in order and honours sigmoid weights', async () => {
    const ref = await model.createReference(
      { image: reference.image, mask: reference.mask },
      { parts: { min: 2, max: 3 } },
    );
    const stages: string[] = [];
    const r = await model.segment(targets[2].image, {
      reference: ref,
      retrieval: { weights: 'sigmoid' },
      onProgress: (p) => stages.push(p.stage),
    });
    expect(stages[0]).toBe('encode');
    expect(stages[stages.length - 1]).toBe('done');
    expect(stages).toContain('decode');
    expect(maskIou(r.mask, targets[2].mask.data)).toBeGreaterThanOrEqual(0.85);
  });
});

describe('pruned cascade decoder', () => {
  it('runs the cascade on a decoder pruned of its full-resolution branch, with identical results', async () => {
    expect(model.info.decoder.cascade).toBe('pruned');
    const full = await P2SAM.load({ ...paths, threads: 2, pruneDecoder: false });
    expect(full.info.decoder.cascade).toBe('full');
    const refA = await model.createReference(
      { image: reference.image, mask: reference.mask },
      { parts: { min: 1, max: 3 } },
    );
    const refB = await full.createReference(
      { image: reference.image, mask: reference.mask },
      { parts: { min: 1, max: 3 } },
    );
    const a = await model.segment(targets[0].image, { reference: refA });
    const b = await full.segment(targets[0].image, { reference: refB });
    expect(Buffer.from(a.mask).equals(Buffer.from(b.mask))).toBe(true);
    expect(a.candidates.map((c) => c.score)).toEqual(b.candidates.map((c) => c.score));
    await full.dispose();
  });
});

describe('medical mode', () => {
  it('uses background-part negatives (argmax of each background map) and segments the object', async () => {
    const ref = await model.createReference(
      { image: reference.image, mask: reference.mask },
      { mode: 'medical', parts: { min: 1, max: 4 }, negatives: { min: 1, max: 3 } },
    );
    expect(ref.summary().negatives).toEqual([1, 2, 3]);
    const t = targets[0];
    const r = await model.segment(t.image, { reference: ref });
    expect(r.candidates).toHaveLength(4 * 3);
    // Candidates are ordered k-major, kb-minor (ties keep the earlier one).
    expect(r.candidates.slice(0, 3).map((c) => [c.parts, c.negatives])).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
    ]);
    const negatives = r.points.filter((p) => p.label === 0);
    expect(negatives).toHaveLength(r.negatives);
    for (const p of negatives) expect(t.mask.data[p.y * W + p.x]).toBe(0);
    expect(maskIou(r.mask, t.mask.data)).toBeGreaterThanOrEqual(0.85);
    // Medical passes are single-mask: token 0 throughout.
    for (const c of r.candidates) expect(c.passes.map((p) => p.token)).toEqual([0, 0, 0]);
  });

  it('kb = 0 means no negative point', async () => {
    const ref = await model.createReference(
      { image: reference.image, mask: reference.mask },
      { mode: 'medical', parts: 3, negatives: 0 },
    );
    const r = await model.segment(targets[0].image, { reference: ref });
    expect(r.candidates).toHaveLength(1);
    expect(r.points.every((p) => p.label === 1)).toBe(true);
    expect(r.score).toBeNull(); // a single candidate needs no retrieval
  });
});

describe('degenerate inputs give errors or defined results, never NaN', () => {
  it('an empty reference mask is an EMPTY_REFERENCE error', async () => {
    const empty = { data: new Uint8Array(W * H), width: W, height: H };
    await expect(model.createReference({ image: reference.image, mask: empty })).rejects.toMatchObject({
      code: 'EMPTY_REFERENCE',
    });
  });

  it('a mask smaller than one feature cell is an EMPTY_REFERENCE error that says why', async () => {
    const tiny = rectMask(W, H, [{ x0: 100, y0: 100, x1: 103, y1: 103 }]);
    const err = await model.createReference({ image: reference.image, mask: tiny }).catch((e) => e);
    expect(err).toBeInstanceOf(P2SamError);
    expect(err.code).toBe('EMPTY_REFERENCE');
    expect(err.message).toMatch(/feature cell/);
  });

  it('a mask whose size differs from the image is refused with both sizes', async () => {
    const wrong = rectMask(W - 1, H, [{ x0: 1, y0: 1, x1: 50, y1: 50 }]);
    await expect(model.createReference({ image: reference.image, mask: wrong })).rejects.toThrow(
      /639×480.*640×480/,
    );
  });

  it('fewer foreground cells than parts: the large k are skipped and reported', async () => {
    // A 2×1-cell object at 1024 scale: 2 foreground cells, so k ≥ 3 cannot be clustered.
    const img = paintImage(
      1024,
      1024,
      [128, 128, 128],
      [{ x0: 512, y0: 512, x1: 544, y1: 528, color: [220, 30, 30] }],
    );
    const m = rectMask(1024, 1024, [{ x0: 512, y0: 512, x1: 544, y1: 528 }]);
    const ref = await model.createReference({ image: img, mask: m });
    expect(ref.summary().parts).toEqual([1, 2]);
    expect(ref.summary().skippedParts).toEqual([3, 4, 5]);
  });

  it('a target with nothing similar gives a defined result, with a reason when empty', async () => {
    const ref = await model.createReference(
      { image: reference.image, mask: reference.mask },
      { parts: { min: 1, max: 3 } },
    );
    const blank = paintImage(W, H, [90, 90, 90], []);
    const r = await model.segment(blank, { reference: ref });
    for (const c of r.candidates) expect(c.score === null || Number.isFinite(c.score)).toBe(true);
    if (r.empty) {
      expect(r.reason).toMatch(/empty/);
      expect(area(r.mask)).toBe(0);
      expect(r.score).toBeNull();
    } else {
      expect(area(r.mask)).toBeGreaterThan(0);
    }
  });

  it('a reference from another model is refused', async () => {
    const other = await P2SAM.load({ ...paths, threads: 1 });
    const ref = await other.createReference({ image: reference.image, mask: reference.mask }, { parts: 1 });
    await expect(model.segment(targets[0].image, { reference: ref })).rejects.toMatchObject({
      code: 'MODEL_MISMATCH',
    });
    await other.dispose();
  });
});

describe('single-mask decoder exports', () => {
  it('warns once through onWarning and the result, and still segments', async () => {
    const warnings: Warning[] = [];
    const m = await P2SAM.load({
      encoder: paths.encoder,
      decoder: testkitFixtureBytes('single-mask-decoder'),
      threads: 2,
      onWarning: (w) => warnings.push(w),
    });
    const ref = await m.createReference(
      { image: reference.image, mask: reference.mask },
      { parts: { min: 1, max: 3 } },
    );
    const r1 = await m.segment(targets[0].image, { reference: ref });
    await m.segment(targets[1].image, { reference: ref });
    expect(warnings.filter((w) => w.code === 'SINGLE_MASK_DECODER')).toHaveLength(1);
    expect(r1.warnings.map((w) => w.code)).toContain('SINGLE_MASK_DECODER');
    expect(maskIou(r1.mask, targets[0].mask.data)).toBeGreaterThan(0.8);
    await m.dispose();
  });
});
