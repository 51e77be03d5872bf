/**
 * Clinical data layer: DICOM/NIfTI volumes in; RTSTRUCT, DICOM-SEG and NIfTI masks in and
 * out; HU windowing; a synthetic CT phantom writer. See docs/clinical.md.
 *
 * @example
 *   import { clinical } from 'p2sam-native';
 *   const ct = await clinical.readDicomSeries('CT/');
 *   const gtv = clinical.readRtstruct('RS.dcm', ct, { roi: 'GTV' });
 *   clinical.writeDicomSeg('gtv-seg.dcm', ct, [{ label: 'GTV', mask: gtv }]);
 */
export * from './volume';
export { readDicomFile, newUid, TS as TRANSFER_SYNTAX, SOP_CLASS, type DicomFile } from './dicom-file';
export { decodeFrames, pixelFormat, type PixelFormat } from './codecs';
export {
  readDicomSeries,
  scanDicomFolder,
  type ReadSeriesOptions,
  type SeriesSummary,
  type FolderScan,
} from './dicom-series';
export { readNifti, readNiftiLabelmap, writeNifti } from './nifti';
export {
  applyHuWindow,
  huWindowBounds,
  sliceToRgb,
  volumeSliceImage,
  HU_WINDOWS,
  type HuWindow,
} from './window';
export { traceContours, rasterizeContours, type ContourConvention, type PixelContour } from './contours';
export {
  readRtstruct,
  readRtstructInfo,
  findRoi,
  type RtstructInfo,
  type RtstructRoi,
} from './rtstruct-read';
export { formatDs } from './dicom-writer';
export {
  writeRtstruct,
  type RoiToWrite,
  type WriteRtstructOptions,
  type RtstructWritten,
} from './rtstruct-write';
export { writeDicomSeg, readDicomSeg, readDicomSegInfo, type SegmentToWrite, type SegInfo } from './seg';
export { writePhantomSeries, type PhantomOptions, type Phantom } from './phantom';
export { writeCtSeries, type CtSeriesOptions } from './ct-series-write';
