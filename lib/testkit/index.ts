/**
 * Testkit: small, real SAM-format ONNX models with documented semantics (docs/testkit.md),
 * generated in-process so the project can be built and tested without SAM weights.
 */

import { mkdir, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../io/atomic-file';
import * as path from 'node:path';

import { buildTestkitEncoderGraph, type EncoderForm, type TestkitEncoderVariant } from './encoder';
import { buildTestkitDecoderGraph, type TestkitDecoderVariant } from './decoder';
import { encodeTestkitGraph } from './fixtures';

export type { TestkitDecoderVariant } from './decoder';
export type { TestkitEncoderVariant } from './encoder';
export { TESTKIT_DECODER_PARAMS } from './decoder';
export {
  TESTKIT_ENCODER_PARAMS,
  TESTKIT_SAM_SIZED_ENCODER_PARAMS,
  SAM_PIXEL_MEAN,
  SAM_PIXEL_STD,
  testkitAnchors,
  testkitCellFeature,
} from './encoder';

export const TESTKIT_ENCODER_FILE = 'testkit-encoder.onnx';
export const TESTKIT_DECODER_FILE = 'testkit-decoder.onnx';
/** External-data file written beside the encoder with `{ externalData: true }`. */
export const TESTKIT_ENCODER_DATA_FILE = 'testkit-encoder.onnx.data';

function describe(value: unknown): string {
  return value === undefined
    ? 'undefined'
    : typeof value === 'string'
      ? JSON.stringify(value)
      : `${typeof value} ${String(value)}`;
}

function checkOptions(opts: unknown, what: string): Record<string, unknown> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new TypeError(
      `${what}: expected an options object or undefined, received ${opts === null ? 'null' : Array.isArray(opts) ? 'an array' : describe(opts)}`,
    );
  }
  return opts as Record<string, unknown>;
}

function checkForm(form: unknown): EncoderForm {
  if (form === undefined) return 'input_image';
  if (form !== 'input_image' && form !== 'preprocessed') {
    throw new TypeError(`opts.form: expected 'input_image' or 'preprocessed', received ${describe(form)}`);
  }
  return form;
}

function checkVariant(variant: unknown, what: string): TestkitDecoderVariant & TestkitEncoderVariant {
  if (variant === undefined) return 'basic';
  if (variant !== 'basic' && variant !== 'sam-sized') {
    throw new TypeError(`${what}: expected 'basic' or 'sam-sized', received ${describe(variant)}`);
  }
  return variant;
}

function encoderKind(form: EncoderForm, variant: TestkitEncoderVariant): string {
  const base = form === 'input_image' ? 'encoder' : 'encoder-preprocessed';
  return variant === 'basic' ? base : `${base}-sam-sized`;
}

/**
 * The testkit encoder. form 'input_image' (default): `input_image` f32[H,W,3], RGB 0..255
 * resized to long side 1024; 'preprocessed': `input_image` f32[1,3,1024,1024] normalised
 * and padded. Output `image_embeddings` f32[1,256,64,64]. variant 'sam-sized' gives the
 * same embedding (within 1e-6) at the cost of a ViT-B-like encoder relative to the
 * sam-sized decoder (docs/testkit.md); 'basic' (default) is the cheap one.
 */
export function testkitEncoderBytes(opts?: {
  form?: 'input_image' | 'preprocessed';
  variant?: TestkitEncoderVariant;
}): Uint8Array {
  const o = checkOptions(opts, 'opts');
  const form = checkForm(o.form);
  const variant = checkVariant(o.variant, 'opts.variant');
  return encodeTestkitGraph(buildTestkitEncoderGraph(form, undefined, variant), encoderKind(form, variant))
    .model;
}

/** The testkit SAM v1 decoder ('basic' or 'sam-sized'; 4 or 1 mask outputs). */
export function testkitDecoderBytes(opts?: {
  variant?: TestkitDecoderVariant;
  maskOutputs?: 4 | 1;
}): Uint8Array {
  const o = checkOptions(opts, 'opts');
  const variant = checkVariant(o.variant, 'opts.variant');
  const maskOutputs = o.maskOutputs === undefined ? 4 : o.maskOutputs;
  if (maskOutputs !== 4 && maskOutputs !== 1) {
    throw new TypeError(`opts.maskOutputs: expected 4 or 1, received ${describe(maskOutputs)}`);
  }
  return encodeTestkitGraph(
    buildTestkitDecoderGraph({ variant, maskOutputs }),
    `decoder-${variant}-${maskOutputs}`,
  ).model;
}

/**
 * Writes testkit-encoder.onnx and testkit-decoder.onnx into `outDir` (created if needed).
 * With `externalData`, the encoder's weights go to testkit-encoder.onnx.data beside it,
 * referenced by relative location like ViT-H exports; otherwise a stale data file of that
 * name is removed so the directory never holds a mismatched pair.
 */
export async function writeTestkitModel(
  outDir: string,
  opts?: { decoder?: TestkitDecoderVariant; encoder?: TestkitEncoderVariant; externalData?: boolean },
): Promise<{ encoder: string; decoder: string }> {
  if (typeof outDir !== 'string' || outDir.length === 0) {
    throw new TypeError(`outDir: expected a non-empty directory path string, received ${describe(outDir)}`);
  }
  const o = checkOptions(opts, 'opts');
  const variant = checkVariant(o.decoder, 'opts.decoder');
  const encoderVariant = checkVariant(o.encoder, 'opts.encoder');
  if (o.externalData !== undefined && typeof o.externalData !== 'boolean') {
    throw new TypeError(`opts.externalData: expected a boolean, received ${describe(o.externalData)}`);
  }
  const external = o.externalData === true;

  await mkdir(outDir, { recursive: true });
  const encoderPath = path.join(outDir, TESTKIT_ENCODER_FILE);
  const decoderPath = path.join(outDir, TESTKIT_DECODER_FILE);
  const dataPath = path.join(outDir, TESTKIT_ENCODER_DATA_FILE);

  // Tensors of >= 1 KiB go external (onnx's own default threshold): here the RBF weights
  // and bias (and the sam-sized branch's weights). Small shape/index constants stay inline, as in real exports; ONNX shape
  // inference cannot read external data, so they must.
  const enc = encodeTestkitGraph(
    buildTestkitEncoderGraph('input_image', undefined, encoderVariant),
    encoderKind('input_image', encoderVariant),
    external ? { location: TESTKIT_ENCODER_DATA_FILE, minBytes: 1024 } : undefined,
  );
  if (external) {
    await writeFileAtomic(dataPath, enc.externalData ?? new Uint8Array(0));
  } else {
    await rm(dataPath, { force: true });
  }
  // Atomic and link-safe: a symbolic link already at one of these names is replaced,
  // never written through, and an interrupted write leaves no half model.
  await writeFileAtomic(encoderPath, enc.model);
  await writeFileAtomic(decoderPath, testkitDecoderBytes({ variant }));
  return { encoder: encoderPath, decoder: decoderPath };
}

export * from './fixtures';
export {
  makeScene,
  sequence,
  objectCoverage,
  scaleForCoverage,
  type Scene,
  type SceneOptions,
} from './scenes';
export { writeTorchTestkitModels, type TorchTestkitPaths } from './torchscript';
