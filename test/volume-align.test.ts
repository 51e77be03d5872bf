/**
 * Z alignment and slice pairing on two-visit phantoms with known table shifts: the
 * image-profile estimate must land within one target slice thickness of the truth, a
 * shared frame of reference gives 0, an override is taken as given, and pairs that cannot
 * overlap or are not parallel are refused with coded errors.
 */
import { describe, expect, it } from 'vitest';
import { alignVolumes, estimateZOffset } from '../lib/volume/align';
import { pairSlices } from '../lib/volume/pairing';
import { phantomStudy } from '../lib/volume/phantom-study';
import { P2SamError } from '../lib/errors';

describe('z alignment on phantoms with known shifts', () => {
  // Shifts of both signs, not multiples of either slice spacing, and large enough that the
  // two scans overlap by well under their full length.
  const cases = [
    { zShiftMm: 41.3, referenceSliceMm: 3, targetSliceMm: 2.5 },
    { zShiftMm: -17.9, referenceSliceMm: 3, targetSliceMm: 2.5 },
    { zShiftMm: 0, referenceSliceMm: 2.5, targetSliceMm: 2.5 },
    { zShiftMm: 103.7, referenceSliceMm: 5, targetSliceMm: 2, targetSlices: 60 },
    { zShiftMm: -62.2, referenceSliceMm: 2, referenceSlices: 60, targetSliceMm: 3, targetSlices: 36 },
  ];
  const errors: number[] = [];
  for (const c of cases) {
    it(`recovers a ${c.zShiftMm} mm shift (${c.referenceSliceMm} mm → ${c.targetSliceMm} mm slices) within one slice`, () => {
      const s = phantomStudy({ size: 128, seed: 3, ...c });
      const e = estimateZOffset(s.reference.volume, s.target.volume);
      const err = Math.abs(e.offsetMm - s.zOffsetMm);
      errors.push(err);
      expect(err).toBeLessThanOrEqual(c.targetSliceMm);
      expect(e.correlation).toBeGreaterThan(0.8);
      // Without a shared frame of reference alignVolumes uses the same estimate.
      const a = alignVolumes(s.reference.volume, s.target.volume);
      expect(a.method).toBe('image-profile');
      expect(a.offsetMm).toBeCloseTo(e.offsetMm, 6);
    });
  }
  it('reports the errors measured above', () => {
    // Printed for docs/volume.md; the per-case assertions are the test.
    console.log(`z alignment errors (mm): ${errors.map((e) => e.toFixed(2)).join(', ')}`);
    expect(errors.length).toBe(cases.length);
  });

  it('takes 0 from a shared frame of reference and an explicit override as given', () => {
    const s = phantomStudy({ size: 64, seed: 4, sharedFrameOfReference: true });
    expect(alignVolumes(s.reference.volume, s.target.volume)).toMatchObject({
      offsetMm: 0,
      method: 'frame-of-reference',
    });
    expect(alignVolumes(s.reference.volume, s.target.volume, { zOffsetMm: 12.5 })).toMatchObject({
      offsetMm: 12.5,
      method: 'override',
    });
    // Asked to ignore the shared frame, the images agree with it (the scans are registered).
    const e = alignVolumes(s.reference.volume, s.target.volume, { ignoreFrameOfReference: true });
    expect(Math.abs(e.offsetMm)).toBeLessThanOrEqual(2.5);
  });

  it('refuses series whose slices are not parallel', () => {
    const s = phantomStudy({ size: 64, seed: 5 });
    const t = s.target.volume;
    const tilted = {
      ...t,
      rowDirection: [1, 0, 0] as [number, number, number],
      columnDirection: [0, 0.8, 0.6] as [number, number, number],
      normal: [0, -0.6, 0.8] as [number, number, number],
    };
    expect(() => alignVolumes(s.reference.volume, tilted)).toThrow(
      expect.objectContaining({ code: 'VOLUME_GEOMETRY_MISMATCH' }),
    );
  });
});

describe('slice pairing', () => {
  const s = phantomStudy({ size: 64, seed: 6 });
  const ref = s.reference;
  const a = alignVolumes(ref.volume, s.target.volume, { zOffsetMm: s.zOffsetMm });

  it('pairs target slices in the ROI extent with the nearest annotated reference slice and leaves the rest outside', () => {
    const p = pairSlices(ref.volume, ref.truth, s.target.volume, a, { marginMm: 10 });
    const annotatedZ = p.annotatedSlices.map((k) => ref.volume.positions[k]![2]);
    for (const pair of p.pairs) {
      if (pair.zone === 'outside') {
        expect(pair.referenceCandidates).toEqual([]);
        expect(pair.zInReferenceMm < p.extentMm[0] - 10 || pair.zInReferenceMm > p.extentMm[1] + 10).toBe(
          true,
        );
        continue;
      }
      const nearest = pair.referenceCandidates[0]!;
      const d = Math.abs(ref.volume.positions[nearest]![2] - pair.zInReferenceMm);
      expect(Math.min(...annotatedZ.map((z) => Math.abs(z - pair.zInReferenceMm)))).toBeCloseTo(d, 9);
      if (pair.zone === 'extent') expect(d).toBeLessThanOrEqual(ref.spec.sliceMm / 2 + 1e-6);
    }
    // Every target slice with tumour in the truth is tried (the margin covers the growth).
    const plane = 64 * 64;
    for (const pair of p.pairs) {
      const has = s.target.truth.data
        .subarray(pair.targetSlice * plane, (pair.targetSlice + 1) * plane)
        .some((x) => x !== 0);
      if (has) expect(pair.zone).not.toBe('outside');
    }
  });

  it('refuses a target without any slice in the extent ± margin', () => {
    const far = alignVolumes(ref.volume, s.target.volume, { zOffsetMm: 900 });
    let err: unknown;
    try {
      pairSlices(ref.volume, ref.truth, s.target.volume, far, { marginMm: 10 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(P2SamError);
    expect((err as P2SamError).code).toBe('VOLUME_NO_OVERLAP');
    expect((err as P2SamError).message).toMatch(/extent ± 10 mm/);
  });

  it('refuses an empty reference ROI', () => {
    const empty = { ...ref.truth, data: new Uint8Array(ref.truth.data.length) };
    expect(() => pairSlices(ref.volume, empty, s.target.volume, a, { marginMm: 10 })).toThrow(
      expect.objectContaining({ code: 'EMPTY_REFERENCE' }),
    );
  });
});
