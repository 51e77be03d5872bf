/**
 * lib/metrics.ts: Dice, IoU and the PerSeg / per-sequence means, against hand-counted
 * masks and properties.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  confusion,
  dice,
  diceFromCounts,
  iou,
  iouFromCounts,
  persegEntry,
  persegMiou,
  persegMiouDetailed,
  sequenceMeans,
} from '../lib/metrics';
import type { MaskData } from '../lib/types';

/** Builds a mask from rows of '.' (background) and '#' (foreground). */
function m(...rows: string[]): MaskData {
  const width = rows[0]!.length;
  const data = new Uint8Array(
    rows
      .join('')
      .split('')
      .map((c) => (c === '#' ? 255 : 0)),
  );
  return { data, width, height: rows.length };
}

describe('confusion / dice / iou on hand-computed masks', () => {
  // pred: 5 pixels, gt: 4 pixels, overlap 3.
  const pred = m('##..', '##..', '#...');
  const gt = m('.#..', '##..', '.#..');

  it('counts TP, FP, FN, TN', () => {
    expect(confusion(pred, gt)).toEqual({ tp: 3, fp: 2, fn: 1, tn: 6 });
  });

  it('Dice = 2TP/(2TP+FP+FN), IoU = TP/(TP+FP+FN)', () => {
    expect(dice(pred, gt)).toBeCloseTo(6 / 9, 12);
    expect(iou(pred, gt)).toBeCloseTo(3 / 6, 12);
    expect(diceFromCounts({ tp: 3, fp: 2, fn: 1 })).toBeCloseTo(2 / 3, 12);
    expect(iouFromCounts({ tp: 3, fp: 2, fn: 1 })).toBeCloseTo(0.5, 12);
  });

  it('treats any non-zero byte as foreground', () => {
    const a: MaskData = { data: new Uint8Array([1, 7, 0, 255]), width: 2, height: 2 };
    const b: MaskData = { data: new Uint8Array([255, 0, 0, 1]), width: 2, height: 2 };
    expect(confusion(a, b)).toEqual({ tp: 2, fp: 1, fn: 0, tn: 1 });
  });

  it('identical masks give 1, disjoint masks give 0', () => {
    expect(dice(pred, pred)).toBe(1);
    expect(iou(gt, gt)).toBe(1);
    const left = m('#.', '#.');
    const right = m('.#', '.#');
    expect(dice(left, right)).toBe(0);
    expect(iou(left, right)).toBe(0);
  });

  it("defines empty vs empty as 1 by default and 0 on request (authors' convention)", () => {
    const e = m('...', '...');
    expect(dice(e, e)).toBe(1);
    expect(iou(e, e)).toBe(1);
    expect(dice(e, e, { emptyEmpty: 0 })).toBe(0);
    expect(iou(e, e, { emptyEmpty: 0 })).toBe(0);
    // Only one side empty is a plain miss, whatever the convention.
    const one = m('#..', '...');
    expect(dice(one, e)).toBe(0);
    expect(dice(e, one, { emptyEmpty: 1 })).toBe(0);
    expect(() => dice(e, e, { emptyEmpty: 0.5 as 0 })).toThrow(
      /options\.emptyEmpty: expected 0 or 1, received 0\.5/,
    );
  });

  it('rejects size mismatches and malformed masks naming both sizes / the parameter', () => {
    expect(() => confusion(m('##', '##'), m('###', '###'))).toThrow(RangeError);
    expect(() => dice(m('##', '##'), m('###', '###'))).toThrow(/pred is 2×2 but gt is 3×2/);
    expect(() => iou({ data: new Uint8Array(3), width: 2, height: 2 }, m('##', '##'))).toThrow(
      /pred\.data: expected 2×2 = 4 bytes, received 3/,
    );
    expect(() => iou(m('##', '##'), null as unknown as MaskData)).toThrow(/gt: expected a MaskData/);
    expect(() => diceFromCounts({ tp: -1, fp: 0, fn: 0 })).toThrow(/counts\.tp/);
    expect(() => iouFromCounts({ tp: 1, fp: Number.NaN, fn: 0 })).toThrow(/counts\.fp/);
  });

  it('properties: symmetric, in [0,1], Dice = 2·IoU/(1+IoU), never NaN', () => {
    const maskPair = fc
      .record({ w: fc.integer({ min: 1, max: 12 }), h: fc.integer({ min: 1, max: 12 }) })
      .chain(({ w, h }) =>
        fc
          .tuple(
            fc.uint8Array({ minLength: w * h, maxLength: w * h }),
            fc.uint8Array({ minLength: w * h, maxLength: w * h }),
          )
          .map(
            ([a, b]) =>
              [
                // Make roughly half the pixels background so every case is exercised.
                { data: a.map((v) => (v < 128 ? 0 : v)), width: w, height: h },
                { data: b.map((v) => (v < 128 ? 0 : v)), width: w, height: h },
              ] as [MaskData, MaskData],
          ),
      );
    fc.assert(
      fc.property(maskPair, ([a, b]) => {
        const d = dice(a, b);
        const j = iou(a, b);
        expect(Number.isFinite(d) && Number.isFinite(j)).toBe(true);
        expect(d).toBe(dice(b, a));
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(1);
        expect(j).toBeLessThanOrEqual(d);
        expect(d).toBeCloseTo((2 * j) / (1 + j), 12);
        const c = confusion(a, b);
        expect(c.tp + c.fp + c.fn + c.tn).toBe(a.width * a.height);
      }),
      { numRuns: 500 },
    );
  });
});

describe('persegMiou', () => {
  it('pools I and U per class, then averages classes, ×100', () => {
    const entries = [
      { cls: 'cat', intersection: 50, union: 100 },
      { cls: 'cat', intersection: 30, union: 50 },
      { cls: 'duck', intersection: 9, union: 10 },
    ];
    // cat: 80/150 (pooled, not the mean of 0.5 and 0.6); duck: 0.9.
    const r = persegMiouDetailed(entries);
    expect(r.perClass.get('cat')).toBeCloseTo(80 / 150, 12);
    expect(r.perClass.get('duck')).toBeCloseTo(0.9, 12);
    expect(r.miou).toBeCloseTo(((80 / 150 + 0.9) / 2) * 100, 10);
    expect(persegMiou(entries)).toBeCloseTo(71.6666666667, 8);
  });

  it('builds entries from masks and handles an all-empty class by the empty rule', () => {
    const e1 = persegEntry('cup', m('##..', '....'), m('#...', '#...'));
    expect(e1).toEqual({ cls: 'cup', intersection: 1, union: 3 });
    const empty = persegEntry('ghost', m('..', '..'), m('..', '..'));
    expect(persegMiou([e1, empty])).toBeCloseTo(((1 / 3 + 1) / 2) * 100, 10);
    expect(persegMiou([e1, empty], { emptyEmpty: 0 })).toBeCloseTo((1 / 3 / 2) * 100, 10);
  });

  it('rejects empty or inconsistent input', () => {
    expect(() => persegMiou([])).toThrow(/entries: expected a non-empty array/);
    expect(() => persegMiou([{ cls: 'a', intersection: 5, union: 4 }])).toThrow(
      /intersection 5 exceeds union 4/,
    );
    expect(() => persegMiou([{ cls: 'a', intersection: -1, union: 4 }])).toThrow(/entries\[0\]/);
    expect(() => persegMiou([{ cls: 3 as unknown as string, intersection: 1, union: 4 }])).toThrow(
      /entries\[0\]\.cls/,
    );
  });
});

describe('sequenceMeans', () => {
  it('averages frames per sequence, then sequences equally', () => {
    const r = sequenceMeans([
      { sequence: 'v1', value: 0.9 },
      { sequence: 'v1', value: 0.7 },
      { sequence: 'v1', value: 0.8 },
      { sequence: 'v2', value: 0.5 },
    ]);
    expect([...r.perSequence.keys()]).toEqual(['v1', 'v2']);
    expect(r.perSequence.get('v1')).toBeCloseTo(0.8, 12);
    expect(r.perSequence.get('v2')).toBeCloseTo(0.5, 12);
    // The long video does not outweigh the short one (frame mean would be 0.725).
    expect(r.mean).toBeCloseTo(0.65, 12);
  });

  it('nests for volumes: slices → visits → patients', () => {
    const visits = sequenceMeans([
      { sequence: 'p1/v1', value: 0.6 },
      { sequence: 'p1/v1', value: 0.8 },
      { sequence: 'p1/v2', value: 0.9 },
      { sequence: 'p2/v1', value: 0.4 },
    ]);
    const patients = sequenceMeans(
      [...visits.perSequence].map(([k, v]) => ({ sequence: k.split('/')[0]!, value: v })),
    );
    expect(patients.perSequence.get('p1')).toBeCloseTo(0.8, 12);
    expect(patients.perSequence.get('p2')).toBeCloseTo(0.4, 12);
    expect(patients.mean).toBeCloseTo(0.6, 12);
  });

  it('rejects empty input and non-finite scores', () => {
    expect(() => sequenceMeans([])).toThrow(/scores: expected a non-empty array/);
    expect(() => sequenceMeans([{ sequence: 'a', value: Number.NaN }])).toThrow(/scores\[0\]\.value/);
  });
});
