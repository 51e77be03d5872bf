/**
 * Reference building for P2SAM.createReference: the argument checks (done before any
 * encoder pass is spent) and the one native call that makes the reference
 * (grid → features → every prototype set, native/runtime/reference.cpp).
 */
import { cancellable } from './cancellable';
import { Embedding } from './embedding';
import { P2SamError } from './errors';
import { native, type MathsDevice, type NativeModelInfo } from './native';
import * as opt from './options';
import { Reference } from './reference';
import type { ImageData, MaskData } from './types';
import * as v from './validate';

/** @internal A validated createReference call. */
export interface ReferenceRequest {
  /** The image to encode, or undefined when the caller passed an Embedding. */
  image: ImageData | undefined;
  embedding: Embedding | undefined;
  mask: Uint8Array;
  width: number;
  height: number;
  options: opt.ResolvedReference;
}

/**
 * @internal Checks `createReference`'s arguments. Throws TypeError/RangeError for wrong
 * shapes, P2SamError MASK_SIZE_MISMATCH / EMPTY_REFERENCE for a mask that cannot work.
 */
export function referenceRequest(input: unknown, options: unknown): ReferenceRequest {
  if (!v.isPlainObject(input)) v.fail('type', 'input', '{ image, mask }', input);
  const i = input as { image?: unknown; mask?: unknown };
  const m: MaskData = v.mask('input.mask', i.mask);
  const embedding = i.image instanceof Embedding ? i.image : undefined;
  const image = embedding ? undefined : v.image('input.image', i.image);
  const width = embedding ? embedding.width : image!.width;
  const height = embedding ? embedding.height : image!.height;
  if (m.width !== width || m.height !== height)
    throw new P2SamError(
      'MASK_SIZE_MISMATCH',
      `input.mask is ${m.width}×${m.height} but the reference image is ${width}×${height}`,
    );
  const resolved = opt.resolveReference(v.optionsObject('options', options));
  // Refused before the encoder runs (native/runtime/reference.cpp checks again).
  if (!m.data.some((x) => x !== 0))
    throw new P2SamError(
      'EMPTY_REFERENCE',
      'the reference mask is empty (no non-zero pixel): there is nothing to learn the object from',
    );
  const mask = m.data instanceof Uint8Array ? m.data : new Uint8Array(m.data);
  return { image, embedding, mask, width, height, options: resolved };
}

/**
 * @internal Which encoder feature space a reference's features live in: a reference made
 * with one encoder (or normalisation) is meaningless with another. Graph structure, not
 * weights: two exports of the same graph with different weights are not told apart.
 */
export function encoderIdentity(encoder: NativeModelInfo, normalization: opt.Normalization): string {
  const tensors = (ts: NativeModelInfo['inputs']) =>
    ts.map((t) => `${t.name}:${t.type}[${t.dims.map((d) => d ?? '?').join(',')}]`).join(';');
  return [
    encoder.kind,
    encoder.producer,
    encoder.graphName,
    tensors(encoder.inputs),
    tensors(encoder.outputs),
    normalization,
  ].join('|');
}

/** @internal One native call: the reference, held in C++. */
export async function buildReference(
  embedding: Embedding,
  req: ReferenceRequest,
  ctx: {
    modelId: number;
    threads: number;
    kmeansDevice: MathsDevice;
    encoderIdentity: string;
    encodeMs: number;
  },
): Promise<Reference> {
  const o = req.options;
  const t0 = performance.now();
  // Cancellable: an abort stops k-means between Lloyd iterations.
  const r = await cancellable(o.signal, () =>
    native().buildReference(embedding.handle, req.mask, req.width, req.height, {
      mode: o.mode,
      partsMin: o.parts.min,
      partsMax: o.parts.max,
      negativesMin: o.negatives.min,
      negativesMax: o.negatives.max,
      restarts: o.restarts,
      maxIterations: 300,
      tolerance: 1e-4,
      seed: o.seed,
      seeding: o.seeding,
      threads: ctx.threads,
      device: ctx.kmeansDevice,
      encoderIdentity: ctx.encoderIdentity,
    }),
  );
  const timings = {
    encodeMs: ctx.encodeMs,
    featuresMs: r.featuresMs,
    prototypesMs: r.prototypesMs,
    totalMs: ctx.encodeMs + (performance.now() - t0),
  };
  return new Reference(r.reference, ctx.modelId, timings);
}
