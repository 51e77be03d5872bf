/**
 * Mask volumes → a complete RT Structure Set on the target series.
 *
 * Modules written (PS3.3 A.19): Patient, General Study, RT Series, General Equipment,
 * Frame of Reference, Structure Set (Referenced Frame of Reference → RT Referenced Study
 * → RT Referenced Series → Contour Image Sequence listing every slice), ROI Contour (one
 * CLOSED_PLANAR contour per island and per hole, each referencing its slice), RT ROI
 * Observations, Approval (UNAPPROVED: a machine's output awaits a human's review) and
 * SOP Common. ROIGenerationAlgorithm is AUTOMATIC, with the software and its version in
 * ROIGenerationDescription and the General Equipment module.
 *
 * Contours come from `traceContours`; with the default 'pixel-centres' convention the
 * vertices are the marching-squares iso-line at 0.5 between pixel centres, 'voxel-edges'
 * writes the voxel outlines instead. Both read back to identical voxels.
 */
import { P2SamError } from '../errors';
import { packageVersion } from '../cli/io';
import type { NaturalDataset } from './dcmjs';
import { dicomDateTime, newUid, SOP_CLASS, writeDicomFile } from './dicom-file';
import { traceContours, type ContourConvention } from './contours';
import { formatDs } from './dicom-writer';
import { requireMaskOnGrid, voxelToPatient, type MaskVolume, type Volume } from './volume';

export interface RoiToWrite {
  name: string;
  mask: MaskVolume;
  /** RGB 0–255 shown by planning systems. */
  color?: [number, number, number];
  /** RTROIInterpretedType: ORGAN, GTV, CTV, PTV, AVOIDANCE, CONTROL, … (default ORGAN). */
  interpretedType?: string;
}

export interface WriteRtstructOptions {
  /** Vertex convention of the traced contours (default 'pixel-centres'). */
  convention?: ContourConvention;
  /** StructureSetLabel (≤ 16 characters; default 'P2SAM'). */
  label?: string;
  seriesDescription?: string;
  /** SOPInstanceUID / SeriesInstanceUID to use instead of fresh ones. */
  sopInstanceUid?: string;
  seriesInstanceUid?: string;
}

export interface RtstructWritten {
  file: string;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  /** Contours written per ROI, in ROI order. */
  contours: number[];
}

export const SOFTWARE_NAME = 'p2sam-native';

const DEFAULT_COLORS: [number, number, number][] = [
  [255, 0, 0],
  [0, 200, 0],
  [0, 0, 255],
  [255, 200, 0],
  [255, 0, 255],
  [0, 200, 200],
];

/** The Patient and General Study attributes copied from the target series. */
export function patientStudyAttributes(volume: Volume): NaturalDataset {
  const p = volume.patient;
  return {
    PatientName: p.PatientName,
    PatientID: p.PatientID,
    PatientBirthDate: p.PatientBirthDate,
    PatientSex: p.PatientSex,
    StudyInstanceUID: volume.uids.studyInstanceUid,
    StudyDate: p.StudyDate,
    StudyTime: p.StudyTime,
    ReferringPhysicianName: p.ReferringPhysicianName,
    StudyID: p.StudyID,
    AccessionNumber: p.AccessionNumber,
    ...(p.StudyDescription ? { StudyDescription: p.StudyDescription } : {}),
  };
}

function requireReferencable(volume: Volume, what: string): void {
  const u = volume.uids;
  if (
    !u.studyInstanceUid ||
    !u.seriesInstanceUid ||
    !u.frameOfReferenceUid ||
    !u.sopClassUid ||
    u.sopInstanceUids.length !== volume.slices ||
    u.sopInstanceUids.some((s) => !s)
  ) {
    throw new P2SamError(
      'INVALID_ARGUMENT',
      `${what}: the target volume lacks the DICOM UIDs a reference needs (Study/Series/FrameOfReference/SOP per slice); expected a volume read by readDicomSeries or made by writePhantomSeries, received one from ${volume.source}`,
    );
  }
}

/**
 * Writes masks as an RTSTRUCT referencing the target series.
 *
 * @example
 *   const ct = await readDicomSeries('CT/');
 *   writeRtstruct('RS.p2sam.dcm', ct, [{ name: 'GTV', mask, interpretedType: 'GTV' }]);
 */
export function writeRtstruct(
  file: string,
  volume: Volume,
  rois: RoiToWrite[],
  options: WriteRtstructOptions = {},
): RtstructWritten {
  requireReferencable(volume, `writeRtstruct(${file})`);
  if (!Array.isArray(rois) || rois.length === 0) {
    throw new P2SamError(
      'INVALID_ARGUMENT',
      `rois: expected at least one { name, mask }, received ${Array.isArray(rois) ? 'an empty array' : typeof rois}`,
    );
  }
  rois.forEach((r, i) => {
    if (typeof r.name !== 'string' || !r.name.trim() || r.name.length > 64) {
      throw new P2SamError(
        'INVALID_ARGUMENT',
        `rois[${i}].name: expected a non-empty ROI name of at most 64 characters, received ${JSON.stringify(r.name)}`,
      );
    }
    requireMaskOnGrid(r.mask, volume, `rois[${i}].mask`);
  });
  const convention = options.convention ?? 'pixel-centres';
  const version = packageVersion();
  const { date, time } = dicomDateTime();
  const sopInstanceUid = options.sopInstanceUid ?? newUid();
  const seriesInstanceUid = options.seriesInstanceUid ?? newUid();
  const plane = volume.columns * volume.rows;
  const forUid = volume.uids.frameOfReferenceUid;

  const contourImage = (k: number) => ({
    ReferencedSOPClassUID: volume.uids.sopClassUid,
    ReferencedSOPInstanceUID: volume.uids.sopInstanceUids[k]!,
  });
  const counts: number[] = [];
  const roiContours = rois.map((roi, i) => {
    const number = i + 1;
    const contours: NaturalDataset[] = [];
    for (let k = 0; k < volume.slices; k++) {
      const slice = roi.mask.data.subarray(k * plane, (k + 1) * plane);
      for (const loop of traceContours(slice, volume.columns, volume.rows, convention)) {
        const data: number[] = [];
        for (let v = 0; v < loop.length; v += 2)
          data.push(...voxelToPatient(volume, loop[v]!, loop[v + 1]!, k));
        contours.push({
          ContourImageSequence: [contourImage(k)],
          ContourGeometricType: 'CLOSED_PLANAR',
          NumberOfContourPoints: loop.length / 2,
          ContourNumber: contours.length + 1,
          ContourData: data.map(formatDs),
        });
      }
    }
    counts.push(contours.length);
    return {
      ROIDisplayColor: roi.color ?? DEFAULT_COLORS[i % DEFAULT_COLORS.length]!,
      ReferencedROINumber: number,
      ...(contours.length ? { ContourSequence: contours } : {}),
    };
  });

  const dataset: NaturalDataset = {
    SpecificCharacterSet: 'ISO_IR 192',
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    SOPClassUID: SOP_CLASS.rtstruct,
    SOPInstanceUID: sopInstanceUid,
    ...patientStudyAttributes(volume),
    // RT Series
    Modality: 'RTSTRUCT',
    SeriesInstanceUID: seriesInstanceUid,
    SeriesNumber: 9001,
    SeriesDescription: (options.seriesDescription ?? 'P2SAM automatic contours').slice(0, 64),
    OperatorsName: '',
    // General Equipment
    Manufacturer: SOFTWARE_NAME,
    ManufacturerModelName: SOFTWARE_NAME,
    SoftwareVersions: version,
    // Frame of Reference
    FrameOfReferenceUID: forUid,
    PositionReferenceIndicator: '',
    // Structure Set
    StructureSetLabel: (options.label ?? 'P2SAM').slice(0, 16),
    StructureSetName: 'P2SAM automatic',
    StructureSetDate: date,
    StructureSetTime: time,
    InstanceNumber: 1,
    ReferencedFrameOfReferenceSequence: [
      {
        FrameOfReferenceUID: forUid,
        RTReferencedStudySequence: [
          {
            ReferencedSOPClassUID: '1.2.840.10008.3.1.2.3.1', // Detached Study Management, as PS3.3 C.8.8.5 requires
            ReferencedSOPInstanceUID: volume.uids.studyInstanceUid,
            RTReferencedSeriesSequence: [
              {
                SeriesInstanceUID: volume.uids.seriesInstanceUid,
                ContourImageSequence: volume.uids.sopInstanceUids.map((_, k) => contourImage(k)),
              },
            ],
          },
        ],
      },
    ],
    StructureSetROISequence: rois.map((roi, i) => ({
      ROINumber: i + 1,
      ReferencedFrameOfReferenceUID: forUid,
      ROIName: roi.name,
      ROIGenerationAlgorithm: 'AUTOMATIC',
      ROIGenerationDescription: `${SOFTWARE_NAME} ${version} (P2SAM), ${convention} contours`.slice(0, 64),
    })),
    ROIContourSequence: roiContours,
    RTROIObservationsSequence: rois.map((roi, i) => ({
      ObservationNumber: i + 1,
      ReferencedROINumber: i + 1,
      RTROIInterpretedType: roi.interpretedType ?? 'ORGAN',
      ROIInterpreter: '',
    })),
    ApprovalStatus: 'UNAPPROVED',
  };
  writeDicomFile(file, dataset);
  return { file, sopInstanceUid, seriesInstanceUid, contours: counts };
}
