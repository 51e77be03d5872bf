/**
 * p2sam-native — P2SAM (part-aware prompted Segment Anything) for Node.js.
 *
 *   const model = await P2SAM.load({ encoder: 'sam-encoder.onnx', decoder: 'sam-decoder.onnx' });
 *   const ref = await model.createReference({ image, mask });
 *   const { mask } = await model.segment(target, { reference: ref });
 */
export { P2SAM, type ModelInfo, type PredictPrompt, type PredictResult } from './model';
export { Embedding } from './embedding';
export { Reference, type ReferenceSummary } from './reference';
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
} from './options';
export { P2SamError, type P2SamErrorCode } from './errors';
export type { ImageData, MaskData, PromptPoint } from './types';
export { backends, type Backends } from './backends';
export { inspectModel, type ModelReport } from './inspect';
export * as core from './core';
export * as testkit from './testkit';
export { readImage, readMask, writeMaskPng, writeImagePng } from './io/image';
export { renderOverlay, writeOverlayPng } from './io/overlay';
export * as metrics from './metrics';
// Clinical formats (DICOM series, NIfTI, RTSTRUCT, SEG): the namespace plus the main entry points.
export * as clinical from './clinical';
export { readDicomSeries, readNifti, readRtstruct, writeRtstruct, readDicomSeg, writeDicomSeg, writeNifti, readNiftiLabelmap, writePhantomSeries } from './clinical';
export type { Volume, MaskVolume, HuWindow } from './clinical';
// Patient-adaptive volumes (lib/volume): the namespace plus the main entry point.
export * as volume from './volume';
export { segmentVolume, type SegmentVolumeOptions, type VolumeSegmentation } from './volume';
