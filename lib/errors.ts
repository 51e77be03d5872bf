/**
 * Errors raised by p2sam-native.
 *
 * Programmer mistakes (wrong types, out-of-range options) are plain `TypeError` /
 * `RangeError` thrown synchronously by the validators in `validate.ts`. Everything that
 * can go wrong at run time with valid arguments (a model that will not load, an empty
 * reference mask, a disposed model, an aborted call) is a `P2SamError` whose `code` is
 * stable and safe to branch on; the message is for humans and may change.
 */

export type P2SamErrorCode =
  | 'MODEL_NOT_FOUND'
  | 'MODEL_INVALID'
  | 'MODEL_UNSUPPORTED'
  | 'MODEL_MISMATCH'
  | 'MODEL_OUTPUT_INVALID'
  | 'INFERENCE_FAILED'
  | 'EMPTY_REFERENCE'
  | 'NON_FINITE_EMBEDDING'
  | 'DISPOSED'
  | 'ABORTED'
  | 'BACKEND_UNAVAILABLE'
  | 'IMAGE_READ_FAILED'
  | 'MASK_SIZE_MISMATCH'
  | 'TARGET_NOT_FOUND'
  | 'OUTPUT_PATH_REFUSED'
  | 'INVALID_ARGUMENT'
  | 'INTERNAL'
  // Volumes (lib/volume): two visits that cannot be paired slice to slice.
  | 'VOLUME_GEOMETRY_MISMATCH'
  | 'VOLUME_PATIENT_MISMATCH'
  | 'VOLUME_ALIGNMENT_FAILED'
  | 'VOLUME_NO_OVERLAP'
  // Clinical formats (lib/clinical): each names the file in its message.
  | 'DICOM_READ_FAILED'
  | 'DICOM_UNSUPPORTED'
  | 'DICOM_NO_SERIES'
  | 'DICOM_SERIES_CHOICE'
  | 'DICOM_SERIES_INVALID'
  | 'RTSTRUCT_INVALID'
  | 'RTSTRUCT_ROI_NOT_FOUND'
  | 'RTSTRUCT_SERIES_MISMATCH'
  | 'SEG_INVALID'
  | 'SEG_SEGMENT_NOT_FOUND'
  | 'SEG_SIZE_MISMATCH'
  | 'NIFTI_READ_FAILED'
  | 'NIFTI_UNSUPPORTED'
  | 'NIFTI_LABEL_NOT_FOUND'
  | 'MASK_GEOMETRY_MISMATCH';

export class P2SamError extends Error {
  readonly code: P2SamErrorCode;

  constructor(code: P2SamErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'P2SamError';
    this.code = code;
  }
}

/** Formats "expected X, received Y" the same way everywhere. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'bigint' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  if (typeof value === 'function') return 'a function';
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(length ${(value as unknown as { length?: number }).length ?? value.byteLength})`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}
