/**
 * The testkit image encoder: a tiny, real ONNX graph with the interface of a SAM v1
 * encoder (samexporter layout) whose embedding has simple, documented semantics.
 *
 * Per 16×16 patch of the SAM-normalised, zero-padded 1024² input it takes the mean colour
 * m ∈ R³ (in normalised units) and maps it to 256 radial-basis features
 *
 *     f_j(m) = exp(-‖m - c_j‖² / σ²),   j = 0..255
 *
 * against fixed anchors c_j spread over the normalised RGB cube with a Halton sequence
 * (bases 2, 3, 5; deterministic, no PRNG state). Because every f_j is a smooth function
 * of the patch colour, the cosine similarity of two cells is ≈ 1 for the same colour and
 * decays with colour distance (roughly like exp(-‖Δm‖²/(2σ²)) where anchors are dense).
 * Only colour is encoded, no texture: zero-mean noise averages out over 256 pixels, so a
 * noisy patch of a colour looks like the flat colour. Padding cells are all-zero after
 * normalisation, i.e. they look like a flat patch of the mean colour RGB≈(124,116,104).
 *
 * In the graph, ‖m - c‖² = ‖m‖² - 2c·m + ‖c‖² so the 256 dot products are one 1×1 Conv
 * (weights 2c/σ², bias -‖c‖²/σ²) plus a per-cell -‖m‖²/σ² term, then Exp.
 */

import { GraphBuilder, type GraphSpec } from '../onnx/graph';

export const SAM_PIXEL_MEAN: readonly [number, number, number] = [123.675, 116.28, 103.53];
export const SAM_PIXEL_STD: readonly [number, number, number] = [58.395, 57.12, 57.375];

export const TESTKIT_ENCODER_PARAMS = {
  /** Side of the square model input after padding. */
  inputSize: 1024,
  /** Patch side: one embedding cell per 16×16 pixels. */
  patch: 16,
  /** Embedding grid side (1024 / 16). */
  grid: 64,
  /** Embedding channels = number of RBF anchors. */
  channels: 256,
  /** RBF width in normalised colour units (one unit ≈ 58 grey levels). */
  sigma: 0.8,
  /** Anchors cover the normalised image of RGB 0..255, widened by this much on each side
   * so saturated colours still sit among several anchors. */
  anchorMargin: 0.25,
} as const;

/** Radical inverse of `index` in `base` (the Halton sequence's coordinate). */
function radicalInverse(index: number, base: number): number {
  let f = 1;
  let r = 0;
  let i = index;
  while (i > 0) {
    f /= base;
    r += f * (i % base);
    i = Math.floor(i / base);
  }
  return r;
}

let anchorCache: Float32Array | null = null;

/**
 * The 256 RBF anchors, row-major [256,3], in normalised colour space
 * ((rgb - mean) / std). Halton points 1..256 with bases 2, 3, 5, scaled to the box.
 */
export function testkitAnchors(): Float32Array {
  if (anchorCache) return anchorCache.slice();
  const { channels, anchorMargin } = TESTKIT_ENCODER_PARAMS;
  const out = new Float32Array(channels * 3);
  const bases = [2, 3, 5];
  for (let j = 0; j < channels; j++) {
    for (let c = 0; c < 3; c++) {
      const lo = (0 - SAM_PIXEL_MEAN[c]!) / SAM_PIXEL_STD[c]! - anchorMargin;
      const hi = (255 - SAM_PIXEL_MEAN[c]!) / SAM_PIXEL_STD[c]! + anchorMargin;
      out[j * 3 + c] = lo + (hi - lo) * radicalInverse(j + 1, bases[c]!);
    }
  }
  anchorCache = out;
  return out.slice();
}

/**
 * Reference (plain JS, float64) embedding of one cell from its mean colour. `rgb` is in
 * 0..255 units (the mean of the patch's pixels; for padding pass the pixel mean).
 */
export function testkitCellFeature(rgb: readonly [number, number, number]): Float64Array {
  const { channels, sigma } = TESTKIT_ENCODER_PARAMS;
  const anchors = testkitAnchors();
  const m = [0, 1, 2].map((c) => (rgb[c]! - SAM_PIXEL_MEAN[c]!) / SAM_PIXEL_STD[c]!);
  const out = new Float64Array(channels);
  for (let j = 0; j < channels; j++) {
    let d2 = 0;
    for (let c = 0; c < 3; c++) {
      const d = m[c]! - anchors[j * 3 + c]!;
      d2 += d * d;
    }
    out[j] = Math.exp(-d2 / (sigma * sigma));
  }
  return out;
}

/**
 * Appends the shared embedding head: x [1,3,1024,1024] (normalised, padded) →
 * [1,256,64,64], written to `output`.
 */
export function addColourRbfEmbedding(g: GraphBuilder, x: string, output: string): string {
  const { patch, channels, sigma } = TESTKIT_ENCODER_PARAMS;
  const anchors = testkitAnchors();
  const invS2 = 1 / (sigma * sigma);
  const weight = new Float32Array(channels * 3);
  const bias = new Float32Array(channels);
  for (let j = 0; j < channels; j++) {
    let n2 = 0;
    for (let c = 0; c < 3; c++) {
      const a = anchors[j * 3 + c]!;
      weight[j * 3 + c] = 2 * a * invS2;
      n2 += a * a;
    }
    bias[j] = -n2 * invS2;
  }
  const w = g.initializer({ name: 'rbf_weight', type: 'float32', dims: [channels, 3, 1, 1], data: weight });
  const b = g.initializer({ name: 'rbf_bias', type: 'float32', dims: [channels], data: bias });

  const mean = g.op('AveragePool', [x], { kernel_shape: [patch, patch], strides: [patch, patch] });
  const cross = g.op('Conv', [mean, w, b], { kernel_shape: [1, 1] });
  const norm2 = g.op('ReduceSumSquare', [mean], { axes: [1], keepdims: 1 });
  const selfTerm = g.op('Mul', [norm2, g.f32(-invS2)]);
  const exponent = g.op('Add', [cross, selfTerm]);
  return g.op('Exp', [exponent], undefined, output);
}

export type EncoderForm = 'input_image' | 'preprocessed';

/** 'basic': the RBF head alone; 'sam-sized': the same embedding plus a compute-heavy
 * branch whose cost stands in for a ViT image encoder (benchmarks only). */
export type TestkitEncoderVariant = 'basic' | 'sam-sized';

export const TESTKIT_SAM_SIZED_ENCODER_PARAMS = {
  /** Channels of the heavy branch (SAM's neck width). */
  channels: 256,
  /** 3×3 convolutions (256→256, 64×64, pad 1) after the 16×16/16 patch embedding. Each is
   * 64²·256·256·9 ≈ 2.4 G multiply-adds. The count sets the encoder's cost: 24 layers give
   * ≈ 100× one pruned sam-sized decoder pass on the 2-core build machine (docs/testkit.md,
   * docs/performance.md). */
  layers: 96,
  /** Distinct 3×3 weight tensors, used round-robin by the layers: keeps the file a few MB
   * while every layer is still its own Conv node that ONNX Runtime must execute. */
  distinctWeights: 2,
  /** Gain of the uniform weights over the fan-in bound sqrt(3/fan_in): with tanh between
   * layers the activations settle at a fixed, O(1) spread instead of vanishing towards
   * float32 subnormals (which would make the cost data-dependent) or saturating. */
  gain: 1.5,
  /** Weight of the branch's sigmoid output added to the RBF features: every feature moves
   * by less than this (always upwards, so features stay positive). */
  weight: 1e-6,
} as const;

/** Deterministic uniform numbers in [-bound, bound] (xorshift32), for the heavy branch. */
function seededUniform(count: number, bound: number, seed: number): Float32Array {
  let x = (seed * 0x9e3779b1) >>> 0 || 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x / 4294967296) * 2 * bound - bound;
  }
  return out;
}

/**
 * The sam-sized encoder's extra branch on the normalised, padded input x [1,3,1024,1024]:
 * a patch embedding (Conv 3→256, kernel 16, stride 16: the ViT's first layer, here
 * straight to the neck width) and `layers` 3×3 convolutions with tanh, then
 * sigmoid(·)·weight added to `embedding`. It depends on the image, so no runtime can
 * constant-fold it; its contribution is in (0, weight) per feature, so the embedding
 * keeps the basic encoder's semantics (tests: within 1e-4, and not identical).
 */
function addHeavyBranch(g: GraphBuilder, x: string, embedding: string, output: string): string {
  const P = TESTKIT_SAM_SIZED_ENCODER_PARAMS;
  const { patch } = TESTKIT_ENCODER_PARAMS;
  const C = P.channels;
  const bound = (fanIn: number) => P.gain * Math.sqrt(3 / fanIn);
  const pw = g.initializer({
    name: 'heavy_patch_weight',
    type: 'float32',
    dims: [C, 3, patch, patch],
    data: seededUniform(C * 3 * patch * patch, bound(3 * patch * patch), 101),
  });
  const pb = g.initializer({
    name: 'heavy_patch_bias',
    type: 'float32',
    dims: [C],
    data: seededUniform(C, 0.1, 102),
  });
  const weights: [string, string][] = [];
  for (let k = 0; k < P.distinctWeights; k++) {
    weights.push([
      g.initializer({
        name: `heavy_conv${k}_weight`,
        type: 'float32',
        dims: [C, C, 3, 3],
        data: seededUniform(C * C * 9, bound(C * 9), 103 + 2 * k),
      }),
      g.initializer({
        name: `heavy_conv${k}_bias`,
        type: 'float32',
        dims: [C],
        data: seededUniform(C, 0.1, 104 + 2 * k),
      }),
    ]);
  }
  let h = g.op('Tanh', [
    g.op('Conv', [x, pw, pb], { kernel_shape: [patch, patch], strides: [patch, patch] }),
  ]);
  for (let l = 0; l < P.layers; l++) {
    const [w, b] = weights[l % weights.length]!;
    h = g.op('Tanh', [g.op('Conv', [h, w, b], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })]);
  }
  const nudge = g.op('Mul', [g.op('Sigmoid', [h]), g.f32(P.weight)]);
  return g.op('Add', [embedding, nudge], undefined, output);
}

/**
 * Builds the encoder graph.
 * - 'input_image': input `input_image` f32[H,W,3], RGB 0..255 already resized to long side
 *   1024; normalisation, HWC→CHW and bottom/right zero padding happen inside (pads come
 *   from the runtime shape; a side over 1024 gives negative pads, i.e. a silent crop,
 *   like samexporter's graph).
 * - 'preprocessed': input `input_image` f32[1,3,1024,1024], already normalised and padded.
 * Both end in the same RBF head, so they give identical embeddings for the same image.
 * `variant` 'sam-sized' adds the heavy branch (addHeavyBranch) to either form.
 */
export function buildTestkitEncoderGraph(
  form: EncoderForm = 'input_image',
  outputShape: readonly (number | string | null)[] = [1, 256, 64, 64],
  variant: TestkitEncoderVariant = 'basic',
): GraphSpec {
  const { inputSize } = TESTKIT_ENCODER_PARAMS;
  if (variant !== 'basic' && variant !== 'sam-sized') {
    throw new TypeError(`variant: expected 'basic' or 'sam-sized', received ${JSON.stringify(variant)}`);
  }
  const baseName = form === 'input_image' ? 'testkit_encoder' : 'testkit_encoder_preprocessed';
  const g = new GraphBuilder(variant === 'basic' ? baseName : `${baseName}_sam_sized`);
  let x: string;
  if (form === 'input_image') {
    const img = g.input('input_image', 'float32', ['image_height', 'image_width', 3]);
    const centred = g.op('Sub', [img, g.f32([...SAM_PIXEL_MEAN], [3], 'pixel_mean')]);
    const scaled = g.op('Div', [centred, g.f32([...SAM_PIXEL_STD], [3], 'pixel_std')]);
    const chw = g.op('Transpose', [scaled], { perm: [2, 0, 1] });
    const nchw = g.op('Unsqueeze', [chw, g.i64([0])]);
    // pads = [n0,c0,h0,w0, n1,c1,h1,w1] with only the bottom (h1) and right (w1) non-zero.
    const shape = g.op('Shape', [img]);
    const hw = g.op('Gather', [shape, g.i64([0, 1])], { axis: 0 });
    const padHW = g.op('Sub', [g.i64([inputSize, inputSize]), hw]);
    const pads = g.op('Concat', [g.i64([0, 0, 0, 0, 0, 0]), padHW], { axis: 0 });
    x = g.op('Pad', [nchw, pads], { mode: 'constant' });
  } else if (form === 'preprocessed') {
    x = g.input('input_image', 'float32', [1, 3, inputSize, inputSize]);
  } else {
    throw new TypeError(`form: expected 'input_image' or 'preprocessed', received ${JSON.stringify(form)}`);
  }
  if (variant === 'basic') {
    addColourRbfEmbedding(g, x, 'image_embeddings');
  } else {
    addHeavyBranch(g, x, addColourRbfEmbedding(g, x, 'rbf_embeddings'), 'image_embeddings');
  }
  g.output('image_embeddings', 'float32', outputShape);
  return g.build(
    variant === 'basic'
      ? 'p2sam-native testkit encoder: 256 Gaussian RBF features of each 16x16 patch mean colour (see docs/testkit.md).'
      : `p2sam-native testkit encoder, sam-sized: the RBF features of each 16x16 patch mean colour plus a ViT-cost convolution branch of weight ${TESTKIT_SAM_SIZED_ENCODER_PARAMS.weight} (see docs/testkit.md).`,
  );
}
