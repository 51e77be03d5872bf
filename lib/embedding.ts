/**
 * A SAM image embedding ([256, 64, 64] float32) plus the geometry of the image it came
 * from. Returned by `model.encode(image)`; `segment` and `createReference` accept it in
 * place of an image, so a caller that segments the same frame against several
 * references pays for the encoder once.
 */
import { P2SamError } from './errors';
import { native, type NativeEmbedding, type NativeEmbeddingMeta } from './native';
import { fail } from './validate';

export const EMBEDDING_LENGTH = 256 * 64 * 64;

export class Embedding {
  /** @internal */
  #handle: NativeEmbedding | undefined;
  readonly width: number;
  readonly height: number;
  /** Size of the image after SAM's resize of the longest side to 1024. */
  readonly inputWidth: number;
  readonly inputHeight: number;
  /** Milliseconds the encoder took (0 for restored embeddings). */
  readonly encodeMs: number;

  /** @internal use model.encode() or Embedding.fromData() */
  constructor(handle: NativeEmbedding, encodeMs = 0) {
    this.#handle = handle;
    const m = handle.meta();
    this.width = m.origWidth;
    this.height = m.origHeight;
    this.inputWidth = m.inputWidth;
    this.inputHeight = m.inputHeight;
    this.encodeMs = encodeMs;
  }

  /** Restores an embedding saved with `toFloat32Array()` + its metadata. */
  static fromData(data: Float32Array, meta: NativeEmbeddingMeta): Embedding {
    if (!(data instanceof Float32Array)) fail('type', 'data', `a Float32Array of ${EMBEDDING_LENGTH} values`, data);
    if (data.length !== EMBEDDING_LENGTH)
      throw new RangeError(`data must hold 256×64×64 = ${EMBEDDING_LENGTH} values; received ${data.length}`);
    for (const key of ['origWidth', 'origHeight', 'inputWidth', 'inputHeight'] as const) {
      const v = meta?.[key];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail('range', `meta.${key}`, 'a positive integer', v);
    }
    if (Math.max(meta.inputWidth, meta.inputHeight) !== 1024)
      throw new RangeError(`meta.inputWidth/inputHeight must have a longest side of 1024; received ${meta.inputWidth}×${meta.inputHeight}`);
    return new Embedding(new (native().NativeEmbedding)(data, meta));
  }

  get disposed(): boolean {
    return this.#handle === undefined;
  }

  /** @internal */
  get handle(): NativeEmbedding {
    if (!this.#handle) throw new P2SamError('DISPOSED', 'this embedding has been disposed');
    return this.#handle;
  }

  /** A copy of the raw [256, 64, 64] channel-major values. */
  toFloat32Array(): Float32Array {
    return this.handle.data();
  }

  dispose(): void {
    this.#handle?.release();
    this.#handle = undefined;
  }
}
