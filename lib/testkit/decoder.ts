/**
 * The testkit mask decoder: a real ONNX graph with the SAM v1 decoder interface
 * (Meta / samexporter export) and simple, documented prompt semantics. docs/testkit.md
 * is the user-facing description; the constants live in TESTKIT_DECODER_PARAMS.
 *
 * On the 64×64 grid (cell (i,j) covers 1024-frame pixels [16j,16j+16)×[16i,16i+16)):
 *   e_ij      = embedding column at (i,j) / sqrt(‖·‖² + 1e-12)   (cosine features)
 *   p_k       = e at the cell of point k: (floor(y/16), floor(x/16)) clamped to 0..63
 *   pos_ij    = max over positive points (label 1) of e_ij·p_k, or -2 without any;
 *               a box with no positive point uses its centre as the positive point
 *   neg_ij    = max over negative points (label 0) of e_ij·p_k, or -2 without any
 *   L_c,ij    = s · (pos_ij − max(t_c, neg_ij + m))                 for tokens c = 0..3
 *             + γ · clip(avgpool4(mask_input), −a, a) · has_mask_input
 *   box       : cells whose centre (16j+8, 16i+8) lies outside [x0,x1]×[y0,y1] (corners from
 *               labels 2 and 3) are set to BOX_FILL
 *   iou_c     = prior_c · #(L_c > δ) / (#(L_c > −δ) + 1)              (stability-like, 0 if empty)
 *   low_res   = bilinear 64→256 (half_pixel), masks = SAM post-processing of low_res.
 * So a cell is foreground for token c when it is at least t_c-similar to some positive
 * point and more similar (by margin m) to a positive than to any negative point.
 */

import { GraphBuilder, type GraphSpec } from '../onnx/graph';
import { mulberry32 } from './prng';

export const TESTKIT_DECODER_PARAMS = {
  /** Logit scale s (cosine units → logits). */
  scale: 20,
  /** Per-token similarity thresholds t_c: token 0 = single-mask answer, 1 = tighter,
   * 2 = same as 0, 3 = looser. */
  thresholds: [0.25, 0.5, 0.25, 0.1] as readonly number[],
  /** A cell must beat its best negative similarity by this much (negatives win ties). */
  negativeMargin: 0.05,
  /** Logit given to cells outside a box prompt. */
  boxFill: -1000,
  /** mask_input gain γ and clip a: the nudge is at most ±γ·a = ±2 logits (0.1 cosine). */
  maskGain: 0.2,
  maskClip: 10,
  /** Stability offset δ (logits) of the iou_predictions score. */
  stabilityDelta: 1,
  /** Per-token prior multiplying the stability score, so that on a clean, unambiguous
   * object the multimask choice (argmax over tokens 1..3) is token 2 = token 0's mask. */
  tokenPrior: [1, 0.9, 1, 0.8] as readonly number[],
  /** sam-sized variant: weight of the ConvTranspose upscaler's per-token dot products
   * added to the low-res logits (small, non-zero: measured ≈4e-6 logits on the
   * testkit embedding). */
  upscalerWeight: 1e-4,
  /** Internal "no point" similarity (below any cosine). */
  none: -2,
} as const;

export type TestkitDecoderVariant = 'basic' | 'sam-sized';

const GRID = 64;
const CELLS = GRID * GRID;
const PATCH = 16;
const LOW_RES = 256;
const INPUT_SIZE = 1024;
const TOKENS = 4;

function uniformWeights(count: number, bound: number, seed: number): Float32Array {
  const rnd = mulberry32(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (rnd() * 2 - 1) * bound;
  return out;
}

export interface DecoderCoreInputs {
  embeddings: string; // [1,256,64,64]
  pointCoords: string; // [1,N,2] in the 1024 frame
  pointLabels: string; // [1,N]
  maskInput: string; // [1,1,256,256]
  hasMaskInput: string; // [1]
}

export interface DecoderCoreOutputs {
  /** Per-token 64² logits, [4,4096] (row-major cells). */
  logits: string;
  /** Per-token quality scores, [1,4]. */
  iou: string;
}

/** Max over the last axis of `values` [R,N] where `keep` [N] holds, or NONE when nothing
 * is kept (a constant NONE column is appended so N = 0 cannot reduce an empty axis). */
function maskedMax(g: GraphBuilder, values: string, keep: string, rows: number): string {
  const { none } = TESTKIT_DECODER_PARAMS;
  const masked = g.op('Where', [keep, values, g.f32(none)]);
  const withSentinel = g.op('Concat', [masked, g.f32(new Array<number>(rows).fill(none), [rows, 1])], {
    axis: 1,
  });
  return g.op('ReduceMax', [withSentinel], { axes: [1], keepdims: 0 });
}

/** Reduce-all over a [N] vector after appending a sentinel, so N = 0 is defined. */
function reduceWithSentinel(
  g: GraphBuilder,
  op: 'ReduceMin' | 'ReduceMax',
  v: string,
  sentinel: number,
): string {
  const cat = g.op('Concat', [v, g.f32([sentinel])], { axis: 0 });
  return g.op(op, [cat], { keepdims: 0 });
}

/**
 * The shared decoder maths (see the file comment) up to per-token 64² logits and scores.
 */
export function addDecoderCore(g: GraphBuilder, io: DecoderCoreInputs): DecoderCoreOutputs {
  const P = TESTKIT_DECODER_PARAMS;

  // Cell features as rows [4096,256], L2-normalised; the epsilon keeps an all-zero
  // embedding at zero instead of 0/0 = NaN.
  const flat = g.op('Reshape', [io.embeddings, g.i64([256, CELLS])]);
  const rows = g.op('Transpose', [flat], { perm: [1, 0] });
  const sumSq = g.op('ReduceSumSquare', [rows], { axes: [1], keepdims: 1 });
  const norm = g.op('Sqrt', [g.op('Add', [sumSq, g.f32(1e-12)])]);
  const feats = g.op('Div', [rows, norm]);

  // Points: [N,2] and [N] whatever the (size-1) batch axis.
  const coords = g.op('Reshape', [io.pointCoords, g.i64([-1, 2])]);
  const labels = g.op('Reshape', [io.pointLabels, g.i64([-1])]);
  const px = g.op('Gather', [coords, g.i64(0)], { axis: 1 });
  const py = g.op('Gather', [coords, g.i64(1)], { axis: 1 });
  const cellOf = (v: string) =>
    g.op('Clip', [g.op('Floor', [g.op('Div', [v, g.f32(PATCH)])]), g.f32(0), g.f32(GRID - 1)]);
  const cellIndex = (x: string, y: string) =>
    g.op('Cast', [g.op('Add', [g.op('Mul', [cellOf(y), g.f32(GRID)]), cellOf(x)])], { to: 7 /* INT64 */ });
  const pointFeats = g.op('Gather', [feats, cellIndex(px, py)], { axis: 0 }); // [N,256]
  const sims = g.op('MatMul', [feats, g.op('Transpose', [pointFeats], { perm: [1, 0] })]); // [4096,N]

  const isPos = g.op('Equal', [labels, g.f32(1)]);
  const isNeg = g.op('Equal', [labels, g.f32(0)]);
  const isTL = g.op('Equal', [labels, g.f32(2)]);
  const isBR = g.op('Equal', [labels, g.f32(3)]);
  const posPoints = maskedMax(g, sims, isPos, CELLS); // [4096]
  const neg = maskedMax(g, sims, isNeg, CELLS); // [4096]

  // Box corners (min over label-2 points, max over label-3 points); with no corner the
  // sentinel makes the box empty and `hasBox` false.
  const BIG = 1e9;
  const x0 = reduceWithSentinel(g, 'ReduceMin', g.op('Where', [isTL, px, g.f32(BIG)]), BIG);
  const y0 = reduceWithSentinel(g, 'ReduceMin', g.op('Where', [isTL, py, g.f32(BIG)]), BIG);
  const x1 = reduceWithSentinel(g, 'ReduceMax', g.op('Where', [isBR, px, g.f32(-BIG)]), -BIG);
  const y1 = reduceWithSentinel(g, 'ReduceMax', g.op('Where', [isBR, py, g.f32(-BIG)]), -BIG);
  const hasBox = g.op('And', [g.op('Less', [x0, g.f32(BIG / 2)]), g.op('Greater', [x1, g.f32(-BIG / 2)])]);

  // A box without positive points behaves as a positive point at the box centre.
  const anyPos = g.op('Greater', [
    reduceWithSentinel(g, 'ReduceMax', g.op('Cast', [isPos], { to: 1 /* FLOAT */ }), 0),
    g.f32(0.5),
  ]);
  const half = g.f32(0.5);
  const cx = g.op('Reshape', [g.op('Mul', [g.op('Add', [x0, x1]), half]), g.i64([1])]);
  const cy = g.op('Reshape', [g.op('Mul', [g.op('Add', [y0, y1]), half]), g.i64([1])]);
  const centreFeat = g.op('Gather', [feats, cellIndex(cx, cy)], { axis: 0 }); // [1,256]
  const centreSim = g.op('Reshape', [
    g.op('MatMul', [feats, g.op('Transpose', [centreFeat], { perm: [1, 0] })]),
    g.i64([CELLS]),
  ]);
  const useCentre = g.op('And', [hasBox, g.op('Not', [anyPos])]);
  const pos = g.op('Where', [useCentre, centreSim, posPoints]); // [4096]

  // Token logits [4,4096].
  const thresholds = g.f32([...P.thresholds], [TOKENS, 1], 'thresholds');
  const negShifted = g.op('Reshape', [g.op('Add', [neg, g.f32(P.negativeMargin)]), g.i64([1, CELLS])]);
  const effectiveThreshold = g.op('Max', [thresholds, negShifted]);
  let logits = g.op('Mul', [g.op('Sub', [pos, effectiveThreshold]), g.f32(P.scale)]);

  // mask_input nudge: 256→64 by averaging 4×4 blocks, clipped, gated by has_mask_input.
  const pooled = g.op('AveragePool', [io.maskInput], { kernel_shape: [4, 4], strides: [4, 4] });
  const clipped = g.op('Clip', [pooled, g.f32(-P.maskClip), g.f32(P.maskClip)]);
  const gated = g.op('Mul', [g.op('Reshape', [clipped, g.i64([1, CELLS])]), io.hasMaskInput]);
  logits = g.op('Add', [logits, g.op('Mul', [gated, g.f32(P.maskGain)])]);

  // Box: keep cells whose centre is inside the (inclusive) box, or all cells without one.
  const centresX = new Float32Array(CELLS);
  const centresY = new Float32Array(CELLS);
  for (let i = 0; i < GRID; i++) {
    for (let j = 0; j < GRID; j++) {
      centresX[i * GRID + j] = j * PATCH + PATCH / 2;
      centresY[i * GRID + j] = i * PATCH + PATCH / 2;
    }
  }
  const gx = g.f32(centresX, [CELLS], 'cell_centre_x');
  const gy = g.f32(centresY, [CELLS], 'cell_centre_y');
  const insideX = g.op('And', [g.op('GreaterOrEqual', [gx, x0]), g.op('LessOrEqual', [gx, x1])]);
  const insideY = g.op('And', [g.op('GreaterOrEqual', [gy, y0]), g.op('LessOrEqual', [gy, y1])]);
  const keep = g.op('Or', [g.op('And', [insideX, insideY]), g.op('Not', [hasBox])]);
  logits = g.op('Where', [keep, logits, g.f32(P.boxFill)]);

  // Stability-like score: cells confidently in / cells possibly in (+1 keeps empty at 0).
  const countAbove = (thr: number) =>
    g.op('ReduceSum', [g.op('Cast', [g.op('Greater', [logits, g.f32(thr)])], { to: 1 }), g.i64([1])], {
      keepdims: 0,
    });
  const stable = g.op('Div', [
    countAbove(P.stabilityDelta),
    g.op('Add', [countAbove(-P.stabilityDelta), g.f32(1)]),
  ]);
  const iou = g.op('Reshape', [
    g.op('Mul', [stable, g.f32([...P.tokenPrior], [TOKENS], 'token_prior')]),
    g.i64([1, TOKENS]),
  ]);
  return { logits, iou };
}

/**
 * The sam-sized variant's extra path, shaped like SAM's output upscaling: two
 * ConvTranspose(k=2, s=2) stages 256→64→32 channels (64²→128²→256²) with a GELU-like
 * x·sigmoid(1.702x) after each, then per-token 32-d dot products → [1,4,256,256],
 * scaled by `upscalerWeight`. It depends on the embedding input, so a runtime cannot
 * fold it away; its weights are seeded uniform (±1/sqrt(fan_in)).
 */
function addUpscalerPath(g: GraphBuilder, embeddings: string): string {
  const P = TESTKIT_DECODER_PARAMS;
  const gelu = (v: string) => g.op('Mul', [v, g.op('Sigmoid', [g.op('Mul', [v, g.f32(1.702)])])]);
  const w1 = g.initializer({
    name: 'upscale1_weight',
    type: 'float32',
    dims: [256, 64, 2, 2],
    data: uniformWeights(256 * 64 * 4, 1 / Math.sqrt(256), 1),
  });
  const b1 = g.initializer({
    name: 'upscale1_bias',
    type: 'float32',
    dims: [64],
    data: uniformWeights(64, 0.1, 2),
  });
  const w2 = g.initializer({
    name: 'upscale2_weight',
    type: 'float32',
    dims: [64, 32, 2, 2],
    data: uniformWeights(64 * 32 * 4, 1 / Math.sqrt(64), 3),
  });
  const b2 = g.initializer({
    name: 'upscale2_bias',
    type: 'float32',
    dims: [32],
    data: uniformWeights(32, 0.1, 4),
  });
  const hyper = g.initializer({
    name: 'hypernetwork_tokens',
    type: 'float32',
    dims: [1, TOKENS, 32],
    data: uniformWeights(TOKENS * 32, 1 / Math.sqrt(32), 5),
  });
  const up1 = gelu(g.op('ConvTranspose', [embeddings, w1, b1], { kernel_shape: [2, 2], strides: [2, 2] }));
  const up2 = gelu(g.op('ConvTranspose', [up1, w2, b2], { kernel_shape: [2, 2], strides: [2, 2] }));
  const flat = g.op('Reshape', [up2, g.i64([1, 32, LOW_RES * LOW_RES])]);
  const dots = g.op('MatMul', [hyper, flat]); // [1,4,65536]
  const maps = g.op('Reshape', [dots, g.i64([1, TOKENS, LOW_RES, LOW_RES])]);
  return g.op('Mul', [maps, g.f32(P.upscalerWeight)]);
}

export function resizeLinear(g: GraphBuilder, x: string, sizes: string, output?: string): string {
  // Bilinear with half-pixel centres = PyTorch F.interpolate(align_corners=False), no antialias.
  return g.op(
    'Resize',
    [x, '', '', sizes],
    { mode: 'linear', coordinate_transformation_mode: 'half_pixel' },
    output,
  );
}

export interface BuildDecoderOptions {
  variant?: TestkitDecoderVariant;
  /** 4 = SAM's four tokens; 1 = a "single-mask" export (see below). */
  maskOutputs?: 4 | 1;
  /** Name of the embedding input; anything but 'image_embeddings' is a deliberately
   * broken fixture. */
  embeddingInputName?: string;
}

/**
 * Builds the SAM v1 decoder graph.
 *
 * maskOutputs = 1 mimics samexporter's return_single_mask: the token is chosen in-graph by
 * argmax(iou + (N − 2.5)·[1000,0,0,0]), i.e. token 0 when the prompt has ≥3 points
 * (padding included), otherwise the best-scoring of tokens 1..3.
 */
export function buildTestkitDecoderGraph(opts: BuildDecoderOptions = {}): GraphSpec {
  const variant = opts.variant ?? 'basic';
  const maskOutputs = opts.maskOutputs ?? 4;
  if (variant !== 'basic' && variant !== 'sam-sized') {
    throw new TypeError(`variant: expected 'basic' or 'sam-sized', received ${JSON.stringify(variant)}`);
  }
  if (maskOutputs !== 4 && maskOutputs !== 1) {
    throw new TypeError(`maskOutputs: expected 4 or 1, received ${JSON.stringify(maskOutputs)}`);
  }
  const g = new GraphBuilder(`testkit_decoder_${variant}_${maskOutputs}`);
  const emb = g.input(opts.embeddingInputName ?? 'image_embeddings', 'float32', [1, 256, GRID, GRID]);
  const pointCoords = g.input('point_coords', 'float32', [1, 'num_points', 2]);
  const pointLabels = g.input('point_labels', 'float32', [1, 'num_points']);
  const maskInput = g.input('mask_input', 'float32', [1, 1, LOW_RES, LOW_RES]);
  const hasMaskInput = g.input('has_mask_input', 'float32', [1]);
  const origImSize = g.input('orig_im_size', 'float32', [2]);

  const core = addDecoderCore(g, { embeddings: emb, pointCoords, pointLabels, maskInput, hasMaskInput });
  let logits = core.logits; // [4,4096]
  let iou = core.iou; // [1,4]
  let tokenIndex: string | null = null;
  if (maskOutputs === 1) {
    const count = g.op('Cast', [g.op('Gather', [g.op('Shape', [pointLabels]), g.i64([1])], { axis: 0 })], {
      to: 1,
    });
    const bias = g.op('Mul', [g.op('Sub', [count, g.f32(2.5)]), g.f32([1000, 0, 0, 0], [1, TOKENS])]);
    tokenIndex = g.op('ArgMax', [g.op('Add', [iou, bias])], { axis: 1, keepdims: 0 }); // [1]
    logits = g.op('Gather', [logits, tokenIndex], { axis: 0 });
    iou = g.op('Gather', [iou, tokenIndex], { axis: 1 });
  }
  const C = maskOutputs;
  g.op('Identity', [iou], undefined, 'iou_predictions');

  const grid = g.op('Reshape', [logits, g.i64([1, C, GRID, GRID])]);
  let lowRes = resizeLinear(g, grid, g.i64([1, C, LOW_RES, LOW_RES]));
  if (variant === 'sam-sized') {
    let extra = addUpscalerPath(g, emb);
    if (tokenIndex) extra = g.op('Gather', [extra, tokenIndex], { axis: 1 });
    lowRes = g.op('Add', [lowRes, extra]);
  }
  g.op('Identity', [lowRes], undefined, 'low_res_masks');

  // SAM post-processing: 256→1024, crop the padded bottom/right away, then to (H,W).
  const up = resizeLinear(g, lowRes, g.i64([1, C, INPUT_SIZE, INPUT_SIZE]));
  const longSide = g.op('ReduceMax', [origImSize], { keepdims: 1 });
  const scale = g.op('Div', [g.f32(INPUT_SIZE), longSide]);
  const resized = g.op(
    'Cast',
    [g.op('Floor', [g.op('Add', [g.op('Mul', [origImSize, scale]), g.f32(0.5)])])],
    { to: 7 },
  );
  const cropped = g.op('Slice', [up, g.i64([0, 0]), resized, g.i64([2, 3])]);
  const outSize = g.op('Concat', [g.i64([1, C]), g.op('Cast', [origImSize], { to: 7 })], { axis: 0 });
  resizeLinear(g, cropped, outSize, 'masks');

  g.output('masks', 'float32', [1, C, 'orig_height', 'orig_width']);
  g.output('iou_predictions', 'float32', [1, C]);
  g.output('low_res_masks', 'float32', [1, C, LOW_RES, LOW_RES]);
  return g.build(
    `p2sam-native testkit decoder (${variant}, ${C} mask output${C === 1 ? '' : 's'}): cosine similarity of cell features to prompt points, see docs/testkit.md.`,
  );
}
