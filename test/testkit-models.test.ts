/**
 * The ONNX writer and the testkit models, executed with onnxruntime-node's JS API
 * (a real ONNX Runtime, CPU). Scenes are generated here: a three-part object (red, green,
 * blue) on a dark, noisy grey background.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ProtoWriter } from '../lib/onnx/protobuf';
import { attr, encodeModel, GraphBuilder } from '../lib/onnx/graph';
import { appendToGraph, graphOutputs, pruneOutputs } from '../lib/onnx/prune';
import {
  SAM_PIXEL_MEAN,
  SAM_PIXEL_STD,
  TESTKIT_DECODER_PARAMS,
  TESTKIT_ENCODER_DATA_FILE,
  TESTKIT_FIXTURE_NAMES,
  TESTKIT_SAM_SIZED_ENCODER_PARAMS,
  fixtureDynamicOutputEncoderBytes,
  fixtureNotOnnxBytes,
  fixturePreprocessedEncoderBytes,
  fixtureSam2DecoderBytes,
  fixtureSam2EncoderBytes,
  fixtureSingleMaskDecoderBytes,
  fixtureTruncatedModelBytes,
  fixtureUnrelatedModelBytes,
  fixtureWrongInputNameDecoderBytes,
  testkitCellFeature,
  testkitDecoderBytes,
  testkitEncoderBytes,
  testkitFixtureBytes,
  writeTestkitModel,
  type TestkitFixtureName,
} from '../lib/testkit';
import { mulberry32 } from '../lib/testkit/prng';

// ---------------------------------------------------------------------------------------
// Scene helpers

type RGB = [number, number, number];
const RED: RGB = [220, 30, 30];
const GREEN: RGB = [30, 200, 40];
const BLUE: RGB = [30, 40, 220];
const BACKGROUND: RGB = [70, 70, 70];

/** Part rectangles in relative coordinates [u0,u1)×[v0,v1). */
const PARTS = {
  red: { rect: [0.12, 0.4, 0.2, 0.8], colour: RED },
  green: { rect: [0.4, 0.62, 0.2, 0.8], colour: GREEN },
  blue: { rect: [0.62, 0.88, 0.2, 0.8], colour: BLUE },
} as const;
type PartName = keyof typeof PARTS;

interface Scene {
  width: number;
  height: number;
  /** HWC float RGB in 0..255. */
  rgb: Float32Array;
  regions: Record<PartName, Uint8Array>;
}

/** Renders the scene at width×height; background gets uniform noise of ±noise grey levels. */
function renderScene(width: number, height: number, noise = 30, seed = 7): Scene {
  const rnd = mulberry32(seed);
  const rgb = new Float32Array(width * height * 3);
  const regions = {
    red: new Uint8Array(width * height),
    green: new Uint8Array(width * height),
    blue: new Uint8Array(width * height),
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = (x + 0.5) / width;
      const v = (y + 0.5) / height;
      let colour: RGB = BACKGROUND;
      let n = noise;
      for (const name of Object.keys(PARTS) as PartName[]) {
        const [u0, u1, v0, v1] = PARTS[name].rect;
        if (u >= u0 && u < u1 && v >= v0 && v < v1) {
          colour = PARTS[name].colour as RGB;
          regions[name][y * width + x] = 1;
          n = 4;
        }
      }
      for (let c = 0; c < 3; c++) {
        rgb[(y * width + x) * 3 + c] = Math.min(255, Math.max(0, colour[c]! + (rnd() * 2 - 1) * n));
      }
    }
  }
  return { width, height, rgb, regions };
}

/** Bilinear HWC resize with half-pixel centres (edge-clamped), like PIL/OpenCV upscaling. */
function resizeBilinear(src: Float32Array, w: number, h: number, nw: number, nh: number): Float32Array {
  const out = new Float32Array(nw * nh * 3);
  for (let y = 0; y < nh; y++) {
    const sy = Math.min(h - 1, Math.max(0, ((y + 0.5) * h) / nh - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(h - 1, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < nw; x++) {
      const sx = Math.min(w - 1, Math.max(0, ((x + 0.5) * w) / nw - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(w - 1, x0 + 1);
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const a = src[(y0 * w + x0) * 3 + c]! * (1 - fx) + src[(y0 * w + x1) * 3 + c]! * fx;
        const b = src[(y1 * w + x0) * 3 + c]! * (1 - fx) + src[(y1 * w + x1) * 3 + c]! * fx;
        out[(y * nw + x) * 3 + c] = a * (1 - fy) + b * fy;
      }
    }
  }
  return out;
}

/** SAM's resized size for the long side 1024. */
function samResized(h: number, w: number): [number, number] {
  const s = 1024 / Math.max(h, w);
  return [Math.floor(h * s + 0.5), Math.floor(w * s + 0.5)];
}

function iou(pred: ArrayLike<boolean | number>, gt: ArrayLike<number>): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < gt.length; i++) {
    const p = Boolean(pred[i]);
    const g = gt[i]! > 0;
    if (p && g) inter++;
    if (p || g) union++;
  }
  return union === 0 ? 1 : inter / union;
}

/** Foreground (logit > 0) of channel c of a [1,C,H,W] logits tensor. */
function channelMask(t: ort.Tensor, c: number): Uint8Array {
  const [, , h, w] = t.dims as number[];
  const data = t.data as Float32Array;
  const out = new Uint8Array(h! * w!);
  for (let i = 0; i < out.length; i++) out[i] = data[c * h! * w! + i]! > 0 ? 1 : 0;
  return out;
}

function countOverlap(mask: Uint8Array, region: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] && region[i]) n++;
  return n;
}

function sum(mask: Uint8Array): number {
  let n = 0;
  for (const v of mask) n += v;
  return n;
}

function union(...masks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(masks[0]!.length);
  for (const m of masks) for (let i = 0; i < m.length; i++) out[i] = out[i]! | m[i]!;
  return out;
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

/** The 256-d feature of grid cell (row, col) of a [1,256,64,64] embedding. */
function cellFeature(emb: ort.Tensor, row: number, col: number): Float32Array {
  const data = emb.data as Float32Array;
  const out = new Float32Array(256);
  for (let c = 0; c < 256; c++) out[c] = data[c * 4096 + row * 64 + col]!;
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function f32(data: ArrayLike<number>, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', Float32Array.from(data), dims);
}

// ---------------------------------------------------------------------------------------
// Model runners

let encoder: ort.InferenceSession;
let decoder: ort.InferenceSession;
let tmpDir: string;

beforeAll(async () => {
  encoder = await ort.InferenceSession.create(testkitEncoderBytes());
  decoder = await ort.InferenceSession.create(testkitDecoderBytes());
  tmpDir = await mkdtemp(path.join(os.tmpdir(), 'p2sam-testkit-'));
});

afterAll(async () => {
  await rm(tmpDir, { recursive: true, force: true });
});

/** Runs the input_image encoder on an HWC image already resized to long side 1024. */
async function encode(rgb: Float32Array, h: number, w: number, session = encoder): Promise<ort.Tensor> {
  const out = await session.run({ input_image: new ort.Tensor('float32', rgb, [h, w, 3]) });
  return out.image_embeddings!;
}

interface Prompt {
  /** [x, y, label] in the 1024 frame. */
  points: [number, number, number][];
  mask?: Float32Array;
  hasMask?: number;
  orig: [number, number];
}

function decoderFeeds(emb: ort.Tensor, p: Prompt, embName = 'image_embeddings'): Record<string, ort.Tensor> {
  return {
    [embName]: emb,
    point_coords: f32(
      p.points.flatMap((pt) => pt.slice(0, 2)),
      [1, p.points.length, 2],
    ), // drop each label
    point_labels: f32(
      p.points.map(([, , l]) => l),
      [1, p.points.length],
    ),
    mask_input: f32(p.mask ?? new Float32Array(256 * 256), [1, 1, 256, 256]),
    has_mask_input: f32([p.hasMask ?? 0], [1]),
    orig_im_size: f32(p.orig, [2]),
  };
}

async function decode(emb: ort.Tensor, p: Prompt, session = decoder): Promise<Record<string, ort.Tensor>> {
  return (await session.run(decoderFeeds(emb, p))) as Record<string, ort.Tensor>;
}

/** Centre of a part in the 1024 frame of an image whose resized size is (rh, rw). */
function partCentre(name: PartName, rw: number, rh: number, du = 0): [number, number] {
  const [u0, u1, v0, v1] = PARTS[name].rect;
  return [((u0 + u1) / 2 + du) * rw, ((v0 + v1) / 2) * rh];
}

// ---------------------------------------------------------------------------------------

describe('protobuf writer', () => {
  const varint = (v: number | bigint) => Array.from(new ProtoWriter().varint(v).finish());

  it("encodes varints as protobuf specifies (base 128, little-endian groups, 64-bit two's complement)", () => {
    expect(varint(0)).toEqual([0]);
    expect(varint(1)).toEqual([1]);
    expect(varint(127)).toEqual([0x7f]);
    expect(varint(128)).toEqual([0x80, 0x01]);
    expect(varint(300)).toEqual([0xac, 0x02]);
    expect(varint(2 ** 31)).toEqual([0x80, 0x80, 0x80, 0x80, 0x08]);
    expect(varint(2n ** 63n)).toEqual([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    expect(varint(-1)).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  it('writes tags, fixed32 floats, strings and nested messages', () => {
    const w = new ProtoWriter(1); // forces growth
    w.int64(1, 150)
      .float(2, 1.5)
      .string(3, 'hé')
      .message(4, (m) => m.int64(1, 2))
      .double(5, -2);
    expect(Array.from(w.finish())).toEqual([
      0x08,
      0x96,
      0x01, // field 1 varint 150
      0x15,
      0x00,
      0x00,
      0xc0,
      0x3f, // field 2 fixed32 1.5f
      0x1a,
      0x03,
      0x68,
      0xc3,
      0xa9, // field 3 "hé" (UTF-8, 3 bytes)
      0x22,
      0x02,
      0x08,
      0x02, // field 4 sub-message {1: 2}
      0x29,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0xc0, // field 5 fixed64 -2.0
    ]);
  });

  it('rejects bad field numbers and unrepresentable integers with the parameter named', () => {
    expect(() => new ProtoWriter().int64(0, 1)).toThrow(/field number.*received 0/);
    expect(() => new ProtoWriter().int64(2 ** 29, 1)).toThrow(RangeError);
    expect(() => new ProtoWriter().varint(1.5)).toThrow(/varint value: expected a safe integer.*1\.5/);
    expect(() => new ProtoWriter().varint(2n ** 64n)).toThrow(/64 bits/);
  });
});

describe('ONNX graph writer', () => {
  it('produces models ONNX Runtime executes, with int, float, string and ints attributes', async () => {
    const g = new GraphBuilder('attrs');
    const x = g.input('x', 'float32', [2, 3]);
    const t = g.op('Transpose', [x], { perm: [1, 0] }); // [3,2]
    const leaky = g.op('LeakyRelu', [t], { alpha: attr.float(0.25) });
    const up = g.op('Resize', [g.op('Unsqueeze', [leaky, g.i64([0, 1])]), '', g.f32([1, 1, 1, 2])], {
      mode: 'nearest',
    });
    g.op('Reshape', [up, g.i64([3, 4])], undefined, 'y');
    g.output('y', 'float32', [3, 4]);
    const { model, externalData } = encodeModel({ graph: g.build() });
    expect(externalData).toBeNull();
    const s = await ort.InferenceSession.create(model);
    const out = await s.run({ x: f32([-4, 2, 8, 1, -2, 6], [2, 3]) });
    expect(out.y!.dims).toEqual([3, 4]);
    // transpose → [[-4,1],[2,-2],[8,6]], leaky → [[-1,1],[2,-0.5],[8,6]], nearest ×2 along columns
    expect(Array.from(out.y!.data as Float32Array)).toEqual([-1, -1, 1, 1, 2, 2, -0.5, -0.5, 8, 8, 6, 6]);
  });

  it('reports malformed specs clearly', () => {
    const g = new GraphBuilder('bad');
    expect(() => g.f32([1, 2, 3], [2, 2])).not.toThrow(); // validated at encode time
    expect(() => encodeModel({ graph: g.build() })).toThrow(
      /data: expected 4 elements for dims \[2, 2\], received 3/,
    );
    const g2 = new GraphBuilder('bad2');
    const x = g2.input('x', 'float32', [1]);
    g2.op('LeakyRelu', [x], { alpha: 0.5 }, 'y');
    g2.output('y', 'float32', [1]);
    expect(() => encodeModel({ graph: g2.build() })).toThrow(/attribute "alpha".*attr\.float/);
    expect(() => g2.input('x', 'float32', [1])).toThrow(/"x" is already defined/);
    const g3 = new GraphBuilder('bad3');
    g3.output('never', 'float32', [1]);
    expect(() => g3.build()).toThrow(/output "never" is never produced/);
    expect(() =>
      encodeModel({ graph: new GraphBuilder('e').build() }, { externalData: { location: '../x.data' } }),
    ).toThrow(/externalData\.location/);
  });

  it('stores large initializers as aligned external data that ONNX Runtime loads from a path', async () => {
    const g = new GraphBuilder('ext');
    const x = g.input('x', 'float32', [1000]);
    const w = g.initializer({
      name: 'w',
      type: 'float32',
      dims: [1000],
      data: Float32Array.from({ length: 1000 }, (_, i) => i),
    });
    const b = g.initializer({
      name: 'b',
      type: 'float32',
      dims: [1000],
      data: new Float32Array(1000).fill(0.5),
    });
    g.op('Add', [g.op('Mul', [x, w]), b], undefined, 'y');
    g.output('y', 'float32', [1000]);
    const { model, externalData } = encodeModel(
      { graph: g.build() },
      { externalData: { location: 'ext.bin', alignment: 4096 } },
    );
    // Two 4000-byte payloads; the second starts at the next 4096 boundary.
    expect(externalData!.length).toBe(4096 + 4000);
    expect(new Float32Array(externalData!.buffer.slice(4096 + 4 * 10, 4096 + 4 * 11))[0]).toBe(0.5);
    expect(model.length).toBeLessThan(1000); // payloads are not inline
    const dir = await mkdtemp(path.join(tmpDir, 'ext-'));
    await writeFile(path.join(dir, 'm.onnx'), model);
    await expect(ort.InferenceSession.create(path.join(dir, 'm.onnx'))).rejects.toThrow(/ext\.bin|external/i);
    await writeFile(path.join(dir, 'ext.bin'), externalData!);
    const s = await ort.InferenceSession.create(path.join(dir, 'm.onnx'));
    const out = await s.run({ x: f32(new Float32Array(1000).fill(2), [1000]) });
    const y = out.y!.data as Float32Array;
    expect([y[0], y[1], y[999]]).toEqual([0.5, 2.5, 1998.5]);
  });
});

describe('testkit generation', () => {
  // Generation speed is a benchmark matter (bench/), not a test.
  it('is deterministic and small', () => {
    const a = [
      testkitEncoderBytes(),
      testkitEncoderBytes({ form: 'preprocessed' }),
      testkitDecoderBytes(),
      testkitDecoderBytes({ variant: 'sam-sized' }),
      testkitDecoderBytes({ maskOutputs: 1 }),
      ...TESTKIT_FIXTURE_NAMES.map((n) => testkitFixtureBytes(n)),
    ];
    const b = [
      testkitEncoderBytes(),
      testkitEncoderBytes({ form: 'preprocessed' }),
      testkitDecoderBytes(),
      testkitDecoderBytes({ variant: 'sam-sized' }),
      testkitDecoderBytes({ maskOutputs: 1 }),
      ...TESTKIT_FIXTURE_NAMES.map((n) => testkitFixtureBytes(n)),
    ];
    for (let i = 0; i < a.length; i++) {
      expect(Buffer.from(a[i]!).equals(Buffer.from(b[i]!))).toBe(true);
      expect(a[i]!.length).toBeLessThan(10 * 1024 * 1024);
    }
  });

  it('rejects bad options naming the parameter', () => {
    expect(() => testkitEncoderBytes({ form: 'hwc' as never })).toThrow(
      /opts\.form: expected 'input_image' or 'preprocessed', received "hwc"/,
    );
    expect(() => testkitDecoderBytes({ variant: 'huge' as never })).toThrow(/opts\.variant.*"huge"/);
    expect(() => testkitDecoderBytes({ maskOutputs: 3 as never })).toThrow(
      /opts\.maskOutputs: expected 4 or 1, received number 3/,
    );
    expect(() => testkitDecoderBytes(null as never)).toThrow(/opts: expected an options object/);
    expect(() => testkitFixtureBytes('nope' as TestkitFixtureName)).toThrow(
      /name: expected one of .*received "nope"/,
    );
  });
});

describe('testkit encoder', () => {
  it('declares the samexporter interface', () => {
    expect(encoder.inputNames).toEqual(['input_image']);
    expect(encoder.outputNames).toEqual(['image_embeddings']);
    expect(encoder.inputMetadata[0]).toMatchObject({
      type: 'float32',
      shape: ['image_height', 'image_width', 3],
    });
    expect(encoder.outputMetadata[0]).toMatchObject({ type: 'float32', shape: [1, 256, 64, 64] });
  });

  it('matches the documented RBF formula, including on padding cells', async () => {
    // Left 512 columns one colour, right 512 another, only 640 rows: rows ≥ 40 (cells) are padding.
    const h = 640;
    const w = 1024;
    const left: RGB = [200, 120, 40];
    const right: RGB = [10, 90, 250];
    const rgb = new Float32Array(h * w * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < 3; c++) rgb[(y * w + x) * 3 + c] = (x < 512 ? left : right)[c]!;
    const emb = await encode(rgb, h, w);
    expect(emb.dims).toEqual([1, 256, 64, 64]);
    const check = (row: number, col: number, colour: RGB) => {
      const got = cellFeature(emb, row, col);
      const want = testkitCellFeature(colour);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
    };
    check(5, 3, left);
    check(39, 31, left);
    check(20, 40, right);
    check(40, 10, [...SAM_PIXEL_MEAN] as RGB); // padding = normalised zeros = the pixel mean
    check(63, 63, [...SAM_PIXEL_MEAN] as RGB);
  });

  it('separates distinct colours and keeps noisy copies of a colour together', async () => {
    const swatches: Record<string, RGB> = {
      red: [230, 20, 20],
      green: [20, 210, 30],
      blue: [25, 30, 230],
      yellow: [235, 225, 20],
      grey: [128, 128, 128],
      darkTextured: [60, 60, 60],
    };
    const names = Object.keys(swatches);
    // One 256×128 block per swatch; the dark one carries strong noise (texture); a second
    // red block has small noise.
    const h = 256;
    const w = 1024;
    const rnd = mulberry32(3);
    const rgb = new Float32Array(h * w * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const k = Math.floor(x / 128);
        const colour = k < names.length ? swatches[names[k]!]! : swatches.red!;
        const amp = k === 5 ? 40 : k >= 6 ? 8 : 0;
        for (let c = 0; c < 3; c++)
          rgb[(y * w + x) * 3 + c] = Math.min(255, Math.max(0, colour[c]! + (rnd() * 2 - 1) * amp));
      }
    }
    const emb = await encode(rgb, h, w);
    const feat = (k: number) => cellFeature(emb, 8, k * 8 + 4);
    for (let i = 0; i < names.length; i++) {
      for (let j = i + 1; j < names.length; j++) {
        expect(cosine(feat(i), feat(j)), `${names[i]} vs ${names[j]}`).toBeLessThan(0.5);
      }
    }
    expect(cosine(feat(0), feat(6))).toBeGreaterThan(0.95); // red vs noisy red
    expect(cosine(cellFeature(emb, 2, 44), cellFeature(emb, 12, 46))).toBeGreaterThan(0.95); // two textured dark cells
  });

  it('gives the same embedding in the preprocessed form', async () => {
    const pre = await ort.InferenceSession.create(fixturePreprocessedEncoderBytes());
    expect(pre.inputMetadata[0]).toMatchObject({ name: 'input_image', shape: [1, 3, 1024, 1024] });
    const scene = renderScene(1024, 683);
    // Normalise, HWC→CHW and zero-pad bottom/right in JS, as a caller of this form must.
    const chw = new Float32Array(3 * 1024 * 1024);
    for (let y = 0; y < scene.height; y++) {
      for (let x = 0; x < scene.width; x++) {
        for (let c = 0; c < 3; c++) {
          chw[c * 1024 * 1024 + y * 1024 + x] =
            (scene.rgb[(y * scene.width + x) * 3 + c]! - SAM_PIXEL_MEAN[c]!) / SAM_PIXEL_STD[c]!;
        }
      }
    }
    const a = await encode(scene.rgb, scene.height, scene.width);
    const b = (await pre.run({ input_image: new ort.Tensor('float32', chw, [1, 3, 1024, 1024]) }))
      .image_embeddings!;
    expect(maxAbsDiff(a.data as Float32Array, b.data as Float32Array)).toBeLessThan(1e-5);
  });
});

describe('testkit decoder (basic)', () => {
  const W = 1024;
  const H = 768;
  let scene: Scene;
  let emb: ort.Tensor;

  beforeAll(async () => {
    scene = renderScene(W, H);
    emb = await encode(scene.rgb, H, W);
  });

  it('has the SAM v1 decoder interface', async () => {
    expect(decoder.inputNames).toEqual([
      'image_embeddings',
      'point_coords',
      'point_labels',
      'mask_input',
      'has_mask_input',
      'orig_im_size',
    ]);
    expect(decoder.outputNames).toEqual(['masks', 'iou_predictions', 'low_res_masks']);
    const out = await decode(emb, {
      points: [
        [...partCentre('red', W, H), 1],
        [0, 0, -1],
      ],
      orig: [H, W],
    });
    expect(out.masks!.dims).toEqual([1, 4, H, W]);
    expect(out.iou_predictions!.dims).toEqual([1, 4]);
    expect(out.low_res_masks!.dims).toEqual([1, 4, 256, 256]);
    for (const t of Object.values(out)) expect((t.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('one positive point on a part selects that part only', async () => {
    for (const name of ['red', 'green', 'blue'] as PartName[]) {
      const out = await decode(emb, {
        points: [
          [...partCentre(name, W, H, 0.03), 1],
          [0, 0, -1],
        ],
        orig: [H, W],
      });
      const m = channelMask(out.masks!, 0);
      expect(iou(m, scene.regions[name]), name).toBeGreaterThanOrEqual(0.9);
      for (const other of (['red', 'green', 'blue'] as PartName[]).filter((n) => n !== name)) {
        expect(countOverlap(m, scene.regions[other]), `${name} mask on ${other}`).toBe(0);
      }
      // Nothing of the background: every foreground pixel lies within 16 px of the part.
      expect(sum(m) - countOverlap(m, scene.regions[name])).toBeLessThan(0.02 * sum(scene.regions[name]));
    }
  });

  it('one point per part selects the union', async () => {
    const points: [number, number, number][] = (['red', 'green', 'blue'] as PartName[]).map((n) => [
      ...partCentre(n, W, H),
      1,
    ]);
    const out = await decode(emb, { points: [...points, [0, 0, -1]], orig: [H, W] });
    const all = union(scene.regions.red, scene.regions.green, scene.regions.blue);
    expect(iou(channelMask(out.masks!, 0), all)).toBeGreaterThanOrEqual(0.9);
  });

  it('a negative point removes what it is similar to', async () => {
    const out = await decode(emb, {
      points: [
        [...partCentre('red', W, H), 1],
        [...partCentre('green', W, H, -0.03), 1],
        [...partCentre('green', W, H, 0.03), 0],
        [0, 0, -1],
      ],
      orig: [H, W],
    });
    const m = channelMask(out.masks!, 0);
    expect(countOverlap(m, scene.regions.green)).toBe(0);
    expect(iou(m, scene.regions.red)).toBeGreaterThanOrEqual(0.9);
  });

  it('a box clears everything outside it; a box alone prompts with its centre', async () => {
    // Box over the left 60% of the object in the 1024 frame (x 100..550, y 120..650).
    const box: [number, number, number, number] = [100, 120, 550, 650];
    const all = union(scene.regions.red, scene.regions.green, scene.regions.blue);
    const points: [number, number, number][] = (['red', 'green', 'blue'] as PartName[]).map((n) => [
      ...partCentre(n, W, H),
      1,
    ]);
    const out = await decode(emb, {
      points: [...points, [box[0], box[1], 2], [box[2], box[3], 3]],
      orig: [H, W],
    });
    for (let c = 0; c < 4; c++) {
      const m = channelMask(out.masks!, c);
      let outside = 0;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++)
          if (m[y * W + x] && (x < box[0] - 1 || x > box[2] + 1 || y < box[1] - 1 || y > box[3] + 1))
            outside++;
      expect(outside, `token ${c}`).toBe(0);
      expect(countOverlap(m, all)).toBeGreaterThan(0);
    }
    // Without positive points the box centre (325, 385), on the red part, acts as the
    // prompt; the red part lies wholly inside the box.
    const alone = await decode(emb, {
      points: [
        [box[0], box[1], 2],
        [box[2], box[3], 3],
      ],
      orig: [H, W],
    });
    const m = channelMask(alone.masks!, 0);
    expect(iou(m, scene.regions.red)).toBeGreaterThanOrEqual(0.9);
    expect(countOverlap(m, scene.regions.green) + countOverlap(m, scene.regions.blue)).toBe(0);
  });

  it('mask_input nudges the logits only when has_mask_input is 1', async () => {
    const points: [number, number, number][] = [
      [...partCentre('red', W, H), 1],
      [0, 0, -1],
    ];
    const base = await decode(emb, { points, orig: [H, W] });
    const plus = new Float32Array(256 * 256).fill(50); // clipped to maskClip
    const ignored = await decode(emb, { points, orig: [H, W], mask: plus, hasMask: 0 });
    expect(
      maxAbsDiff(ignored.low_res_masks!.data as Float32Array, base.low_res_masks!.data as Float32Array),
    ).toBe(0);
    const nudged = await decode(emb, { points, orig: [H, W], mask: plus, hasMask: 1 });
    const shift = TESTKIT_DECODER_PARAMS.maskGain * TESTKIT_DECODER_PARAMS.maskClip;
    const a = nudged.low_res_masks!.data as Float32Array;
    const b = base.low_res_masks!.data as Float32Array;
    for (let i = 0; i < a.length; i += 997) expect(a[i]! - b[i]!).toBeCloseTo(shift, 3);
    // A negative mask on the left half of the red part shrinks the mask there.
    const minus = new Float32Array(256 * 256);
    for (let y = 0; y < 256; y++) for (let x = 0; x < 128; x++) minus[y * 256 + x] = -10;
    const shrunk = await decode(emb, { points, orig: [H, W], mask: minus, hasMask: 1 });
    const lr = shrunk.low_res_masks!.data as Float32Array;
    expect(lr[100 * 256 + 60]! - b[100 * 256 + 60]!).toBeCloseTo(-shift, 3);
    expect(lr[100 * 256 + 200]! - b[100 * 256 + 200]!).toBeCloseTo(0, 5);
  });

  it('tokens 1..3 are tighter/same/looser variants of token 0 and token 2 scores best', async () => {
    const out = await decode(emb, {
      points: [
        [...partCentre('red', W, H), 1],
        [0, 0, -1],
      ],
      orig: [H, W],
    });
    const lr = out.low_res_masks!.data as Float32Array;
    const n = 256 * 256;
    const { scale, thresholds } = TESTKIT_DECODER_PARAMS;
    for (let i = 0; i < n; i += 101) {
      // Without negatives or a box, L_c = s·(pos − t_c) + nudge, so tokens differ by constants.
      expect(lr[n + i]! - lr[i]!).toBeCloseTo(scale * (thresholds[0]! - thresholds[1]!), 3);
      expect(lr[2 * n + i]!).toBeCloseTo(lr[i]!, 5);
      expect(lr[3 * n + i]! - lr[i]!).toBeCloseTo(scale * (thresholds[0]! - thresholds[3]!), 3);
    }
    const scores = Array.from(out.iou_predictions!.data as Float32Array);
    for (const s of scores) expect(s).toBeGreaterThan(0.5);
    for (const s of scores) expect(s).toBeLessThanOrEqual(1);
    const best = 1 + scores.slice(1).indexOf(Math.max(...scores.slice(1)));
    expect(best).toBe(2);
  });

  it('empty prompts give empty masks with zero scores, never NaN', async () => {
    const prompts: [number, number, number][][] = [[[0, 0, -1]], [], [[5000, -30, 1]]];
    const zeros = new ort.Tensor('float32', new Float32Array(256 * 4096), [1, 256, 64, 64]);
    for (const points of prompts) {
      const out = await decode(points.length === 1 && points[0]![2] === 1 ? zeros : emb, {
        points,
        orig: [H, W],
      });
      for (const t of Object.values(out)) expect((t.data as Float32Array).every(Number.isFinite)).toBe(true);
      expect(Array.from(out.iou_predictions!.data as Float32Array)).toEqual([0, 0, 0, 0]);
      expect(sum(channelMask(out.masks!, 0))).toBe(0);
    }
  });

  it('handles non-square originals whose size is not a multiple of 16 (300×200 → 1024×683)', async () => {
    const small = renderScene(300, 200, 30, 11);
    const [rh, rw] = samResized(200, 300);
    expect([rh, rw]).toEqual([683, 1024]);
    const resized = resizeBilinear(small.rgb, 300, 200, rw, rh);
    const e = await encode(resized, rh, rw);
    const out = await decode(e, {
      points: [
        [...partCentre('red', rw, rh), 1],
        [0, 0, -1],
      ],
      orig: [200, 300],
    });
    expect(out.masks!.dims).toEqual([1, 4, 200, 300]);
    expect(iou(channelMask(out.masks!, 0), small.regions.red)).toBeGreaterThanOrEqual(0.9);
    expect(countOverlap(channelMask(out.masks!, 0), small.regions.green)).toBe(0);
    const tall = await decode(e, {
      points: [
        [...partCentre('red', rw, rh), 1],
        [0, 0, -1],
      ],
      orig: [333, 17],
    });
    expect(tall.masks!.dims).toEqual([1, 4, 333, 17]);
  });
});

describe('testkit decoder variants', () => {
  let emb: ort.Tensor;
  const W = 1024;
  const H = 768;
  beforeAll(async () => {
    emb = await encode(renderScene(W, H).rgb, H, W);
  });

  it('sam-sized: same interface, logits within 1e-2 of basic but not identical', async () => {
    const s = await ort.InferenceSession.create(testkitDecoderBytes({ variant: 'sam-sized' }));
    expect(s.inputNames).toEqual(decoder.inputNames);
    expect(s.outputNames).toEqual(decoder.outputNames);
    const prompt: Prompt = {
      points: [
        [...partCentre('red', W, H), 1],
        [...partCentre('blue', W, H), 1],
        [0, 0, -1],
      ],
      orig: [H, W],
    };
    const a = await decode(emb, prompt, s);
    const b = await decode(emb, prompt);
    const d = maxAbsDiff(a.low_res_masks!.data as Float32Array, b.low_res_masks!.data as Float32Array);
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(1e-2);
    expect(iou(channelMask(a.masks!, 0), channelMask(b.masks!, 0))).toBeGreaterThan(0.999);
    expect(Array.from(a.iou_predictions!.data as Float32Array)).toEqual(
      Array.from(b.iou_predictions!.data as Float32Array),
    );
  });

  it('single-mask export: token 0 with ≥3 points, otherwise the best of tokens 1..3', async () => {
    const s = await ort.InferenceSession.create(fixtureSingleMaskDecoderBytes());
    const sizedSingle = await ort.InferenceSession.create(
      testkitDecoderBytes({ variant: 'sam-sized', maskOutputs: 1 }),
    );
    expect(s.outputMetadata.map((m) => (m.isTensor ? m.shape : null))).toEqual([
      [1, 1, 'orig_height', 'orig_width'],
      [1, 1],
      [1, 1, 256, 256],
    ]);
    // Red block next to an equally large block of a colour whose cosine to red sits at
    // token 0's threshold (≈0.5): token 0 (= token 2) is then unstable there, and the
    // tighter token 1 scores best among 1..3.
    const h = 512;
    const w = 1024;
    // Bisect along red → black for the colour whose cosine to red is token 0's threshold.
    const cosine = (a: Float64Array, b: Float64Array) => {
      let ab = 0,
        aa = 0,
        bb = 0;
      for (let i = 0; i < a.length; i++) {
        ab += a[i]! * b[i]!;
        aa += a[i]! * a[i]!;
        bb += b[i]! * b[i]!;
      }
      return ab / Math.sqrt(aa * bb);
    };
    const redFeature = testkitCellFeature(RED);
    const mix = (t: number): RGB => [
      Math.round(RED[0] * (1 - t)),
      Math.round(RED[1] * (1 - t)),
      Math.round(RED[2] * (1 - t)),
    ];
    let lo = 0,
      hi = 1;
    for (let i = 0; i < 30; i++) {
      const mid = (lo + hi) / 2;
      if (cosine(redFeature, testkitCellFeature(mix(mid))) > TESTKIT_DECODER_PARAMS.thresholds[0]!) lo = mid;
      else hi = mid;
    }
    const nearThreshold = mix((lo + hi) / 2);
    const rgb = new Float32Array(h * w * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const colour: RGB =
          y < 128 || y >= 384
            ? BACKGROUND
            : x >= 128 && x < 448
              ? RED
              : x >= 448 && x < 768
                ? nearThreshold
                : BACKGROUND;
        for (let c = 0; c < 3; c++) rgb[(y * w + x) * 3 + c] = colour[c]!;
      }
    }
    const e = await encode(rgb, h, w);
    const n = 256 * 256;
    const two: Prompt = {
      points: [
        [288, 256, 1],
        [0, 0, -1],
      ],
      orig: [h, w],
    };
    const three: Prompt = {
      points: [
        [288, 256, 1],
        [200, 200, 1],
        [0, 0, -1],
      ],
      orig: [h, w],
    };
    for (const [prompt, expected] of [
      [two, 1],
      [three, 0],
    ] as const) {
      const full = await decode(e, prompt);
      const scores = Array.from(full.iou_predictions!.data as Float32Array);
      const best = 1 + scores.slice(1).indexOf(Math.max(...scores.slice(1)));
      expect(best).toBe(1); // the scene does what the comment above says
      const single = await decode(e, prompt, s);
      expect(single.masks!.dims).toEqual([1, 1, h, w]);
      expect(single.iou_predictions!.data[0]).toBe(scores[expected]);
      const lr = (full.low_res_masks!.data as Float32Array).subarray(expected * n, (expected + 1) * n);
      expect(maxAbsDiff(single.low_res_masks!.data as Float32Array, lr)).toBe(0);
      const fullMask = (full.masks!.data as Float32Array).subarray(expected * h * w, (expected + 1) * h * w);
      expect(maxAbsDiff(single.masks!.data as Float32Array, fullMask)).toBe(0);
      const sized = await decode(e, prompt, sizedSingle);
      expect(maxAbsDiff(sized.low_res_masks!.data as Float32Array, lr)).toBeLessThan(1e-2);
    }
  });
});

describe('testkit encoder variants', () => {
  it('sam-sized: same interface and embedding as basic (within 1e-4, not identical, still positive)', async () => {
    const bytes = testkitEncoderBytes({ variant: 'sam-sized' });
    const s = await ort.InferenceSession.create(bytes);
    expect(s.inputNames).toEqual(encoder.inputNames);
    expect(s.outputNames).toEqual(encoder.outputNames);
    expect(s.inputMetadata[0]).toMatchObject({ type: 'float32', shape: ['image_height', 'image_width', 3] });
    expect(s.outputMetadata[0]).toMatchObject({ type: 'float32', shape: [1, 256, 64, 64] });
    // A 1024×683 scene: the object, its background and padding rows all occur.
    const scene = renderScene(1024, 683);
    const a = (await encode(scene.rgb, scene.height, scene.width, s)).data as Float32Array;
    const b = (await encode(scene.rgb, scene.height, scene.width)).data as Float32Array;
    const d = maxAbsDiff(a, b);
    expect(d).toBeGreaterThan(0); // the heavy branch really contributes (it cannot be folded away)
    expect(d).toBeLessThan(1e-4);
    // The branch adds sigmoid(·)·weight ∈ (0, weight): never downwards.
    let below = 0;
    for (let i = 0; i < a.length; i++) if (a[i]! < b[i]! || !(a[i]! > 0)) below++;
    expect(below).toBe(0);
    expect(d).toBeLessThanOrEqual(TESTKIT_SAM_SIZED_ENCODER_PARAMS.weight * 1.01);
  });

  it("sam-sized: every heavy layer survives ONNX Runtime's graph optimisation", async () => {
    const { layers } = TESTKIT_SAM_SIZED_ENCODER_PARAMS;
    expect(layers).toBeGreaterThanOrEqual(24);
    const count = async (bytes: Uint8Array, name: string) => {
      const file = path.join(tmpDir, name);
      const sess = await ort.InferenceSession.create(bytes, {
        graphOptimizationLevel: 'all',
        optimizedModelFilePath: file,
        logSeverityLevel: 3,
      });
      await sess.release();
      // pruneOutputs reports the node count; it needs an output it may drop, so a
      // declared-only probe output (GraphProto field 12, ValueInfoProto name = 1) is added.
      const probe = new ProtoWriter();
      probe.message(12, (vi) => vi.string(1, 'node_count_probe'));
      const opt = appendToGraph(new Uint8Array(await readFile(file)), probe.finish());
      expect(graphOutputs(opt)).toEqual(['image_embeddings', 'node_count_probe']);
      return pruneOutputs(opt, ['node_count_probe'], { removeDeadNodes: false }).nodes;
    };
    const basic = await count(testkitEncoderBytes(), 'enc-basic-opt.onnx');
    const heavy = await count(testkitEncoderBytes({ variant: 'sam-sized' }), 'enc-heavy-opt.onnx');
    // patch embedding + one convolution per layer (activations may be fused into them).
    expect(heavy - basic).toBeGreaterThanOrEqual(layers + 1);
  });

  it('sam-sized: deterministic, a few MB, and in both encoder forms', async () => {
    const a = testkitEncoderBytes({ variant: 'sam-sized' });
    const b = testkitEncoderBytes({ variant: 'sam-sized' });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(a.length).toBeLessThan(10 * 1024 * 1024);
    expect(Buffer.from(a).equals(Buffer.from(testkitEncoderBytes()))).toBe(false);
    const pre = await ort.InferenceSession.create(
      testkitEncoderBytes({ variant: 'sam-sized', form: 'preprocessed' }),
    );
    expect(pre.inputMetadata[0]).toMatchObject({ name: 'input_image', shape: [1, 3, 1024, 1024] });
    expect(pre.outputNames).toEqual(['image_embeddings']);
    // The default stays the basic encoder, byte for byte.
    expect(
      Buffer.from(testkitEncoderBytes({ variant: 'basic' })).equals(Buffer.from(testkitEncoderBytes())),
    ).toBe(true);
  });

  it('writeTestkitModel writes the sam-sized encoder on request and rejects unknown variants', async () => {
    const dir = path.join(tmpDir, 'sam-sized-encoder');
    const p = await writeTestkitModel(dir, { encoder: 'sam-sized', decoder: 'sam-sized' });
    expect(
      Buffer.from(await readFile(p.encoder)).equals(
        Buffer.from(testkitEncoderBytes({ variant: 'sam-sized' })),
      ),
    ).toBe(true);
    expect(
      Buffer.from(await readFile(p.decoder)).equals(
        Buffer.from(testkitDecoderBytes({ variant: 'sam-sized' })),
      ),
    ).toBe(true);
    expect(() => testkitEncoderBytes({ variant: 'vit-h' as never })).toThrow(
      /opts\.variant: expected 'basic' or 'sam-sized', received "vit-h"/,
    );
    await expect(writeTestkitModel(dir, { encoder: 3 as never })).rejects.toThrow(
      /opts\.encoder: expected 'basic' or 'sam-sized', received number 3/,
    );
  });
});

describe('fixtures', () => {
  it('SAM 2-style encoder and decoder run and follow the testkit semantics', async () => {
    const enc = await ort.InferenceSession.create(fixtureSam2EncoderBytes());
    const dec = await ort.InferenceSession.create(fixtureSam2DecoderBytes());
    expect(enc.inputNames).toEqual(['image']);
    expect(enc.outputNames).toEqual(['high_res_feats_0', 'high_res_feats_1', 'image_embed']);
    expect(dec.inputNames).toEqual([
      'image_embed',
      'high_res_feats_0',
      'high_res_feats_1',
      'point_coords',
      'point_labels',
      'mask_input',
      'has_mask_input',
    ]);
    expect(dec.outputNames).toEqual(['masks', 'iou_predictions']);
    // SAM 2 stretches to 1024² and normalises with /255 and ImageNet mean/std.
    const scene = renderScene(1024, 1024);
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const chw = new Float32Array(3 * 1024 * 1024);
    for (let i = 0; i < 1024 * 1024; i++)
      for (let c = 0; c < 3; c++)
        chw[c * 1024 * 1024 + i] = (scene.rgb[i * 3 + c]! / 255 - mean[c]!) / std[c]!;
    const feats = await enc.run({ image: new ort.Tensor('float32', chw, [1, 3, 1024, 1024]) });
    expect(feats.high_res_feats_0!.dims).toEqual([1, 32, 256, 256]);
    expect(feats.high_res_feats_1!.dims).toEqual([1, 64, 128, 128]);
    expect(feats.image_embed!.dims).toEqual([1, 256, 64, 64]);
    const point = partCentre('blue', 1024, 1024);
    const out = await dec.run({
      image_embed: feats.image_embed!,
      high_res_feats_0: feats.high_res_feats_0!,
      high_res_feats_1: feats.high_res_feats_1!,
      point_coords: f32(point, [1, 1, 2]),
      point_labels: f32([1], [1, 1]),
      mask_input: f32(new Float32Array(256 * 256), [1, 1, 256, 256]),
      has_mask_input: f32([0], [1]),
    });
    expect(out.masks!.dims).toEqual([1, 3, 256, 256]);
    expect(out.iou_predictions!.dims).toEqual([1, 3]);
    // The 256² low-res masks cover the blue part (sampled at the 1024→256 centres).
    const lr = out.masks!.data as Float32Array;
    const region = new Uint8Array(256 * 256);
    const pred = new Uint8Array(256 * 256);
    for (let y = 0; y < 256; y++) {
      for (let x = 0; x < 256; x++) {
        region[y * 256 + x] = scene.regions.blue[(y * 4 + 2) * 1024 + x * 4 + 2]!;
        pred[y * 256 + x] = lr[256 * 256 + y * 256 + x]! > 0 ? 1 : 0; // token 2 of the testkit = index 1 here
      }
    }
    expect(iou(pred, region)).toBeGreaterThanOrEqual(0.9);
  });

  it('wrong input name and dynamic output shapes are visible in the metadata, and the dynamic encoder still produces [1,256,64,64]', async () => {
    const wrong = await ort.InferenceSession.create(fixtureWrongInputNameDecoderBytes());
    expect(wrong.inputNames[0]).toBe('image_embedding');
    expect(wrong.inputNames).not.toContain('image_embeddings');
    const dyn = await ort.InferenceSession.create(fixtureDynamicOutputEncoderBytes());
    const meta = dyn.outputMetadata[0]!;
    expect(meta.isTensor && meta.shape[1]).toBe(256);
    expect(meta.isTensor && meta.shape.filter((d) => typeof d !== 'number').length).toBe(3);
    const out = await dyn.run({
      input_image: new ort.Tensor('float32', new Float32Array(64 * 64 * 3).fill(100), [64, 64, 3]),
    });
    expect(out.image_embeddings!.dims).toEqual([1, 256, 64, 64]);
  });

  it('an unrelated model runs; truncated and non-ONNX bytes are rejected by ONNX Runtime', async () => {
    const s = await ort.InferenceSession.create(fixtureUnrelatedModelBytes());
    const out = await s.run({ x: f32([0, 1, 2, 3, 4, -5], [2, 3]) });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([1, 3, 5, 7, 9, -9]);
    await expect(ort.InferenceSession.create(fixtureTruncatedModelBytes())).rejects.toThrow(
      /protobuf parsing failed/,
    );
    await expect(ort.InferenceSession.create(fixtureNotOnnxBytes())).rejects.toThrow(
      /protobuf parsing failed/,
    );
  });
});

/** A Python with the `onnx` package (e.g. Debian's python3-onnx), if this machine has one. */
const pythonWithOnnx = ['python3', '/usr/bin/python3'].find(
  (py) => spawnSync(py, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0,
);

describe.skipIf(!pythonWithOnnx)('onnx.checker (optional, needs python3 + onnx)', () => {
  it('accepts every generated model with full_check, including the external-data encoder', async () => {
    const dir = await mkdtemp(path.join(tmpDir, 'checker-'));
    const files: string[] = [];
    const models: [string, Uint8Array][] = [
      ['encoder', testkitEncoderBytes()],
      ['encoder-sam-sized', testkitEncoderBytes({ variant: 'sam-sized' })],
      ['decoder', testkitDecoderBytes()],
      ['decoder-sam-sized', testkitDecoderBytes({ variant: 'sam-sized' })],
      ['decoder-sam-sized-1', testkitDecoderBytes({ variant: 'sam-sized', maskOutputs: 1 })],
      ...TESTKIT_FIXTURE_NAMES.filter((n) => n !== 'truncated-model' && n !== 'not-onnx').map(
        (n) => [n, testkitFixtureBytes(n)] as [string, Uint8Array],
      ),
    ];
    for (const [name, bytes] of models) {
      const f = path.join(dir, `${name}.onnx`);
      await writeFile(f, bytes);
      files.push(f);
    }
    files.push((await writeTestkitModel(path.join(dir, 'ext'), { externalData: true })).encoder);
    const script = [
      'import sys, onnx',
      'for f in sys.argv[1:]:',
      '    onnx.checker.check_model(f, full_check=True)',
      '    print("ok", f)',
    ].join('\n');
    const r = spawnSync(pythonWithOnnx!, ['-c', script, ...files], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(files.length);
  });
});

describe('writeTestkitModel', () => {
  it('writes an encoder/decoder pair that loads from paths', async () => {
    const dir = path.join(tmpDir, 'inline', 'nested');
    const p = await writeTestkitModel(dir, { decoder: 'sam-sized' });
    expect(p).toEqual({
      encoder: path.join(dir, 'testkit-encoder.onnx'),
      decoder: path.join(dir, 'testkit-decoder.onnx'),
    });
    expect(Buffer.from(await readFile(p.encoder)).equals(Buffer.from(testkitEncoderBytes()))).toBe(true);
    expect(
      Buffer.from(await readFile(p.decoder)).equals(
        Buffer.from(testkitDecoderBytes({ variant: 'sam-sized' })),
      ),
    ).toBe(true);
    const dec = await ort.InferenceSession.create(p.decoder);
    expect(dec.outputNames).toEqual(['masks', 'iou_predictions', 'low_res_masks']);
  });

  it('with externalData, the encoder weights live beside the .onnx and are required', async () => {
    const dir = path.join(tmpDir, 'external');
    const p = await writeTestkitModel(dir, { externalData: true });
    const dataPath = path.join(dir, TESTKIT_ENCODER_DATA_FILE);
    expect((await stat(dataPath)).size).toBeGreaterThan(4096);
    expect((await stat(p.encoder)).size).toBeLessThan(testkitEncoderBytes().length / 2);
    const img = renderScene(1024, 512).rgb;
    const fromPath = await ort.InferenceSession.create(p.encoder);
    const a = await encode(img, 512, 1024, fromPath);
    const b = await encode(img, 512, 1024);
    expect(maxAbsDiff(a.data as Float32Array, b.data as Float32Array)).toBe(0);
    // The .onnx alone is not loadable: its weights really are external.
    const lonely = path.join(tmpDir, 'lonely');
    await writeTestkitModel(lonely); // inline pair, then replace the encoder by the external one
    await copyFile(p.encoder, path.join(lonely, 'testkit-encoder.onnx'));
    await expect(ort.InferenceSession.create(path.join(lonely, 'testkit-encoder.onnx'))).rejects.toThrow(
      /external data/i,
    );
    // Rewriting inline removes the stale data file.
    await writeTestkitModel(dir);
    await expect(stat(dataPath)).rejects.toThrow(/ENOENT/);
  });

  it('rejects bad arguments naming the parameter', async () => {
    await expect(writeTestkitModel('')).rejects.toThrow(
      /outDir: expected a non-empty directory path string, received ""/,
    );
    await expect(writeTestkitModel(tmpDir, { externalData: 'yes' as never })).rejects.toThrow(
      /opts\.externalData: expected a boolean, received "yes"/,
    );
    await expect(writeTestkitModel(tmpDir, { decoder: 'big' as never })).rejects.toThrow(
      /opts\.decoder.*"big"/,
    );
  });
});
