// Generated from native/addon/error_codes.hpp by scripts/gen-error-codes.mjs: edit the
// header and rerun the script, never this file.

/** Every P2SamError code, in the order of the native list. */
export const P2SAM_ERROR_CODES = [
  'MODEL_NOT_FOUND',
  'MODEL_INVALID',
  'MODEL_UNSUPPORTED',
  'MODEL_MISMATCH',
  'MODEL_OUTPUT_INVALID',
  'INFERENCE_FAILED',
  'EMPTY_REFERENCE',
  'NON_FINITE_EMBEDDING',
  'DISPOSED',
  'ABORTED',
  'BACKEND_UNAVAILABLE',
  'IMAGE_READ_FAILED',
  'MASK_SIZE_MISMATCH',
  'TARGET_NOT_FOUND',
  'OUTPUT_PATH_REFUSED',
  'REFERENCE_DATA_INVALID',
  'REFERENCE_VERSION_UNSUPPORTED',
  'INVALID_ARGUMENT',
  'INTERNAL',
] as const;

/**
 * The stable `code` of a {@link P2SamError}:
 * - `MODEL_NOT_FOUND`: a model path does not exist or is not a file
 * - `MODEL_INVALID`: the bytes are not an ONNX model ONNX Runtime can load
 * - `MODEL_UNSUPPORTED`: a valid ONNX model of a kind or export this library cannot run
 * - `MODEL_MISMATCH`: encoder and decoder swapped, or a reference used with another encoder
 * - `MODEL_OUTPUT_INVALID`: a model produced outputs of the wrong type, shape or NaN
 * - `INFERENCE_FAILED`: ONNX Runtime failed while running a model
 * - `EMPTY_REFERENCE`: the reference mask selects no feature cell, or too few for any part count
 * - `NON_FINITE_EMBEDDING`: the encoder produced NaN or Inf
 * - `DISPOSED`: a model, embedding or reference was used after dispose()
 * - `ABORTED`: the call's AbortSignal fired (raised by the TypeScript layer)
 * - `BACKEND_UNAVAILABLE`: CUDA was asked for but is not compiled in or has no usable GPU
 * - `IMAGE_READ_FAILED`: an image file could not be decoded (TypeScript I/O)
 * - `MASK_SIZE_MISMATCH`: a mask's size differs from its image's
 * - `TARGET_NOT_FOUND`: a CLI target path matches no image
 * - `OUTPUT_PATH_REFUSED`: a CLI output path would overwrite an input or is not writable
 * - `REFERENCE_DATA_INVALID`: Reference.fromData: the bytes are not a valid saved reference
 * - `REFERENCE_VERSION_UNSUPPORTED`: Reference.fromData: saved by a newer format version
 * - `INVALID_ARGUMENT`: an argument the TypeScript validation let through was refused natively
 * - `INTERNAL`: a bug or an unexpected native failure; the message says where
 */
export type P2SamErrorCode = (typeof P2SAM_ERROR_CODES)[number];

/** @internal Native-only codes and the public code each is reported as. */
export const NATIVE_CODE_ALIASES: Readonly<Record<string, P2SamErrorCode>> = {
  OUT_OF_MEMORY: 'INTERNAL',
  ORT_UNAVAILABLE: 'INTERNAL',
};
