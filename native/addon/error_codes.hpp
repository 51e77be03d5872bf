// The one list of error codes p2sam-native raises: the `code` of every rejected promise
// or thrown error the addon hands to JS, and so of every P2SamError.
//
// Both sides read this list. C++: listed_code() below, which the addon's error paths
// pass every code through, so a code missing here can never reach JS. TypeScript:
// scripts/gen-error-codes.mjs generates lib/error-codes.ts (P2SamErrorCode) from it, and
// test/error-codes.test.ts fails when that file is stale, when a code raised anywhere in
// native/ is missing here, or when a listed code is raised nowhere.
//
// X(CODE, SURFACES_AS, "what it means"): SURFACES_AS is CODE for a public code, or the
// public code a native-only one is reported as. Add codes, never rename one.
#pragma once

#include <cstring>

// clang-format off
#define P2SAM_ERROR_CODES(X)                                                                                   \
  X(MODEL_NOT_FOUND, MODEL_NOT_FOUND, "a model path does not exist or is not a file")                          \
  X(MODEL_INVALID, MODEL_INVALID, "the bytes are not an ONNX model / TorchScript archive the runtime can load")\
  X(MODEL_UNSUPPORTED, MODEL_UNSUPPORTED, "a valid ONNX model of a kind or export this library cannot run")     \
  X(MODEL_MISMATCH, MODEL_MISMATCH, "encoder and decoder swapped, or a reference used with another encoder")    \
  X(MODEL_OUTPUT_INVALID, MODEL_OUTPUT_INVALID, "a model produced outputs of the wrong type, shape or NaN")      \
  X(INFERENCE_FAILED, INFERENCE_FAILED, "ONNX Runtime or libtorch failed while running a model")              \
  X(EMPTY_REFERENCE, EMPTY_REFERENCE, "the reference mask selects no feature cell, or too few for any part count") \
  X(NON_FINITE_EMBEDDING, NON_FINITE_EMBEDDING, "the encoder produced NaN or Inf")                              \
  X(DISPOSED, DISPOSED, "a model, embedding or reference was used after dispose()")                            \
  X(ABORTED, ABORTED, "the call's AbortSignal fired (raised by the TypeScript layer)")                         \
  X(BACKEND_UNAVAILABLE, BACKEND_UNAVAILABLE, "CUDA (or the libtorch addon) was asked for but is not built or usable")\
  X(IMAGE_READ_FAILED, IMAGE_READ_FAILED, "an image file could not be decoded (TypeScript I/O)")               \
  X(MASK_SIZE_MISMATCH, MASK_SIZE_MISMATCH, "a mask's size differs from its image's")                           \
  X(TARGET_NOT_FOUND, TARGET_NOT_FOUND, "a CLI target path matches no image")                                   \
  X(OUTPUT_PATH_REFUSED, OUTPUT_PATH_REFUSED, "a CLI output path would overwrite an input or is not writable")  \
  X(REFERENCE_DATA_INVALID, REFERENCE_DATA_INVALID, "Reference.fromData: the bytes are not a valid saved reference") \
  X(REFERENCE_VERSION_UNSUPPORTED, REFERENCE_VERSION_UNSUPPORTED, "Reference.fromData: saved by a newer format version") \
  X(DICOM_READ_FAILED, DICOM_READ_FAILED, "a DICOM file is unreadable: truncated, no DICOM data set, bad pixel data (TypeScript I/O)") \
  X(DICOM_UNSUPPORTED, DICOM_UNSUPPORTED, "a DICOM file uses a transfer syntax or pixel format no decoder here handles (TypeScript clinical I/O)") \
  X(DICOM_NO_SERIES, DICOM_NO_SERIES, "a folder or file holds no DICOM image series (TypeScript clinical I/O)") \
  X(DICOM_SERIES_CHOICE, DICOM_SERIES_CHOICE, "several series were found and none was chosen (the message lists them) (TypeScript clinical I/O)") \
  X(DICOM_SERIES_INVALID, DICOM_SERIES_INVALID, "slices that cannot form a volume: mixed orientation or size, duplicates, gantry tilt (TypeScript clinical I/O)") \
  X(RTSTRUCT_INVALID, RTSTRUCT_INVALID, "an RT Structure Set that is malformed or whose contours cannot be placed (TypeScript clinical I/O)") \
  X(RTSTRUCT_ROI_NOT_FOUND, RTSTRUCT_ROI_NOT_FOUND, "the ROI asked for is not in the RT Structure Set (the message lists those present) (TypeScript clinical I/O)") \
  X(RTSTRUCT_SERIES_MISMATCH, RTSTRUCT_SERIES_MISMATCH, "an RT Structure Set that references another series or frame of reference (TypeScript clinical I/O)") \
  X(SEG_INVALID, SEG_INVALID, "a DICOM SEG that is malformed or not a supported segmentation type (TypeScript clinical I/O)") \
  X(SEG_SEGMENT_NOT_FOUND, SEG_SEGMENT_NOT_FOUND, "the segment asked for is not in the DICOM SEG (TypeScript clinical I/O)") \
  X(SEG_SIZE_MISMATCH, SEG_SIZE_MISMATCH, "a DICOM SEG whose frames do not match the volume's grid (TypeScript clinical I/O)") \
  X(NIFTI_READ_FAILED, NIFTI_READ_FAILED, "a NIfTI file is unreadable or malformed (TypeScript clinical I/O)") \
  X(NIFTI_UNSUPPORTED, NIFTI_UNSUPPORTED, "a NIfTI feature or geometry this library cannot represent (e.g. uneven slice spacing) (TypeScript clinical I/O)") \
  X(NIFTI_LABEL_NOT_FOUND, NIFTI_LABEL_NOT_FOUND, "the label asked for does not occur in the NIfTI labelmap (TypeScript clinical I/O)") \
  X(MASK_GEOMETRY_MISMATCH, MASK_GEOMETRY_MISMATCH, "a mask volume's geometry differs from the volume it is used with (TypeScript clinical I/O)") \
  X(VOLUME_GEOMETRY_MISMATCH, VOLUME_GEOMETRY_MISMATCH, "reference and target series whose slices are not parallel (TypeScript volumes)") \
  X(VOLUME_PATIENT_MISMATCH, VOLUME_PATIENT_MISMATCH, "reference and target volumes of different patients (TypeScript volumes)") \
  X(VOLUME_ALIGNMENT_FAILED, VOLUME_ALIGNMENT_FAILED, "the z offset between two visits could not be estimated from the images") \
  X(VOLUME_NO_OVERLAP, VOLUME_NO_OVERLAP, "no target slice lies within the reference ROI's extent (± margin) after alignment") \
  X(INVALID_ARGUMENT, INVALID_ARGUMENT, "an argument the TypeScript validation let through was refused natively") \
  X(INTERNAL, INTERNAL, "a bug or an unexpected native failure; the message says where")                       \
  X(OUT_OF_MEMORY, INTERNAL, "native allocation failed (native only)")                                          \
  X(ORT_UNAVAILABLE, INTERNAL, "the ONNX Runtime library cannot serve this API version (native only)")
// clang-format on

namespace p2sam::addon {

// `code` when it is in the list, else "INTERNAL" (an unlisted code is a bug here, and
// INTERNAL is what P2SamError promises for bugs).
inline const char* listed_code(const char* code) {
#define P2SAM_ERROR_CODE_MATCH(name, surfaces_as, doc) \
  if (std::strcmp(code, #name) == 0) return #name;
  P2SAM_ERROR_CODES(P2SAM_ERROR_CODE_MATCH)
#undef P2SAM_ERROR_CODE_MATCH
  return "INTERNAL";
}

}  // namespace p2sam::addon
