/**
 * A SAM image embedding ([256, 64, 64] float32) plus the geometry of the image it came
 * from. Returned by `model.encode(image)`; `segment` and `createReference` accept it in
 * place of an image, so a caller that segments the same frame against several
 * references pays for the encoder once.
 */
import { P2SamError } from './errors';
import './reference'; // defines Symbol.dispose on Node < 20.4 before the class below uses it
import { native, type NativeEmbedding } from './native';
import type { EmbeddingMeta } from './types';
import { fail, integer, isPlainObject, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE } from './validate';

export const EMBEDDING_LENGTH = 256 * 64 * 64;

/**
 * An encoded image, held in C++ (shared with running calls, like {@link Reference}).
 *
 * @example
 * ```ts
 * using embedding = await model.encode(frame);
 * const { mask } = await model.segment(embedding, { reference });
 * ```
 */
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

  /**
   * Restores an embedding saved with `toFloat32Array()` + its metadata.
   *
   * @throws {TypeError | RangeError} `data` is not 256×64×64 finite float32 values, or
   *   `meta` describes an impossible geometry.
   * @example
   * ```ts
   * const meta = { origWidth: e.width, origHeight: e.height, inputWidth: e.inputWidth, inputHeight: e.inputHeight };
   * const saved = e.toFloat32Array();
   * const restored = Embedding.fromData(saved, meta);
   * ```
   */
  static fromData(data: Float32Array, meta: EmbeddingMeta): Embedding {
    if (!(data instanceof Float32Array))
      fail('type', 'data', `a Float32Array of ${EMBEDDING_LENGTH} values`, data);
    if (data.length !== EMBEDDING_LENGTH)
      throw new RangeError(`data must hold 256×64×64 = ${EMBEDDING_LENGTH} values; received ${data.length}`);
    // A stored embedding is caller data: a NaN in it would only surface later as an
    // opaque native error (or, in the decoder, as a garbage mask), so refuse it here.
    for (let i = 0; i < data.length; i++)
      if (!Number.isFinite(data[i]))
        throw new RangeError(
          `data must contain only finite values; element ${i} (channel ${Math.floor(i / 4096)}, cell ${i % 4096}) is ${data[i]}`,
        );
    if (!isPlainObject(meta))
      fail('type', 'meta', '{ origWidth, origHeight, inputWidth, inputHeight }', meta);
    // Each field is read exactly once, into the snapshot that is checked and passed on: a
    // getter or Proxy cannot pass the checks with one value and reach native code with another.
    const m: EmbeddingMeta = {
      origWidth: meta.origWidth,
      origHeight: meta.origHeight,
      inputWidth: meta.inputWidth,
      inputHeight: meta.inputHeight,
    };
    // The original size drives the size of every mask the decoder returns, so it gets the
    // same bounds as an image (a forged 10⁶×10⁶ would otherwise ask for terabytes).
    integer('meta.origWidth', m.origWidth, 1, MAX_IMAGE_SIDE);
    integer('meta.origHeight', m.origHeight, 1, MAX_IMAGE_SIDE);
    if (m.origWidth * m.origHeight > MAX_IMAGE_PIXELS)
      throw new RangeError(
        `meta must describe at most ${MAX_IMAGE_PIXELS} pixels; received ${m.origWidth}×${m.origHeight}`,
      );
    integer('meta.inputWidth', m.inputWidth, 1, 1024);
    integer('meta.inputHeight', m.inputHeight, 1, 1024);
    if (Math.max(m.inputWidth, m.inputHeight) !== 1024)
      throw new RangeError(
        `meta.inputWidth/inputHeight must have a longest side of 1024; received ${m.inputWidth}×${m.inputHeight}`,
      );
    return new Embedding(new (native().NativeEmbedding)(data, m));
  }

  /** True once {@link Embedding.dispose} was called. */
  get disposed(): boolean {
    return this.#handle === undefined;
  }

  /** @internal */
  get handle(): NativeEmbedding {
    if (!this.#handle) throw new P2SamError('DISPOSED', 'this embedding has been disposed');
    return this.#handle;
  }

  /**
   * A copy of the raw [256, 64, 64] channel-major values.
   *
   * @throws {P2SamError} `DISPOSED` after {@link Embedding.dispose}.
   * @example
   * ```ts
   * await writeFile('frame.emb', Buffer.from(embedding.toFloat32Array().buffer));
   * ```
   */
  toFloat32Array(): Float32Array {
    return this.handle.data();
  }

  /** Frees the native data (a call already using it keeps its share). Safe to call twice. */
  dispose(): void {
    this.#handle?.release();
    this.#handle = undefined;
  }

  /** `using emb = await model.encode(image)` frees the embedding at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
