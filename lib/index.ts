/**
 * p2sam-native — P2SAM (part-aware prompted Segment Anything) for Node.js.
 *
 * Every export is documented where it is defined, with the error codes it throws and
 * an example. Errors: TypeError/RangeError for malformed arguments (with `param`,
 * `expected`, `received` fields, see {@link argumentErrorData}); {@link P2SamError} with a
 * stable {@link P2SamErrorCode} for everything else. Namespaces: `core` (the native
 * maths, for researchers), `testkit` (tiny real SAM-shaped ONNX models and scenes),
 * `metrics` (IoU / Dice / J&F).
 *
 * @example
 * ```ts
 * import { P2SAM, readImage, readMask } from 'p2sam-native';
 * const model = await P2SAM.load({ encoder: 'sam-encoder.onnx', decoder: 'sam-decoder.onnx' });
 * const reference = await model.createReference({ image: await readImage('ref.png'), mask: await readMask('ref-mask.png') });
 * const { mask } = await model.segment(await readImage('target.png'), { reference });
 * ```
 */
export { P2SAM, type ModelInfo, type PredictPrompt, type PredictResult } from './model';
export { Embedding } from './embedding';
export { Reference, type ReferenceSummary, type ReferenceTimings } from './reference';
export type { SegmentResult, CandidateResult, SegmentTimings } from './segment';
export type {
  LoadOptions,
  ReferenceOptions,
  SegmentOptions,
  RetrievalOptions,
  Progress,
  Warning,
  Mode,
  Device,
  Normalization,
  GpuStage,
  GraphOptimization,
  KMeansSeeding,
} from './options';
export {
  P2SamError,
  P2SAM_ERROR_CODES,
  argumentErrorData,
  type P2SamErrorCode,
  type ArgumentErrorData,
} from './errors';
export type {
  ImageData,
  MaskData,
  PromptPoint,
  ModelKind,
  TensorInfo,
  GraphInfo,
  LoadedModelInfo,
  EmbeddingMeta,
  DecoderPass,
} from './types';
export { backends, type Backends } from './backends';
export { isTorchScriptModel, torchStatus, type TorchAddonStatus } from './torch';
export { inspectModel, type ModelReport } from './inspect';
export * as core from './core';
export * as testkit from './testkit';
export { readImage, readMask, writeMaskPng, writeImagePng } from './io/image';
export { renderOverlay, writeOverlayPng } from './io/overlay';
export * as metrics from './metrics';
// Clinical formats (DICOM series, NIfTI, RTSTRUCT, SEG): the namespace plus the main entry points.
export * as clinical from './clinical';
export {
  readDicomSeries,
  readNifti,
  readRtstruct,
  writeRtstruct,
  readDicomSeg,
  writeDicomSeg,
  writeNifti,
  readNiftiLabelmap,
  writePhantomSeries,
} from './clinical';
export type { Volume, MaskVolume, HuWindow } from './clinical';
// Patient-adaptive volumes (lib/volume): the namespace plus the main entry point.
export * as volume from './volume';
export { segmentVolume, type SegmentVolumeOptions, type VolumeSegmentation } from './volume';
