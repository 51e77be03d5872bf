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
  'DICOM_READ_FAILED',
  'DICOM_UNSUPPORTED',
  'DICOM_NO_SERIES',
  'DICOM_SERIES_CHOICE',
  'DICOM_SERIES_INVALID',
  'RTSTRUCT_INVALID',
  'RTSTRUCT_ROI_NOT_FOUND',
  'RTSTRUCT_SERIES_MISMATCH',
  'SEG_INVALID',
  'SEG_SEGMENT_NOT_FOUND',
  'SEG_SIZE_MISMATCH',
  'NIFTI_READ_FAILED',
  'NIFTI_UNSUPPORTED',
  'NIFTI_LABEL_NOT_FOUND',
  'MASK_GEOMETRY_MISMATCH',
  'VOLUME_GEOMETRY_MISMATCH',
  'VOLUME_PATIENT_MISMATCH',
  'VOLUME_ALIGNMENT_FAILED',
  'VOLUME_NO_OVERLAP',
  'INVALID_ARGUMENT',
  'INTERNAL',
] as const;

/**
 * The stable `code` of a {@link P2SamError}:
 * - `MODEL_NOT_FOUND`: a model path does not exist or is not a file
 * - `MODEL_INVALID`: the bytes are not an ONNX model / TorchScript archive the runtime can load
 * - `MODEL_UNSUPPORTED`: a valid ONNX model of a kind or export this library cannot run
 * - `MODEL_MISMATCH`: encoder and decoder swapped, or a reference used with another encoder
 * - `MODEL_OUTPUT_INVALID`: a model produced outputs of the wrong type, shape or NaN
 * - `INFERENCE_FAILED`: ONNX Runtime or libtorch failed while running a model
 * - `EMPTY_REFERENCE`: the reference mask selects no feature cell, or too few for any part count
 * - `NON_FINITE_EMBEDDING`: the encoder produced NaN or Inf
 * - `DISPOSED`: a model, embedding or reference was used after dispose()
 * - `ABORTED`: the call's AbortSignal fired (raised by the TypeScript layer)
 * - `BACKEND_UNAVAILABLE`: CUDA (or the libtorch addon) was asked for but is not built or usable
 * - `IMAGE_READ_FAILED`: an image file could not be decoded (TypeScript I/O)
 * - `MASK_SIZE_MISMATCH`: a mask's size differs from its image's
 * - `TARGET_NOT_FOUND`: a CLI target path matches no image
 * - `OUTPUT_PATH_REFUSED`: a CLI output path would overwrite an input or is not writable
 * - `REFERENCE_DATA_INVALID`: Reference.fromData: the bytes are not a valid saved reference
 * - `REFERENCE_VERSION_UNSUPPORTED`: Reference.fromData: saved by a newer format version
 * - `DICOM_READ_FAILED`: a DICOM file is unreadable: truncated, no DICOM data set, bad pixel data (TypeScript I/O)
 * - `DICOM_UNSUPPORTED`: a DICOM file uses a transfer syntax or pixel format no decoder here handles (TypeScript clinical I/O)
 * - `DICOM_NO_SERIES`: a folder or file holds no DICOM image series (TypeScript clinical I/O)
 * - `DICOM_SERIES_CHOICE`: several series were found and none was chosen (the message lists them) (TypeScript clinical I/O)
 * - `DICOM_SERIES_INVALID`: slices that cannot form a volume: mixed orientation or size, duplicates, gantry tilt (TypeScript clinical I/O)
 * - `RTSTRUCT_INVALID`: an RT Structure Set that is malformed or whose contours cannot be placed (TypeScript clinical I/O)
 * - `RTSTRUCT_ROI_NOT_FOUND`: the ROI asked for is not in the RT Structure Set (the message lists those present) (TypeScript clinical I/O)
 * - `RTSTRUCT_SERIES_MISMATCH`: an RT Structure Set that references another series or frame of reference (TypeScript clinical I/O)
 * - `SEG_INVALID`: a DICOM SEG that is malformed or not a supported segmentation type (TypeScript clinical I/O)
 * - `SEG_SEGMENT_NOT_FOUND`: the segment asked for is not in the DICOM SEG (TypeScript clinical I/O)
 * - `SEG_SIZE_MISMATCH`: a DICOM SEG whose frames do not match the volume's grid (TypeScript clinical I/O)
 * - `NIFTI_READ_FAILED`: a NIfTI file is unreadable or malformed (TypeScript clinical I/O)
 * - `NIFTI_UNSUPPORTED`: a NIfTI feature or geometry this library cannot represent (e.g. uneven slice spacing) (TypeScript clinical I/O)
 * - `NIFTI_LABEL_NOT_FOUND`: the label asked for does not occur in the NIfTI labelmap (TypeScript clinical I/O)
 * - `MASK_GEOMETRY_MISMATCH`: a mask volume's geometry differs from the volume it is used with (TypeScript clinical I/O)
 * - `VOLUME_GEOMETRY_MISMATCH`: reference and target series whose slices are not parallel (TypeScript volumes)
 * - `VOLUME_PATIENT_MISMATCH`: reference and target volumes of different patients (TypeScript volumes)
 * - `VOLUME_ALIGNMENT_FAILED`: the z offset between two visits could not be estimated from the images
 * - `VOLUME_NO_OVERLAP`: no target slice lies within the reference ROI's extent (± margin) after alignment
 * - `INVALID_ARGUMENT`: an argument the TypeScript validation let through was refused natively
 * - `INTERNAL`: a bug or an unexpected native failure; the message says where
 */
export type P2SamErrorCode = (typeof P2SAM_ERROR_CODES)[number];

/** @internal Native-only codes and the public code each is reported as. */
export const NATIVE_CODE_ALIASES: Readonly<Record<string, P2SamErrorCode>> = {
  OUT_OF_MEMORY: 'INTERNAL',
  ORT_UNAVAILABLE: 'INTERNAL',
};
