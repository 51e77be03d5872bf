/**
 * ONNX fixtures for model-kind detection and error-path tests: other export formats
 * (preprocessed-form encoder, single-mask decoder, SAM 2 encoder/decoder), deliberately
 * broken variants (wrong input name, dynamic output shape, truncated / non-ONNX bytes),
 * and an unrelated valid model. All are generated on demand, deterministically.
 */

import { encodeModel, GraphBuilder, type ExternalDataOptions, type GraphSpec } from '../onnx/graph';
import { addColourRbfEmbedding, buildTestkitEncoderGraph } from './encoder';
import { addDecoderCore, buildTestkitDecoderGraph, resizeLinear } from './decoder';

/** ir_version / opset every testkit model declares. */
export const TESTKIT_IR_VERSION = 8;
export const TESTKIT_OPSET = 17;

/** Wraps a testkit graph in a ModelProto (ir 8, default domain opset 17). */
export function encodeTestkitGraph(
  graph: GraphSpec,
  kind: string,
  externalData?: ExternalDataOptions,
): { model: Uint8Array; externalData: Uint8Array | null } {
  return encodeModel(
    {
      graph,
      irVersion: TESTKIT_IR_VERSION,
      opsetImports: [{ domain: '', version: TESTKIT_OPSET }],
      producerName: 'p2sam-native-testkit',
      producerVersion: '1',
      docString: graph.docString,
      metadata: { 'p2sam.testkit.kind': kind },
    },
    externalData ? { externalData } : {},
  );
}

function bytesOf(graph: GraphSpec, kind: string): Uint8Array {
  return encodeTestkitGraph(graph, kind).model;
}

/** Encoder taking `input_image` f32[1,3,1024,1024] already normalised and padded. */
export function fixturePreprocessedEncoderBytes(): Uint8Array {
  return bytesOf(buildTestkitEncoderGraph('preprocessed'), 'encoder-preprocessed');
}

/** SAM v1 decoder with C=1 outputs (masks [1,1,H,W], iou_predictions [1,1],
 * low_res_masks [1,1,256,256]); token 0 when N≥3 points incl. padding, else best of 1..3. */
export function fixtureSingleMaskDecoderBytes(): Uint8Array {
  return bytesOf(buildTestkitDecoderGraph({ maskOutputs: 1 }), 'decoder-single-mask');
}

/** Decoder whose embedding input is misnamed `image_embedding` (no trailing s). */
export function fixtureWrongInputNameDecoderBytes(): Uint8Array {
  return bytesOf(
    buildTestkitDecoderGraph({ embeddingInputName: 'image_embedding' }),
    'decoder-wrong-input-name',
  );
}

/**
 * input_image encoder that declares `image_embeddings` as [?,256,embed_h,embed_w] (an
 * unknown first dim and two symbolic ones) while still producing [1,256,64,64].
 */
export function fixtureDynamicOutputEncoderBytes(): Uint8Array {
  return bytesOf(
    buildTestkitEncoderGraph('input_image', [null, 256, 'embed_h', 'embed_w']),
    'encoder-dynamic-output',
  );
}

/**
 * SAM 2-style encoder: `image` f32[1,3,1024,1024] (ImageNet-normalised, stretched) →
 * `high_res_feats_0` [1,32,256,256], `high_res_feats_1` [1,64,128,128] (fixed 1×1
 * projections of 4×4 / 8×8 patch means) and `image_embed` [1,256,64,64] (the testkit RBF
 * embedding, so it pairs with the SAM 2 fixture decoder).
 */
export function fixtureSam2EncoderBytes(): Uint8Array {
  const g = new GraphBuilder('testkit_sam2_encoder');
  const image = g.input('image', 'float32', [1, 3, 1024, 1024]);
  const project = (pool: number, channels: number, output: string) => {
    const weights = new Float32Array(channels * 3);
    // A fixed, non-degenerate projection: channel k mixes the colours with cos/sin weights.
    for (let k = 0; k < channels; k++) {
      for (let c = 0; c < 3; c++) weights[k * 3 + c] = Math.cos((k + 1) * (c + 1) * 0.7) / 3;
    }
    const w = g.initializer({
      name: `${output}_weight`,
      type: 'float32',
      dims: [channels, 3, 1, 1],
      data: weights,
    });
    const pooled = g.op('AveragePool', [image], { kernel_shape: [pool, pool], strides: [pool, pool] });
    g.op('Conv', [pooled, w], { kernel_shape: [1, 1] }, output);
  };
  project(4, 32, 'high_res_feats_0');
  project(8, 64, 'high_res_feats_1');
  addColourRbfEmbedding(g, image, 'image_embed');
  g.output('high_res_feats_0', 'float32', [1, 32, 256, 256]);
  g.output('high_res_feats_1', 'float32', [1, 64, 128, 128]);
  g.output('image_embed', 'float32', [1, 256, 64, 64]);
  return bytesOf(g.build('p2sam-native testkit SAM 2-style encoder (fixture).'), 'sam2-encoder');
}

/**
 * SAM 2-style decoder: inputs `image_embed, high_res_feats_0, high_res_feats_1,
 * point_coords [B,N,2], point_labels [B,N], mask_input [B,1,256,256], has_mask_input [B]`;
 * outputs `masks [B,3,256,256]` (low-res logits, multimask tokens 1..3 of the testkit
 * decoder) and `iou_predictions [B,3]`. Runs with B = 1 only. The high-res features
 * enter with weight 1e-6 (mean value) so they are real inputs of the graph.
 */
export function fixtureSam2DecoderBytes(): Uint8Array {
  const g = new GraphBuilder('testkit_sam2_decoder');
  const emb = g.input('image_embed', 'float32', [1, 256, 64, 64]);
  const hr0 = g.input('high_res_feats_0', 'float32', [1, 32, 256, 256]);
  const hr1 = g.input('high_res_feats_1', 'float32', [1, 64, 128, 128]);
  const pointCoords = g.input('point_coords', 'float32', ['num_labels', 'num_points', 2]);
  const pointLabels = g.input('point_labels', 'float32', ['num_labels', 'num_points']);
  const maskInput = g.input('mask_input', 'float32', ['num_labels', 1, 256, 256]);
  const hasMaskInput = g.input('has_mask_input', 'float32', ['num_labels']);
  const core = addDecoderCore(g, { embeddings: emb, pointCoords, pointLabels, maskInput, hasMaskInput });
  const multi = g.op('Slice', [core.logits, g.i64([1]), g.i64([4]), g.i64([0])]); // tokens 1..3
  const grid = g.op('Reshape', [multi, g.i64([1, 3, 64, 64])]);
  const lowRes = resizeLinear(g, grid, g.i64([1, 3, 256, 256]));
  const hrMean = g.op('Add', [
    g.op('ReduceMean', [hr0], { keepdims: 0 }),
    g.op('ReduceMean', [hr1], { keepdims: 0 }),
  ]);
  g.op('Add', [lowRes, g.op('Mul', [hrMean, g.f32(1e-6)])], undefined, 'masks');
  g.op('Slice', [core.iou, g.i64([1]), g.i64([4]), g.i64([1])], undefined, 'iou_predictions');
  g.output('masks', 'float32', ['num_labels', 3, 256, 256]);
  g.output('iou_predictions', 'float32', ['num_labels', 3]);
  return bytesOf(g.build('p2sam-native testkit SAM 2-style decoder (fixture, batch 1).'), 'sam2-decoder');
}

/** A valid ONNX model unrelated to SAM (`x` f32[2,3] → `y` = 2x + 1). */
export function fixtureUnrelatedModelBytes(): Uint8Array {
  const g = new GraphBuilder('unrelated');
  const x = g.input('x', 'float32', [2, 3]);
  g.op('Add', [g.op('Mul', [x, g.f32(2)]), g.f32(1)], undefined, 'y');
  g.output('y', 'float32', [2, 3]);
  return bytesOf(g.build('Not a SAM model.'), 'unrelated');
}

/** The first 60% of a valid decoder: a protobuf cut mid-message. */
export function fixtureTruncatedModelBytes(): Uint8Array {
  const full = buildTestkitDecoderGraph();
  const bytes = bytesOf(full, 'decoder');
  return bytes.slice(0, Math.floor(bytes.length * 0.6));
}

/** Bytes that are not a protobuf at all (UTF-8 text). */
export function fixtureNotOnnxBytes(): Uint8Array {
  return new TextEncoder().encode('This is not an ONNX model: just a line of text.\n');
}

export const TESTKIT_FIXTURE_NAMES = [
  'preprocessed-encoder',
  'single-mask-decoder',
  'wrong-input-name-decoder',
  'dynamic-output-encoder',
  'sam2-encoder',
  'sam2-decoder',
  'unrelated-model',
  'truncated-model',
  'not-onnx',
] as const;

export type TestkitFixtureName = (typeof TESTKIT_FIXTURE_NAMES)[number];

const FIXTURE_BUILDERS: Readonly<Record<TestkitFixtureName, () => Uint8Array>> = {
  'preprocessed-encoder': fixturePreprocessedEncoderBytes,
  'single-mask-decoder': fixtureSingleMaskDecoderBytes,
  'wrong-input-name-decoder': fixtureWrongInputNameDecoderBytes,
  'dynamic-output-encoder': fixtureDynamicOutputEncoderBytes,
  'sam2-encoder': fixtureSam2EncoderBytes,
  'sam2-decoder': fixtureSam2DecoderBytes,
  'unrelated-model': fixtureUnrelatedModelBytes,
  'truncated-model': fixtureTruncatedModelBytes,
  'not-onnx': fixtureNotOnnxBytes,
};

/** Bytes of a fixture by name. */
export function testkitFixtureBytes(name: TestkitFixtureName): Uint8Array {
  const build = Object.hasOwn(FIXTURE_BUILDERS, name) ? FIXTURE_BUILDERS[name] : undefined;
  if (!build) {
    throw new TypeError(
      `name: expected one of ${TESTKIT_FIXTURE_NAMES.join(', ')}, received ${JSON.stringify(name)}`,
    );
  }
  return build();
}
