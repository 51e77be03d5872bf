/**
 * The per-slice presence rule and the continuity walk, on hand-made records; and the
 * reference-spacing option of the pairing.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PRESENCE, decidePresence, enforceContinuity } from '../lib/volume/presence';
import { alignVolumes } from '../lib/volume/align';
import { pairSlices } from '../lib/volume/pairing';
import { phantomStudy } from '../lib/volume/phantom-study';

describe('decidePresence', () => {
  const base = { empty: false, score: 0.2, referenceScore: 0.15, areaMm2: 900, referenceAreaMm2: 1000 };
  it('keeps a result that costs about what the reference slice costs itself', () => {
    expect(decidePresence(base, DEFAULT_PRESENCE)).toMatchObject({ present: true, areaRatio: 0.9 });
    expect(decidePresence(base, DEFAULT_PRESENCE).scoreRatio).toBeCloseTo(0.2 / 0.15, 12);
  });
  it('rejects an empty mask, a score far above the reference, or an area far above it — and says why', () => {
    expect(decidePresence({ ...base, empty: true }, DEFAULT_PRESENCE)).toMatchObject({
      present: false,
      reason: expect.stringMatching(/nothing like/),
    });
    // Bound: 0.15 × 2.5 + 0.5 = 0.875.
    expect(decidePresence({ ...base, score: 0.87 }, DEFAULT_PRESENCE).present).toBe(true);
    expect(decidePresence({ ...base, score: 0.88 }, DEFAULT_PRESENCE)).toMatchObject({
      present: false,
      reason: expect.stringMatching(/score 0\.880 above 0\.875/),
    });
    expect(decidePresence({ ...base, areaMm2: 4100 }, DEFAULT_PRESENCE)).toMatchObject({
      present: false,
      reason: expect.stringMatching(/area 4\.1×/),
    });
  });
  it('falls back to the area alone when there is no score (a single candidate is never scored)', () => {
    expect(decidePresence({ ...base, score: null }, DEFAULT_PRESENCE).present).toBe(true);
    expect(decidePresence({ ...base, score: null, areaMm2: 9000 }, DEFAULT_PRESENCE).present).toBe(false);
  });
});

describe('enforceContinuity', () => {
  const rec = (zones: string, present: string) =>
    [...zones].map((z, i) => ({
      zone: ({ o: 'outside', m: 'margin', e: 'extent' } as const)[z as 'o' | 'm' | 'e'],
      present: present[i] === '1',
    }));
  it('keeps margin slices connected to the extent and clears the ones beyond a gap', () => {
    const s = rec('ommmeeemmmo', '01011110110');
    const cleared = enforceContinuity(s);
    // Below: slice 3 touches the extent, slice 1 is cut off by the absent slice 2.
    // Above: the first margin slice (7) is absent, so 8 and 9 are cut off.
    expect(cleared).toEqual([1, 8, 9]);
    expect(s.map((x) => (x.present ? 1 : 0)).join('')).toBe('00011110000');
  });
  it('clears margin slices next to an absent end of the extent', () => {
    const s = rec('mmeeemm', '1100011');
    expect(enforceContinuity(s)).toEqual([1, 0, 5, 6]);
    expect(s.every((x) => !x.present)).toBe(true);
  });
});

describe('pairSlices with referenceSpacingMm', () => {
  it('guides every target slice with reference slices at least that far apart', () => {
    const st = phantomStudy({ size: 64, seed: 8 });
    const a = alignVolumes(st.reference.volume, st.target.volume, { zOffsetMm: st.zOffsetMm });
    const all = pairSlices(st.reference.volume, st.reference.truth, st.target.volume, a, { marginMm: 10 });
    const sparse = pairSlices(st.reference.volume, st.reference.truth, st.target.volume, a, {
      marginMm: 10,
      referenceSpacingMm: 10,
    });
    const used = (p: typeof all) =>
      [...new Set(p.pairs.filter((x) => x.zone !== 'outside').map((x) => x.referenceCandidates[0]!))].sort(
        (x, y) => x - y,
      );
    const z = (k: number) => st.reference.volume.positions[k]![2];
    const u = used(sparse);
    expect(u.length).toBeLessThan(used(all).length);
    for (let i = 1; i < u.length; i++) expect(z(u[i]!) - z(u[i - 1]!)).toBeGreaterThanOrEqual(10 - 1e-6);
    // The fallbacks are still listed (every annotated slice), guides first.
    for (const p of sparse.pairs)
      if (p.zone !== 'outside') expect(p.referenceCandidates.length).toBe(sparse.annotatedSlices.length);
  });
});
