/**
 * Writes a CT volume (voxels in Hounsfield units) as a DICOM CT series: one CT Image Storage
 * file per slice, explicit VR little endian, `dir/slice-NNN.dcm` in slice order.
 *
 * Pixels are stored as scanners store them: signed 16-bit with RescaleIntercept −1024 and
 * slope 1, so HU −1024…31743 round-trip exactly (values outside are clamped to int16).
 * Patient, study and UIDs come from the volume itself, so the series lands in the study
 * (and frame of reference) the volume names; RTSTRUCT/SEG written against the same volume
 * then reference these very SOP instances.
 */
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { packageVersion } from '../cli/io';
import type { NaturalDataset } from './dcmjs';
import { SOP_CLASS, writeDicomFile } from './dicom-file';
import { SOFTWARE_NAME } from './rtstruct-write';
import { dot, type Volume } from './volume';

export interface CtSeriesOptions {
  /** SeriesDescription (0008,103E). */
  seriesDescription: string;
  /** ManufacturerModelName (0008,1090): which generator wrote the series. */
  modelName: string;
  /** SeriesNumber (0020,0011), default 1. */
  seriesNumber?: number;
  /**
   * SliceThickness in mm. Default: the distance between neighbouring slice planes along
   * the normal (1 for a single slice). A caller that knows the nominal spacing passes it,
   * so the header holds that value rather than a float difference of two positions.
   */
  sliceThickness?: number;
}

/** Distance along the normal from slice k to its neighbour (the next one, or the previous for the last). */
function planeSpacing(volume: Volume, k: number): number {
  if (volume.slices < 2) return 1;
  const [a, b] = k > 0 ? [k - 1, k] : [0, 1];
  return Math.abs(dot(volume.positions[b]!, volume.normal) - dot(volume.positions[a]!, volume.normal));
}

/**
 * Writes `volume` under `dir` and returns the slice files in slice order.
 *
 * @example
 *   const files = writeCtSeries('/tmp/ct', volume, { seriesDescription: 'planning CT', modelName: 'phantom' });
 *   volume.files = files; // now readable back with readDicomSeries('/tmp/ct')
 */
export function writeCtSeries(dir: string, volume: Volume, options: CtSeriesOptions): string[] {
  mkdirSync(dir, { recursive: true });
  const plane = volume.columns * volume.rows;
  const files: string[] = [];
  const p = volume.patient;
  for (let k = 0; k < volume.slices; k++) {
    const stored = new Int16Array(plane);
    for (let i = 0; i < plane; i++)
      stored[i] = Math.max(-32768, Math.min(32767, Math.round(volume.voxels[k * plane + i]!) + 1024));
    const file = path.join(dir, `slice-${String(k + 1).padStart(3, '0')}.dcm`);
    const ds: NaturalDataset = {
      SpecificCharacterSet: 'ISO_IR 192',
      ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
      SOPClassUID: SOP_CLASS.ct,
      SOPInstanceUID: volume.uids.sopInstanceUids[k],
      StudyDate: p.StudyDate,
      SeriesDate: p.StudyDate,
      ContentDate: p.StudyDate,
      StudyTime: p.StudyTime,
      SeriesTime: p.StudyTime,
      ContentTime: p.StudyTime,
      AccessionNumber: p.AccessionNumber,
      Modality: 'CT',
      Manufacturer: SOFTWARE_NAME,
      ReferringPhysicianName: p.ReferringPhysicianName,
      StudyDescription: p.StudyDescription ?? '',
      SeriesDescription: options.seriesDescription,
      ManufacturerModelName: options.modelName,
      PatientName: p.PatientName,
      PatientID: p.PatientID,
      PatientBirthDate: p.PatientBirthDate,
      PatientSex: p.PatientSex,
      SliceThickness: options.sliceThickness ?? planeSpacing(volume, k),
      KVP: '',
      SoftwareVersions: packageVersion(),
      PatientPosition: 'HFS',
      StudyInstanceUID: volume.uids.studyInstanceUid,
      SeriesInstanceUID: volume.uids.seriesInstanceUid,
      StudyID: p.StudyID,
      SeriesNumber: options.seriesNumber ?? 1,
      Laterality: '',
      AcquisitionNumber: 1,
      InstanceNumber: k + 1,
      ImagePositionPatient: volume.positions[k],
      ImageOrientationPatient: [...volume.rowDirection, ...volume.columnDirection],
      FrameOfReferenceUID: volume.uids.frameOfReferenceUid,
      PositionReferenceIndicator: '',
      SliceLocation: dot(volume.positions[k]!, volume.normal),
      SamplesPerPixel: 1,
      PhotometricInterpretation: 'MONOCHROME2',
      Rows: volume.rows,
      Columns: volume.columns,
      PixelSpacing: volume.pixelSpacing,
      BitsAllocated: 16,
      BitsStored: 16,
      HighBit: 15,
      PixelRepresentation: 1,
      RescaleIntercept: -1024,
      RescaleSlope: 1,
      RescaleType: 'HU',
      PixelData: [stored.buffer],
      _vrMap: { PixelData: 'OW' },
    };
    writeDicomFile(file, ds);
    files.push(file);
  }
  return files;
}
