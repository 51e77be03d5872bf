/**
 * lib/testkit/scenes.ts: the generated scenes are deterministic, hit the coverage asked
 * for and place every part.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PART_COLORS,
  MIN_PART_EXTENT_1024,
  makeScene,
  objectCoverage,
  scaleForCoverage,
  sequence,
  type Scene,
} from '../lib/testkit/scenes';

const bytesEqual = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Buffer.from(a as Uint8Array).equals(Buffer.from(b as Uint8Array));

function centroid(mask: { data: Uint8Array; width: number }): [number, number] {
  let sx = 0;
  let sy = 0;
  let n = 0;
  mask.data.forEach((v, i) => {
    if (v) {
      sx += i % mask.width;
      sy += Math.floor(i / mask.width);
      n++;
    }
  });
  return [sx / n, sy / n];
}

describe('makeScene', () => {
  const opts = { width: 320, height: 240, seed: 42 };

  it('is deterministic for a seed and changes with the seed', () => {
    const a = makeScene(opts);
    const b = makeScene(opts);
    expect(bytesEqual(a.image.data, b.image.data)).toBe(true);
    expect(bytesEqual(a.mask.data, b.mask.data)).toBe(true);
    const c = makeScene({ ...opts, seed: 43 });
    expect(bytesEqual(a.image.data, c.image.data)).toBe(false);
    // The object geometry depends on placement only, not on the seed.
    expect(bytesEqual(a.mask.data, c.mask.data)).toBe(true);
  });

  it('returns an RGB image, a 0/1 mask that is the disjoint union of the parts', () => {
    const s = makeScene(opts);
    expect(s.image.channels).toBe(3);
    expect(s.image.data.length).toBe(320 * 240 * 3);
    expect(s.parts).toHaveLength(3);
    // Count violations instead of asserting per pixel (76 800 expect calls are slow).
    let overlaps = 0;
    let unionMismatch = 0;
    for (let i = 0; i < 320 * 240; i++) {
      const inParts = s.parts.reduce((k, p) => k + p.data[i]!, 0);
      if (inParts > 1) overlaps++;
      if (s.mask.data[i] !== inParts) unionMismatch++;
    }
    expect(overlaps).toBe(0);
    expect(unionMismatch).toBe(0);
    for (const p of s.parts) expect(p.data.some((v) => v === 1)).toBe(true);
  });

  it('stacks the parts top to bottom, each touching the next', () => {
    const s = makeScene(opts);
    const ys = s.parts.map((p) => centroid(p)[1]);
    expect(ys[0]!).toBeLessThan(ys[1]!);
    expect(ys[1]!).toBeLessThan(ys[2]!);
    const W = 320;
    for (let k = 0; k + 1 < s.parts.length; k++) {
      const a = s.parts[k]!.data;
      const b = s.parts[k + 1]!.data;
      let touching = 0;
      for (let i = 0; i + W < a.length; i++) if (a[i] && b[i + W]) touching++;
      expect(touching).toBeGreaterThan(10);
    }
  });

  it('paints part colours where the parts are and grey elsewhere', () => {
    for (const background of ['grey-noise', 'stripes'] as const) {
      const s = makeScene({ ...opts, background });
      const px = s.image.data;
      let notGrey = 0;
      let wrongColour = 0;
      for (let i = 0; i < 320 * 240; i++) {
        const [r, g, b] = [px[i * 3]!, px[i * 3 + 1]!, px[i * 3 + 2]!];
        const part = s.parts.findIndex((p) => p.data[i] === 1);
        if (part < 0) {
          if (!(r === g && g === b)) notGrey++;
        } else {
          const c = DEFAULT_PART_COLORS[part]!;
          if (Math.abs(r - c[0]) > 6 || Math.abs(g - c[1]) > 6 || Math.abs(b - c[2]) > 6) wrongColour++;
        }
      }
      expect(notGrey).toBe(0);
      expect(wrongColour).toBe(0);
      // The background is textured, not flat.
      const greys = new Set<number>();
      for (let i = 0; i < 320 * 240; i++) if (!s.mask.data[i]) greys.add(px[i * 3]!);
      expect(greys.size).toBeGreaterThan(30);
    }
  });

  it('places the object at the requested centre and size', () => {
    const s = makeScene({ width: 400, height: 200, center: [0.25, 0.6], scale: 0.5 });
    const [cx, cy] = centroid(s.mask);
    expect(Math.abs(cx - 100)).toBeLessThan(2);
    // The silhouette is not symmetric top/bottom, so allow a few pixels.
    expect(Math.abs(cy - 120)).toBeLessThan(6);
    const rows = new Set<number>();
    s.mask.data.forEach((v, i) => {
      if (v) rows.add(Math.floor(i / 400));
    });
    expect(rows.size).toBe(100); // height = 0.5 × short side (200)
    expect(s.info.partCenters.every((c) => c !== null)).toBe(true);
  });

  it('supports custom colours and part counts', () => {
    const colours: [number, number, number][] = [
      [250, 200, 0],
      [200, 0, 200],
    ];
    const s = makeScene({ width: 256, height: 256, partColors: colours, scale: 0.6 });
    expect(s.parts).toHaveLength(2);
    const [x, y] = s.info.partCenters[1]!;
    const o = (y * 256 + x) * 3;
    expect(Math.abs(s.image.data[o]! - 200)).toBeLessThanOrEqual(6);
    expect(Math.abs(s.image.data[o + 1]! - 0)).toBeLessThanOrEqual(6);
  });

  it('clips an object partly outside the image', () => {
    const s = makeScene({ width: 200, height: 200, center: [0.0, 0.5], scale: 0.5 });
    expect(s.info.coverage).toBeGreaterThan(0);
    expect(s.info.coverage).toBeLessThan(objectCoverage({ width: 200, height: 200, scale: 0.5 }));
  });

  it('rejects bad options naming them', () => {
    expect(() => makeScene({ width: 0, height: 10 })).toThrow(/options\.width/);
    expect(() => makeScene({ width: 64, height: 64, seed: 1.5 })).toThrow(/options\.seed/);
    expect(() => makeScene({ width: 64, height: 64, center: [Number.NaN, 0] })).toThrow(/options\.center/);
    expect(() => makeScene({ width: 64, height: 64, partColors: [[300, 0, 0]] })).toThrow(
      /options\.partColors\[0\]/,
    );
    expect(() => makeScene({ width: 64, height: 64, background: 'plaid' as 'stripes' })).toThrow(
      /options\.background/,
    );
    expect(() => makeScene({ width: 64, height: 64, scale: 0.5, coverage: 0.1 })).toThrow(
      /either scale or coverage/,
    );
  });
});

describe('coverage control and the part-size constraint', () => {
  it.each([0.02, 0.05, 0.1, 0.2, 0.4])(
    'coverage %f on 1024×768 is met to within 2 percent (relative)',
    (target) => {
      const s = makeScene({ width: 1024, height: 768, seed: 7, coverage: target });
      expect(Math.abs(s.info.coverage - target) / target).toBeLessThan(0.02);
      expect(objectCoverage(s.mask)).toBeCloseTo(s.info.coverage, 12);
      // Large enough for P2SAM's 16-px cells at SAM's input scale.
      expect(s.info.minPartExtent1024).toBeGreaterThanOrEqual(MIN_PART_EXTENT_1024);
    },
  );

  it('works for small and non-square images too', () => {
    for (const [w, h] of [
      [300, 500],
      [640, 480],
      [1280, 720],
    ] as const) {
      const s = makeScene({ width: w, height: h, coverage: 0.15, seed: 3 });
      expect(Math.abs(s.info.coverage - 0.15) / 0.15).toBeLessThan(0.03);
    }
  });

  it('scaleForCoverage is consistent with objectCoverage', () => {
    const base = { width: 512, height: 512, center: [0.4, 0.5] as [number, number] };
    const scale = scaleForCoverage(0.25, base);
    expect(objectCoverage({ ...base, scale })).toBeCloseTo(0.25, 2);
  });

  it('refuses unreachable coverages and too-small parts, with the reason', () => {
    expect(() => makeScene({ width: 2000, height: 200, coverage: 0.5 })).toThrow(/not reachable.*at most/);
    expect(() => scaleForCoverage(0, { width: 64, height: 64 })).toThrow(/coverage: expected a fraction/);
    expect(() => makeScene({ width: 1024, height: 1024, scale: 0.05 })).toThrow(/below the 32 px/);
    const tiny = makeScene({ width: 1024, height: 1024, scale: 0.05, allowSmallParts: true });
    expect(tiny.info.minPartExtent1024).toBeLessThan(MIN_PART_EXTENT_1024);
  });
});

describe('sequence', () => {
  it('moves and grows the object over a fixed background', () => {
    const frames: Scene[] = sequence(5, {
      width: 320,
      height: 240,
      seed: 9,
      from: { center: [0.3, 0.4], scale: 0.4 },
      to: { center: [0.7, 0.6], scale: 0.6 },
    });
    expect(frames).toHaveLength(5);
    const cs = frames.map((f) => centroid(f.mask));
    const areas = frames.map((f) => f.info.coverage);
    for (let i = 1; i < 5; i++) {
      expect(cs[i]![0]).toBeGreaterThan(cs[i - 1]![0]);
      expect(cs[i]![1]).toBeGreaterThan(cs[i - 1]![1]);
      expect(areas[i]!).toBeGreaterThan(areas[i - 1]!);
    }
    expect(Math.abs(cs[0]![0] - 96)).toBeLessThan(2);
    expect(Math.abs(cs[4]![0] - 224)).toBeLessThan(2);
    // Where neither frame has the object, the background is the same texture up to the
    // per-frame pixel noise (±10).
    let maxDiff = 0;
    let differs = false;
    for (let i = 0; i < 320 * 240; i++) {
      if (frames[0]!.mask.data[i] || frames[4]!.mask.data[i]) continue;
      const d = Math.abs(frames[0]!.image.data[i * 3]! - frames[4]!.image.data[i * 3]!);
      maxDiff = Math.max(maxDiff, d);
      if (d) differs = true;
    }
    expect(maxDiff).toBeLessThanOrEqual(20);
    expect(differs).toBe(true);
    // Deterministic as a whole.
    const again = sequence(5, {
      width: 320,
      height: 240,
      seed: 9,
      from: { center: [0.3, 0.4], scale: 0.4 },
      to: { center: [0.7, 0.6], scale: 0.6 },
    });
    expect(again.every((f, i) => bytesEqual(f.image.data, frames[i]!.image.data))).toBe(true);
  });

  it('rejects a bad frame count', () => {
    expect(() => sequence(0, { width: 64, height: 64 })).toThrow(/n: expected an integer/);
  });
});
