/**
 * The two-visit phantom study (phantom-study.ts) written as real DICOM, as a user would
 * receive it from a PACS: per visit a CT series (CT Image Storage, int16 with
 * RescaleIntercept −1024) and an RT Structure Set with the ground-truth tumour as ROI
 * 'GTV', written by the clinical layer's RTSTRUCT writer.
 *
 *   dir/reference/ct/slice-NNN.dcm   dir/reference/rtstruct.dcm
 *   dir/target/ct/slice-NNN.dcm      dir/target/rtstruct.dcm
 */
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { NaturalDataset } from '../clinical/dcmjs';
import { SOP_CLASS, writeDicomFile } from '../clinical/dicom-file';
import { writeRtstruct } from '../clinical/rtstruct-write';
import { dot, type Volume } from '../clinical/volume';
import { packageVersion } from '../cli/io';
import {
  phantomStudy,
  type PhantomStudy,
  type PhantomStudyOptions,
  type PhantomVisit,
} from './phantom-study';

export interface WrittenVisit {
  seriesDir: string;
  rtstruct: string;
  /** The volume as written; its `files` are the slice files. */
  visit: PhantomVisit;
}

export interface WrittenPhantomStudy {
  dir: string;
  study: PhantomStudy;
  reference: WrittenVisit;
  target: WrittenVisit;
  /** Name of the ground-truth ROI in both structure sets. */
  roi: string;
}

/** Writes a CT volume (voxels in HU) as one DICOM file per slice; returns the files. */
export function writeCtSeries(dir: string, volume: Volume, description: string, seriesNumber = 1): string[] {
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
      Manufacturer: 'p2sam-native',
      ReferringPhysicianName: p.ReferringPhysicianName,
      StudyDescription: p.StudyDescription ?? '',
      SeriesDescription: description,
      ManufacturerModelName: 'two-visit phantom',
      PatientName: p.PatientName,
      PatientID: p.PatientID,
      PatientBirthDate: p.PatientBirthDate,
      PatientSex: p.PatientSex,
      SliceThickness:
        k > 0
          ? Math.abs(dot(volume.positions[k]!, volume.normal) - dot(volume.positions[k - 1]!, volume.normal))
          : volume.slices > 1
            ? Math.abs(dot(volume.positions[1]!, volume.normal) - dot(volume.positions[0]!, volume.normal))
            : 1,
      KVP: '',
      SoftwareVersions: packageVersion(),
      PatientPosition: 'HFS',
      StudyInstanceUID: volume.uids.studyInstanceUid,
      SeriesInstanceUID: volume.uids.seriesInstanceUid,
      StudyID: p.StudyID,
      SeriesNumber: seriesNumber,
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

function writeVisit(dir: string, visit: PhantomVisit, roi: string): WrittenVisit {
  const seriesDir = path.join(dir, 'ct');
  visit.volume.files = writeCtSeries(seriesDir, visit.volume, visit.spec.seriesDescription);
  visit.volume.source = 'dicom';
  const rtstruct = path.join(dir, 'rtstruct.dcm');
  writeRtstruct(rtstruct, visit.volume, [{ name: roi, mask: visit.truth, interpretedType: 'GTV' }], {
    label: 'GROUND TRUTH',
    seriesDescription: 'phantom ground truth',
  });
  return { seriesDir, rtstruct, visit };
}

/**
 * Renders a two-visit study and writes it under `dir` (layout in the file comment).
 *
 * @example
 *   const s = writePhantomStudy('/tmp/study', { zShiftMm: 41.3 });
 *   // p2sam volume --ref-series s.reference.seriesDir --ref-rtstruct s.reference.rtstruct --roi GTV
 *   //              --target-series s.target.seriesDir --out /tmp/out
 */
export function writePhantomStudy(dir: string, options: PhantomStudyOptions = {}): WrittenPhantomStudy {
  const study = phantomStudy(options);
  const roi = 'GTV';
  return {
    dir,
    study,
    roi,
    reference: writeVisit(path.join(dir, 'reference'), study.reference, roi),
    target: writeVisit(path.join(dir, 'target'), study.target, roi),
  };
}
