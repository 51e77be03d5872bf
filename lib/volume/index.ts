/**
 * Patient-adaptive volumes: a new CT visit contoured from an annotated earlier visit of
 * the same patient (docs/volume.md).
 *
 * @example
 *   import { P2SAM, readDicomSeries, readRtstruct, segmentVolume, volume } from 'p2sam-native';
 *   const planning = await readDicomSeries('visit1/CT');
 *   const gtv = readRtstruct('visit1/RS.dcm', planning, { roi: 'GTV' });
 *   const followUp = await readDicomSeries('visit2/CT');
 *   const r = await segmentVolume(model, followUp, { volume: planning, mask: gtv });
 *   const m = volume.volumeMetrics(r.mask, truth, followUp); // Dice, HD95, ml
 */
export {
  segmentVolume,
  DEFAULT_VOLUME_WINDOW,
  type SegmentVolumeOptions,
  type VolumeSegmentation,
  type VolumeSliceRecord,
  type VolumeProgress,
} from './segment-volume';
export {
  alignVolumes,
  estimateZOffset,
  bodyProfiles,
  positionsAlong,
  sliceThicknesses,
  type ZAlignment,
  type AlignOptions,
} from './align';
export { pairSlices, type SlicePair, type SlicePairing, type SliceZone } from './pairing';
export {
  decidePresence,
  enforceContinuity,
  DEFAULT_PRESENCE,
  type PresenceOptions,
  type PresenceDecision,
} from './presence';
export { keepConsistentComponents, labelComponents } from './consistency';
export { estimateInPlaneShift, roiCrops, type CropRect } from './crop';
export { volumeMetrics, maskVolumeMl, surfacePoints, type VolumeMetrics, type SliceDice } from './metrics3d';
export { renderVolumeMontage } from './montage';
export {
  phantomStudy,
  renderVisit,
  PHANTOM_HU,
  PHANTOM_WINDOW,
  type PhantomStudy,
  type PhantomStudyOptions,
  type PhantomVisit,
  type VisitSpec,
  type Lobe,
} from './phantom-study';
export { writePhantomStudy, type WrittenPhantomStudy, type WrittenVisit } from './phantom-dicom';
// The CT writer lives in the clinical layer (the single-series phantom uses it too); re-exported here for volume users.
export { writeCtSeries, type CtSeriesOptions } from '../clinical/ct-series-write';
export { sliceImage, maskSlice, cropMask, sliceAreas } from './slice-image';
export { ReferenceSliceCache } from './reference-cache';
