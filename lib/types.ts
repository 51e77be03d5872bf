/**
 * Shared public data types. Kept free of runtime code so every module (engine, I/O,
 * CLI, testkit) can import them without pulling in the native addon.
 */

/** An 8-bit image in interleaved (HWC) layout. Greyscale is replicated to RGB and
 * alpha is dropped before encoding. */
export interface ImageData {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** A binary mask, one byte per pixel, row-major; any non-zero byte is foreground. */
export interface MaskData {
  data: Uint8Array;
  width: number;
  height: number;
}

/** A prompt point in original-image pixel coordinates. label 1 = positive, 0 = negative. */
export interface PromptPoint {
  x: number;
  y: number;
  label: 0 | 1;
}

/**
 * What an ONNX graph is, by its inputs and outputs: a SAM (v1) image encoder taking
 * raw pixels or a preprocessed tensor, a SAM prompt decoder, a SAM 2 graph (recognised,
 * not supported), or none of these.
 */
export type ModelKind =
  | 'sam-encoder-image'
  | 'sam-encoder-preprocessed'
  | 'sam-decoder'
  | 'sam2-encoder'
  | 'sam2-decoder'
  | 'unknown';

/** One input or output of an ONNX graph. */
export interface TensorInfo {
  name: string;
  /** Element type as ONNX names it, e.g. 'float32'. */
  type: string;
  /** null for a dynamic dimension. */
  dims: (number | null)[];
}

/** The signature and provenance of an ONNX graph. */
export interface GraphInfo {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  producer: string;
  graphName: string;
}

/** A loaded encoder or decoder (see {@link ModelInfo}). */
export interface LoadedModelInfo extends GraphInfo {
  kind: ModelKind;
  /** Where it runs: the ONNX Runtime execution provider, or libtorch's device ('cpu' / 'cuda'). */
  provider: string;
  /** What runs it: 'onnxruntime' (.onnx) or 'libtorch' (TorchScript .pt). */
  runtime: 'onnxruntime' | 'libtorch';
  /** Decoders: mask channels per pass (1 or 4; 0 when dynamic). */
  maskOutputs?: number;
  /** Decoders: which session runs the P2SAM cascade — 'pruned' (full-resolution branch removed) or 'full'. */
  cascade?: 'pruned' | 'full';
  cascadeNote?: string;
}

/** Geometry of the image an embedding came from (stored next to {@link Embedding.toFloat32Array}'s data). */
export interface EmbeddingMeta {
  origWidth: number;
  origHeight: number;
  /** Size after SAM's resize of the longest side to 1024. */
  inputWidth: number;
  inputHeight: number;
}

/** One decoder pass of a candidate's cascade. */
export interface DecoderPass {
  /** The mask channel kept. */
  token: number;
  /** Its predicted IoU. */
  iou: number;
  multimask: boolean;
  ms: number;
}
