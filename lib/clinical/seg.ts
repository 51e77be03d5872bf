/**
 * DICOM Segmentation (SEG) objects: binary masks as a multi-frame image that references
 * its source slices, read back onto a reference volume.
 *
 * The writer emits one frame per segment and slice (empty slices included, so every
 * frame maps to one source image), 1 bit per pixel packed across frame boundaries as
 * PS3.5 8.1.1 requires, dimensions (ReferencedSegmentNumber, ImagePositionPatient), a
 * Derivation Image Sequence per frame pointing at its CT/MR slice, and the Common
 * Instance Reference module. The reader maps each frame to a slice by its
 * PlanePositionSequence position along the normal, so frame order does not matter, and
 * also accepts FRACTIONAL SEGs (8-bit, inside when above half the maximum).
 */
import { P2SamError } from '../errors';
import { packageVersion } from '../cli/io';
import type { NaturalDataset } from './dcmjs';
import {
  dicomDateTime,
  firstItem,
  items,
  newUid,
  numbers,
  readDicomFile,
  SOP_CLASS,
  text,
  writeDicomFile,
} from './dicom-file';
import { patientStudyAttributes, SOFTWARE_NAME } from './rtstruct-write';
import {
  dot,
  emptyMask,
  patientToPixel,
  requireMaskOnGrid,
  sliceAtOffset,
  sliceOffsets,
  type MaskVolume,
  type Volume,
  type VolumeGeometry,
} from './volume';

export interface SegmentToWrite {
  label: string;
  mask: MaskVolume;
  /** SNOMED CT category/type codes (default: Anatomical Structure / Tissue). */
  category?: { CodeValue: string; CodingSchemeDesignator: string; CodeMeaning: string };
  type?: { CodeValue: string; CodingSchemeDesignator: string; CodeMeaning: string };
}

export interface SegInfo {
  file: string;
  rows: number;
  columns: number;
  frames: number;
  segmentationType: string;
  frameOfReferenceUid: string;
  referencedSeriesUids: string[];
  segments: Array<{ number: number; label: string; algorithmType: string; frames: number }>;
  dataset: NaturalDataset;
}

const DEFAULT_CATEGORY = {
  CodeValue: '91723000',
  CodingSchemeDesignator: 'SCT',
  CodeMeaning: 'Anatomical Structure',
};
const DEFAULT_TYPE = { CodeValue: '85756007', CodingSchemeDesignator: 'SCT', CodeMeaning: 'Tissue' };
// AT values as dcmjs takes them: (group << 16) | element.
const TAG_REFERENCED_SEGMENT_NUMBER = 0x0062000b;
const TAG_SEGMENT_IDENTIFICATION_SEQUENCE = 0x0062000a;
const TAG_IMAGE_POSITION_PATIENT = 0x00200032;
const TAG_PLANE_POSITION_SEQUENCE = 0x00209113;

/**
 * Writes binary segments as a DICOM SEG referencing the volume's slices.
 *
 * @example
 *   writeDicomSeg('seg.dcm', ct, [{ label: 'Tumour', mask }]);
 */
export function writeDicomSeg(
  file: string,
  volume: Volume,
  segments: SegmentToWrite[],
  options: { seriesDescription?: string; sopInstanceUid?: string } = {},
): { file: string; sopInstanceUid: string; frames: number } {
  const u = volume.uids;
  if (
    !u.studyInstanceUid ||
    !u.seriesInstanceUid ||
    !u.frameOfReferenceUid ||
    !u.sopClassUid ||
    u.sopInstanceUids.length !== volume.slices
  ) {
    throw new P2SamError(
      'INVALID_ARGUMENT',
      `writeDicomSeg(${file}): the target volume lacks the DICOM UIDs a SEG must reference (received a volume from ${volume.source})`,
    );
  }
  if (!Array.isArray(segments) || !segments.length)
    throw new P2SamError('INVALID_ARGUMENT', 'segments: expected at least one { label, mask }');
  segments.forEach((s, i) => {
    if (typeof s.label !== 'string' || !s.label.trim() || s.label.length > 64) {
      throw new P2SamError(
        'INVALID_ARGUMENT',
        `segments[${i}].label: expected a non-empty label of at most 64 characters, received ${JSON.stringify(s.label)}`,
      );
    }
    requireMaskOnGrid(s.mask, volume, `segments[${i}].mask`);
  });
  const version = packageVersion();
  const { date, time } = dicomDateTime();
  const sopInstanceUid = options.sopInstanceUid ?? newUid();
  const dimensionUid = newUid();
  const plane = volume.columns * volume.rows;
  const frames = segments.length * volume.slices;
  const packed = Math.ceil((frames * plane) / 8);
  const bits = new Uint8Array(packed + (packed % 2)); // DICOM values have even length
  const perFrame: NaturalDataset[] = [];
  let f = 0;
  segments.forEach((s, si) => {
    for (let k = 0; k < volume.slices; k++, f++) {
      const src = s.mask.data.subarray(k * plane, (k + 1) * plane);
      const base = f * plane;
      for (let i = 0; i < plane; i++) if (src[i]) bits[(base + i) >> 3]! |= 1 << ((base + i) & 7);
      perFrame.push({
        DerivationImageSequence: [
          {
            SourceImageSequence: [
              {
                ReferencedSOPClassUID: u.sopClassUid,
                ReferencedSOPInstanceUID: u.sopInstanceUids[k]!,
                PurposeOfReferenceCodeSequence: [
                  {
                    CodeValue: '121322',
                    CodingSchemeDesignator: 'DCM',
                    CodeMeaning: 'Source image for image processing operation',
                  },
                ],
              },
            ],
            DerivationCodeSequence: [
              { CodeValue: '113076', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Segmentation' },
            ],
          },
        ],
        FrameContentSequence: [{ DimensionIndexValues: [si + 1, k + 1] }],
        PlanePositionSequence: [{ ImagePositionPatient: volume.positions[k]! }],
        SegmentIdentificationSequence: [{ ReferencedSegmentNumber: si + 1 }],
      });
    }
  });
  const offsets = sliceOffsets(volume);
  const thickness =
    volume.slices > 1 ? (offsets[offsets.length - 1]! - offsets[0]!) / (volume.slices - 1) : 1;
  const dataset: NaturalDataset = {
    SpecificCharacterSet: 'ISO_IR 192',
    ImageType: ['DERIVED', 'PRIMARY'],
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    SOPClassUID: SOP_CLASS.seg,
    SOPInstanceUID: sopInstanceUid,
    SeriesDate: date,
    ContentDate: date,
    SeriesTime: time,
    ContentTime: time,
    Modality: 'SEG',
    Manufacturer: SOFTWARE_NAME,
    ManufacturerModelName: SOFTWARE_NAME,
    DeviceSerialNumber: '1',
    SoftwareVersions: version,
    SeriesDescription: (options.seriesDescription ?? 'P2SAM automatic segmentation').slice(0, 64),
    ...patientStudyAttributes(volume),
    SeriesInstanceUID: newUid(),
    SeriesNumber: 9002,
    InstanceNumber: 1,
    FrameOfReferenceUID: u.frameOfReferenceUid,
    PositionReferenceIndicator: '',
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionUid }],
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: dimensionUid,
        DimensionIndexPointer: TAG_REFERENCED_SEGMENT_NUMBER,
        FunctionalGroupPointer: TAG_SEGMENT_IDENTIFICATION_SEQUENCE,
        DimensionDescriptionLabel: 'Segment',
      },
      {
        DimensionOrganizationUID: dimensionUid,
        DimensionIndexPointer: TAG_IMAGE_POSITION_PATIENT,
        FunctionalGroupPointer: TAG_PLANE_POSITION_SEQUENCE,
        DimensionDescriptionLabel: 'Position',
      },
    ],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    NumberOfFrames: frames,
    Rows: volume.rows,
    Columns: volume.columns,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
    SegmentationType: 'BINARY',
    ContentLabel: 'P2SAM',
    ContentDescription: 'P2SAM automatic segmentation',
    ContentCreatorName: '',
    SegmentSequence: segments.map((s, i) => ({
      SegmentNumber: i + 1,
      SegmentLabel: s.label,
      SegmentAlgorithmType: 'AUTOMATIC',
      SegmentAlgorithmName: `${SOFTWARE_NAME} ${version}`.slice(0, 64),
      SegmentedPropertyCategoryCodeSequence: [s.category ?? DEFAULT_CATEGORY],
      SegmentedPropertyTypeCodeSequence: [s.type ?? DEFAULT_TYPE],
    })),
    SharedFunctionalGroupsSequence: [
      {
        PixelMeasuresSequence: [{ PixelSpacing: volume.pixelSpacing, SliceThickness: Math.abs(thickness) }],
        PlaneOrientationSequence: [
          { ImageOrientationPatient: [...volume.rowDirection, ...volume.columnDirection] },
        ],
      },
    ],
    PerFrameFunctionalGroupsSequence: perFrame,
    ReferencedSeriesSequence: [
      {
        SeriesInstanceUID: u.seriesInstanceUid,
        ReferencedInstanceSequence: u.sopInstanceUids.map((sop) => ({
          ReferencedSOPClassUID: u.sopClassUid,
          ReferencedSOPInstanceUID: sop,
        })),
      },
    ],
    PixelData: [bits.buffer],
    _vrMap: { PixelData: 'OB' },
  };
  writeDicomFile(file, dataset);
  return { file, sopInstanceUid, frames };
}

/**
 * A SEG's header: segments, frames, referenced series.
 *
 * @example
 *   readDicomSegInfo('seg.dcm').segments.map((s) => s.label);
 */
export function readDicomSegInfo(file: string): SegInfo {
  const df = readDicomFile(file);
  const ds = df.dataset;
  if (text(ds, 'SOPClassUID') !== SOP_CLASS.seg && text(ds, 'Modality') !== 'SEG') {
    throw new P2SamError(
      'SEG_INVALID',
      `${file}: expected a DICOM Segmentation (SOP class ${SOP_CLASS.seg}), received Modality ${text(ds, 'Modality') || '?'}`,
    );
  }
  const perFrame = items(ds, 'PerFrameFunctionalGroupsSequence');
  const frameCounts = new Map<number, number>();
  for (const fr of perFrame) {
    const n =
      numbers(firstItem(fr, 'SegmentIdentificationSequence') ?? {}, 'ReferencedSegmentNumber')?.[0] ?? -1;
    frameCounts.set(n, (frameCounts.get(n) ?? 0) + 1);
  }
  return {
    file,
    rows: numbers(ds, 'Rows')?.[0] ?? 0,
    columns: numbers(ds, 'Columns')?.[0] ?? 0,
    frames: numbers(ds, 'NumberOfFrames')?.[0] ?? 1,
    segmentationType: text(ds, 'SegmentationType'),
    frameOfReferenceUid: text(ds, 'FrameOfReferenceUID'),
    referencedSeriesUids: items(ds, 'ReferencedSeriesSequence').map((s) => text(s, 'SeriesInstanceUID')),
    segments: items(ds, 'SegmentSequence').map((s) => {
      const number = numbers(s, 'SegmentNumber')?.[0] ?? -1;
      return {
        number,
        label: text(s, 'SegmentLabel'),
        algorithmType: text(s, 'SegmentAlgorithmType'),
        frames: frameCounts.get(number) ?? 0,
      };
    }),
    dataset: ds,
  };
}

/**
 * Reads one segment of a SEG as a mask on the reference volume's grid.
 *
 * @example
 *   const tumour = readDicomSeg('seg.dcm', ct, { segment: 'Tumour' }); // or { segment: 1 }
 */
export function readDicomSeg(
  file: string,
  volume: VolumeGeometry & { uids?: Volume['uids'] },
  options: { segment?: string | number } = {},
): MaskVolume {
  const info = readDicomSegInfo(file);
  const ds = info.dataset;
  const wanted = options.segment ?? (info.segments.length === 1 ? info.segments[0]!.number : undefined);
  const segment = info.segments.find((s) =>
    typeof wanted === 'number' ? s.number === wanted : s.label === wanted || String(s.number) === wanted,
  );
  if (!segment) {
    throw new P2SamError(
      'SEG_SEGMENT_NOT_FOUND',
      `${file}: ${wanted === undefined ? 'several segments, choose one' : `no segment ${JSON.stringify(wanted)}`}; segments present: ${info.segments.map((s) => `${s.number} "${s.label}"`).join(', ') || 'none'}`,
    );
  }
  if (info.rows !== volume.rows || info.columns !== volume.columns) {
    throw new P2SamError(
      'SEG_SIZE_MISMATCH',
      `${file}: SEG frames are ${info.columns}×${info.rows}, the reference volume's slices ${volume.columns}×${volume.rows}`,
    );
  }
  const volumeFor = volume.uids?.frameOfReferenceUid ?? '';
  if (volumeFor && info.frameOfReferenceUid && volumeFor !== info.frameOfReferenceUid) {
    throw new P2SamError(
      'MASK_GEOMETRY_MISMATCH',
      `${file}: SEG is in frame of reference ${info.frameOfReferenceUid}, the volume in ${volumeFor}`,
    );
  }
  const bitsAllocated = numbers(ds, 'BitsAllocated')?.[0] ?? 1;
  const fractional = info.segmentationType === 'FRACTIONAL';
  if (!(bitsAllocated === 1 || (fractional && bitsAllocated === 8))) {
    throw new P2SamError(
      'SEG_INVALID',
      `${file}: expected BINARY (1 bit) or FRACTIONAL (8 bit) pixels, received ${info.segmentationType} with BitsAllocated ${bitsAllocated}`,
    );
  }
  const threshold = fractional ? (numbers(ds, 'MaximumFractionalValue')?.[0] ?? 255) / 2 : 0;
  const pd = ds.PixelData;
  const bytes = new Uint8Array((Array.isArray(pd) ? pd[0] : pd) as ArrayBuffer);
  const plane = volume.columns * volume.rows;
  const needed = bitsAllocated === 1 ? Math.ceil((info.frames * plane) / 8) : info.frames * plane;
  if (bytes.byteLength < needed) {
    throw new P2SamError(
      'SEG_SIZE_MISMATCH',
      `${file}: PixelData has ${bytes.byteLength} bytes, ${info.frames} frames of ${info.columns}×${info.rows} need ${needed}`,
    );
  }
  const shared = firstItem(ds, 'SharedFunctionalGroupsSequence') ?? {};
  const perFrame = items(ds, 'PerFrameFunctionalGroupsSequence');
  const orientationOf = (fr: NaturalDataset) =>
    numbers(firstItem(fr, 'PlaneOrientationSequence') ?? {}, 'ImageOrientationPatient') ??
    numbers(firstItem(shared, 'PlaneOrientationSequence') ?? {}, 'ImageOrientationPatient');
  const mask = emptyMask(volume);
  const offsets = sliceOffsets(volume);
  const expectedIop = [...volume.rowDirection, ...volume.columnDirection];
  perFrame.forEach((fr, f) => {
    const n = numbers(firstItem(fr, 'SegmentIdentificationSequence') ?? {}, 'ReferencedSegmentNumber')?.[0];
    if (n !== segment.number) return;
    const iop = orientationOf(fr);
    if (!iop || iop.some((v, i) => Math.abs(v - expectedIop[i]!) > 1e-4)) {
      throw new P2SamError(
        'MASK_GEOMETRY_MISMATCH',
        `${file}: frame ${f + 1} orientation ${iop?.join('\\') ?? '(none)'} differs from the volume's ${expectedIop.map((v) => v.toFixed(4)).join('\\')}`,
      );
    }
    const ipp = numbers(firstItem(fr, 'PlanePositionSequence') ?? {}, 'ImagePositionPatient');
    if (!ipp)
      throw new P2SamError(
        'SEG_INVALID',
        `${file}: frame ${f + 1} has no PlanePositionSequence ImagePositionPatient`,
      );
    const k = sliceAtOffset(volume, dot(ipp, volume.normal), offsets);
    const [c0, r0] = k < 0 ? [NaN, NaN] : patientToPixel(volume, ipp, k);
    if (k < 0 || Math.abs(c0) > 1e-3 || Math.abs(r0) > 1e-3) {
      throw new P2SamError(
        'MASK_GEOMETRY_MISMATCH',
        `${file}: frame ${f + 1} at ${ipp.map((v) => v.toFixed(3)).join('\\')} matches no slice origin of the volume`,
      );
    }
    const target = mask.data.subarray(k * plane, (k + 1) * plane);
    const base = f * plane;
    if (bitsAllocated === 1) {
      for (let i = 0; i < plane; i++) if (bytes[(base + i) >> 3]! & (1 << ((base + i) & 7))) target[i] = 1;
    } else {
      for (let i = 0; i < plane; i++) if (bytes[base + i]! > threshold) target[i] = 1;
    }
  });
  return mask;
}
