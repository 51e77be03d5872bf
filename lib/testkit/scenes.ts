/**
 * Deterministic synthetic scenes for tests, demos and benchmarks: a textured grey
 * background and one multi-part object whose parts have distinct saturated colours.
 *
 * Object geometry. The object occupies a box of height `H = scale · min(width, height)`
 * and width `aspect · H`, centred at `center` (fractions of the image size). The box is
 * cut into N horizontal bands of equal height, one per part colour, stacked top to
 * bottom and centred horizontally, so consecutive parts share a straight edge. Band
 * widths cycle through WIDTH_FACTORS of the box width, giving a silhouette with a
 * narrower "head" and a wider "body". The first band's top corners and the last band's
 * bottom corners are rounded. Pixels belong to a band when their centre (x+0.5, y+0.5)
 * is inside it, so parts never overlap and their union is the object mask.
 *
 * Why parts must not be too small. P2SAM looks at the reference mask on SAM's 64×64
 * feature grid, i.e. in 16-pixel cells after the image is resized to long side 1024
 * (docs/algorithm.md §2.2). A part thinner than about two cells either vanishes from the grid or
 * only shows up in cells mixed with its neighbours, so the part prototypes would be
 * meaningless. Scenes therefore require every part to measure at least
 * MIN_PART_EXTENT_1024 = 32 px in both directions at that scale; `allowSmallParts`
 * turns the check off for tests that want degenerate objects on purpose. With three
 * parts this allows masks down to roughly 1–2 % of the image.
 *
 * Everything is driven by a 32-bit seed through a small PRNG, so the same options give
 * the same bytes on every platform and Node version.
 */
import type { ImageData, MaskData } from '../types';
import { mulberry32 as prng } from './prng';

export type Rgb = [number, number, number];
export type Background = 'grey-noise' | 'stripes';

export const DEFAULT_PART_COLORS: readonly Rgb[] = [
  [220, 30, 30],
  [30, 180, 40],
  [30, 60, 220],
];

/** Minimum part size, in pixels at SAM's long-side-1024 scale (two 16-px feature cells). */
export const MIN_PART_EXTENT_1024 = 32;

const WIDTH_FACTORS = [0.6, 1.0, 0.8, 0.9, 0.7];
/** Per-channel noise amplitude on the object, so parts are not perfectly flat colour. */
const PART_NOISE = 6;

export interface SceneOptions {
  width: number;
  height: number;
  /** Seed of the background structure and all noise. Default 1. */
  seed?: number;
  /** Seed of the per-pixel noise only (sequences vary it per frame). Default `seed`. */
  noiseSeed?: number;
  /** Object centre as fractions of width and height. Default [0.5, 0.5]. */
  center?: [number, number];
  /** Object box height as a fraction of the shorter image side. Default 0.4. */
  scale?: number;
  /**
   * Instead of `scale`: the fraction of the image the object mask should cover
   * (e.g. 0.02 to 0.4). The scale is solved for numerically; see `scaleForCoverage`.
   */
  coverage?: number;
  /** Object box width / height. Default 1. */
  aspect?: number;
  /** One colour per part, top to bottom. Default red, green, blue. */
  partColors?: Rgb[];
  background?: Background;
  /** Skip the minimum-part-size check (see module comment). */
  allowSmallParts?: boolean;
}

export interface SceneInfo {
  /** The scale actually used (solved when `coverage` was given). */
  scale: number;
  /** Fraction of the image covered by the object mask. */
  coverage: number;
  /** Object box in pixels, [x0, y0) to [x1, y1), possibly extending past the image. */
  box: { x0: number; y0: number; x1: number; y1: number };
  /** Centroid of each part's visible pixels, or null for a part entirely off-image. */
  partCenters: Array<[number, number] | null>;
  /** Smallest part height/width at long-side-1024 scale, in pixels. */
  minPartExtent1024: number;
}

export interface Scene {
  /** RGB image. */
  image: ImageData;
  /** Object mask (union of the parts), 0/1. */
  mask: MaskData;
  /** One 0/1 mask per part colour, top to bottom. */
  parts: MaskData[];
  info: SceneInfo;
}

interface Resolved {
  width: number;
  height: number;
  seed: number;
  noiseSeed: number;
  center: [number, number];
  aspect: number;
  colors: Rgb[];
  background: Background;
  allowSmallParts: boolean;
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

function resolve(opts: SceneOptions): Resolved {
  if (opts === null || typeof opts !== 'object')
    throw new TypeError(`options: expected an object, received ${opts === null ? 'null' : typeof opts}`);
  const { width, height } = opts;
  if (!isInt(width) || width < 8 || width > 16384)
    throw new RangeError(`options.width: expected an integer 8..16384, received ${String(width)}`);
  if (!isInt(height) || height < 8 || height > 16384)
    throw new RangeError(`options.height: expected an integer 8..16384, received ${String(height)}`);
  const seed = opts.seed ?? 1;
  if (!isInt(seed)) throw new TypeError(`options.seed: expected an integer, received ${String(seed)}`);
  const noiseSeed = opts.noiseSeed ?? seed;
  if (!isInt(noiseSeed))
    throw new TypeError(`options.noiseSeed: expected an integer, received ${String(noiseSeed)}`);
  const center = opts.center ?? [0.5, 0.5];
  if (
    !Array.isArray(center) ||
    center.length !== 2 ||
    !center.every((v) => typeof v === 'number' && Number.isFinite(v))
  ) {
    throw new TypeError(
      `options.center: expected [cx, cy] as finite fractions, received ${JSON.stringify(center)}`,
    );
  }
  const aspect = opts.aspect ?? 1;
  if (typeof aspect !== 'number' || !Number.isFinite(aspect) || aspect < 0.2 || aspect > 5) {
    throw new RangeError(`options.aspect: expected a number in [0.2, 5], received ${String(aspect)}`);
  }
  const colors = opts.partColors ?? DEFAULT_PART_COLORS.map((c) => [...c] as Rgb);
  if (!Array.isArray(colors) || colors.length < 1 || colors.length > 8) {
    throw new RangeError(
      `options.partColors: expected 1 to 8 colours, received ${Array.isArray(colors) ? colors.length : typeof colors}`,
    );
  }
  colors.forEach((c, i) => {
    if (!Array.isArray(c) || c.length !== 3 || !c.every((v) => isInt(v) && v >= 0 && v <= 255)) {
      throw new TypeError(
        `options.partColors[${i}]: expected [r, g, b] integers 0..255, received ${JSON.stringify(c)}`,
      );
    }
  });
  const background = opts.background ?? 'grey-noise';
  if (background !== 'grey-noise' && background !== 'stripes') {
    throw new RangeError(
      `options.background: expected 'grey-noise' or 'stripes', received ${JSON.stringify(background)}`,
    );
  }
  return {
    width,
    height,
    seed,
    noiseSeed,
    center: [center[0], center[1]],
    aspect,
    colors,
    background,
    allowSmallParts: opts.allowSmallParts === true,
  };
}

interface Band {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  /** Corner radius of the rounded corners; which corners depends on the band's position. */
  r: number;
  roundTop: boolean;
  roundBottom: boolean;
}

function layout(r: Resolved, scale: number): { bands: Band[]; box: SceneInfo['box'] } {
  const short = Math.min(r.width, r.height);
  const bh = scale * short;
  const bw = r.aspect * bh;
  const cx = r.center[0] * r.width;
  const cy = r.center[1] * r.height;
  const n = r.colors.length;
  const stripe = bh / n;
  const bands: Band[] = [];
  for (let i = 0; i < n; i++) {
    const w = bw * WIDTH_FACTORS[i % WIDTH_FACTORS.length]!;
    const y0 = cy - bh / 2 + i * stripe;
    bands.push({
      x0: cx - w / 2,
      x1: cx + w / 2,
      y0,
      y1: y0 + stripe,
      r: 0.45 * Math.min(w, stripe),
      roundTop: i === 0,
      roundBottom: i === n - 1,
    });
  }
  return { bands, box: { x0: cx - bw / 2, y0: cy - bh / 2, x1: cx + bw / 2, y1: cy + bh / 2 } };
}

function inBand(b: Band, px: number, py: number): boolean {
  if (px < b.x0 || px >= b.x1 || py < b.y0 || py >= b.y1) return false;
  const rr = b.r;
  // Only the rounded corners need the circle test; elsewhere the rectangle decides.
  let ccy: number | null = null;
  if (b.roundTop && py < b.y0 + rr) ccy = b.y0 + rr;
  else if (b.roundBottom && py > b.y1 - rr) ccy = b.y1 - rr;
  if (ccy === null) return true;
  let ccx: number | null = null;
  if (px < b.x0 + rr) ccx = b.x0 + rr;
  else if (px > b.x1 - rr) ccx = b.x1 - rr;
  if (ccx === null) return true;
  const dx = px - ccx;
  const dy = py - ccy;
  return dx * dx + dy * dy <= rr * rr;
}

/** Part index per pixel (255 = background), scanning only the object's box. */
function rasterize(r: Resolved, scale: number): { labels: Uint8Array; bands: Band[]; box: SceneInfo['box'] } {
  const { bands, box } = layout(r, scale);
  const labels = new Uint8Array(r.width * r.height).fill(255);
  const yStart = Math.max(0, Math.floor(box.y0));
  const yEnd = Math.min(r.height, Math.ceil(box.y1));
  const xStart = Math.max(0, Math.floor(box.x0));
  const xEnd = Math.min(r.width, Math.ceil(box.x1));
  for (let y = yStart; y < yEnd; y++) {
    const py = y + 0.5;
    // Bands are stacked and disjoint in y: at most one can contain this row.
    const bi = bands.findIndex((b) => py >= b.y0 && py < b.y1);
    if (bi < 0) continue;
    const b = bands[bi]!;
    for (let x = xStart; x < xEnd; x++) {
      if (inBand(b, x + 0.5, py)) labels[y * r.width + x] = bi;
    }
  }
  return { labels, bands, box };
}

function coverageOf(labels: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] !== 255) n++;
  return n / labels.length;
}

/**
 * Fraction of the image covered by a mask, or by the object that `makeScene` would
 * draw for these options (at `scale`, default 0.4; cheap, no texture is rendered).
 */
export function objectCoverage(x: SceneOptions | MaskData): number {
  if (x !== null && typeof x === 'object' && 'data' in x) {
    const m = x as MaskData;
    if (!(m.data instanceof Uint8Array) || m.data.length !== m.width * m.height || m.data.length === 0) {
      throw new TypeError(`mask: expected a MaskData with width·height bytes of data`);
    }
    let n = 0;
    for (let i = 0; i < m.data.length; i++) if (m.data[i] !== 0) n++;
    return n / m.data.length;
  }
  const opts = x as SceneOptions;
  if (opts?.coverage !== undefined) {
    throw new TypeError(
      `options.coverage: objectCoverage measures a scale; call scaleForCoverage to solve for one`,
    );
  }
  const r = resolve(opts);
  const scale = checkScale(opts.scale ?? 0.4);
  return coverageOf(rasterize(r, scale).labels);
}

function checkScale(scale: unknown): number {
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0 || scale > 4) {
    throw new RangeError(`options.scale: expected a number in (0, 4], received ${String(scale)}`);
  }
  return scale;
}

const MAX_SOLVED_SCALE = 1;

/**
 * The scale at which the object covers `coverage` (a fraction of the image) for the
 * other options given, by bisection on the rasterized mask. The result is accurate to
 * the pixel grid: the achieved coverage is within about 1 % (relative) of the request
 * for objects of a few thousand pixels or more.
 *
 * @throws RangeError when the request is out of (0, 1) or not reachable with the object
 *   no taller than the short image side (e.g. 0.9 of a very wide image).
 */
export function scaleForCoverage(coverage: number, opts: Omit<SceneOptions, 'scale' | 'coverage'>): number {
  if (typeof coverage !== 'number' || !(coverage > 0 && coverage < 1)) {
    throw new RangeError(`coverage: expected a fraction in (0, 1), received ${String(coverage)}`);
  }
  const r = resolve(opts as SceneOptions);
  const maxCov = coverageOf(rasterize(r, MAX_SOLVED_SCALE).labels);
  if (coverage > maxCov) {
    throw new RangeError(
      `coverage: ${coverage} is not reachable for a ${r.width}×${r.height} image with this object ` +
        `(at most ${maxCov.toFixed(3)} with the object as tall as the short side)`,
    );
  }
  let lo = 0;
  let hi = MAX_SOLVED_SCALE;
  // Coverage grows with scale (the silhouette is scaled about a centre inside it), so
  // bisection converges; 40 halvings reach far below one pixel.
  for (let it = 0; it < 40; it++) {
    const mid = (lo + hi) / 2;
    if (coverageOf(rasterize(r, mid).labels) < coverage) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Low-frequency value noise: random greys on a coarse grid, bilinearly interpolated. */
function greyNoise(r: Resolved, rand: () => number, out: Float32Array): void {
  const { width: w, height: h } = r;
  const cell = Math.max(8, Math.round(Math.min(w, h) / 12));
  const gw = Math.ceil(w / cell) + 2;
  const gh = Math.ceil(h / cell) + 2;
  const grid = new Float32Array(gw * gh);
  for (let i = 0; i < grid.length; i++) grid[i] = 70 + 110 * rand();
  for (let y = 0; y < h; y++) {
    const gy = y / cell;
    const iy = Math.floor(gy);
    const fy = gy - iy;
    for (let x = 0; x < w; x++) {
      const gx = x / cell;
      const ix = Math.floor(gx);
      const fx = gx - ix;
      const a = grid[iy * gw + ix]!;
      const b = grid[iy * gw + ix + 1]!;
      const c = grid[(iy + 1) * gw + ix]!;
      const d = grid[(iy + 1) * gw + ix + 1]!;
      out[y * w + x] = (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy;
    }
  }
}

/** Diagonal stripes of two greys, with a seeded period and phase. */
function stripes(r: Resolved, rand: () => number, out: Float32Array): void {
  const { width: w, height: h } = r;
  const period = Math.max(8, Math.round((Math.min(w, h) / 20) * (0.8 + 0.4 * rand())));
  const phase = Math.floor(rand() * period);
  const dark = 80 + 20 * rand();
  const light = 150 + 20 * rand();
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      out[y * w + x] = (x + y + phase) % period < period / 2 ? dark : light;
    }
  }
}

function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/** Renders one scene. Same options → same bytes. */
export function makeScene(opts: SceneOptions): Scene {
  const r = resolve(opts);
  if (opts.scale !== undefined && opts.coverage !== undefined) {
    throw new TypeError(
      `options: give either scale or coverage, not both (received scale ${opts.scale} and coverage ${opts.coverage})`,
    );
  }
  const scale =
    opts.coverage !== undefined ? scaleForCoverage(opts.coverage, opts) : checkScale(opts.scale ?? 0.4);
  const { labels, bands, box } = rasterize(r, scale);
  const { width: w, height: h } = r;

  // Long side → 1024 is how SAM sees the image; measure the parts there.
  const to1024 = 1024 / Math.max(w, h);
  const minPartExtent1024 = Math.min(...bands.map((b) => Math.min(b.x1 - b.x0, b.y1 - b.y0))) * to1024;
  if (!r.allowSmallParts && minPartExtent1024 < MIN_PART_EXTENT_1024) {
    throw new RangeError(
      `options.scale: parts would be ${minPartExtent1024.toFixed(1)} px at long-side-1024 scale, ` +
        `below the ${MIN_PART_EXTENT_1024} px (two 16-px feature cells) P2SAM needs per part; ` +
        `use a larger scale/coverage, fewer parts, or allowSmallParts`,
    );
  }

  const bg = new Float32Array(w * h);
  const structure = prng(r.seed);
  if (r.background === 'stripes') stripes(r, structure, bg);
  else greyNoise(r, structure, bg);

  const noise = prng(r.noiseSeed ^ 0x9e3779b9);
  const img = new Uint8Array(w * h * 3);
  const n = r.colors.length;
  const parts = Array.from({ length: n }, () => new Uint8Array(w * h));
  const mask = new Uint8Array(w * h);
  const sums = Array.from({ length: n }, () => ({ x: 0, y: 0, k: 0 }));
  for (let p = 0, o = 0; p < w * h; p++, o += 3) {
    const l = labels[p]!;
    if (l === 255) {
      const v = clampByte(bg[p]! + (noise() - 0.5) * 20);
      img[o] = img[o + 1] = img[o + 2] = v;
    } else {
      const c = r.colors[l]!;
      img[o] = clampByte(c[0] + (noise() - 0.5) * 2 * PART_NOISE);
      img[o + 1] = clampByte(c[1] + (noise() - 0.5) * 2 * PART_NOISE);
      img[o + 2] = clampByte(c[2] + (noise() - 0.5) * 2 * PART_NOISE);
      parts[l]![p] = 1;
      mask[p] = 1;
      const s = sums[l]!;
      s.x += p % w;
      s.y += Math.floor(p / w);
      s.k++;
    }
  }
  const covered = mask.reduce((a, v) => a + v, 0);
  return {
    image: { data: img, width: w, height: h, channels: 3 },
    mask: { data: mask, width: w, height: h },
    parts: parts.map((data) => ({ data, width: w, height: h })),
    info: {
      scale,
      coverage: covered / (w * h),
      box,
      partCenters: sums.map((s) =>
        s.k === 0 ? null : ([Math.round(s.x / s.k), Math.round(s.y / s.k)] as [number, number]),
      ),
      minPartExtent1024,
    },
  };
}

export interface Keyframe {
  center: [number, number];
  scale: number;
}

export type SequenceOptions = Omit<SceneOptions, 'center' | 'scale' | 'coverage' | 'noiseSeed'> & {
  /** Object placement in the first frame. Default centre [0.4, 0.45], scale 0.35. */
  from?: Keyframe;
  /** Object placement in the last frame. Default centre [0.6, 0.55], scale 0.45. */
  to?: Keyframe;
};

/**
 * `n` frames of one scene with the object moving and scaling linearly from `from` to
 * `to`, like a tracked object in a video. The background structure is fixed (same
 * seed, a static camera); the per-pixel noise changes per frame.
 */
export function sequence(n: number, opts: SequenceOptions): Scene[] {
  if (!isInt(n) || n < 1 || n > 10000)
    throw new RangeError(`n: expected an integer 1..10000, received ${String(n)}`);
  const from = opts.from ?? { center: [0.4, 0.45], scale: 0.35 };
  const to = opts.to ?? { center: [0.6, 0.55], scale: 0.45 };
  for (const [name, k] of [
    ['from', from],
    ['to', to],
  ] as const) {
    if (k === null || typeof k !== 'object' || !Array.isArray(k.center) || k.center.length !== 2) {
      throw new TypeError(
        `options.${name}: expected { center: [cx, cy], scale }, received ${JSON.stringify(k)}`,
      );
    }
  }
  const seed = opts.seed ?? 1;
  const { from: _f, to: _t, ...rest } = opts;
  const frames: Scene[] = [];
  for (let i = 0; i < n; i++) {
    const t = n === 1 ? 0 : i / (n - 1);
    const lerp = (a: number, b: number): number => a + (b - a) * t;
    frames.push(
      makeScene({
        ...rest,
        seed,
        noiseSeed: (seed + i * 7919) | 0,
        center: [lerp(from.center[0], to.center[0]), lerp(from.center[1], to.center[1])],
        scale: lerp(from.scale, to.scale),
      }),
    );
  }
  return frames;
}
